"""Tasks: filters and paging done in SQL, one run in detail with retry, CSV export, charts."""

from __future__ import annotations

import json
from datetime import timedelta

import pyarrow as pa
import pytest
from sqlalchemy import update

from automagik.clock import utcnow
from automagik.db.models import Flow, Task, TaskStatus
from automagik.services import schedules as schedule_service
from automagik.services import tasks as task_service
from tests.services.helpers import ECHO_ID, TWO_OUT_ID
from tests.ui.helpers import (
    ECHO_NAME,
    TWO_OUT_NAME,
    add_task,
    alerts,
    chart_data,
    page_errors,
    ready_flows,
    vega_charts,
)


@pytest.fixture
def history(db, langflow):
    """60 runs over the last 50 minutes: Echo completed, every 4th TwoOut failed; one 3 days ago."""
    ready_flows(db, langflow)
    schedule = schedule_service.create_schedule(
        db, schedule_service.ScheduleSpec(ECHO_ID, "interval", "1m", flow_input={"input": "ping"})
    )
    now = utcnow()
    ids = {}
    for n in range(60):
        failed = n % 4 == 0
        ids[n] = add_task(
            db,
            flow_id=TWO_OUT_ID if failed else ECHO_ID,
            status=TaskStatus.FAILED if failed else TaskStatus.COMPLETED,
            planned=now - timedelta(seconds=50 * n + 10),
            seconds=0.5 + n / 10,
            schedule_id=None if failed else schedule.id,
            text=f"input {n}",
            output=None if failed else f"output {n}",
            error="HTTP 500 from LangFlow: simulated failure" if failed else None,
        )
    add_task(db, planned=now - timedelta(days=3), text="old")
    return {"schedule": schedule, "ids": ids}


def range_charts(at) -> list:
    """The charts of the Planned range (the run calendar above the table is tested on its own)."""
    return [chart for chart in vega_charts(at) if "Runs per day" not in chart.proto.spec]


def _caption(at) -> str:
    return next(c.value for c in at.caption if "match" in c.value)


def test_the_first_page_of_the_last_24_hours(open_page, history):
    at = open_page("tasks")
    assert _caption(at).startswith("60 runs match")
    (pages,) = at.pagination
    assert pages.num_pages == 3 and pages.value == 1
    table = at.dataframe[0].value
    assert len(table) == 25
    assert list(table.columns[:6]) == [
        "status",
        "flow",
        "planned (Europe/Berlin)",
        "started (Europe/Berlin)",
        "duration (s)",
        "tries",
    ]
    assert table.iloc[0]["id"] == history["ids"][0]  # newest first
    assert table.iloc[0]["planned (Europe/Berlin)"].endswith(("CET", "CEST"))
    assert table.iloc[1]["output / error"] == "output 1"
    assert at.download_button[0].label == "Download CSV"
    assert len(range_charts(at)) == 3 and len(vega_charts(at)) == 4  # and the calendar


def test_paging_reads_the_next_rows(open_page, history):
    at = open_page("tasks")
    at.pagination[0].select(3).run()
    table = at.dataframe[0].value
    assert len(table) == 10
    assert list(table["id"]) == [history["ids"][n] for n in range(50, 60)]


def test_filters_by_status_flow_schedule_and_time(open_page, history):
    at = open_page("tasks")
    at.multiselect(key="tasks_status").select("failed").run()
    assert _caption(at).startswith("15 runs match")
    assert set(at.dataframe[0].value["flow"]) == {TWO_OUT_NAME}
    at.multiselect(key="tasks_status").unselect("failed").run()
    at.selectbox(key="tasks_flow").select(ECHO_ID).run()
    assert _caption(at).startswith("45 runs match")
    at.selectbox(key="tasks_schedule").select(history["schedule"].id).run()
    assert _caption(at).startswith("45 runs match")
    at.selectbox(key="tasks_schedule").select(None).run()
    at.selectbox(key="tasks_range").select("All time").run()
    assert _caption(at).startswith("46 runs match")
    at.selectbox(key="tasks_range").select("Last hour").run()
    assert _caption(at).startswith("45 runs match")
    assert at.download_button[0].label == "Download CSV"


def test_a_custom_range_in_the_display_zone(open_page, history):
    at = open_page("tasks")
    at.selectbox(key="tasks_range").select("Custom").run()
    assert at.text_input(key="tasks_since").label == "From (Europe/Berlin)"
    since = (utcnow() - timedelta(days=4)).astimezone().strftime("%Y-%m-%dT%H:%M%z")
    until = (utcnow() - timedelta(days=2)).strftime("%Y-%m-%dT%H:%MZ")
    at.text_input(key="tasks_since").input(since).run()
    at.text_input(key="tasks_until").input(until).run()
    assert _caption(at).startswith("1 run matches")
    assert list(at.dataframe[0].value["flow"]) == [ECHO_NAME]


