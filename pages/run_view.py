"""The Tasks page's selected run in detail: what it was given and answered, its log, the runs
of its chain, and a retry of a failed one.

Not a page itself (it does not call frame.ensure()): pages/tasks.py draws it under the runs
table, whose selection it reads from SELECTED_KEY.
"""

from __future__ import annotations

import streamlit as st

from automagik.costfmt import format_run_cost, format_token_counts
from automagik.db.models import TaskStatus
from automagik.services import tasks as task_service
from automagik.services.context import AppContext
from automagik.services.errors import NotFound
from automagik.services.serialize import output_text
from pages import common

SELECTED_KEY = "tasks_selected_id"  # the run shown: set by a click in the table or a chain's button


def _select(task_id: str) -> None:
    st.session_state[SELECTED_KEY] = task_id


def chain_links(task, detail: task_service.TaskDetail) -> None:
    """Buttons to the run that started this one and to the runs this one's end started."""
    if detail.started_by:
        st.button(
            f"Open the run that started it ({task.upstream_task_id[:8]})",
            key=f"upstream_{task.id}",
            on_click=_select,
            args=(task.upstream_task_id,),
            icon=":material/north_west:",
        )
    if detail.started:
        st.caption("Runs it started")
        for run in detail.started:
            st.button(
                f"Open {run}",
                key=f"started_{task.id}_{run.task_id}",
                on_click=_select,
                args=(run.task_id,),
                icon=":material/south_east:",
            )


def run_detail(context: AppContext, task_id: str) -> None:
    try:
        detail = task_service.get_task(context.db, task_id)
    except NotFound:
        st.session_state[SELECTED_KEY] = None
        return
    task = detail.task
    st.subheader("Selected run")
    st.text(
        f"Run {task.id}\n"
        f"Flow: {detail.flow_name} ({task.flow_id})\n"
        f"Schedule: {task.schedule_id or 'manual run'}\n"
        f"Status: {task.status.value}, tries {task.tries} (retries allowed: {task.max_retries})\n"
        f"Queued by: {task.trigger}" + (f" (backfill {task.backfill_id})" if task.backfill_id else "") + "\n"
        f"Planned {common.when(task.scheduled_for)}, started {common.when(task.started_at)}, "
        f"finished {common.when(task.finished_at)}\n"
        f"Tokens: {format_token_counts(task.input_tokens, task.output_tokens, task.total_tokens)}; "
        f"model: {task.model or '-'}; cost: {format_run_cost(task.cost_usd, task.total_tokens)}"
        + (f"\nChain: {detail.started_by}" if detail.started_by else "")
    )
    chain_links(task, detail)
    input_data = task.input_data or {}
    st.caption("Input")
    st.code(input_data.get("input") or "", language=None, wrap_lines=True)
    if input_data.get("tweaks"):
        st.caption("Tweaks")
        st.json(input_data["tweaks"], expanded=False)
    st.caption("Output")
    st.code(output_text(task) or "", language=None, wrap_lines=True)
    if task.error:
        st.caption("Error")
        st.code(task.error, language=None, wrap_lines=True)
    st.caption("Log")
    st.code(
        "\n".join(f"{common.when(line.created_at)}  {line.level.value:<7}  {line.message}" for line in detail.logs)
        or "(no lines)",
        language=None,
        wrap_lines=True,
    )
    if task.status is TaskStatus.FAILED and st.button("Retry", key=f"retry_{task.id}", icon=":material/replay:"):
        if common.attempt(lambda: task_service.retry_task(context.db, task.id, zone=common.zone())):
            common.flash("success", "The run is pending again: a running daemon retries it now.")
            st.rerun()  # show its new state at once
