"""The services the dashboard added: chart aggregates, daemon status, overview queries, its settings.

They hold the SQL the pages must not, so they run on both databases like the other services.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from automagik.config import ConfigError
from automagik.db.models import Schedule, TaskStatus
from automagik.services import charts, overview
from automagik.services import schedules as schedule_service
from automagik.services.daemons import DaemonState, list_daemons, summarize_daemons
from automagik.services.dashboard_settings import dashboard_settings, password_matches
from automagik.services.errors import InvalidInput
from automagik.services.flow_input import parse_typed_input
from automagik.services.flows import flow_state, get_flow
from automagik.services.tasks import TaskFilter
from tests.services.helpers import ECHO_ID, TWO_OUT_ID
from tests.ui.helpers import add_task, beat, ready_flows

UTC = UTC


def at(hour: int, minute: int = 0, second: int = 0, day: int = 27) -> datetime:
    return datetime(2026, 11, day, hour, minute, second, tzinfo=UTC)


@pytest.fixture
def flows(db, langflow):
    ready_flows(db, langflow)


@pytest.fixture
def runs(db, flows):
    add_task(db, planned=at(9, 5, 30), seconds=2)
    add_task(db, planned=at(9, 5, 50), seconds=4)
    add_task(db, planned=at(9, 40), seconds=6)
    add_task(db, flow_id=TWO_OUT_ID, status=TaskStatus.FAILED, planned=at(9, 50), seconds=8, error="boom")
    add_task(db, planned=at(10, 10), seconds=10)
    add_task(db, status=TaskStatus.PENDING, planned=at(10, 20))
    add_task(db, planned=at(23, 30, day=26))  # 00:30 on the 27th in Berlin


def _counts(rows):
    return [(r.start, r.status, r.runs) for r in rows]


def test_runs_per_hour_are_one_group_by(db, runs):
    rows = charts.runs_over_time(db, TaskFilter(since=at(9)), charts.Bucket.HOUR)
    assert _counts(rows) == [
        (at(9), "completed", 3),
        (at(9), "failed", 1),
        (at(10), "completed", 1),
        (at(10), "pending", 1),
    ]


def test_runs_per_minute(db, runs):
    rows = charts.runs_over_time(db, TaskFilter(since=at(9), until=at(9, 45)), charts.Bucket.MINUTE)
    assert _counts(rows) == [(at(9, 5), "completed", 2), (at(9, 40), "completed", 1)]


def test_runs_per_day_start_at_midnight_in_the_display_zone(db, runs):
    rows = charts.runs_over_time(db, TaskFilter(), charts.Bucket.DAY, "Europe/Berlin")
    midnight_27th_berlin = at(23, day=26)
    assert _counts(rows) == [
        (midnight_27th_berlin, "completed", 5),
        (midnight_27th_berlin, "failed", 1),
        (midnight_27th_berlin, "pending", 1),
    ]
    in_utc = charts.runs_over_time(db, TaskFilter(), charts.Bucket.DAY, "UTC")
    assert [(r.start, r.runs) for r in in_utc if r.status == "completed"] == [(at(0, day=26), 1), (at(0), 4)]


def test_filters_apply_to_the_buckets(db, runs):
    rows = charts.runs_over_time(db, TaskFilter(statuses=("failed",)), charts.Bucket.HOUR)
    assert _counts(rows) == [(at(9), "failed", 1)]
    rows = charts.runs_over_time(db, TaskFilter(flow_id=TWO_OUT_ID), charts.Bucket.HOUR)
    assert _counts(rows) == [(at(9), "failed", 1)]


def test_duration_percentiles_from_a_bounded_sample(db, runs):
    sample = charts.duration_sample(db, TaskFilter(since=at(9)))
    assert [p.seconds for p in sample] == [10, 8, 6, 4, 2]  # newest first, pending left out
    assert [p.seconds for p in charts.duration_sample(db, TaskFilter(), limit=2)] == [10, 8]
    stats = charts.duration_percentiles(sample, charts.Bucket.HOUR)
    assert [(s.start, s.p50, s.p95, s.runs) for s in stats] == [
        (at(9), 5.0, pytest.approx(7.7), 4),
        (at(10), 10.0, 10.0, 1),
    ]
    assert charts.duration_percentiles([], charts.Bucket.HOUR) == []


def test_success_rate_per_flow_ignores_the_status_filter(db, runs):
    rows = charts.success_by_flow(db, TaskFilter(statuses=("failed",)))
    by_flow = {r.flow_id: (r.completed, r.failed, r.others, r.rate) for r in rows}
    assert by_flow == {ECHO_ID: (5, 0, 1, 1.0), TWO_OUT_ID: (0, 1, 0, 0.0)}


def test_chart_range_and_bucket_size(db, flows):
    assert charts.chart_range(db, TaskFilter(), now=at(12)) is None
    add_task(db, planned=at(9))
    assert charts.chart_range(db, TaskFilter(), now=at(12)) == charts.ChartRange(at(9), at(12), capped=False)
    assert charts.chart_range(db, TaskFilter(since=at(1), until=at(2)), now=at(12)) == (
        charts.ChartRange(at(1), at(2), capped=False)
    )
    add_task(db, planned=at(9) - timedelta(days=400))
    long = charts.chart_range(db, TaskFilter(), now=at(12))
    assert long == charts.ChartRange(at(12) - charts.MAX_CHART_SPAN, at(12), capped=True)
    assert long.narrow(TaskFilter(flow_id=ECHO_ID)) == TaskFilter(flow_id=ECHO_ID, since=long.since, until=at(12))
    assert charts.pick_bucket(at(6), at(12)) is charts.Bucket.MINUTE
    assert charts.pick_bucket(at(6), at(12, 1)) is charts.Bucket.HOUR
    assert charts.pick_bucket(at(0, day=1), at(0, day=15)) is charts.Bucket.HOUR
    assert charts.pick_bucket(at(0, day=1), at(1, day=15)) is charts.Bucket.DAY


def test_bucket_spans_cover_whole_bars():
    assert charts.bucket_span(at(9, 10), at(12, 5), charts.Bucket.HOUR) == (at(9), at(13))
    assert charts.bucket_span(at(9, 10, 5), at(9, 12, 5), charts.Bucket.MINUTE) == (at(9, 10), at(9, 13))
    # Berlin days, across the autumn change (25 October 2026 has 25 hours there).
    span = charts.bucket_span(
        datetime(2026, 10, 24, 12, tzinfo=UTC),
        datetime(2026, 10, 25, 12, tzinfo=UTC),
        charts.Bucket.DAY,
        "Europe/Berlin",
    )
    assert span == (datetime(2026, 10, 23, 22, tzinfo=UTC), datetime(2026, 10, 25, 23, tzinfo=UTC))


def test_daemon_states_from_heartbeats(db):
    now = at(12)
    beat(db, now - timedelta(seconds=4), name="alive")
    beat(db, now - timedelta(seconds=16), name="stale")
    beat(db, now - timedelta(seconds=1), name="stopped", stopped=True)
    states = {d.id: d.state for d in list_daemons(db, now, heartbeat_seconds=5)}
    assert states == {"alive": DaemonState.ALIVE, "stale": DaemonState.STALE, "stopped": DaemonState.STOPPED}
    assert list_daemons(db, now, heartbeat_seconds=10)[1].state is DaemonState.ALIVE  # 16 s < 3 × 10 s
    summary = summarize_daemons(db, now, 5)
    assert summary.alive == 1 and summary.message == "1 daemon alive, 1 run in flight."


def test_daemon_summary_without_a_live_daemon_says_how_to_start_one(db):
    assert "No daemon has ever run" in summarize_daemons(db, at(12)).message
    beat(db, at(11), name="dead")
    message = summarize_daemons(db, at(12), describe_time=lambda m: m.strftime("%H:%M")).message
    assert message.startswith("No daemon is alive: the last one (box, pid 4242) stopped sending heartbeats at 11:00.")
    assert "python scheduler_daemon.py" in message


def test_next_fires_merge_schedules_and_expand_each(db, flows, frozen_clock):
    frozen_clock.now = at(9, 0, 30)
    schedule_service.create_schedule(db, schedule_service.ScheduleSpec(ECHO_ID, "interval", "3m"))
    schedule_service.create_schedule(db, schedule_service.ScheduleSpec(TWO_OUT_ID, "cron", "*/5 * * * *"))
    fires = overview.next_fires(db, 6, now=at(9, 1))
    assert [(f.at, f.schedule_type) for f in fires] == [
        (at(9, 3, 30), "interval"),
        (at(9, 5), "cron"),
        (at(9, 6, 30), "interval"),
        (at(9, 9, 30), "interval"),
        (at(9, 10), "cron"),
        (at(9, 12, 30), "interval"),
    ]
    assert not any(f.overdue for f in fires)
    later = overview.next_fires(db, 3, now=at(9, 20))  # no daemon ran them: overdue, then after now
    assert [(f.at, f.overdue) for f in later] == [(at(9, 3, 30), True), (at(9, 5), True), (at(9, 21, 30), False)]


def test_next_fires_of_a_schedule_saved_with_an_expression_now_refused(db, flows, frozen_clock):
    frozen_clock.now = at(9, 0, 30)
    saved = schedule_service.create_schedule(db, schedule_service.ScheduleSpec(TWO_OUT_ID, "cron", "0 0 * * FRI-SAT"))
    with db.write() as session:  # as an older version, which read a backward range as wrapping round, stored it
        session.get(Schedule, saved.id).schedule_expr = "0 0 * * FRI-MON"
    assert [(f.at, f.schedule_expr) for f in overview.next_fires(db, 3, now=at(9, 1))] == [
        (saved.next_run_at, "0 0 * * FRI-MON")
    ]


def test_overview_counts_and_recent_failures(db, runs, frozen_clock):
    frozen_clock.now = at(12)
    schedule_service.create_schedule(db, schedule_service.ScheduleSpec(ECHO_ID, "interval", "1h"))
    counts = overview.overview_counts(db, at(12))
    assert (counts.flows, counts.flows_needing_components, counts.active_schedules) == (2, 0, 1)
    assert counts.runs_by_status == {"completed": 5, "failed": 1, "pending": 1} and counts.runs == 7
    (failure,) = overview.recent_failures(db)
    assert (failure.flow_name, failure.task.error) == ("TwoOut 1a87", "boom")


def test_schema_problem(db, tmp_path):
    from automagik.db.engine import Database

    assert overview.schema_problem(db) is None
    fresh = Database(f"sqlite:///{tmp_path / 'new.db'}")
    assert "is not initialized: run `python -m automagik.cli.cli db init`" in overview.schema_problem(fresh)
    fresh.dispose()


def test_flow_state_words(db, langflow):
    ready_flows(db, langflow)
    assert flow_state(get_flow(db, ECHO_ID)) == "ready"


def test_dashboard_settings():
    assert dashboard_settings({}, env_file=None).refresh_seconds == 5.0
    options = dashboard_settings(
        {
            "AUTOMAGIK_DASHBOARD_REFRESH_SECONDS": "0",
            "AUTOMAGIK_DASHBOARD_PASSWORD": " p w ",
            "AUTOMAGIK_HEARTBEAT_SECONDS": "2",
        },
        env_file=None,
    )
    assert (options.refresh_seconds, options.password, options.heartbeat_seconds) == (0, " p w ", 2)
    assert "p w" not in repr(options)
    for name, value in (("AUTOMAGIK_DASHBOARD_REFRESH_SECONDS", "-1"), ("AUTOMAGIK_HEARTBEAT_SECONDS", "0")):
        with pytest.raises(ConfigError, match=name):
            dashboard_settings({name: value}, env_file=None)
    assert password_matches("sésame", "sésame") and not password_matches("sésame", "sesame")


def test_typed_input_is_text_unless_it_is_a_json_object():
    assert parse_typed_input("hello") == {"input": "hello", "tweaks": {}}
    assert parse_typed_input('"quoted"') == {"input": '"quoted"', "tweaks": {}}
    assert parse_typed_input("") == {"input": "", "tweaks": {}}
    assert parse_typed_input(' {"input": "x", "tweaks": {"C-1": {"f": 1}}}') == {
        "input": "x",
        "tweaks": {"C-1": {"f": 1}},
    }
    with pytest.raises(InvalidInput, match="not valid JSON"):
        parse_typed_input("{oops")