@pytest.mark.parametrize(
    "since, until, message",
    [
        ("yesterday", "", 'From: Invalid time "yesterday": it is not an ISO 8601 time'),
        # The same parser as the CLI's --since and a oneshot's time: Berlin skips 02:00-03:00 that night.
        ("2026-03-29 02:30", "", 'From: Invalid time "2026-03-29 02:30": it does not exist in Europe/Berlin'),
        ("", "2026-03-29 02:30", 'Until: Invalid time "2026-03-29 02:30": it does not exist in Europe/Berlin'),
        ("2026-11-27 10:00", "2026-11-27 09:00", "The time range is empty: From must be before Until."),
    ],
)
def test_a_bad_range_is_one_error_and_no_table(open_page, history, since, until, message):
    at = open_page("tasks")
    at.selectbox(key="tasks_range").select("Custom").run()
    at.text_input(key="tasks_since").input(since).run()
    at.text_input(key="tasks_until").input(until).run()
    errors = page_errors(at)
    assert len(errors) == 1 and errors[0].startswith(message), errors
    assert not at.dataframe and not at.download_button


def test_a_selected_failed_run_shows_everything_and_can_be_retried(open_page, db, history):
    task_id = history["ids"][4]
    at = open_page("tasks")
    at.session_state["tasks_selected_id"] = task_id
    at.run()
    assert at.subheader[0].value == "Selected run"
    summary = at.text[0].value
    assert f"Run {task_id}" in summary and f"Flow: {TWO_OUT_NAME}" in summary and "Status: failed" in summary
    code = [c.value for c in at.code]
    assert code[:3] == ["input 4", "", "HTTP 500 from LangFlow: simulated failure"]
    assert "try 1 of 4: sent to LangFlow" in code[3]
    next(b for b in at.button if b.label == "Retry").click().run()
    assert any(s.startswith("The run is pending again") for s in alerts(at, "success"))
    assert task_service.get_task(db, task_id).task.status is TaskStatus.PENDING
    # The selection survives the rerun: the detail is still there, now without a retry button.
    assert "Status: pending" in at.text[0].value
    assert not [b for b in at.button if b.label == "Retry"]


def test_a_completed_run_shows_its_output_and_no_retry(open_page, history):
    at = open_page("tasks")
    at.session_state["tasks_selected_id"] = history["ids"][1]
    at.run()
    assert [c.value for c in at.code][:2] == ["input 1", "output 1"]
    assert not [b for b in at.button if b.label == "Retry"]


def test_the_selected_row_stays_highlighted_when_new_runs_arrive(open_page, db, history):
    at = open_page("tasks")
    first_key = at.dataframe[0].key
    at.session_state["tasks_selected_id"] = history["ids"][2]  # what a click on row 2 stores
    add_task(db, planned=utcnow())  # a new run pushes every row down by one
    at.run()
    key = at.dataframe[0].key
    assert key != first_key  # a fresh table, so the selection follows the run, not the row number
    assert at.session_state[key]["selection"]["rows"] == [3]
    assert at.text[0].value.startswith(f"Run {history['ids'][2]}")


@pytest.fixture
def usage_runs(db, langflow):
    """Runs whose answers reported usage: priced, priced high, a model without a price; and one without."""
    ready_flows(db, langflow)
    now = utcnow()
    return {
        "priced": add_task(
            db, planned=now - timedelta(minutes=10), tokens=(1200, 300), model="gpt-4o-mini", cost=0.00036
        ),
        "unpriced": add_task(
            db, flow_id=TWO_OUT_ID, planned=now - timedelta(minutes=20), tokens=(12, 30), model="llama3:8b", cost=None
        ),
        "none": add_task(db, planned=now - timedelta(minutes=30)),
        "large": add_task(
            db, planned=now - timedelta(hours=2), tokens=(2_000_000, 500_000), model="gpt-4o", cost=12.3456
        ),
    }


def test_the_table_and_the_run_detail_show_tokens_model_and_cost(open_page, usage_runs):
    at = open_page("tasks")
    table = at.dataframe[0].value.set_index("id")
    shown = {name: tuple(table.loc[task_id, ["tokens", "model", "cost"]]) for name, task_id in usage_runs.items()}
    assert shown == {
        "priced": ("1,500", "gpt-4o-mini", "$0.00036"),
        "unpriced": ("42", "llama3:8b", "-"),  # unknown, never $0
        "none": ("-", "-", "-"),
        "large": ("2,500,000", "gpt-4o", "$12.35"),
    }

    at.session_state["tasks_selected_id"] = usage_runs["priced"]
    at.run()
    assert "\nTokens: 1,200 in, 300 out, 1,500 in all; model: gpt-4o-mini; cost: $0.00036" in at.text[0].value
    at.session_state["tasks_selected_id"] = usage_runs["unpriced"]
    at.run()
    assert "; model: llama3:8b; cost: - (no price for its model: the log says why)" in at.text[0].value
    at.session_state["tasks_selected_id"] = usage_runs["none"]
    at.run()
    assert "\nTokens: - in, - out, - in all; model: -; cost: -" in at.text[0].value


