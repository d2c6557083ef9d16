"""Backfill on both backends: past fires queued once (twice adds nothing), a dry run writes
nothing, failed fires redone as one more try of the same task, a backfill's runs oldest first
and never more than its max_parallel across daemons, its own stream beside the schedule's fires,
historical fires across a DST change, and bad input refused with nothing written."""

from __future__ import annotations

import functools
import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from automagik.daemon.settings import DaemonSettings
from automagik.db.engine import Database
from automagik.db.models import Backfill, MissedRunPolicy, Schedule, ScheduleStatus, Task, TaskLog, TaskStatus
from automagik.runs import backfill as backfill_runs
from automagik.runs.fires import dispatch_due
from automagik.runs.leases import _any_runnable, record_and_claim, record_attempts
from automagik.runs.outcomes import Attempt
from automagik.scheduling import ScheduleType
from automagik.services import backfill as backfill_service
from automagik.services import flows as flow_service
from automagik.services import schedules as schedule_service
from automagik.services.errors import InvalidInput, NotFound
from tests.cli.conftest import create_schedule, insert_task, table_rows
from tests.services.helpers import ECHO_ID, synced

UTC = UTC
T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
# Six hourly fires of "0 * * * *" in Europe/Berlin (CET, UTC+1): 23:00 UTC the day before to 04:00 UTC.
FROM, TO = "2026-11-27 00:00", "2026-11-27 06:00"
FIRES = [datetime(2026, 11, 26, 23, tzinfo=UTC) + timedelta(hours=h) for h in range(6)]


@pytest.fixture
def ready(db, langflow, frozen_clock):
    synced(db, langflow)
    frozen_clock.now = T0
    return db


@pytest.fixture
def hourly(ready):
    return create_schedule(
        ready,
        ECHO_ID,
        "cron",
        "0 * * * *",
        timezone="Europe/Berlin",
        flow_input='{"input": "report for {{ fire_date }} at {{ fire_time }}"}',
    ).id


def _tasks(db, schedule_id):
    with db.read() as session:
        return list(session.scalars(select(Task).where(Task.schedule_id == schedule_id).order_by(Task.scheduled_for)))


def _logs(db, task_id):
    with db.read() as session:
        return session.scalars(select(TaskLog.message).where(TaskLog.task_id == task_id)).all()


def _count(db, model):
    with db.read() as session:
        return session.scalar(select(func.count()).select_from(model))


def test_missing_fires_are_queued_once_with_their_historical_time_and_twice_adds_nothing(ready, hourly, frozen_clock):
    done = insert_task(ready, ECHO_ID, "completed", FIRES[1], schedule_id=hourly)
    result = backfill_service.backfill_schedule(ready, hourly, FROM, TO)
    assert (len(result.fires), result.queued, result.redone) == (6, 5, 0)
    tasks = _tasks(ready, hourly)
    assert [t.scheduled_for for t in tasks] == FIRES
    new = [t for t in tasks if t.id != done]
    assert all(
        t.status is TaskStatus.PENDING and t.trigger == "backfill" and t.backfill_id == result.backfill_id for t in new
    )
    # Waiting for the places the schedules' own work leaves over: no time of their own.
    assert all(t.next_retry_at is None for t in new)
    # The input stands for its own fire, in the schedule's zone.
    assert new[0].input_data["input"] == "report for 2026-11-27 at 2026-11-27T00:00:00+01:00"
    assert _logs(ready, new[0].id) == [f"queued by backfill {result.backfill_id}: a past fire that never ran"]
    with ready.read() as session:
        row = session.get(Backfill, result.backfill_id)
    assert (row.fires, row.queued, row.redone, row.only, row.max_parallel) == (6, 5, 0, "missing", 1)
    assert (row.range_from, row.range_to) == (FIRES[0], FIRES[0] + timedelta(hours=6))

    again = backfill_service.backfill_schedule(ready, hourly, FROM, TO)
    assert (again.queued, again.redone) == (0, 0)
    assert len(_tasks(ready, hourly)) == 6


