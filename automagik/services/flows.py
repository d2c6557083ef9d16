"""Flows: sync them from LangFlow, list them, choose each one's input and output component."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, update

from automagik.clock import utcnow
from automagik.costs import budgets
from automagik.db.engine import Database
from automagik.db.models import Flow, Schedule, ScheduleStatus
from automagik.langflow import LangFlowClient, LangFlowError, is_runnable_flow, trim_flow
from automagik.langflow import triggers as triggers_api
from automagik.langflow.components import has_schedule_trigger
from automagik.langflow.errors import LangFlowRouteMissing
from automagik.monitoring.incidents import Kind, open_incident
from automagik.plural import counted
from automagik.services.errors import InvalidInput, NotFound, Unavailable
from automagik.services.lookup import find

INPUT, OUTPUT = "input", "output"
# Column sizes (flows.id, flows.input_component): LangFlow's ids are UUIDs and "<Type>-<5 chars>".
MAX_FLOW_ID, MAX_COMPONENT_ID = 64, 128


@dataclass(frozen=True)
class PausedSchedule:
    schedule_id: str
    flow_id: str
    flow_name: str
    reason: str

    @property
    def message(self) -> str:
        """What its incident says (the alert, the Overview, `check`)."""
        return (
            f"schedule {self.schedule_id} paused: {self.reason}; choose the flow's components again "
            "(Flows page or `flows sync`), then resume it"
        )


@dataclass
class SyncReport:
    """What a sync did, flow by flow, so the CLI and the dashboard can say it plainly."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    restored: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    # Flows that still need the user to choose an input and/or output component.
    needs_choice: list[str] = field(default_factory=list)
    # Human sentences: selections cleared because their component vanished, schedules paused.
    notices: list[str] = field(default_factory=list)
    # Schedules this sync paused whose incident it opened, with the reason they now show (for
    # the daemon's alert).
    paused: list[PausedSchedule] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.added) + len(self.updated) + len(self.unchanged) + len(self.restored)


@dataclass(frozen=True)
class ComponentChoice:
    """A flow's components to set; one left out (None) keeps the flow's current choice."""

    flow_id: str
    input_component: str | None
    output_component: str | None


