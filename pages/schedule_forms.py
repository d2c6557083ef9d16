"""The Schedules page's two forms, New and Edit: the timing and the input checked as they are
typed, the next fires and what the next one would send previewed, Save applying them. A
module of the Schedules page, not a page itself (it does not call frame.ensure())."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from zoneinfo import available_timezones

import streamlit as st

from automagik.clock import utcnow
from automagik.db.models import MissedRunPolicy, Schedule, ScheduleStatus
from automagik.scheduling import ScheduleType, describe
from automagik.scheduling.after import OUTCOMES, describe_after
from automagik.services import flows as flow_service
from automagik.services import schedules as schedule_service
from automagik.services.context import AppContext
from automagik.services.errors import InvalidInput
from automagik.services.flow_input import placeholder_help
from automagik.services.input_preview import is_template, preview_input
from automagik.services.triggers import double_run_warning
from automagik.timefmt import format_local
from pages import common

EXAMPLES = {
    "interval": "like 30s, 5m, 1h30m (elapsed time, counted from creation)",
    "cron": "like 0 9 * * 1-5 or @daily (wall-clock times in the zone below)",
    "oneshot": "like 2026-12-01 09:00 (read in the zone below unless it has an offset)",
}
AFTER = ScheduleType.AFTER.value
TYPE_LABELS = {AFTER: "after another flow"}
OUTCOME_LABELS = {"completed": "complete", "failed": "fail", "finished": "finish (either)"}
POLICY_HELP = (
    "After downtime: coalesce runs the latest missed fire once; skip runs none and waits for the "
    "next fire; all runs every missed fire (up to AUTOMAGIK_CATCH_UP_LIMIT)."
)
INPUT_HELP = (
    'JSON: {"input": "message"}, with optional "tweaks": {"Component-id": {"field": "value"}}. '
    "The text and tweak values may hold " + placeholder_help(chains=True, code=True) + "."
)
ZONES = sorted(available_timezones())


def _describe(kind: str, expr: str, zone: str) -> str:
    try:
        return describe(kind, expr, zone)
    except ValueError:  # InvalidSchedule; stored expressions were checked when saved
        return expr


def timing_preview(kind: str, expr: str, zone: str) -> datetime | None:
    """The expression's meaning and next 5 fires in the chosen zone, or why it is not valid;
    returns the next fire (None: none, or not valid)."""
    if not expr.strip():
        st.caption(f"Expression {EXAMPLES[kind]}.")
        return None
    try:
        fires = schedule_service.preview(kind, expr, zone, count=5)
    except InvalidInput as exc:
        st.error(common.plain(exc.message))
        return None
    st.text(_describe(kind, expr, zone))
    if not fires:
        st.error("That time has passed: it would never fire.")
        return None
    st.text("Next fires:\n" + "\n".join(f"  {format_local(fire, zone)}" for fire in fires))
    return fires[0]


def input_preview(
    raw: str, kind: str, fire: datetime | None, zone: str, flow_name: str, schedule_id: str | None = None
) -> None:
    """Why the input is refused, or, when it has placeholders and the timing a next fire, what
    that fire would send (as text: it is user data)."""
    if not raw.strip():
        return
    try:
        sent = preview_input(
            raw,
            fire_time=fire or utcnow(),
            zone=zone,
            flow_name=flow_name,
            schedule_id=schedule_id,
            chained=schedule_service.is_chain(kind),
        )
    except InvalidInput as exc:
        st.error(common.plain(exc.message))
        return
    if fire is None or not is_template(raw):
        return
    st.text(f"The next fire ({format_local(fire, zone)}) would send:")
    st.code(sent["input"], language=None, wrap_lines=True)
    if sent["tweaks"]:
        st.code(json.dumps(sent["tweaks"], indent=2, ensure_ascii=False), language="json", wrap_lines=True)


def _type_label(kind: str) -> str:
    return TYPE_LABELS.get(kind, kind)


def after_fields(
    left, right, flow_id: str, key: str, upstream_id: str | None = None, outcome: str | None = None
) -> tuple[str | None, str]:
    """The upstream flow and the outcome of a schedule of type after (the flow itself is left out:
    a flow cannot run after itself)."""
    flows = [f for f in flow_service.list_flows(common.context().db, include_removed=False) if f.id != flow_id]
    names = {f.id: f"{f.name} · {f.id}" for f in flows}
    ids = list(names)
    upstream = left.selectbox(
        "After flow",
        ids,
        format_func=names.get,
        key=f"{key}_upstream",
        index=ids.index(upstream_id) if upstream_id in ids else (0 if ids else None),
        help="This schedule's flow runs when a run of that flow ends.",
    )
    kinds = list(OUTCOMES)
    chosen = right.selectbox(
        "When its runs",
        kinds,
        format_func=OUTCOME_LABELS.get,
        key=f"{key}_outcome",
        index=kinds.index(outcome) if outcome in kinds else 0,
        help="Its input may use {{ upstream_output }}: that run's output (or its error).",
    )
    return upstream, chosen


def create_form() -> None:
    """Outside st.form on purpose: the expression and input are checked as they are typed.
    It is a fragment, so typing reruns only this form; a saved schedule reruns the page."""
    context = common.context()
    ready = [f for f in flow_service.list_flows(context.db, include_removed=False) if f.is_ready]
    if not ready:
        st.info("No flow is ready to schedule: sync flows and choose their components on the Flows page.")
        return
    names = {f.id: f"{f.name} · {f.id}" for f in ready}
    flow_id = st.selectbox("Flow", list(names), format_func=names.__getitem__, key="new_flow")
    left, middle, right = st.columns([1, 2, 2])
    kind = left.selectbox(
        "Type",
        [t.value for t in ScheduleType],
        key="new_type",
        format_func=_type_label,
        help="\n".join(f"{t.value}: {t.doc}" for t in ScheduleType),
    )
    outcome, next_fire = None, None
    if kind == AFTER:
        expr, outcome = after_fields(middle, right, flow_id, "new")
        expr, zone = expr or "", None
        if expr:
            st.text(describe_after(flow_service.get_flow(context.db, expr).name, outcome))
        else:
            st.info("No other flow to follow: sync flows first.")
    else:
        expr = middle.text_input(
            "Expression", key="new_expr", live=True, placeholder=EXAMPLES[kind].removeprefix("like ")
        )
        zone = right.selectbox(
            "Time zone",
            ZONES,
            index=ZONES.index(context.settings.timezone) if context.settings.timezone in ZONES else None,
            key="new_zone",
        )
        next_fire = timing_preview(kind, expr, zone or "UTC")
    raw_input = st.text_area(
        "Input (JSON)",
        key="new_input",
        height=80,
        help=INPUT_HELP,
        placeholder='{"input": "Digest of {{ fire_date }}", "tweaks": {"Component-id": {"field": "value"}}}',
    )
    input_preview(raw_input, kind, next_fire, zone or "UTC", next(f.name for f in ready if f.id == flow_id))
    left, middle, right = st.columns(3)
    retries = left.number_input(
        "Max retries", min_value=0, max_value=schedule_service.MAX_RETRIES_LIMIT, value=3, step=1, key="new_retries"
    )
    timeout = middle.number_input(
        "Timeout (seconds)",
        min_value=1,
        max_value=schedule_service.TIMEOUT_LIMIT_SECONDS,
        value=None,
        step=1,
        key="new_timeout",
        placeholder="daemon default",
        help="Empty: AUTOMAGIK_RUN_TIMEOUT_SECONDS.",
    )
    policy = right.selectbox(
        "Missed runs", [p.value for p in MissedRunPolicy], key="new_policy", help=POLICY_HELP, disabled=kind == AFTER
    )
    double = double_run_warning(context.db, flow_id)
    if double:
        common.alert("warning", double.replace("`flows adopt-trigger TRIGGER_ID`", "Adopting it on the Flows page"))
    if not st.button("Create schedule", type="primary", key="new_create"):
        return
    spec = schedule_service.ScheduleSpec(
        flow_id=flow_id,
        schedule_type=kind,
        schedule_expr=expr,
        flow_input=raw_input or None,
        timezone=zone,
        max_retries=int(retries),
        timeout_seconds=None if timeout is None else int(timeout),
        missed_policy=policy,
        after_outcome=outcome,
    )
    created = common.attempt(lambda: schedule_service.create_schedule(context.db, spec, context.settings.timezone))
    if created is not None:
        common.flash("success", f"Created schedule {created.id}: {next_run_text(context, created)}.")
        st.session_state.pop("new_expr", None)
        st.rerun()


def next_run_text(context: AppContext, schedule: Schedule) -> str:
    if schedule.schedule_type is ScheduleType.AFTER:
        return schedule_service.describe_schedule(context.db, schedule)
    return f"next run {common.when(schedule.next_run_at)}"


def edit_form(context: AppContext, schedule: Schedule, flow_name: str) -> None:
    """Like the New form: the timing and the input are checked and previewed as they are typed,
    and Save applies them. A fragment, so typing reruns only this form; a save reruns the page.
    Before any edit, the previews are the saved schedule's."""
    sid = schedule.id
    # Read again at each run: the fragment reruns alone with the schedule of the page's last run.
    fresh = common.attempt(lambda: schedule_service.get_schedule(context.db, sid))
    if fresh is None:
        return
    schedule = fresh
    changed_elsewhere = _forget_edits_if_changed(schedule)
    if changed_elsewhere:
        st.warning("This schedule was changed elsewhere: the form shows its saved values now; make your edits again.")
    kinds, policies = [t.value for t in ScheduleType], [p.value for p in MissedRunPolicy]
    was_after = schedule.schedule_type is ScheduleType.AFTER
    kind = st.selectbox(
        "Type",
        kinds,
        index=kinds.index(schedule.schedule_type.value),
        format_func=_type_label,
        key=f"edit_type_{sid}",
    )
    left, right = st.columns(2)
    outcome, next_fire = None, None
    if kind == AFTER:
        expr, outcome = after_fields(
            left,
            right,
            schedule.flow_id,
            f"edit_{sid}",
            schedule.schedule_expr if was_after else None,
            schedule.after_outcome,
        )
        expr, zone = expr or "", schedule.timezone
        if expr:
            st.text(describe_after(flow_service.get_flow(context.db, expr).name, outcome))
    else:
        expr = left.text_input(
            "Expression", value="" if was_after else schedule.schedule_expr, key=f"edit_expr_{sid}", live=True
        )
        zone = right.selectbox(
            "Time zone",
            ZONES,
            index=ZONES.index(schedule.timezone) if schedule.timezone in ZONES else 0,
            key=f"edit_zone_{sid}",
        )
        next_fire = edited_timing_preview(schedule, kind, expr, zone)
    raw_input = st.text_area(
        "Input (JSON)", value=_json(schedule.flow_params), height=80, help=INPUT_HELP, key=f"edit_input_{sid}"
    )
    input_preview(raw_input, kind, next_fire, zone, flow_name, sid)
    left, middle, right = st.columns(3)
    retries = left.number_input(
        "Max retries",
        min_value=0,
        max_value=schedule_service.MAX_RETRIES_LIMIT,
        value=schedule.max_retries,
        step=1,
        key=f"edit_retries_{sid}",
    )
    timeout = middle.number_input(
        "Timeout (seconds)",
        min_value=1,
        max_value=schedule_service.TIMEOUT_LIMIT_SECONDS,
        value=schedule.timeout_seconds,
        step=1,
        placeholder="daemon default",
        key=f"edit_timeout_{sid}",
    )
    policy = right.selectbox(
        "Missed runs",
        policies,
        index=policies.index(schedule.missed_policy.value),
        help=POLICY_HELP,
        disabled=kind == AFTER,
        key=f"edit_policy_{sid}",
    )
    if not st.button("Save changes", key=f"edit_save_{sid}") or changed_elsewhere:
        return
    changes: dict[str, Any] = dict(
        schedule_type=kind,
        schedule_expr=expr,
        timezone=zone,
        flow_input=raw_input or None,
        max_retries=int(retries),
        timeout_seconds=None if timeout is None else int(timeout),
        missed_policy=policy,
    )
    if kind == AFTER:
        changes["after_outcome"] = outcome
    saved = common.attempt(lambda: schedule_service.update_schedule(context.db, sid, **changes))
    if saved is not None:
        # The form shows what was saved, as saved: the service stores a timing in one spelling
        # ("90m" as "1h30m"), and a box still holding the typed one would send it again with
        # the next Save of any field, a timing change that restarts the schedule from then.
        _forget_edits(sid)
        st.session_state[f"edit_seen_{sid}"] = _edited_fields(saved)  # this form's own change
        common.flash("success", f"Saved schedule {saved.id}: {next_run_text(context, saved)}.")
        st.rerun()


