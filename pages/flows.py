"""Flows: sync them from LangFlow, choose each one's input and output component, run one now."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from automagik.costfmt import usd
from automagik.db.models import Flow
from automagik.plural import counted
from automagik.services import flows as flow_service
from automagik.services import tasks as task_service
from automagik.services import triggers as trigger_service
from automagik.services.context import AppContext
from automagik.services.daemons import DaemonState, list_daemons
from automagik.services.flow_input import parse_typed_input, placeholder_help
from pages import common, frame

frame.ensure()  # before anything renders: see pages/frame.py

FLOW_KEY = "flows_selected_flow"


def sync_section(context: AppContext) -> None:
    if not st.button("Sync from LangFlow", type="primary", icon=":material/sync:"):
        return
    bar = st.progress(0.0, text="Asking LangFlow for its flows…")

    def progress(done: int, total: int) -> None:
        bar.progress(done / total, text=f"Synced {done} of {counted(total, 'flow')}")

    def sync():
        with context.langflow() as client:
            return flow_service.sync_flows(context.db, client, progress)

    report = common.attempt(sync)
    bar.empty()
    if report is None:
        return
    common.alert(
        "success",
        f"Synced {counted(report.total, 'flow')}: {len(report.added)} new, {len(report.updated)} changed, "
        f"{len(report.restored)} back, {len(report.removed)} gone from LangFlow.",
    )
    for notice in report.notices:
        common.alert("warning", notice)


def flows_table(context: AppContext, flows: list[Flow]) -> None:
    zone = common.zone()
    spent = flow_service.spent_today(context.db, flows, zone)
    st.dataframe(
        pd.DataFrame(
            {
                "name": [f.name for f in flows],
                "state": [flow_service.flow_state(f) for f in flows],
                "input component": [f.input_component or "-" for f in flows],
                "output component": [f.output_component or "-" for f in flows],
                f"cost today ({zone})": [usd(spent.get(f.id, 0.0)) for f in flows],
                "daily budget": [usd(f.daily_budget_usd) if f.daily_budget_usd is not None else "-" for f in flows],
                "max at once": [str(f.max_concurrency) if f.max_concurrency else "-" for f in flows],
                f"synced ({zone})": [common.when(f.synced_at) for f in flows],
                "id": [f.id for f in flows],
            }
        ),
        hide_index=True,
    )


def _default_flow(flows: list[Flow]) -> int:
    """Open on the first flow that still needs a choice, else the first one."""
    return next((i for i, f in enumerate(flows) if f.removed_at is None and not f.is_ready), 0)


def component_picker(flow: Flow, role: str, current: str | None) -> str | None:
    """A dropdown of the flow's components of one role; preselected when there is no real choice."""
    options = flow.components_with_role(role)
    if not options:
        common.alert("error", f"This flow has no {role} component, so it cannot run: add one in LangFlow and sync.")
        return None
    ids = [c["id"] for c in options]
    labels = {c["id"]: flow_service.component_label(c) for c in options}
    index: int | None
    if current in labels:
        index = ids.index(current)
    else:
        index = 0 if len(ids) == 1 else None
    return st.selectbox(
        f"{role.capitalize()} component",
        ids,
        index=index,
        format_func=labels.__getitem__,  # every id has its label
        placeholder=f"Choose the {role} component",
        key=f"flows_{role}_{flow.id}",
    )


def flow_flags(flow: Flow) -> None:
    if flow.removed_at is not None:
        common.alert(
            "warning",
            f"Removed from LangFlow (noticed {common.when(flow.removed_at)}): its schedules are paused and it "
            "cannot run. Sync again if it comes back.",
        )
    elif flow.changed_at is not None:
        common.alert(
            "warning",
            f"Changed in LangFlow (noticed {common.when(flow.changed_at)}): check that the components below are "
            "still the right ones.",
        )


def components_section(context: AppContext, flow: Flow) -> None:
    st.subheader("Components")
    st.caption("A run sends its input text to the input component and reads the answer from the output component.")
    left, right = st.columns(2)
    with left:
        chosen_input = component_picker(flow, "input", flow.input_component)
    with right:
        chosen_output = component_picker(flow, "output", flow.output_component)
    if st.button("Save components", key=f"flows_save_{flow.id}"):
        if not (chosen_input and chosen_output):
            st.error("Choose both an input and an output component before saving.")
            return
        saved = common.attempt(lambda: flow_service.set_components(context.db, flow.id, chosen_input, chosen_output))
        if saved is not None:
            common.flash("success", f'Saved the components of "{saved.name}".')
            st.rerun()