def test_a_short_schedule_id_backfills_the_schedule_it_names(ready, hourly):
    """The id a person types may be its first 8 characters (what the dashboard shows): the plan
    reads, and the backfill writes, under the schedule's whole id."""
    insert_task(ready, ECHO_ID, "completed", FIRES[1], schedule_id=hourly)
    dry = backfill_service.backfill_schedule(ready, hourly[:8], FROM, TO, dry_run=True)
    assert dry.schedule_id == hourly
    assert [f.action for f in dry.fires] == ["new", None, "new", "new", "new", "new"]
    assert dry.queued == 5
    done = backfill_service.backfill_schedule(ready, hourly[:8], FROM, TO)
    assert (done.schedule_id, done.queued) == (hourly, 5)
    assert [t.scheduled_for for t in _tasks(ready, hourly)] == FIRES
    with ready.read() as session:
        assert session.get(Backfill, done.backfill_id).schedule_id == hourly


def test_small_batches_are_each_idempotent(ready, hourly, frozen_clock):
    """Written two fires per transaction; a run cut short is completed by running it again."""
    request = backfill_runs.BackfillRequest(hourly, FIRES[0], FIRES[-1] + timedelta(hours=1), backfill_runs.Only.ALL, 2)
    first = backfill_runs.run_backfill(ready, request, FIRES[:3], T0, batch_fires=2)
    assert (first.fires, first.queued) == (3, 3)
    whole = backfill_runs.run_backfill(ready, request, FIRES, T0, batch_fires=2)
    assert (whole.fires, whole.queued, whole.redone) == (6, 3, 0)
    assert [t.scheduled_for for t in _tasks(ready, hourly)] == FIRES


def test_a_dry_run_lists_the_fires_and_writes_nothing(ready, hourly, database_url):
    failed = insert_task(ready, ECHO_ID, "failed", FIRES[2], schedule_id=hourly, error="boom", tries=4)
    insert_task(ready, ECHO_ID, "completed", FIRES[3], schedule_id=hourly)
    tasks_before, logs_before = table_rows(ready, "tasks"), table_rows(ready, "task_logs")
    result = backfill_service.backfill_schedule(ready, hourly, FROM, TO, only="all", dry_run=True)
    assert result.dry_run and result.backfill_id is None
    assert [(f.at, f.status, f.action) for f in result.fires] == [
        (FIRES[0], None, "new"),
        (FIRES[1], None, "new"),
        (FIRES[2], "failed", "redo"),
        (FIRES[3], "completed", None),
        (FIRES[4], None, "new"),
        (FIRES[5], None, "new"),
    ]
    assert (result.queued, result.redone) == (4, 1)
    assert table_rows(ready, "tasks") == tasks_before and table_rows(ready, "task_logs") == logs_before
    assert _count(ready, Backfill) == 0
    assert _tasks(ready, hourly)[0].id == failed


def test_failed_fires_are_redone_as_one_more_try_of_the_same_task(ready, hourly):
    failed = insert_task(ready, ECHO_ID, "failed", FIRES[2], schedule_id=hourly, error="boom", tries=4, max_retries=3)
    result = backfill_service.backfill_schedule(ready, hourly, FROM, TO, only="failed", max_parallel=3)
    assert (result.queued, result.redone) == (0, 1)
    [task] = _tasks(ready, hourly)  # no new task for the fires that had none
    assert task.id == failed and task.status is TaskStatus.PENDING and task.trigger == "backfill"
    assert (task.backfill_id, task.tries, task.max_retries, task.finished_at) == (result.backfill_id, 4, 4, None)
    assert f"retried by backfill {result.backfill_id}: one more try" in _logs(ready, failed)
    # Twice: the task is no longer failed, so nothing is redone again.
    assert backfill_service.backfill_schedule(ready, hourly, FROM, TO, only="failed").redone == 0


def _claim(db, now, daemon, limit=10):
    return record_and_claim(db, daemon, [], now, limit, 60).claimed


