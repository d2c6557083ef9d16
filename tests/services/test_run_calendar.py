"""The run calendar: runs per day of the display zone by outcome, twelve months, one query.

Days are local days: in Europe/Berlin 29 March 2026 is 23 hours long and 25 October 2026 is
25, so runs are pinned at explicit UTC instants on both sides of each local midnight.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import event

from automagik.db.models import TaskStatus
from automagik.services import schedules as schedule_service
from automagik.services.errors import NotFound
from automagik.services.run_calendar import DayCount, run_calendar, year_before
from automagik.services.tasks import TaskFilter
from tests.services.helpers import ECHO_ID, TWO_OUT_ID
from tests.ui.helpers import add_task, ready_flows

UTC = UTC
NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)  # 10:00 in Berlin
BERLIN = "Europe/Berlin"
COMPLETED, FAILED, SKIPPED = TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.SKIPPED


def utc(month: int, day: int, hour: int, minute: int = 0, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def by_day(calendar) -> dict[date, tuple[int, int, int]]:
    return {d.day: (d.completed, d.failed, d.skipped) for d in calendar.days}


@pytest.fixture
def flows(db, langflow):
    ready_flows(db, langflow)


def test_days_are_berlin_days_across_both_dst_changes(db, flows):
    # Spring: 29 March runs from 28 March 23:00 UTC (00:00 CET) to 29 March 22:00 UTC (00:00 CEST).
    add_task(db, status=COMPLETED, planned=utc(3, 28, 22, 59))  # 23:59 CET, 28 March
    add_task(db, status=FAILED, planned=utc(3, 28, 23, 0))  # 00:00 CET, 29 March
    add_task(db, status=COMPLETED, planned=utc(3, 29, 21, 59))  # 23:59 CEST, 29 March
    add_task(db, status=SKIPPED, planned=utc(3, 29, 22, 0))  # 00:00 CEST, 30 March
    # Autumn: 25 October runs from 24 October 22:00 UTC (00:00 CEST) to 25 October 23:00 UTC.
    add_task(db, status=FAILED, planned=utc(10, 24, 21, 59))  # 23:59 CEST, 24 October
    add_task(db, status=COMPLETED, planned=utc(10, 24, 22, 0))  # 00:00 CEST, 25 October
    add_task(db, status=COMPLETED, planned=utc(10, 25, 22, 30))  # 23:30 CET, still 25 October
    add_task(db, status=FAILED, planned=utc(10, 25, 23, 0))  # 00:00 CET, 26 October

    calendar = run_calendar(db, BERLIN, now=NOW)

    assert by_day(calendar) == {
        date(2026, 3, 28): (1, 0, 0),
        date(2026, 3, 29): (1, 1, 0),
        date(2026, 3, 30): (0, 0, 1),
        date(2026, 10, 24): (0, 1, 0),
        date(2026, 10, 25): (2, 0, 0),
        date(2026, 10, 26): (0, 1, 0),
    }
    assert (calendar.zone, calendar.first, calendar.last) == (BERLIN, date(2025, 11, 28), date(2026, 11, 27))
    # What filters Tasks to a day is the same span the day was counted over.
    assert calendar.bounds(date(2026, 3, 29)) == (utc(3, 28, 23), utc(3, 29, 22))
    assert calendar.bounds(date(2026, 10, 25)) == (utc(10, 24, 22), utc(10, 25, 23))


def test_a_half_hour_zone_splits_days_at_its_own_midnight(db, flows):
    add_task(db, status=COMPLETED, planned=utc(6, 1, 18, 29))  # 23:59 in Kolkata (+05:30)
    add_task(db, status=COMPLETED, planned=utc(6, 1, 18, 30))  # 00:00, 2 June

    assert by_day(run_calendar(db, "Asia/Kolkata", now=NOW)) == {
        date(2026, 6, 1): (1, 0, 0),
        date(2026, 6, 2): (1, 0, 0),
    }


def test_twelve_months_of_outcomes_only(db, flows):
    add_task(db, status=COMPLETED, planned=utc(11, 27, 22, 59, year=2025))  # 27 Nov 2025 in Berlin: too old
    add_task(db, status=COMPLETED, planned=utc(11, 27, 23, 0, year=2025))  # 28 Nov 2025, the first day
    add_task(db, status=TaskStatus.PENDING, planned=utc(11, 27, 8))  # no outcome yet
    add_task(db, status=TaskStatus.RUNNING, planned=utc(11, 27, 8, 30))
    for status in (COMPLETED, COMPLETED, COMPLETED, FAILED, SKIPPED):
        add_task(db, status=status, planned=utc(11, 27, 8))

    calendar = run_calendar(db, BERLIN, now=NOW)

    assert by_day(calendar) == {date(2025, 11, 28): (1, 0, 0), date(2026, 11, 27): (3, 1, 1)}
    today = calendar.days[-1]
    assert today.total == 5 and today.failure_share == pytest.approx(0.25)
    assert DayCount(date(2026, 1, 1), skipped=2).failure_share is None  # nothing ran: no share


def test_the_flow_and_schedule_filters_apply_but_not_statuses_or_range(db, flows):
    add_task(db, ECHO_ID, status=COMPLETED, planned=utc(11, 20, 8))
    add_task(db, ECHO_ID, status=FAILED, planned=utc(11, 21, 8))
    add_task(db, TWO_OUT_ID, status=FAILED, planned=utc(11, 21, 9))

    echo = TaskFilter(statuses=("failed",), flow_id=ECHO_ID, since=utc(11, 21, 0), until=utc(11, 22, 0))
    assert by_day(run_calendar(db, BERLIN, echo, now=NOW)) == {
        date(2026, 11, 20): (1, 0, 0),
        date(2026, 11, 21): (0, 1, 0),
    }
    assert by_day(run_calendar(db, BERLIN, TaskFilter(flow_id=TWO_OUT_ID), now=NOW)) == {date(2026, 11, 21): (0, 1, 0)}
    assert by_day(run_calendar(db, BERLIN, TaskFilter(flow_id=TWO_OUT_ID[:8]), now=NOW)) == {
        date(2026, 11, 21): (0, 1, 0)
    }
    assert run_calendar(db, BERLIN, TaskFilter(flow_id=TWO_OUT_ID), now=utc(11, 27, 9, year=2028)).days == []
    with pytest.raises(NotFound, match="Unknown flow id"):
        run_calendar(db, BERLIN, TaskFilter(flow_id="no-such-flow"), now=NOW)


def test_an_empty_history_is_an_empty_calendar(db):
    calendar = run_calendar(db, BERLIN, now=NOW)
    assert calendar.days == [] and calendar.last == date(2026, 11, 27)


def test_twelve_months_before_29_february():
    assert year_before(date(2028, 2, 29)) == date(2027, 3, 1)
    assert year_before(date(2026, 11, 27)) == date(2025, 11, 28)


@pytest.mark.parametrize(
    ("scope", "index", "sqlite_range"),
    [
        ("all", "ix_tasks_status_time", "status=? AND scheduled_for>? AND scheduled_for<?"),
        ("flow", "ix_tasks_flow_time", "flow_id=? AND scheduled_for>? AND scheduled_for<?"),
        ("schedule", "ix_tasks_schedule_status", "schedule_id=? AND status=? AND scheduled_for>? AND scheduled_for<?"),
    ],
)
def test_the_days_are_counted_in_one_query_from_an_index_alone(db, flows, scope, index, sqlite_range):
    """Whole history, one flow or one schedule: each day's counts read index entries only
    (a flow's calendar read every run's row for its status: 430 ms at 500,000 runs, 125 ms
    from the index)."""
    schedule = schedule_service.create_schedule(db, schedule_service.ScheduleSpec(ECHO_ID, "interval", "1h"))
    add_task(db, status=COMPLETED, planned=utc(11, 20, 8), schedule_id=schedule.id)
    if scope != "all":  # another flow's runs that day: the status index is the wrong one
        for minute in range(0, 240, 2):
            add_task(db, TWO_OUT_ID, status=COMPLETED, planned=utc(11, 20, 9) + timedelta(minutes=minute), logs=())
    filters = {
        "all": TaskFilter(),
        "flow": TaskFilter(flow_id=ECHO_ID),
        "schedule": TaskFilter(schedule_id=schedule.id),
    }
    statements = []

    def capture(conn, cursor, statement, params, context, executemany):
        statements.append((statement, params))

    event.listen(db.engine, "before_cursor_execute", capture)
    try:
        calendar = run_calendar(db, BERLIN, filters[scope], now=NOW)
    finally:
        event.remove(db.engine, "before_cursor_execute", capture)
    assert by_day(calendar) == {date(2026, 11, 20): (1, 0, 0)}
    counted = [(s, p) for s, p in statements if "FROM tasks" in s and "count(" in s]
    assert len(counted) == 1, [s for s, _ in counted]
    statement, params = counted[0]
    with db.engine.connect() as connection:
        cursor = connection.connection.driver_connection.cursor()
        if db.dialect == "sqlite":
            cursor.execute("EXPLAIN QUERY PLAN " + statement, params)
            plan = "\n".join(str(row[-1]) for row in cursor.fetchall())
            assert f"COVERING INDEX {index} ({sqlite_range})" in plan, plan
            assert "TEMP B-TREE" not in plan, plan
        else:
            # A few rows make a sequential scan cheapest; what matters is that the index serves
            # each day's range when the table is large (bench/dashboard_scale.py times that).
            cursor.execute("SET enable_seqscan = off")
            cursor.execute("EXPLAIN " + statement, params)
            plan = "\n".join(row[0] for row in cursor.fetchall())
            assert "Seq Scan on tasks" not in plan, plan
            # Which index serves a flow's or a schedule's days depends on the table's
            # statistics, which a few rows do not give: bench/dashboard_scale.py times those
            # calendars at 1,000,000 runs.
            if scope == "all":
                assert f"Index Only Scan using {index}" in plan, plan