def test_tokens_and_cost_per_day_and_flow_are_charted(open_page, usage_runs):
    at = open_page("tasks")
    runs, durations, success, cost, tokens = range_charts(at)
    cost_rows = chart_data(cost)
    token_rows = chart_data(tokens)
    # Sums over the days: which day each run falls on depends on when the test runs.
    assert set(cost_rows["flow"]) == {ECHO_NAME}  # TwoOut's only run has no known cost
    assert cost_rows["cost"].sum() == pytest.approx(0.00036 + 12.3456)
    assert set(token_rows["flow"]) == {ECHO_NAME, TWO_OUT_NAME}
    assert token_rows["tokens"].sum() == 1500 + 42 + 2_500_000
    assert token_rows.loc[token_rows["flow"] == TWO_OUT_NAME, "cost_text"].tolist() == ["-"]
    assert "(Europe/Berlin)" in cost.proto.spec and "cost per day (USD)" in cost.proto.spec
    caption = next(c.value for c in at.caption if c.value.startswith("Per day from midnight"))
    assert "1 of them used a model without a known price" in caption


def test_without_usage_the_cost_tab_says_so(open_page, history):
    at = open_page("tasks")
    assert len(range_charts(at)) == 3  # runs, durations, success rate; no usage to chart
    assert any(i.value.startswith("No run that matches reported token usage") for i in at.info)


def test_the_runs_chart_marks_when_a_flow_changed_in_langflow(open_page, db, history):
    changed = utcnow() - timedelta(minutes=20)
    with db.write() as session:
        flow = session.get(Flow, ECHO_ID)
        flow.data = {**flow.data, "updated_at": changed.isoformat()}
        session.execute(update(Flow).where(Flow.id == TWO_OUT_ID).values(data={"components": []}))
    at = open_page("tasks")
    spec = range_charts(at)[0].proto.spec
    assert '"rule"' in spec and "flow changed in LangFlow" in spec
    assert any("Dashed lines: a flow changed in LangFlow" in c.value for c in at.caption)
    chart = range_charts(at)[0]
    datasets = [pa.ipc.open_stream(d.data.data).read_pandas() for d in chart.proto.datasets]
    assert any(list(frame.get("flow", [])) == [ECHO_NAME] for frame in datasets)  # TwoOut has no change to mark


def test_runs_show_what_queued_them_and_filter_by_it(open_page, db, history):
    backfilled = add_task(db, planned=utcnow() - timedelta(minutes=1), text="a past fire")
    with db.write() as session:
        session.get(Task, backfilled).trigger = "backfill"
    at = open_page("tasks")
    table = at.dataframe[0].value
    assert set(table["queued by"]) == {"schedule", "backfill"}
    at.multiselect(key="tasks_trigger").select("backfill").run()
    assert _caption(at).startswith("1 run matches")
    assert list(at.dataframe[0].value["id"]) == [backfilled]
    at.multiselect(key="tasks_trigger").select("manual").run()
    assert _caption(at).startswith("1 run matches")
    assert not page_errors(at)


def test_status_has_its_colour_and_a_run_that_never_ran_has_no_duration(open_page, db, history):
    skipped = add_task(
        db,
        status=TaskStatus.SKIPPED,
        planned=utcnow() - timedelta(seconds=1),
        output=None,
        error="skipped: previous run still going",
    )
    at = open_page("tasks")
    table = at.dataframe[0].value.set_index("id")
    assert table.loc[skipped, "duration (s)"] == "-"
    assert table.loc[history["ids"][1], "duration (s)"] == "0.600"
    # The status cells are styled in the charts' colours (green completed, red failed).
    styles = at.dataframe[0].proto.arrow_data.styler.styles
    assert "color: #2e9e5b" in styles and "color: #d64545" in styles and "color: #9aa0a6" in styles


def test_counts_are_charted_in_whole_numbers(open_page, db, langflow):
    ready_flows(db, langflow)
    add_task(db)  # one run: a chart's default ticks would be 0.1, 0.2, ...
    at = open_page("tasks")
    [runs] = [chart for chart in range_charts(at) if "runs per" in chart.proto.spec]
    axis = json.loads(runs.proto.spec)["encoding"]["y"]["axis"]
    assert (axis["format"], axis["tickMinStep"]) == (",d", 1)