def _done(db, claimed, now, daemon):
    record_attempts(db, daemon, [Attempt(c.id, [], result={"text": "ok"}) for c in claimed], now)


def test_max_parallel_holds_across_two_daemons_oldest_fire_first(ready, hourly, frozen_clock):
    backfill_service.backfill_schedule(ready, hourly, FROM, TO, max_parallel=2)
    now = T0 + timedelta(seconds=1)
    first = _claim(ready, now, "d1")
    assert sorted(c.scheduled_for for c in first) == FIRES[:2]  # two, the oldest, though the pool had ten places
    assert _claim(ready, now, "d2") == []  # the other daemon finds the backfill at its limit
    # ...and, while it stays there, the look before locking finds nothing: no tick takes the
    # write lock only to hold the same runs again.
    assert not _any_runnable(ready, now, now)
    waiting = [t for t in _tasks(ready, hourly) if t.status is TaskStatus.PENDING]
    assert waiting[0].held_since == now and _logs(ready, waiting[0].id)[-1] == "waiting: backfill at its limit 2/2"
    assert all(t.status is TaskStatus.PENDING for t in waiting) and len(waiting) == 4  # held, never skipped

    _done(ready, first[:1], now, "d1")
    assert _any_runnable(ready, now, now)
    [next_one] = _claim(ready, now, "d2")
    assert next_one.scheduled_for == FIRES[2]
    assert next_one.input_data["input"] == "report for 2026-11-27 at 2026-11-27T02:00:00+01:00"