def limits_section(context: AppContext, flow: Flow) -> None:
    st.subheader("Budget and limits")
    st.caption(
        f"Daily budget: once the flow's runs of a day ({common.zone()}) have cost this much, its further "
        "fires that day are skipped and one alert is sent; runs resume the next day (runs whose model has "
        "no known price count as nothing). Concurrency: runs of this flow in flight at once, across every "
        "daemon; the others wait, pending, and start as slots free."
    )
    left, right = st.columns(2)
    amount = left.number_input(
        "Daily budget (USD, 0 for none)",
        min_value=0.0,
        max_value=flow_service.MAX_DAILY_BUDGET_USD,
        value=float(flow.daily_budget_usd or 0.0),
        step=1.0,
        format="%.2f",
        key=f"flows_budget_{flow.id}",
    )
    concurrency = right.number_input(
        "Max runs at once (0 for no limit)",
        min_value=0,
        max_value=flow_service.MAX_CONCURRENCY_LIMIT,
        value=int(flow.max_concurrency or 0),
        step=1,
        key=f"flows_concurrency_{flow.id}",
    )
    if st.button("Save budget and limits", key=f"flows_limits_save_{flow.id}"):
        saved = common.attempt(
            lambda: flow_service.update_flow_settings(
                context.db, flow.id, daily_budget_usd=amount or None, max_concurrency=int(concurrency) or None
            )
        )
        if saved is not None:
            budget = usd(saved.daily_budget_usd) if saved.daily_budget_usd else "none"
            common.flash(
                "success",
                f'"{saved.name}": daily budget {budget}, at most '
                f'{counted(saved.max_concurrency, "run") if saved.max_concurrency else "unlimited runs"} at once.',
            )
            st.rerun()


def triggers_section(context: AppContext, flow: Flow) -> None:
    """LangFlow's own schedule triggers of the flow, as the last sync read them, each adoptable."""
    if flow.langflow_triggers is None:
        st.caption("LangFlow's own triggers: not supported by this LangFlow.")
        return
    if not flow.langflow_triggers:
        return
    st.subheader("LangFlow's own triggers")
    st.caption(
        "LangFlow fires these by itself. Adopting one creates the same cron schedule here (its runs get "
        "history, cost, budgets and alerts) and disables it in LangFlow, so the flow does not run twice."
    )
    firing = {t["id"] for t in trigger_service.firing_triggers(flow)}
    for trigger in flow.langflow_triggers:
        left, right = st.columns([5, 1])
        left.text(
            f"{trigger_service.describe_trigger(trigger)}"
            + (f" · next fire {trigger['next_fire_at']}" if trigger.get("next_fire_at") else "")
            + (f" · last error: {trigger['last_error']}" if trigger.get("last_error") else "")
        )
        if trigger["id"] in firing and right.button("Adopt", key=f"flows_adopt_{trigger['id']}"):

            def adopt():
                with context.langflow() as client:
                    return trigger_service.adopt_trigger(context.db, client, trigger["id"])  # noqa: B023 - called at once

            adopted = common.attempt(adopt)
            if adopted is not None:
                common.flash(
                    "success",
                    f"Created schedule {adopted.schedule.id} and disabled LangFlow trigger " f"{trigger['id']}.",
                )
                st.rerun()


def run_section(context: AppContext, flow: Flow) -> None:
    st.subheader("Run now")
    text = st.text_area(
        "Input",
        key=f"flows_run_input_{flow.id}",
        placeholder='The message for the input component, or JSON: {"input": "...", "tweaks": {...}}',
        height=80,
        help="The text may hold " + placeholder_help(code=True, zone="TIMEZONE") + ".",
    )
    force = flow.daily_budget_usd is not None and st.checkbox(
        "Run even if the daily budget is reached", key=f"flows_run_force_{flow.id}"
    )
    if not st.button("Run now", key=f"flows_run_{flow.id}", icon=":material/play_arrow:"):
        return

    def queue():
        return task_service.run_flow_now(context.db, flow.id, parse_typed_input(text), force=force, zone=common.zone())

    task = common.attempt(queue)
    if task is None:
        return
    common.alert("success", f"Queued run {task.id}: see it on the Tasks page.")
    if not any(
        d.state is DaemonState.ALIVE
        for d in list_daemons(context.db, heartbeat_seconds=common.options().heartbeat_seconds)
    ):
        common.alert("warning", "No daemon is running, so the run waits: start one with `python scheduler_daemon.py`.")


st.title("Flows")
common.show_flashes()
ctx = common.context()
sync_section(ctx)
all_flows = flow_service.list_flows(ctx.db)
if not all_flows:
    st.info("No flows yet: press “Sync from LangFlow” to fetch them.")
    st.stop()
flows_table(ctx, all_flows)

st.divider()
by_id = {f.id: f for f in all_flows}
flow_id = st.selectbox(
    "Flow",
    list(by_id),
    index=_default_flow(all_flows),
    format_func=lambda fid: f"{by_id[fid].name} · {fid}",
    key=FLOW_KEY,
)
selected = by_id[flow_id]
st.text(f"State: {flow_service.flow_state(selected)}")
flow_flags(selected)
components_section(ctx, selected)
triggers_section(ctx, selected)
limits_section(ctx, selected)
if selected.is_ready:
    run_section(ctx, selected)
elif selected.removed_at is None:
    st.info("Choose and save both components to run or schedule this flow.")
