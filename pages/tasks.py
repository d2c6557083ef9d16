"""Tasks: the history of runs, filtered and paged in SQL, one run in detail (pages/run_view.py),
CSV export, charts, and the run calendar (runs per day for a year), whose days filter the list
below it.

The filters rerun the page; the runs and the charts are two fragments that refresh
themselves. The filters, the page and the selected run are widget or session state, kept
across refreshes (and, with persist_state, across visits to other pages). Pages are read by
keyset (services/task_pages.py); past page 1 they hold still while new runs arrive, which
the caption counts.
"""

from __future__ import annotations

import functools
import hashlib
import io
from dataclasses import astuple, dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Final

import pandas as pd
import streamlit as st

from automagik.clock import utcnow
from automagik.costfmt import format_tokens, format_usd
from automagik.db.models import TaskStatus
from automagik.plural import agree, counted
from automagik.services import flows as flow_service
from automagik.services import run_calendar, task_pages
from automagik.services import schedules as schedule_service
from automagik.services import tasks as task_service
from automagik.services.context import AppContext
from automagik.services.errors import InvalidInput
from automagik.services.export import csv_file_name, export_tasks_csv
from automagik.services.serialize import duration_seconds, output_text
from automagik.services.time_input import parse_time_input
from pages import calendar_view, common, frame, range_charts, run_view

frame.ensure()  # before anything renders: see pages/frame.py

RANGES = {
    "Last hour": timedelta(hours=1),
    "Last 24 hours": timedelta(hours=24),
    "Last 7 days": timedelta(days=7),
    "Last 30 days": timedelta(days=30),
    "One day": None,  # a day of the display zone: the day picker, or a click on the calendar
    "All time": None,
    "Custom": None,
}
PAGE_SIZES = [25, 50, 100]
PAGE_KEY, PAGE_NUMBER_KEY = "tasks_page", "tasks_page_number"
PAGE_JUMP_KEY = "tasks_page_jump"  # (how many page numbers were typed, the last one)
TOP_KEY = "tasks_pages_top"  # (the filters, the newest run's key) while past page 1
LISTED_KEY = "tasks_pages_of"  # (the filters, the page size) of the pages shown
RANGE_KEY, DAY_KEY, CALENDAR_KEY = "tasks_range", "tasks_day", "tasks_calendar"
CLICKS_KEY = "tasks_calendar_clicks"
ONE_DAY = "One day"
EXPORT_NAME_REFRESH_SECONDS = 10
KEEP: Final = "session"  # filters survive a visit to another page


@dataclass(frozen=True)
class Choice:
    """What the filter widgets say. Each fragment turns it into a TaskFilter when it runs, so
    "last 24 hours" slides with every refresh instead of sticking to the page's first run."""

    statuses: tuple[str, ...] = ()
    flow_id: str | None = None
    schedule_id: str | None = None
    last: timedelta | None = None
    since: datetime | None = None
    until: datetime | None = None
    triggers: tuple[str, ...] = ()

    def filter(self, now: datetime) -> task_service.TaskFilter:
        since = now - self.last if self.last else self.since
        return task_service.TaskFilter(
            self.statuses, self.flow_id, self.schedule_id, since, self.until, triggers=self.triggers
        )