def test_racing_daemons_never_pass_max_parallel(ready, hourly, database_url):
    """Two claimers, each with its own connection pool as two daemons have, claim and finish as
    fast as they can; what runs of the backfill, read after every claim, never passes 3."""
    backfill_service.backfill_schedule(ready, hourly, "2026-11-25 00:00", "2026-11-26 00:00", max_parallel=3)
    now, seen, errors = T0 + timedelta(seconds=1), [], []

    def daemon(name):
        db = Database(database_url)
        try:
            held = []
            for _ in range(40):
                held += _claim(db, now, name, limit=4)
                with db.read() as session:
                    seen.append(
                        session.scalar(select(func.count()).select_from(Task).where(Task.status == TaskStatus.RUNNING))
                    )
                if held:
                    _done(db, held[:1], now, name)
                    held = held[1:]
            _done(db, held, now, name)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            db.dispose()

    threads = [threading.Thread(target=daemon, args=(f"d{i}",)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors
    assert 2 <= max(seen) <= 3  # unlimited, the two would hold up to 8 at once
    statuses = [t.status for t in _tasks(ready, hourly)]
    assert statuses.count(TaskStatus.COMPLETED) == 24


def test_a_reached_daily_budget_holds_backfill_runs_pending_until_the_next_day(ready, hourly, frozen_clock):
    """A backfill's runs are a person's request: past the budget they wait, never skipped (a
    skipped fire could not be backfilled again: it is neither missing nor failed)."""
    flow_service.update_flow_settings(ready, ECHO_ID, daily_budget_usd=1.0)
    spent = insert_task(ready, ECHO_ID, "completed", T0 - timedelta(hours=1), seconds=1)
    with ready.write() as session:
        session.get(Task, spent).cost_usd = 1.5
    backfill_service.backfill_schedule(ready, hourly, FROM, TO, max_parallel=2)
    assert _claim(ready, T0, "d1") == []
    tasks = _tasks(ready, hourly)
    assert all(t.status is TaskStatus.PENDING for t in tasks)
    assert _logs(ready, tasks[0].id)[-1] == (
        "waiting: daily budget of $1.00 reached ($1.50 spent); a backfill's " "runs wait for the next day"
    )
    # Held for the day: the look before locking leaves them out, so no tick takes the write
    # lock only to hold them again.
    assert not _any_runnable(ready, T0, T0)
    # The next day (the claim's zone here is UTC): they run, two at a time.
    next_day = datetime(2026, 11, 28, 0, 0, 1, tzinfo=UTC)
    assert _any_runnable(ready, next_day, next_day)
    assert [c.scheduled_for for c in _claim(ready, next_day, "d1", limit=10)] == FIRES[:2]


def test_a_backfill_and_its_schedule_do_not_hold_each_other_back(ready, hourly, frozen_clock):
    backfill_service.backfill_schedule(ready, hourly, FROM, TO, max_parallel=1)
    # The schedule's own next fire (an hour after it was created) is dispatched, not skipped as
    # busy, though the backfill's runs are queued...
    fire = T0 + timedelta(hours=1)
    result = dispatch_due(ready, fire, DaemonSettings(), "d1")
    assert (result.fired, result.skipped) == (1, 0)
    # ...and claimed beside a backfill run: two runs of one schedule at once, one of each stream.
    claimed = _claim(ready, fire, "d1")
    assert sorted(c.scheduled_for for c in claimed) == [FIRES[0], fire]
    # A run of each going: the next fire is still dispatched (the backfill's run does not make
    # the schedule busy), and skipped only because the schedule's own run still goes.
    result = dispatch_due(ready, fire + timedelta(hours=1), DaemonSettings(), "d1")
    assert (result.fired, result.skipped) == (0, 1)


def test_a_paused_schedules_backfill_waits_and_goes_on_when_it_is_resumed(ready, hourly, frozen_clock):
    """Pausing a schedule pauses its backfill too: its runs stay pending, held with the reason,
    never skipped; resumed, they run oldest first, max_parallel at a time."""
    backfill_service.backfill_schedule(ready, hourly, FROM, TO, max_parallel=2)
    schedule_service.pause_schedule(ready, hourly)
    now = T0 + timedelta(seconds=1)
    assert _claim(ready, now, "d1") == [] and _claim(ready, now, "d2") == []
    tasks = _tasks(ready, hourly)
    assert all(t.status is TaskStatus.PENDING for t in tasks) and len(tasks) == 6
    # Nothing to do while it is paused: the daemons' look before locking finds nothing, so no
    # tick takes the write lock to hold the same runs again.
    assert not _any_runnable(ready, now, now)
    schedule_service.resume_schedule(ready, hourly)
    assert _any_runnable(ready, now, now)
    assert sorted(c.scheduled_for for c in _claim(ready, now, "d1")) == FIRES[:2]


def test_deleting_a_schedule_mid_backfill_skips_its_pending_runs(ready, hourly, frozen_clock):
    """The backfills row goes with its schedule; its runs still pending would have run with no
    limit at all (max_parallel=1: six at once). They are skipped, with the reason; the one going
    finishes."""
    backfill_service.backfill_schedule(ready, hourly, FROM, TO, max_parallel=1)
    now = T0 + timedelta(seconds=1)
    [going] = _claim(ready, now, "d1")
    frozen_clock.now = now
    schedule_service.delete_schedule(ready, hourly[:8])
    assert _claim(ready, now, "d2") == []
    with ready.read() as session:
        tasks = {t.id: t for t in session.scalars(select(Task))}
    assert tasks[going.id].status is TaskStatus.RUNNING
    skipped = [t for t in tasks.values() if t.id != going.id]
    assert len(skipped) == 5 and all(
        (t.status, t.error, t.finished_at, t.schedule_id)
        == (TaskStatus.SKIPPED, "skipped: its schedule was deleted", now, None)
        for t in skipped
    )
    assert _logs(ready, skipped[0].id)[-1] == "skipped: its schedule was deleted"
    _done(ready, [going], now, "d1")
    with ready.read() as session:
        assert session.get(Task, going.id).status is TaskStatus.COMPLETED
    assert _count(ready, Backfill) == 0


def test_a_schedule_deleted_before_its_backfill_is_written_is_not_found(ready, hourly, monkeypatch):
    """Deleted between the service's checks and the first write: one line, nothing written."""
    write_backfill = backfill_service.run_backfill

    def deleted_first(db, *args, **kwargs):
        schedule_service.delete_schedule(db, hourly)
        return write_backfill(db, *args, **kwargs)

    monkeypatch.setattr(backfill_service, "run_backfill", deleted_first)
    with pytest.raises(NotFound) as refused:
        backfill_service.backfill_schedule(ready, hourly, FROM, TO)
    assert refused.value.message == f"Schedule {hourly} was deleted during the backfill: nothing of it will run."
    assert _count(ready, Task) == 0 and _count(ready, Backfill) == 0


def test_a_schedule_deleted_between_batches_stops_the_backfill_and_skips_its_runs(ready, hourly, monkeypatch):
    """Deleted after the first batch (two fires) was written: the next batch finds no schedule,
    the delete skipped the two runs, and the service says so in one line."""
    write, writes = ready.write, []

    def write_deleting_before_batch_two():
        writes.append(1)
        if len(writes) == 3:  # the backfills row, batch one, then this: batch two
            schedule_service.delete_schedule(ready, hourly)
        return write()

    monkeypatch.setattr(ready, "write", write_deleting_before_batch_two)
    monkeypatch.setattr(backfill_service, "run_backfill", functools.partial(backfill_runs.run_backfill, batch_fires=2))
    with pytest.raises(NotFound) as refused:
        backfill_service.backfill_schedule(ready, hourly, FROM, TO)
    assert refused.value.message == (
        f"Schedule {hourly} was deleted during the backfill: nothing of it will run "
        "(the 2 runs it had queued were skipped)."
    )
    with ready.read() as session:
        assert [(t.scheduled_for, t.status) for t in session.scalars(select(Task).order_by(Task.scheduled_for))] == [
            (FIRES[0], TaskStatus.SKIPPED),
            (FIRES[1], TaskStatus.SKIPPED),
        ]
    assert _count(ready, Backfill) == 0


def test_a_delete_racing_a_batch_waits_for_it_and_skips_what_it_wrote(ready, hourly, monkeypatch):
    """Another person deletes the schedule while a batch has read it but not yet written: the
    delete waits for the batch (PostgreSQL: the batch's share lock on the schedule row; SQLite:
    the write lock), then skips its runs; the next batch finds no schedule. Nothing runs and
    nothing fails with a foreign key error."""
    queue_missing, read, deleting, errors = backfill_runs._queue_missing, threading.Event(), [], []

    def slow_batch(*args, **kwargs):
        if not read.is_set():
            read.set()
            deleting[0].join(0.5)
            assert deleting[0].is_alive(), "the delete did not wait for the batch"
        return queue_missing(*args, **kwargs)

    def delete():
        read.wait(10)
        try:
            schedule_service.delete_schedule(ready, hourly)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    deleting.append(threading.Thread(target=delete))
    deleting[0].start()
    monkeypatch.setattr(backfill_runs, "_queue_missing", slow_batch)
    monkeypatch.setattr(backfill_service, "run_backfill", functools.partial(backfill_runs.run_backfill, batch_fires=2))
    try:
        backfill_service.backfill_schedule(ready, hourly, FROM, TO)
        stopped = None  # the backfill's next batches took the write lock first (SQLite may)
    except NotFound as exc:
        stopped = exc.message
    finally:
        deleting[0].join(10)
    assert not errors
    with ready.read() as session:
        statuses = session.scalars(select(Task.status)).all()
    assert len(statuses) >= 2 and set(statuses) == {TaskStatus.SKIPPED}
    assert stopped is None or stopped.endswith(f"(the {len(statuses)} runs it had queued were skipped).")
    if ready.dialect == "postgresql":  # the delete runs as soon as the batch commits
        assert len(statuses) == 2 and stopped is not None


def test_run_backfill_reports_a_schedule_deleted_between_batches_from_its_own_counts(ready, hourly, monkeypatch):
    """The backfills row went with the schedule (here deleted behind the service's back): the
    result is what this call counted, not the row read again."""
    request = backfill_runs.BackfillRequest(hourly, FIRES[0], FIRES[-1] + timedelta(hours=1), backfill_runs.Only.ALL, 1)
    write, writes = ready.write, []

    def write_deleting_before_batch_two():
        writes.append(1)
        if len(writes) == 3:
            with write() as session:
                session.delete(session.get(Schedule, hourly))
        return write()

    monkeypatch.setattr(ready, "write", write_deleting_before_batch_two)
    written = backfill_runs.run_backfill(ready, request, FIRES, T0, batch_fires=2)
    assert (written.fires, written.queued, written.redone, written.schedule_deleted) == (6, 2, 0, True)
    assert written.backfill_id is not None


def test_a_backfill_across_a_dst_change_gives_the_historical_fires(ready):
    """Europe/Berlin springs forward on 2026-03-29 (02:00 CET -> 03:00 CEST): 09:00 local is 08:00
    UTC before it and 07:00 UTC after; 02:30 does not exist that day, and cron fires at the
    transition instant (03:00 CEST)."""
    daily = create_schedule(
        ready,
        ECHO_ID,
        "cron",
        "0 9 * * *",
        timezone="Europe/Berlin",
        flow_input='{"input": "digest of {{ fire_date }}"}',
    ).id
    result = backfill_service.backfill_schedule(ready, daily, "2026-03-27", "2026-03-31")
    tasks = _tasks(ready, daily)
    assert [t.scheduled_for for t in tasks] == [
        datetime(2026, 3, 27, 8, tzinfo=UTC),
        datetime(2026, 3, 28, 8, tzinfo=UTC),
        datetime(2026, 3, 29, 7, tzinfo=UTC),
        datetime(2026, 3, 30, 7, tzinfo=UTC),
    ]
    assert [t.input_data["input"] for t in tasks] == [f"digest of 2026-03-{d}" for d in (27, 28, 29, 30)]
    assert result.queued == 4

    night = create_schedule(ready, ECHO_ID, "cron", "30 2 * * *", timezone="Europe/Berlin").id
    backfill_service.backfill_schedule(ready, night, "2026-03-28", "2026-03-31")
    assert [t.scheduled_for for t in _tasks(ready, night)] == [
        datetime(2026, 3, 28, 1, 30, tzinfo=UTC),
        datetime(2026, 3, 29, 1, 0, tzinfo=UTC),
        datetime(2026, 3, 30, 0, 30, tzinfo=UTC),
    ]
    # A range typed inside the gap names no instant: refused, like a one-shot's time.
    with pytest.raises(InvalidInput, match="--from: .*does not exist in Europe/Berlin"):
        backfill_service.backfill_schedule(ready, night, "2026-03-29 02:30", "2026-03-31")


def test_interval_and_oneshot_schedules_backfill_their_fires(ready, frozen_clock):
    frozen_clock.now = T0 - timedelta(hours=9)
    every = create_schedule(ready, ECHO_ID, "interval", "2h").id  # anchored at 00:00 UTC
    once = create_schedule(ready, ECHO_ID, "oneshot", "2026-11-27T03:30Z").id
    frozen_clock.now = T0
    # An interval's fires are its anchor + k × every, k ≥ 1: none before the anchor.
    result = backfill_service.backfill_schedule(ready, every, "2026-11-26T20:00Z", "2026-11-27T09:00Z")
    assert [t.scheduled_for for t in _tasks(ready, every)] == [T0 - timedelta(hours=h) for h in (7, 5, 3, 1)]
    assert result.queued == 4
    result = backfill_service.backfill_schedule(ready, once, "2026-11-27", "2026-11-27T09:00Z")
    assert [t.scheduled_for for t in _tasks(ready, once)] == [datetime(2026, 11, 27, 3, 30, tzinfo=UTC)]


def _after_schedule(db) -> str:
    with db.write() as session:
        schedule = Schedule(
            flow_id=ECHO_ID,
            schedule_type=ScheduleType.AFTER,
            schedule_expr=ECHO_ID,
            timezone="UTC",
            anchor_at=T0,
            flow_params={},
            next_run_at=None,
            status=ScheduleStatus.ACTIVE,
            after_outcome="completed",
            missed_policy=MissedRunPolicy.COALESCE,
            created_at=T0,
            updated_at=T0,
        )
        session.add(schedule)
        session.flush()
        return schedule.id


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(only="some"), 'Unknown --only "some": use missing, failed or all.'),
        (dict(max_parallel=0), "--max-parallel must be from 1 to 100, not 0."),
        (dict(max_parallel=101), "--max-parallel must be from 1 to 100, not 101."),
        (dict(range_from="yesterday"), '--from: Invalid time "yesterday": it is not an ISO 8601 time'),
        (dict(range_to=""), "--to: Invalid time"),
        (dict(range_from=TO, range_to=FROM), "The range is empty: --from must be before --to."),
        (dict(range_to="2026-11-28"), "--to is in the future"),
        (dict(zone="Mars/Olympus"), "Mars/Olympus"),
        (dict(range_from="2025-01-01"), "The range holds 16,"),  # hourly fires for most of a year
        (dict(range_from="2010-01-01"), "more than 50,000 fires"),
        (dict(schedule_id="nope"), 'Unknown schedule id "nope"'),
    ],
)
def test_bad_input_is_refused_with_one_line_and_nothing_written(ready, hourly, change, message):
    arguments = dict(schedule_id=hourly, range_from=FROM, range_to=TO) | change
    with pytest.raises(InvalidInput) as refused:
        backfill_service.backfill_schedule(ready, **arguments)
    assert message in refused.value.message and "\n" not in refused.value.message
    assert _count(ready, Task) == 0 and _count(ready, Backfill) == 0