def sync_flows(
    db: Database,
    client: LangFlowClient,
    progress: Callable[[int, int], None] | None = None,
    choice: ComponentChoice | None = None,
    go_on: Callable[[], bool] = lambda: True,
    remove_all: bool = True,
) -> SyncReport:
    """Fetch every flow from LangFlow and bring the flows table in line with it.

    Selections that are still valid are kept; a selection whose component vanished is cleared
    (and the flow's active schedules paused, since their runs could only fail); flows gone
    from LangFlow are marked removed and their schedules paused. Nothing is ever deleted.
    With `choice`, that flow's components are set in the same transaction, so a choice that
    is refused leaves the database exactly as it was. `go_on` is asked once LangFlow has
    answered: False leaves everything as it was. With `remove_all` False, an empty list from
    LangFlow removes nothing (the daemons' automatic sync: an empty answer is more likely a key
    of another user than every flow deleted).
    """
    try:
        raw_flows = [f for f in client.list_flows() if is_runnable_flow(f)]
    except LangFlowError as exc:
        raise Unavailable(f"Could not sync flows: {exc.message}") from None
    report = SyncReport()
    triggers = _read_triggers(client, raw_flows, report)  # before the transaction: no lock held over HTTP
    if not go_on():  # the daemon is stopping: nothing is written that it could not alert about
        report.notices.append("sync stopped before writing: nothing changed")
        return report
    now = utcnow()
    seen: set[str] = set()
    with db.write() as session:
        existing = {flow.id: flow for flow in session.scalars(select(Flow))}
        for done, raw in enumerate(raw_flows, start=1):
            flow_id = str(raw.get("id") or "")
            if not flow_id or flow_id in seen:
                continue
            seen.add(flow_id)
            name = str(raw.get("name") or flow_id)[:255]
            if len(flow_id) > MAX_FLOW_ID or "\x00" in flow_id:
                report.notices.append(f'Flow "{name}" was not synced: its id is not a LangFlow flow id (too long).')
                continue
            data = _storable(trim_flow(raw), name, report)
            flow = existing.get(flow_id)
            if flow is None:
                flow = Flow(id=flow_id, name=name, data=data, created_at=now, updated_at=now, synced_at=now)
                session.add(flow)
                report.added.append(name)
            else:
                changed = flow.name != name or flow.data != data
                if flow.removed_at is not None:
                    flow.removed_at = None
                    report.restored.append(name)
                elif changed:
                    report.updated.append(name)
                else:
                    report.unchanged.append(name)
                if changed:
                    flow.name, flow.data, flow.changed_at, flow.updated_at = name, data, now, now
                flow.synced_at = now
                _drop_vanished_selections(session, flow, report, now)
            if flow_id in triggers:
                flow.langflow_triggers = triggers[flow_id]
            _auto_select(flow)
            if not (flow.input_component and flow.output_component):
                report.needs_choice.append(flow.id)
            if progress:
                progress(done, len(raw_flows))
        if choice is not None:
            _apply_choice(session, choice, report)
        if not seen and not remove_all:
            report.notices.append(
                "LangFlow listed no flows at all: none is marked removed (a key of another "
                "user answers so); run `flows sync` by hand if they really are gone."
            )
            existing = {}
        for flow in existing.values():
            if flow.id not in seen and flow.removed_at is None:
                flow.removed_at = flow.updated_at = now
                report.removed.append(flow.name)
                paused = _pause_schedules_of(session, flow, now, f'flow "{flow.name}" is no longer in LangFlow', report)
                if paused:
                    report.notices.append(
                        f'Flow "{flow.name}" is no longer in LangFlow: {counted(paused, "schedule")} paused.'
                    )
    return report


def _read_triggers(client: LangFlowClient, raw_flows: list[dict], report: SyncReport) -> dict[str, list[dict] | None]:
    """LangFlow's own triggers of every flow, by flow id: [] for a flow without a ScheduleTrigger
    node (LangFlow is asked only about the others), None for every flow when this LangFlow has
    no triggers API. A flow whose triggers could not be read is left out (its last ones stay)."""
    found: dict[str, list[dict] | None] = {}
    for raw in raw_flows:
        flow_id = str(raw.get("id") or "")
        if not has_schedule_trigger(raw):
            found[flow_id] = []
            continue
        try:
            found[flow_id] = triggers_api.list_triggers(client, flow_id)
        except LangFlowRouteMissing:
            report.notices.append("LangFlow's own triggers: not supported by this LangFlow (no /api/v1/triggers).")
            return {str(f.get("id") or ""): None for f in raw_flows}
        except LangFlowError as exc:
            report.notices.append(f'Could not read the LangFlow triggers of flow "{raw.get("name")}": {exc.message}')
    return found


def _apply_choice(session, choice: ComponentChoice, report: SyncReport) -> None:
    session.flush()
    flow = find(session, Flow, choice.flow_id)
    if flow is None or flow.removed_at is not None:
        raise NotFound(f'Unknown flow id "{choice.flow_id}": LangFlow has no such flow; `flows list` shows the ids.')
    chosen_input = choice.input_component or flow.input_component
    chosen_output = choice.output_component or flow.output_component
    for role, chosen in ((INPUT, chosen_input), (OUTPUT, chosen_output)):
        if not chosen:
            raise InvalidInput(
                f'Flow "{flow.name}" has no {role} component chosen yet: give --{role}-component too '
                f"(`flows show {flow.id}` lists the components)."
            )
        validate_component(flow, chosen, role)
    flow.input_component, flow.output_component = chosen_input, chosen_output
    if flow.id in report.needs_choice:
        report.needs_choice.remove(flow.id)


