"""Retention: finished runs older than the cut-off go with their log lines, in small batches,
while other writers go on; pending and running runs never go."""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from automagik.clock import utcnow
from automagik.daemon import heartbeat
from automagik.daemon.retention_job import RetentionJob
from automagik.db.models import DaemonHeartbeat, LogLevel, Task, TaskLog, TaskStatus
from automagik.runs import retention
from automagik.runs.states import log_row, write_logs
from tests.services.helpers import ECHO_ID, synced


def _runs(db, count, age, status=TaskStatus.COMPLETED, finished_age=None):
    """`count` runs planned `age` ago (finished then, or `finished_age` ago), each with two log
    lines, as a daemon leaves them."""
    planned = utcnow() - age
    finished = None if status in (TaskStatus.PENDING, TaskStatus.RUNNING) else utcnow() - (finished_age or age)
    rows = [
        dict(
            id=str(uuid.uuid4()),
            flow_id=ECHO_ID,
            status=status,
            input_data={},
            tries=1,
            max_retries=0,
            scheduled_for=planned - timedelta(seconds=n),
            created_at=planned,
            updated_at=planned,
            next_retry_at=planned,
            finished_at=finished,
        )
        for n in range(count)
    ]
    with db.write() as session:
        session.execute(Task.__table__.insert(), [{**row, "status": row["status"].value} for row in rows])
        write_logs(session, [log_row(row["id"], LogLevel.INFO, line, planned) for row in rows for line in ("a", "b")])
    return [row["id"] for row in rows]


def _count(db, model, *where):
    with db.read() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where))


@pytest.fixture
def ready(db, langflow):
    synced(db, langflow)
    return db


def test_only_finished_runs_past_the_cut_off_go_with_their_logs(ready, monkeypatch):
    monkeypatch.setattr(retention, "BATCH", 7)  # several transactions
    old = _runs(ready, 20, timedelta(days=100)) + _runs(ready, 5, timedelta(days=100), TaskStatus.FAILED)
    skipped = _runs(ready, 3, timedelta(days=100), TaskStatus.SKIPPED)
    waiting = _runs(ready, 2, timedelta(days=100), TaskStatus.PENDING) + _runs(
        ready, 1, timedelta(days=100), TaskStatus.RUNNING
    )
    recent = _runs(ready, 4, timedelta(days=10))
    before = utcnow() - timedelta(days=90)
    assert retention.count_prunable(ready, before, (TaskStatus.COMPLETED, TaskStatus.FAILED)) == 25
    assert retention.prune_tasks(ready, before, (TaskStatus.COMPLETED, TaskStatus.FAILED)) == 25
    with ready.read() as session:
        left = set(session.scalars(select(Task.id)))
        logs = set(session.scalars(select(TaskLog.task_id)))
    assert left == set(skipped + waiting + recent) and not (set(old) & logs) and logs == left
    assert retention.prune_tasks(ready, before, limit=2) == 2  # of the skipped ones, oldest first
    assert retention.prune_tasks(ready, before) == 1 and _count(ready, Task) == 7


def test_pruning_under_load_never_meets_a_locked_database(ready):
    """A writer keeps writing (as a daemon's heartbeats and records do) while 6,000 runs go;
    each batch waits for one more of its writes, so the two surely interleave."""
    _runs(ready, 6_000, timedelta(days=100))
    done, errors, beats = threading.Event(), [], []
    wrote = threading.Semaphore(0)
    me = heartbeat.DaemonIdentity("load:1", "load", 1, "test", 1, utcnow())

    def writer():
        while not done.is_set():
            try:
                heartbeat.beat(ready, me, utcnow(), 0)
            except Exception as exc:  # reported below
                errors.append(exc)
            beats.append(1)
            wrote.release()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        deleted = retention.prune_tasks(ready, utcnow() - timedelta(days=90), go_on=lambda: wrote.acquire(timeout=30))
    finally:
        done.set()
        thread.join(30)
    assert deleted == 6_000 and errors == [] and len(beats) >= 6_000 // retention.BATCH
    assert _count(ready, Task) == 0 and _count(ready, TaskLog) == 0


def test_the_daemon_prunes_old_runs_and_forgets_long_gone_daemons(ready):
    _runs(ready, 10, timedelta(days=40))
    kept = _runs(ready, 3, timedelta(days=20))
    now = utcnow()
    gone = heartbeat.DaemonIdentity("gone:1", "gone", 1, "test", 1, now - timedelta(days=30))
    heartbeat.beat(ready, gone, now - timedelta(days=9), 0)
    me = heartbeat.DaemonIdentity("me:1", "me", 1, "test", 1, now)
    heartbeat.beat(ready, me, now, 0)
    RetentionJob("me:1", ready, 30, 5, threading.Event()).prune()
    with ready.read() as session:
        assert set(session.scalars(select(Task.id))) == set(kept)
        assert session.scalars(select(DaemonHeartbeat.id)).all() == ["me:1"]


def test_a_backfilled_run_of_an_old_fire_stays_until_it_is_old_itself(ready):
    """Found by review: retention went by the planned time alone, so a backfill's runs of last
    year's fires were pruned as soon as they finished, and the next backfill of that range ran
    them all again (their fires "missing" once more)."""
    backfilled = _runs(ready, 3, timedelta(days=365), finished_age=timedelta(hours=1))
    old = _runs(ready, 2, timedelta(days=365))
    before = utcnow() - timedelta(days=90)
    assert retention.prune_tasks(ready, before) == 2
    with ready.read() as session:
        assert set(session.scalars(select(Task.id))) == set(backfilled)
    assert not set(old) & set(backfilled)
