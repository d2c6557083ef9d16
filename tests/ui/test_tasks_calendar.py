"""The run calendar on the Tasks page: a year of days in the display zone, and a day chosen
(by the day picker the calendar's click sets) filters the runs to it."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest
from streamlit.proto.WidgetStates_pb2 import WidgetState
from streamlit.testing.v1.element_tree import Widget

from automagik.clock import utcnow
from automagik.db.models import TaskStatus
from automagik.services.run_calendar import today_in
from pages import calendar_view
from tests.services.helpers import ECHO_ID, TWO_OUT_ID
from tests.ui.conftest import ZONE
from tests.ui.helpers import add_task, alerts, chart_data, ready_flows, vega_charts

UTC = UTC


def calendar_chart(at):
    found = [c for c in vega_charts(at) if "Runs per day" in c.proto.spec]
    assert len(found) == 1, [c.proto.spec[:80] for c in vega_charts(at)]
    return found[0]


def _caption(at) -> str:
    return next(c.value for c in at.caption if "match" in c.value)


@pytest.fixture
def year(db, langflow, frozen_clock):
    """Runs on three days, the clock at 27 November 2026 10:00 in Berlin: today (Echo: 3
    completed, 1 failed), 29 March 2026, the day Berlin moves its clocks forward (one run at
    00:30 local, 28 March in UTC), and a TwoOut skip two days ago."""
    ready_flows(db, langflow)
    now = utcnow()
    for status in (TaskStatus.COMPLETED, TaskStatus.COMPLETED, TaskStatus.COMPLETED, TaskStatus.FAILED):
        add_task(db, ECHO_ID, status=status, planned=now - timedelta(minutes=1))
    spring = datetime(2026, 3, 28, 23, 30, tzinfo=UTC)  # 00:30 CET on 29 March
    add_task(db, ECHO_ID, status=TaskStatus.FAILED, planned=spring)
    add_task(db, TWO_OUT_ID, status=TaskStatus.SKIPPED, planned=now - timedelta(days=2), seconds=0)
    return {"today": today_in(ZONE), "spring": date(2026, 3, 29)}


def test_the_calendar_shows_a_year_of_days_with_their_counts(open_page, year):
    at = open_page("tasks")
    chart = calendar_chart(at)
    rows = chart_data(chart).set_index("date")
    assert len(rows) >= 365 and rows.index[-1] == year["today"].isoformat()
    today = rows.loc[year["today"].isoformat()]
    assert (today["completed"], today["failed"], today["skipped"], today["share_text"]) == (3, 1, 0, "25%")
    assert rows.index[0] == "2025-11-28"
    spring = rows.loc["2026-03-29"]
    assert (spring["failed"], spring["share_text"]) == (1, "100%")
    assert rows.loc["2026-03-28", "runs"] == 0  # 23:30 UTC is already the 29th in Berlin
    assert (today["colour"], spring["colour"], rows.loc["2026-03-28", "colour"]) == (
        calendar_view.cell_colour(3, 1, 0),
        "#d64545",
        calendar_view.NO_RUNS,
    )
    skipped = rows.loc[(year["today"] - timedelta(days=2)).isoformat()]
    assert (skipped["skipped"], skipped["share_text"]) == (1, "-")
    spec = json.loads(chart.proto.spec)
    assert spec["title"]["text"] == f"Runs per day ({ZONE}), last 12 months"
    assert [t["field"] for t in spec["encoding"]["tooltip"]] == [
        "label",
        "completed",
        "failed",
        "skipped",
        "share_text",
    ]
    # A click selects a day: the chart is a widget whose selection is the day's date.
    assert list(chart.proto.selection_mode) == [calendar_view.SELECTION]
    assert spec["params"][0]["select"]["fields"] == ["date"]


def test_choosing_a_day_lists_that_days_runs(open_page, year):
    at = open_page("tasks")
    at.selectbox(key="tasks_range").select("One day").run()
    picker = at.date_input(key="tasks_day")
    assert picker.label == f"Day ({ZONE})" and picker.value == year["today"]
    assert _caption(at).startswith("4 runs match")
    picker.set_value(year["today"] - timedelta(days=2)).run()
    assert _caption(at).startswith("1 run matches")
    assert list(at.dataframe[0].value["status"]) == ["skipped"]
    # The chosen day is outlined on the calendar.
    rows = chart_data(calendar_chart(at)).set_index("date")
    assert rows.index[rows["chosen"]].tolist() == ["2026-11-25"]


def test_a_berlin_day_across_the_clock_change_is_its_local_day(open_page, year):
    at = open_page("tasks")
    at.selectbox(key="tasks_range").select("One day").run()
    at.date_input(key="tasks_day").set_value(year["spring"]).run()
    assert _caption(at).startswith("1 run matches")
    assert at.dataframe[0].value.iloc[0]["planned (Europe/Berlin)"] == "2026-03-29 00:30:00 CET"
    at.date_input(key="tasks_day").set_value(date(2026, 3, 28)).run()
    assert any(i.value.startswith("No runs match") for i in at.info)


class CalendarClick(Widget):
    """What the browser sends when a calendar cell is clicked: the chart's selection state.
    AppTest has no element for chart selections, so the test puts this in the chart's place."""

    def __init__(self, chart, day: str) -> None:
        self.type, self.proto, self.root, self.id = "vega_lite_chart", chart.proto, chart.root, chart.proto.id
        self.key, self.disabled, self._value = None, False, {calendar_view.SELECTION: [{"date": day}]}

    @property
    def value(self):
        return self._value

    @property
    def _widget_state(self) -> WidgetState:
        state = WidgetState(id=self.id)
        state.string_value = json.dumps({"selection": self._value})
        return state