def read_choice(context: AppContext) -> Choice | None:
    """The filter widgets; None (with one st.error) when they do not make sense."""
    flows = {f.id: f.name for f in flow_service.list_flows(context.db)}
    schedules = schedule_service.schedule_choices(context.db)
    columns = st.columns(5)
    flow_id = columns[0].selectbox(
        "Flow",
        [None, *flows],
        format_func=lambda f: "All flows" if f is None else flows[f],
        key="tasks_flow",
        persist_state=KEEP,
    )
    schedule_id = columns[1].selectbox(
        "Schedule",
        [None, *schedules],
        format_func=lambda s: "All schedules" if s is None else schedules[s],
        key="tasks_schedule",
        persist_state=KEEP,
    )
    statuses = columns[2].multiselect(
        "Status", [s.value for s in TaskStatus], key="tasks_status", placeholder="Any status", persist_state=KEEP
    )
    triggers = columns[3].multiselect(
        "Queued by", list(task_service.TRIGGERS), key="tasks_trigger", placeholder="Anything", persist_state=KEEP
    )
    span = columns[4].selectbox("Planned", list(RANGES), index=1, key=RANGE_KEY, persist_state=KEEP)
    choice = Choice(tuple(statuses), flow_id, schedule_id, last=RANGES[span], triggers=tuple(triggers))
    if span == ONE_DAY:
        zone = common.zone()
        # Today in the display zone, not the server's (st.date_input's own default).
        st.session_state.setdefault(DAY_KEY, run_calendar.today_in(zone))
        day = st.date_input(f"Day ({zone})", key=DAY_KEY, format="YYYY-MM-DD", persist_state=KEEP)
        since, until = run_calendar.day_span(day, zone)
        choice = replace(choice, since=since, until=until)
    if span == "Custom":
        left, right = st.columns(2)
        zone = common.zone()
        raw_since = left.text_input(
            f"From ({zone})", key="tasks_since", placeholder="2026-11-27 08:00", persist_state=KEEP
        )
        raw_until = right.text_input(f"Until ({zone})", key="tasks_until", placeholder="empty: now", persist_state=KEEP)
        try:  # an empty field is no bound (the placeholders say so); anything typed is parsed
            choice = replace(
                choice,
                since=parse_time_input(raw_since, zone, "From") if raw_since.strip() else None,
                until=parse_time_input(raw_until, zone, "Until") if raw_until.strip() else None,
            )
        except InvalidInput as exc:
            st.error(common.plain(exc.message))
            return None
    try:
        choice.filter(utcnow())
    except InvalidInput as exc:
        st.error(common.plain(exc.message.replace("--since", "From").replace("--until", "Until")))
        return None
    return choice


def _choose_clicked_day(chart_key: str) -> None:
    # A click on a calendar cell: runs before the rerun, so the Planned filter shows that day.
    # The chart then gets a new key, which empties its selection: clicking the same day again
    # later (after the filter changed) is a new selection, not a repeat that fires nothing.
    points = st.session_state[chart_key]["selection"].get(calendar_view.SELECTION, [])
    day = calendar_view.clicked_day(points)
    if day is not None:
        st.session_state[RANGE_KEY], st.session_state[DAY_KEY] = ONE_DAY, day
    st.session_state[CLICKS_KEY] = st.session_state.get(CLICKS_KEY, 0) + 1


def calendar_section(context: AppContext, choice: Choice) -> None:
    """Runs per day for twelve months, by the Flow and Schedule filters (not Status: a day's
    colour needs every outcome; not Planned: a click sets it)."""
    zone = common.zone()
    scope = task_service.TaskFilter(flow_id=choice.flow_id, schedule_id=choice.schedule_id)
    calendar = common.attempt(lambda: run_calendar.run_calendar(context.db, zone, scope))
    if calendar is None:
        return
    if not calendar.days:
        st.info(
            "No runs match the chosen flow and schedule in the last 12 months."
            if choice.flow_id or choice.schedule_id
            else "No runs in the last 12 months yet."
        )
        return
    chosen = st.session_state.get(DAY_KEY) if st.session_state.get(RANGE_KEY) == ONE_DAY else None
    chart_key = f"{CALENDAR_KEY}_{st.session_state.get(CLICKS_KEY, 0)}"
    st.altair_chart(
        calendar_view.calendar_chart(calendar, chosen),
        key=chart_key,
        on_select=functools.partial(_choose_clicked_day, chart_key),
        selection_mode=calendar_view.SELECTION,
    )
    st.caption(
        f"Click a day to list its runs (days from midnight in {zone}). Colour: the share of finished runs "
        "that failed; grey: only skipped runs. By the Flow and Schedule filters."
    )