def test_more_than_ten_thousand_fires_need_yes_and_a_schedule_after_a_flow_has_none(ready, hourly):
    with pytest.raises(InvalidInput, match=r"The range holds 10,009 fires \(more than 10,000\): pass --yes"):
        backfill_service.backfill_schedule(ready, hourly, "2025-10-06", "2026-11-27", dry_run=False)
    chained = _after_schedule(ready)
    with pytest.raises(InvalidInput, match="no fires in time"):
        backfill_service.backfill_schedule(ready, chained, FROM, TO)
    with pytest.raises(NotFound):
        backfill_service.backfill_schedule(ready, "x" * 300, FROM, TO)
    assert _count(ready, Task) == 0 and _count(ready, Backfill) == 0


def test_ten_thousand_fires_are_written_in_short_batches(ready, hourly, monkeypatch):
    """With --yes: every fire once, in many short write transactions (never one holding SQLite's
    write lock, and so the daemons, for the whole backfill)."""
    writes, write = [], ready.write

    def counted():
        writes.append(1)
        return write()

    monkeypatch.setattr(ready, "write", counted)
    result = backfill_service.backfill_schedule(ready, hourly, "2025-10-06", "2026-11-27", yes=True, max_parallel=4)
    assert result.queued == 10_009 == _count(ready, Task)
    assert len(writes) == 1 + -(-10_009 // backfill_runs.BATCH_FIRES)  # the backfills row, then each batch


def test_a_backfill_never_stands_in_front_of_the_fires_due_while_it_runs(ready, hourly, frozen_clock):
    """Found by review: a backfill's runs, queued when it was asked for, were older than any fire
    due since; with max_parallel as large as the daemon's free places, every claim took backfill
    runs and the schedules' on-time fires waited until the whole backfill was done."""
    backfill_service.backfill_schedule(ready, hourly, FROM, TO, max_parallel=2)
    other = create_schedule(ready, ECHO_ID, "interval", "1m").id
    fire = frozen_clock.advance(minutes=1)
    assert dispatch_due(ready, fire, DaemonSettings(), "d1").fired >= 1  # the other schedule's on-time fire
    claimed = _claim(ready, fire, "d1", limit=2)
    assert [c.schedule_id for c in claimed if c.scheduled_for == fire] == [other]
    # The place left over goes to the backfill, oldest fire first, within its max_parallel.
    assert [c.scheduled_for for c in claimed if c.schedule_id == hourly] == FIRES[:1]
