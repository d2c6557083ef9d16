"""Schedules: create one (checked as you type, its next fires and what the next one would send
previewed), list them, and pause, resume, run, edit, backfill or delete one; pause or resume them all."""

from __future__ import annotations

import math

import pandas as pd
import streamlit as st

from automagik.db.models import ScheduleStatus
from automagik.plural import counted
from automagik.scheduling import ScheduleType
from automagik.services import schedules as schedule_service
from automagik.services import tasks as task_service
from automagik.services.context import AppContext
from automagik.timefmt import format_local
from pages import common, frame
from pages.backfill_form import backfill_form
from pages.schedule_forms import create_form, edit_form, next_run_text

frame.ensure()  # before anything renders: see pages/frame.py

CONFIRM_DELETE_KEY = "schedules_confirm_delete"
PAGE_SIZE = 100


def schedules_table(rows: list[schedule_service.ScheduleRow]) -> None:
    zone = common.zone()
    st.dataframe(
        pd.DataFrame(
            {
                "flow": [r.flow_name for r in rows],
                "when": [r.when for r in rows],
                "type": [r.schedule.schedule_type.value for r in rows],
                "expression": [r.schedule.schedule_expr for r in rows],
                "zone": [r.schedule.timezone for r in rows],
                "status": [
                    r.schedule.status.value + (f" ({r.schedule.paused_reason})" if r.schedule.paused_reason else "")
                    for r in rows
                ],
                f"next run ({zone})": [
                    format_local(r.schedule.next_run_at, zone) if r.schedule.status is ScheduleStatus.ACTIVE else "-"
                    for r in rows
                ],
                "last result": [r.last_status or "-" for r in rows],
                "id": [r.schedule.id for r in rows],
            }
        ),
        hide_index=True,
    )


def bulk_buttons(context: AppContext) -> None:
    # A horizontal container, not columns: each button as wide as its label at any window width.
    row = st.container(horizontal=True)
    if row.button("Pause all", icon=":material/pause:"):
        common.flash("success", f"Paused {counted(schedule_service.pause_all(context.db), 'schedule')}.")
        st.rerun()
    if row.button("Resume all", icon=":material/play_arrow:"):
        resumed, refused = schedule_service.resume_all(context.db)
        common.flash("success", f"Resumed {counted(resumed, 'schedule')}.")
        for reason in refused:
            common.flash("warning", reason)
        st.rerun()


def schedule_actions(context: AppContext, row: schedule_service.ScheduleRow) -> None:
    schedule = row.schedule
    st.text(f"{row.flow_name} · {row.when} · {schedule.status.value}")
    if schedule.paused_reason:
        common.alert("warning", f"Paused by Automagik: {schedule.paused_reason}. Resume it once that is fixed.")
    buttons = st.container(horizontal=True)
    if schedule.status is ScheduleStatus.ACTIVE:
        if buttons.button("Pause", key=f"pause_{schedule.id}", icon=":material/pause:"):
            if common.attempt(lambda: schedule_service.pause_schedule(context.db, schedule.id)):
                common.flash("success", f"Paused schedule {schedule.id}.")
                st.rerun()
    elif schedule.status is ScheduleStatus.PAUSED:
        if buttons.button("Resume", key=f"resume_{schedule.id}", icon=":material/play_arrow:"):
            resumed = common.attempt(lambda: schedule_service.resume_schedule(context.db, schedule.id))
            if resumed:
                common.flash("success", f"Resumed schedule {schedule.id}: {next_run_text(context, resumed)}.")
                st.rerun()
    if buttons.button("Run now", key=f"run_{schedule.id}", icon=":material/bolt:"):
        task = common.attempt(
            lambda: task_service.run_flow_now(context.db, schedule.flow_id, schedule_id=schedule.id, zone=common.zone())
        )
        if task:
            common.alert("success", f"Queued run {task.id} with this schedule's input: see it on the Tasks page.")
    if buttons.button("Delete", key=f"delete_{schedule.id}", icon=":material/delete:"):
        st.session_state[CONFIRM_DELETE_KEY] = schedule.id
    if st.session_state.get(CONFIRM_DELETE_KEY) == schedule.id:
        st.warning(
            "Delete this schedule? Its past runs stay in the history; runs its backfills queued and "
            "not yet started are skipped."
        )
        confirm = st.container(horizontal=True)
        if confirm.button("Yes, delete", type="primary", key=f"confirm_delete_{schedule.id}"):
            st.session_state.pop(CONFIRM_DELETE_KEY, None)

            def delete() -> bool:
                schedule_service.delete_schedule(context.db, schedule.id)
                return True

            if common.attempt(delete):
                common.flash("success", f"Deleted schedule {schedule.id}.")
                st.rerun()
        if confirm.button("Cancel", key=f"cancel_delete_{schedule.id}"):
            st.session_state.pop(CONFIRM_DELETE_KEY, None)
            st.rerun()
    with st.expander("Edit"):
        st.fragment(edit_form)(context, schedule, row.flow_name)
    if schedule.schedule_type is not ScheduleType.AFTER:  # a chain has no fires in time
        with st.expander("Backfill", icon=":material/history:"):
            backfill_form(schedule)


st.title("Schedules")
common.show_flashes()
ctx = common.context()
total = sum(schedule_service.count_schedules(ctx.db).values())
with st.expander("New schedule", expanded=not total, icon=":material/add:"):
    st.fragment(create_form)()
if not total:
    st.info("No schedules yet.")
    st.stop()
bulk_buttons(ctx)
# A page at a time: the table, its descriptions and the chooser below stay quick with 10,000.
pages = math.ceil(total / PAGE_SIZE)
page = st.pagination(pages, key="schedules_page") if pages > 1 else 1
rows = schedule_service.list_schedules(ctx.db, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
first = (page - 1) * PAGE_SIZE + 1
st.caption(
    f"{counted(total, 'schedule')}, soonest next run first"
    + (f" · {first:,}–{first + len(rows) - 1:,} shown" if pages > 1 else "")
)
schedules_table(rows)
st.divider()
st.subheader("Manage a schedule")
if not rows:  # the last page emptied since (deleted elsewhere)
    st.stop()
by_id = {r.schedule.id: r for r in rows}
chosen = st.selectbox(
    "Schedule",
    list(by_id),
    format_func=lambda sid: f"{by_id[sid].flow_name} · {by_id[sid].when} · {sid[:8]}",
    key="schedules_selected",
)
schedule_actions(ctx, by_id[chosen])