def _edited_fields(schedule: Schedule) -> tuple:
    """The saved values the Edit form shows."""
    return (
        schedule.schedule_type.value,
        schedule.schedule_expr,
        schedule.timezone,
        _json(schedule.flow_params),
        schedule.max_retries,
        schedule.timeout_seconds,
        schedule.missed_policy.value,
        schedule.after_outcome,
    )


def _forget_edits_if_changed(schedule: Schedule) -> bool:
    """True when the values the Edit form shows were changed elsewhere (the CLI, another browser)
    since it last showed them. Its widgets are keyed, so they would keep the values first shown
    and a Save would undo that change: their state is dropped and they show the saved values."""
    sid, saved = schedule.id, _edited_fields(schedule)
    seen = st.session_state.get(f"edit_seen_{sid}")
    st.session_state[f"edit_seen_{sid}"] = saved
    if seen is None or seen == saved:
        return False
    _forget_edits(sid)
    return True


def _forget_edits(sid: str) -> None:
    """Drop the Edit form's widget state: its widgets show the saved schedule again."""
    widgets = [f"edit_{name}_{sid}" for name in ("type", "expr", "zone", "input", "retries", "timeout", "policy")]
    for key in [*widgets, f"edit_{sid}_upstream", f"edit_{sid}_outcome"]:
        st.session_state.pop(key, None)


def edited_timing_preview(schedule: Schedule, kind: str, expr: str, zone: str) -> datetime | None:
    """While an active schedule's timing is as saved: its meaning and its saved next fire (an
    interval keeps its grid). Otherwise the New form's preview, from now: an edited timing
    restarts from now, and a paused one's fires are counted from now."""
    edited = (kind, expr, zone) != (schedule.schedule_type.value, schedule.schedule_expr, schedule.timezone)
    if not edited and schedule.status is ScheduleStatus.COMPLETED:
        st.text(_describe(kind, expr, zone))
        st.caption("It has fired: a later time makes it fire again.")
        return None
    if edited or schedule.status is ScheduleStatus.PAUSED or schedule.next_run_at is None:
        return timing_preview(kind, expr, zone)
    st.text(_describe(kind, expr, zone))
    st.text(f"Next fire: {format_local(schedule.next_run_at, zone)}")
    return schedule.next_run_at


def _json(params: dict) -> str:
    return json.dumps(params, ensure_ascii=False) if params else ""
