"""The Backfill form of a schedule (Schedules page). Not a page; schedules.py imports it.

Two steps, so nothing is queued by a slip: "Preview" plans the range as a dry run and lists its
fires and what each would get; "Queue" then runs exactly the previewed request (the inputs are
kept with the preview, and changing any of them asks for a new preview). Times are typed and
shown in the schedule's own zone, the zone its fires are planned in.
"""

from __future__ import annotations

from typing import TypedDict

import pandas as pd
import streamlit as st

from automagik.db.models import Schedule
from automagik.plural import counted, word_for
from automagik.services import backfill as backfill_service
from automagik.timefmt import format_local
from pages import common

ONLY_HELP = (
    "missing: fires that never got a run; failed: one more try of the runs that failed; all: both. "
    "Fires that already ran are left alone."
)


class BackfillRequest(TypedDict):
    """The form's answers: backfill_schedule's arguments, kept with the preview to compare."""

    range_from: str
    range_to: str
    only: str
    max_parallel: int


def backfill_form(schedule: Schedule) -> None:
    key = f"backfill_{schedule.id}"
    zone = schedule.timezone
    left, right = st.columns(2)
    start = left.text_input(f"From ({zone}, included)", key=f"{key}_from", placeholder="2026-11-20 00:00")
    end = right.text_input(f"To ({zone}, excluded)", key=f"{key}_to", placeholder="2026-11-27 00:00")
    left, right = st.columns(2)
    only = left.selectbox("Which fires", [o.value for o in backfill_service.Only], key=f"{key}_only", help=ONLY_HELP)
    parallel = right.number_input(
        "Max parallel",
        min_value=1,
        max_value=backfill_service.MAX_PARALLEL_LIMIT,
        value=1,
        step=1,
        key=f"{key}_parallel",
        help="This backfill's runs at once, across every daemon.",
    )
    request = BackfillRequest(range_from=start, range_to=end, only=only, max_parallel=int(parallel))
    if st.button("Preview", key=f"{key}_preview", icon=":material/visibility:"):
        planned = common.attempt(
            lambda: backfill_service.backfill_schedule(common.context().db, schedule.id, dry_run=True, **request)
        )
        st.session_state[f"{key}_planned"] = (request, planned) if planned else None
    previewed = st.session_state.get(f"{key}_planned")
    if not previewed:
        st.caption("Preview the fires of a past range first; nothing is queued until you confirm.")
        return
    asked, planned = previewed
    if asked != request:
        st.caption("The form changed since the preview: preview again.")
        return
    _preview_table(planned, zone)
    work = planned.queued + planned.redone
    if not work:
        st.info("Nothing to do: every fire in the range already has a run that this choice leaves alone.")
        return
    yes = True
    if len(planned.fires) > backfill_service.WITHOUT_YES:
        yes = st.checkbox(f"Yes, backfill all {len(planned.fires):,} fires", key=f"{key}_yes")
    if st.button(f"Queue {counted(work, 'run')}", type="primary", key=f"{key}_confirm", disabled=not yes):
        done = common.attempt(
            lambda: backfill_service.backfill_schedule(common.context().db, schedule.id, yes=yes, **request)
        )
        if done is not None:
            st.session_state.pop(f"{key}_planned", None)
            common.flash(
                "success",
                f"Backfill {done.backfill_id}: queued {done.queued} and redid {done.redone} "
                f"{word_for(done.queued + done.redone, 'run')}, at most {done.max_parallel} at once, oldest first. See them on the Tasks "
                "page (queued by backfill).",
            )
            st.rerun()


def _preview_table(planned: backfill_service.BackfillResult, zone: str) -> None:
    st.dataframe(
        pd.DataFrame(
            {
                f"fire ({zone})": [format_local(f.at, zone) for f in planned.fires],
                "its run": [f.status or "-" for f in planned.fires],
                "backfill": [f.action or "left alone" for f in planned.fires],
            }
        ),
        hide_index=True,
        key=f"backfill_{planned.schedule_id}_table",
    )
    st.caption(
        f"{counted(len(planned.fires), 'fire')} from {format_local(planned.range_from, zone)} to "
        f"{format_local(planned.range_to, zone)}: {counted(planned.queued, 'new run')}, "
        f"{counted(planned.redone, 'failed run')} tried again."
    )