def _remember_selection(table_key: str, ids: list[str]) -> None:
    # Runs before the rerun, with the ids of the table the user clicked in (bound at render
    # time): a row number alone would point elsewhere once new runs push the rows down.
    rows = st.session_state[table_key]["selection"]["rows"]
    st.session_state[run_view.SELECTED_KEY] = ids[rows[0]] if rows else None


def runs_table(rows: list[task_service.TaskRow]) -> None:
    zone = common.zone()
    ids = [r.task.id for r in rows]
    # A new key whenever the rows change, so the highlighted row follows the selected run.
    table_key = "tasks_table_" + hashlib.sha1("".join(ids).encode()).hexdigest()[:12]
    selected = st.session_state.get(run_view.SELECTED_KEY)
    st.dataframe(
        pd.DataFrame(
            {
                "status": [r.task.status.value for r in rows],
                "flow": [r.flow_name for r in rows],
                f"planned ({zone})": [common.when(r.task.scheduled_for) for r in rows],
                f"started ({zone})": [common.when(r.task.started_at) for r in rows],
                "duration (s)": [_duration(r.task) for r in rows],
                "tries": [r.task.tries for r in rows],
                "queued by": [r.task.trigger for r in rows],
                "tokens": [format_tokens(r.task.total_tokens) for r in rows],
                "model": [r.task.model or "-" for r in rows],
                "cost": [format_usd(r.task.cost_usd) for r in rows],
                "output / error": [(r.task.error or output_text(r.task) or "")[:200] for r in rows],
                "id": ids,
            }
        ).style.map(_status_colour, subset=["status"]),
        hide_index=True,
        key=table_key,
        on_select=functools.partial(_remember_selection, table_key, ids),
        selection_mode="single-row",
        selection_default={"selection": {"rows": [ids.index(selected)]}} if selected in ids else None,
    )


def _status_colour(status: Any) -> str:  # Styler.map passes any cell value
    """The status in the colour the charts give it."""
    colour = common.STATUS_COLOURS.get(status)
    return f"color: {colour}; font-weight: 600" if colour else ""


def _duration(task) -> str:
    """Seconds to the millisecond; "-" for a run that never ran (skipped, or not yet)."""
    seconds = duration_seconds(task)
    return "-" if seconds is None else f"{seconds:.3f}"


def export_button(context: AppContext, choice: Choice) -> None:
    """A fragment of its own, redrawn every EXPORT_NAME_REFRESH_SECONDS: Streamlit fixes a
    download's file name when it draws the button, so the redraw keeps the name on the minute
    of the click (the rows themselves are read at the click). Not part of the table's fragment,
    which may redraw every second: each redraw replaces the button's file, and a click that
    meets a replacement is lost, so the button is redrawn as seldom as its name allows."""

    def csv_bytes() -> bytes:
        # Called only when the button is clicked (on Streamlit's thread, not this run), with
        # the filters as of the click; the rows are read from the database in keyset chunks,
        # so the export never holds one long transaction. Streamlit keeps the finished file in
        # memory to serve it. Each chunk's bytes go straight into one buffer: joining text,
        # then encoding it, would hold the file three times over at its largest.
        buffer = io.BytesIO()
        for chunk in export_tasks_csv(context.db, choice.filter(utcnow())):
            buffer.write(chunk.encode("utf-8"))
        return buffer.getvalue()

    st.download_button(
        "Download CSV",
        data=csv_bytes,
        file_name=csv_file_name(utcnow(), common.zone()),
        mime="text/csv",
        on_click="ignore",
        icon=":material/download:",
        key="tasks_csv",
        help="Every run matching the filters when you click, newest first, times in UTC.",
    )


def _go_to_page() -> None:
    # A page number typed starts a new pagination widget with that page as its default:
    # setting the widget's value through session state would make Streamlit warn (it has a
    # default). The box empties again; the pagination shows the page.
    typed = st.session_state[PAGE_NUMBER_KEY]
    if typed:
        generation, _ = st.session_state.get(PAGE_JUMP_KEY, (0, 1))
        st.session_state[PAGE_JUMP_KEY] = (generation + 1, int(typed))
    st.session_state[PAGE_NUMBER_KEY] = None