def _storable(data: dict, flow_name: str, report: SyncReport) -> dict:
    """Drop components whose id cannot be chosen (longer than the column); say so."""
    kept = [c for c in data.get("components", []) if len(str(c.get("id", ""))) <= MAX_COMPONENT_ID]
    if len(kept) != len(data.get("components", [])):
        report.notices.append(
            f'Flow "{flow_name}": components with ids over {MAX_COMPONENT_ID} characters were left out.'
        )
    return {**data, "components": kept}


def _auto_select(flow: Flow) -> None:
    """Choose the components when there is no choice to make: exactly one input, one output."""
    inputs, outputs = flow.components_with_role(INPUT), flow.components_with_role(OUTPUT)
    if flow.input_component is None and len(inputs) == 1:
        flow.input_component = inputs[0]["id"]
    if flow.output_component is None and len(outputs) == 1:
        flow.output_component = outputs[0]["id"]


def _drop_vanished_selections(session, flow: Flow, report: SyncReport, now) -> None:
    cleared = []
    for role, attr in ((INPUT, "input_component"), (OUTPUT, "output_component")):
        chosen = getattr(flow, attr)
        if chosen and chosen not in {c["id"] for c in flow.components_with_role(role)}:
            setattr(flow, attr, None)
            cleared.append(f"{role} component {chosen}")
    if cleared:
        reason = f'the chosen {" and ".join(cleared)} of flow "{flow.name}" no longer exists in LangFlow'
        paused = _pause_schedules_of(session, flow, now, reason, report)
        until_then = f" ({counted(paused, 'schedule')} paused until then)" if paused else ""
        report.notices.append(
            f'Flow "{flow.name}": the chosen {" and ".join(cleared)} no longer exists in LangFlow; '
            f"choose again{until_then}."
        )


def _pause_schedules_of(session, flow: Flow, now, reason: str, report: SyncReport) -> int:
    """Pause the flow's active schedules, saying why (shown until a resume clears it)."""
    paused = session.scalars(
        update(Schedule)
        .where(Schedule.flow_id == flow.id, Schedule.status == ScheduleStatus.ACTIVE)
        .values(status=ScheduleStatus.PAUSED, paused_reason=reason, updated_at=now)
        .returning(Schedule.id)
        .execution_options(synchronize_session=False)
    ).all()
    for schedule_id in paused:
        schedule = PausedSchedule(schedule_id, flow.id, flow.name, reason)
        # Open until the schedule runs again (monitoring.watch clears it after a resume); one
        # still open (resumed and paused again before the watch looked) is not alerted twice.
        if open_incident(
            session, session.get_bind().dialect.name, Kind.SCHEDULE_PAUSED, schedule_id, schedule.message, now
        ):
            report.paused.append(schedule)
    return len(paused)


def list_flows(db: Database, include_removed: bool = True) -> list[Flow]:
    with db.read() as session:
        query = select(Flow).order_by(Flow.name, Flow.id)
        if not include_removed:
            query = query.where(Flow.removed_at.is_(None))
        return list(session.scalars(query))


def get_flow(db: Database, flow_id: str) -> Flow:
    with db.read() as session:
        flow = find(session, Flow, flow_id)
        if flow is None:
            raise NotFound(f'Unknown flow id "{flow_id}": run `flows sync`, then `flows list` to see the ids.')
        return flow


def set_components(db: Database, flow_id: str, input_component: str, output_component: str) -> Flow:
    """Choose the component a run feeds its input to and the one it reads its answer from."""
    with db.write() as session:
        flow = find(session, Flow, flow_id)
        if flow is None:
            raise NotFound(f'Unknown flow id "{flow_id}": run `flows sync`, then `flows list` to see the ids.')
        validate_component(flow, input_component, INPUT)
        validate_component(flow, output_component, OUTPUT)
        flow.input_component, flow.output_component = input_component, output_component
        flow.updated_at = utcnow()
        return flow


MAX_DAILY_BUDGET_USD = 1_000_000.0


