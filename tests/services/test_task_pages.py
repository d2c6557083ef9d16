"""Keyset pages of the runs list: every page equals what OFFSET gives for the same filters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, select, text

from automagik.db.models import Task, TaskStatus
from automagik.services import schedules as schedule_service
from automagik.services import task_pages
from automagik.services import tasks as svc
from tests.services.helpers import ECHO_ID, TWO_OUT_ID, synced

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
RUNS = 41
STATUSES = [TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.SKIPPED, TaskStatus.COMPLETED, TaskStatus.PENDING]
TRIGGERS = ["schedule", "manual", "backfill"]


def _task(n: int, at: datetime, **fields) -> Task:
    return Task(
        # Ids in an order unlike the insertion order, so the tie-break is really the id's.
        id=fields.pop("id", f"{(n * 17) % 97:08d}-0000-0000-0000-{n:012d}"),
        flow_id=fields.pop("flow_id", ECHO_ID if n % 2 else TWO_OUT_ID),
        status=fields.pop("status", STATUSES[n % len(STATUSES)]),
        input_data={"input": f"msg {n}"},
        tries=0,
        max_retries=0,
        scheduled_for=at,
        created_at=at,
        updated_at=at,
        **fields,
    )


@pytest.fixture
def history(db, langflow):
    """41 runs, three planned for each minute (ties), two flows, statuses and triggers cycling,
    one run in six of one schedule."""
    synced(db, langflow)
    schedule = schedule_service.create_schedule(
        db, schedule_service.ScheduleSpec(ECHO_ID, "interval", "1h", flow_input={"input": "x"})
    )
    with db.write() as session:
        for n in range(RUNS):
            session.add(
                _task(
                    n,
                    T0 + timedelta(minutes=n // 3),
                    schedule_id=schedule.id if n % 6 == 1 else None,  # one per instant: the fire key
                    trigger=TRIGGERS[n % len(TRIGGERS)],
                )
            )
    return {"db": db, "schedule": schedule.id}


def _filters(schedule_id: str) -> list[svc.TaskFilter]:
    return [
        svc.TaskFilter(),
        svc.TaskFilter(statuses=("failed",)),
        svc.TaskFilter(statuses=("completed", "skipped")),
        svc.TaskFilter(flow_id=TWO_OUT_ID),
        svc.TaskFilter(schedule_id=schedule_id),
        svc.TaskFilter(triggers=("manual",)),
        svc.TaskFilter(since=T0 + timedelta(minutes=2), until=T0 + timedelta(minutes=11)),
        svc.TaskFilter(statuses=("completed",), flow_id=ECHO_ID, since=T0 + timedelta(minutes=1)),
    ]


def offset_answer(db, filters: svc.TaskFilter, limit: int, offset: int) -> list[str]:
    """The list as LIMIT/OFFSET over the full query gives it: the reference."""
    with db.read() as session:
        return [row[0].id for row in session.execute(svc.rows_query(filters).limit(limit).offset(offset))]


def ids(rows) -> list[str]:
    return [row.task.id for row in rows]


@pytest.mark.parametrize("size", [1, 4, 7])
def test_every_offset_and_every_page_equal_the_offset_answer(history, size):
    db = history["db"]
    for filters in _filters(history["schedule"]):
        total = svc.count_tasks(db, filters)
        assert total > 0
        for offset in range(total + 2):  # and past the end
            assert ids(svc.list_tasks(db, filters, limit=size, offset=offset)) == offset_answer(
                db, filters, size, offset
            ), (filters, offset)
        pages = -(-total // size)
        for number in range(1, pages + 1):
            page = task_pages.task_page(db, filters, number, size)
            assert (page.number, page.pages, page.total, page.newer) == (number, pages, total, 0)
            assert ids(page.rows) == offset_answer(db, filters, size, (number - 1) * size), (filters, number)


def test_the_last_page_is_read_from_the_end_and_keeps_the_ties_in_order(history):
    db = history["db"]
    page = task_pages.task_page(db, svc.TaskFilter(), 9, 5)  # 41 runs: 8 full pages and one
    assert (page.number, page.pages, len(page.rows)) == (9, 9, 1)
    assert ids(page.rows) == offset_answer(db, svc.TaskFilter(), 5, 40)
    page = task_pages.task_page(db, svc.TaskFilter(), 8, 5)  # two of minute 13's ties, one of 12's
    assert ids(page.rows) == offset_answer(db, svc.TaskFilter(), 5, 35)
    assert [r.task.scheduled_for for r in page.rows] == sorted((r.task.scheduled_for for r in page.rows), reverse=True)


def test_a_jump_to_a_middle_page_needs_no_page_before_it(history):
    db = history["db"]
    filters = svc.TaskFilter(statuses=("completed", "pending"))  # 25 runs
    for number in (4, 5):  # the 13th run is found from the newest, the 17th from the oldest
        page = task_pages.task_page(db, filters, number, 4)
        assert page.pages == 7 and ids(page.rows) == offset_answer(db, filters, 4, (number - 1) * 4)


def test_a_page_past_the_end_is_the_last_page_and_an_offset_past_it_is_empty(history):
    db = history["db"]
    page = task_pages.task_page(db, svc.TaskFilter(), 99, 10)
    assert (page.number, page.pages) == (5, 5) and ids(page.rows) == offset_answer(db, svc.TaskFilter(), 10, 40)
    assert svc.list_tasks(db, svc.TaskFilter(), limit=10, offset=41) == []
    empty = task_pages.task_page(db, svc.TaskFilter(statuses=("running",)), 3, 10)
    assert (empty.number, empty.pages, empty.total, empty.rows, empty.top) == (1, 1, 0, [], None)


def test_runs_arriving_between_two_reads_do_not_move_the_pages_below_the_top(history):
    db = history["db"]
    first = task_pages.task_page(db, svc.TaskFilter(), 1, 5)
    assert first.top == (first.rows[0].task.scheduled_for, first.rows[0].task.id)
    third = task_pages.task_page(db, svc.TaskFilter(), 3, 5, top=first.top)
    before = ids(third.rows)
    assert before == offset_answer(db, svc.TaskFilter(), 5, 10)
    latest = T0 + timedelta(minutes=13)
    with db.write() as session:
        # Two newer runs, and one planned at the top run's very instant with a larger id (above it).
        session.add(_task(100, latest + timedelta(minutes=1)))
        session.add(_task(101, latest + timedelta(minutes=2)))
        session.add(_task(102, latest, id="ffffffff-0000-0000-0000-000000000102"))
    again = task_pages.task_page(db, svc.TaskFilter(), 3, 5, top=first.top)
    assert ids(again.rows) == before and (again.total, again.newer, again.top) == (RUNS, 3, first.top)
    # Without the top, the pages start at the newest run: what OFFSET gives now.
    live = task_pages.task_page(db, svc.TaskFilter(), 3, 5)
    assert ids(live.rows) == offset_answer(db, svc.TaskFilter(), 5, 10) != before
    assert live.total == RUNS + 3 and live.top == (
        latest + timedelta(minutes=2),
        f"{(101 * 17) % 97:08d}-0000-0000-0000-{101:012d}",
    )
    # The top works with every filter: a failed run above it is newer, one below it is not.
    failed = svc.TaskFilter(statuses=("failed",))
    top = task_pages.task_page(db, failed, 1, 3).top
    with db.write() as session:
        session.add(_task(103, latest + timedelta(minutes=5), status=TaskStatus.FAILED))
    page = task_pages.task_page(db, failed, 2, 3, top=top)
    assert page.newer == 1 and page.total == svc.count_tasks(db, failed) - 1
    assert ids(page.rows) == offset_answer(db, failed, 3, 4)  # the new one is first: the rest shift by one


@pytest.mark.parametrize(
    ("filters", "index"),
    [
        (svc.TaskFilter(), "ix_tasks_scheduled_for"),
        (svc.TaskFilter(flow_id=ECHO_ID), "ix_tasks_flow_time"),
        (svc.TaskFilter(statuses=("completed",)), "ix_tasks_status_time"),
    ],
)
def test_a_deep_page_finds_its_first_key_over_an_index_alone(history, filters, index):
    """The skip reads (scheduled_for, id) from an index, never whole rows or joins."""
    db = history["db"]
    statements = []

    def capture(conn, cursor, statement, params, context, executemany):
        statements.append((statement, params))

    event.listen(db.engine, "before_cursor_execute", capture)
    try:
        task_pages.task_page(db, filters, 2, 3)
    finally:
        event.remove(db.engine, "before_cursor_execute", capture)
    skips = [(s, p) for s, p in statements if s.startswith("SELECT tasks.scheduled_for, tasks.id \nFROM tasks ")]
    assert len(skips) == 2, statements  # the page's first key, and the newest run's (the pages' top)
    with db.engine.connect() as connection:
        cursor = connection.connection.driver_connection.cursor()
        if db.dialect == "postgresql":
            # The statistics of this test's rows: the emptied database keeps those of an earlier
            # test's, which may say every run is of this flow (then any index serves a LIMIT 1).
            cursor.execute("ANALYZE tasks")
            # A few rows make a sequential scan cheapest; the bench times the index at scale.
            cursor.execute("SET enable_seqscan = off")
        for statement, params in skips:
            if db.dialect == "sqlite":
                cursor.execute("EXPLAIN QUERY PLAN " + statement, params)
                plan = "\n".join(str(row[-1]) for row in cursor.fetchall())
                assert f"COVERING INDEX {index}" in plan and "TEMP B-TREE" not in plan, plan
            else:
                cursor.execute("EXPLAIN " + statement, params)
                plan = "\n".join(row[0] for row in cursor.fetchall())
                assert "Index Only Scan" in plan and index in plan and "Sort" not in plan, plan


def test_a_page_is_read_from_one_snapshot_though_runs_are_pruned_while_it_is_read(history, monkeypatch):
    """Found by review: on PostgreSQL each statement of a page's read saw the database as it
    was then (READ COMMITTED), so oldest runs pruned between the count and the seek moved the
    last page onto a run of the page before it."""
    db = history["db"]
    before = offset_answer(db, svc.TaskFilter(), 5, 40)  # the last page: the oldest run alone
    counted = task_pages.count

    def count_then_prune(session, filters, top=None):
        total = counted(session, filters, top)
        with db.write() as other:  # what retention does meanwhile, in a transaction of its own
            oldest = other.scalars(select(Task).order_by(Task.scheduled_for, Task.id).limit(2)).all()
            for task in oldest:
                other.delete(task)
        return total

    monkeypatch.setattr(task_pages, "count", count_then_prune)
    page = task_pages.task_page(db, svc.TaskFilter(), 9, 5)
    assert (page.number, page.total) == (9, RUNS) and ids(page.rows) == before
    if db.dialect == "postgresql":  # the pool's connections are back at the default for writers
        for _ in range(db.engine.pool.checkedin()):  # each pooled connection in turn (FIFO)
            with db.write() as session:
                assert session.scalar(text("SHOW transaction_isolation")) == "read committed"