def _pages_top(choice: Choice, number: int) -> task_pages.Key | None:
    """The newest run of the pages while the user is past page 1 with these filters: runs
    arriving meanwhile are counted but do not push the rows of the page being read along.
    Page 1 follows the newest runs (None)."""
    kept = st.session_state.get(TOP_KEY)
    return kept[1] if number > 1 and kept and kept[0] == astuple(choice) else None


def runs_section(choice: Choice) -> None:
    context, now = common.context(), utcnow()
    common.show_flashes()
    filters = choice.filter(now)
    left, middle, right = st.columns([3, 1, 1])
    size = middle.selectbox("Rows per page", PAGE_SIZES, key="tasks_page_size", persist_state=KEEP)
    generation, typed = st.session_state.get(PAGE_JUMP_KEY, (0, 1))
    listed = (astuple(choice), size)
    if st.session_state.get(LISTED_KEY, listed) != listed:
        # Other filters or another page size: other pages. A new pagination starts at page 1.
        generation, typed = generation + 1, 1
    st.session_state[LISTED_KEY] = listed
    page_key = f"{PAGE_KEY}_{generation}"
    number = st.session_state.get(page_key) or typed
    # A typed page is the new pagination's first page only: once drawn the widget holds the
    # page. Kept, it would be the page of every later visit, the widget's state being dropped
    # while another page is shown.
    st.session_state[PAGE_JUMP_KEY] = (generation, 1)
    page = common.attempt(lambda: task_pages.task_page(context.db, filters, number, size, _pages_top(choice, number)))
    if page is None:
        return
    # The filters kept as a tuple: this script, and so the Choice class, is new at every rerun.
    st.session_state[TOP_KEY] = (astuple(choice), page.top) if page.number > 1 else None
    total = page.total + page.newer
    left.caption(
        f"{counted(total, 'run')} {agree(total, 'matches', 'match')} · page {page.number:,} of {page.pages:,}"
        f" · updated {common.when(now)}"
        + (
            f" · {counted(page.newer, 'newer run')} since you left page 1: go to page 1 to see "
            f"{agree(page.newer, 'it', 'them')}"
            if page.newer
            else ""
        )
    )
    if total == 0:
        st.info(
            "No runs match: a run appears here as soon as a schedule fires or you press “Run now” on the Flows page."
        )
        return
    right.number_input(
        "Go to page",
        value=None,
        min_value=1,
        max_value=page.pages,
        step=1,
        placeholder=f"1 to {page.pages:,}",
        key=PAGE_NUMBER_KEY,
        on_change=_go_to_page,
    )
    # The page read can differ from the one asked (past the end after a filter narrowed): a
    # value out of range falls back to the default, the page read.
    st.pagination(page.pages, default=page.number, key=page_key)
    runs_table(page.rows)
    selected = st.session_state.get(run_view.SELECTED_KEY)
    if selected:
        run_view.run_detail(context, selected)
    else:
        st.caption("Select a row to see its input, output, error and log lines.")


st.title("Tasks")
chosen = read_choice(common.context())
if chosen is not None:
    calendar_section(common.context(), chosen)
    every = common.refresh_every()
    # The table refreshes at the dashboard's pace; the charts, whole-range aggregates, at most
    # once a minute. Both keep the filters, page and selection (widget state) across refreshes.
    st.fragment(runs_section, run_every=every)(chosen)
    st.fragment(export_button, run_every=EXPORT_NAME_REFRESH_SECONDS)(common.context(), chosen)
    st.divider()
    charts_every = None if every is None else max(every, range_charts.CHARTS_REFRESH_SECONDS)
    st.fragment(range_charts.charts_section, run_every=charts_every)(chosen.filter)