def click_day(at, day: str):
    chart = calendar_chart(at)
    for node in nodes_with_children(at._tree):
        for position, child in node.children.items():
            if child is chart:
                node.children[position] = CalendarClick(chart, day)
                return at.run()
    raise AssertionError("the calendar chart is not in the page")


def nodes_with_children(block):
    if hasattr(block, "children"):
        yield block
        for child in block.children.values():
            yield from nodes_with_children(child)


def test_clicking_a_day_filters_the_runs_to_it_and_again_after_the_filter_changed(open_page, year):
    at = open_page("tasks")
    click_day(at, "2026-03-29")
    assert at.selectbox(key="tasks_range").value == "One day"
    assert at.date_input(key="tasks_day").value == date(2026, 3, 29)
    assert _caption(at).startswith("1 run matches")
    assert at.dataframe[0].value.iloc[0]["planned (Europe/Berlin)"] == "2026-03-29 00:30:00 CET"
    at.selectbox(key="tasks_range").select("Last 7 days").run()
    assert _caption(at).startswith("5 runs match")
    click_day(at, "2026-03-29")  # the same day again: still a choice, not a repeat ignored
    assert _caption(at).startswith("1 run matches")


def test_a_click_on_a_cell_is_read_as_its_day():
    assert calendar_view.clicked_day([{"date": "2026-03-29"}]) == date(2026, 3, 29)
    assert calendar_view.clicked_day([]) is None
    assert calendar_view.clicked_day([{"vgsid_": 3}]) is None


def test_the_calendar_follows_the_flow_filter_and_says_when_nothing_matches(open_page, db, year):
    at = open_page("tasks")
    at.selectbox(key="tasks_flow").select(TWO_OUT_ID).run()
    rows = chart_data(calendar_chart(at))
    assert rows["runs"].sum() == 1 and rows["skipped"].sum() == 1
    at.selectbox(key="tasks_flow").select(None).run()
    with db.write() as session:  # the flows stay, their runs go
        from automagik.db.models import Task

        session.query(Task).filter(Task.flow_id == TWO_OUT_ID).delete()
    at.selectbox(key="tasks_flow").select(TWO_OUT_ID).run()
    assert not [c for c in vega_charts(at) if "Runs per day" in c.proto.spec]
    assert "No runs match the chosen flow and schedule in the last 12 months." in alerts(at, "info")


def test_without_any_run_the_calendar_says_so(open_page, db, langflow):
    ready_flows(db, langflow)
    at = open_page("tasks")
    assert "No runs in the last 12 months yet." in alerts(at, "info")


def test_a_days_colour_goes_from_green_to_red_with_its_failure_share():
    assert calendar_view.cell_colour(5, 0, 0) == "#2e9e5b"
    assert calendar_view.cell_colour(1, 1, 3) == "#f0ad4e"
    assert calendar_view.cell_colour(0, 2, 0) == "#d64545"
    assert calendar_view.cell_colour(0, 0, 2) == "#9aa0a6"  # only skipped
    assert calendar_view.cell_colour(0, 0, 0) == calendar_view.NO_RUNS