def parse_daily_budget(text: str) -> float | None:
    """A daily budget in USD as typed: a positive amount, or 0 / "none" for no budget."""
    word = text.strip().lower().removeprefix("$")
    if not word:
        raise InvalidInput('The daily budget is empty: give an amount in USD such as 5 or 0.50, or "none".')
    if word == "none":
        return None
    try:
        amount = float(word)
    except ValueError:
        amount = float("nan")
    if amount == 0:
        return None
    if not 0 < amount <= MAX_DAILY_BUDGET_USD:  # also refuses nan and inf
        raise InvalidInput(
            f'"{text}" is not a daily budget: give an amount in USD greater than 0 and at most '
            f'{MAX_DAILY_BUDGET_USD:,.0f} (like 5 or 0.50), or 0 / "none" to remove it.'
        )
    return amount


MAX_CONCURRENCY_LIMIT = 10_000
_UNSET = object()


def parse_max_concurrency(text: str) -> int | None:
    """A per-flow limit as typed: a whole number of runs at once, or "none"."""
    word = text.strip().lower()
    if word == "none":
        return None
    if not word.isdigit() or not 1 <= int(word) <= MAX_CONCURRENCY_LIMIT:
        raise InvalidInput(
            f'"{text}" is not a concurrency limit: give a whole number of runs from 1 to '
            f'{MAX_CONCURRENCY_LIMIT:,}, or "none" to remove it.'
        )
    return int(word)


def update_flow_settings(
    db: Database, flow_id: str, *, daily_budget_usd: Any = _UNSET, max_concurrency: Any = _UNSET
) -> Flow:
    """Set what is given of a flow's own settings (None removes one): its daily budget in USD
    (automagik.costs.budgets) and its runs in flight at once (automagik.runs.limits)."""
    if daily_budget_usd not in (_UNSET, None) and not 0 < daily_budget_usd <= MAX_DAILY_BUDGET_USD:
        raise InvalidInput(f"A daily budget is greater than 0 and at most {MAX_DAILY_BUDGET_USD:,.0f} USD.")
    if max_concurrency not in (_UNSET, None) and not 1 <= max_concurrency <= MAX_CONCURRENCY_LIMIT:
        raise InvalidInput(f"A concurrency limit is from 1 to {MAX_CONCURRENCY_LIMIT:,} runs.")
    with db.write() as session:
        flow = find(session, Flow, flow_id)
        if flow is None:
            raise NotFound(f'Unknown flow id "{flow_id}": run `flows sync`, then `flows list` to see the ids.')
        if daily_budget_usd is not _UNSET:
            flow.daily_budget_usd = daily_budget_usd
        if max_concurrency is not _UNSET:
            flow.max_concurrency = max_concurrency
        flow.updated_at = utcnow()
        return flow


def spent_today(db: Database, flows: list[Flow], zone: str) -> dict[str, float]:
    """What each flow's runs that finished today (in `zone`) cost, as far as known."""
    with db.read() as session:
        return budgets.spent_today(session, [flow.id for flow in flows], utcnow(), zone)


def validate_component(flow: Flow, component_id: str, role: str) -> None:
    components = {c["id"]: c for c in flow.components}
    choices = ", ".join(c["id"] for c in flow.components_with_role(role)) or "none"
    component = components.get(component_id)
    if component is None:
        raise InvalidInput(
            f'Component "{component_id}" is not in flow "{flow.name}": its {role} components are {choices}.'
        )
    if component.get("role") != role:
        raise InvalidInput(
            f'Component "{component_id}" of flow "{flow.name}" is not an {role} component: choose one of {choices}.'
        )


def component_label(component: dict) -> str:
    """How a component is named to users, e.g. "Chat Input · ChatInput-jFwUm"."""
    return f"{component.get('display_name') or component.get('type')} · {component['id']}"


def flow_state(flow: Flow) -> str:
    """A flow's state in a few words, as listings show it (CLI and dashboard alike)."""
    if flow.removed_at is not None:
        return "removed from LangFlow"
    if not (flow.input_component and flow.output_component):
        return "needs components"
    return "changed in LangFlow" if flow.changed_at else "ready"
