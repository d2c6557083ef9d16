"""Limits held by the database: per flow, per LangFlow server (in flight, started per minute),
with several claimers at once; held runs wait (one log line), never skipped or failed."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from automagik.db.engine import Database
from automagik.db.models import Task, TaskLog, TaskStatus
from automagik.runs.leases import record_and_claim, record_attempts
from automagik.runs.limits import ServerLimits
from automagik.runs.outcomes import Attempt
from automagik.services import flows as flow_service
from automagik.services import tasks as task_service
from tests.services.helpers import ECHO_ID, TWO_OUT_ID, synced


@pytest.fixture
def ready(db, langflow, frozen_clock):
    synced(db, langflow)
    flow_service.set_components(db, TWO_OUT_ID, "ChatInput-tw001", "ChatOutput-tw002")
    return db


def _queue(db, flow_id, count):
    return [task_service.run_flow_now(db, flow_id, '{"input": "x"}').id for _ in range(count)]


def _claim(db, now, limits=ServerLimits(), daemon="d1", limit=50):
    return record_and_claim(db, daemon, [], now, limit, 60, server_limits=limits)[1]


def _logs(db, task_id):
    with db.read() as session:
        return session.scalars(select(TaskLog.message).where(TaskLog.task_id == task_id)).all()


def _finish(db, claimed, now, daemon="d1"):
    record_attempts(db, daemon, [Attempt(c.id, [], result={"text": "ok"}) for c in claimed], now)


def test_a_flow_limit_holds_the_rest_pending_with_one_log_line_until_a_slot_frees(ready, frozen_clock):
    flow_service.update_flow_settings(ready, ECHO_ID, max_concurrency=2)
    queued = _queue(ready, ECHO_ID, 5)
    now = frozen_clock.now
    first = _claim(ready, now)
    assert len(first) == 2
    assert _claim(ready, now) == []  # still full: nothing more, and no second log line
    waiting = sorted(set(queued) - {c.id for c in first})
    for task_id in waiting:
        task = task_service.get_task(ready, task_id).task
        assert task.status is TaskStatus.PENDING and task.held_since == now
        assert _logs(ready, task_id).count("waiting: flow at its limit 2/2") == 1

    _finish(ready, first[:1], now)
    [started] = _claim(ready, now)  # one slot freed, one run started
    assert started.id in waiting


def test_a_full_flow_does_not_hold_back_other_flows(ready, frozen_clock):
    flow_service.update_flow_settings(ready, ECHO_ID, max_concurrency=1)
    echo = _queue(ready, ECHO_ID, 3)
    other = _queue(ready, TWO_OUT_ID, 2)
    assert sorted(c.id for c in _claim(ready, frozen_clock.now)) == sorted([echo[0], *other])


def test_server_limits_cap_runs_in_flight_and_starts_per_minute(ready, frozen_clock):
    now = frozen_clock.now
    _queue(ready, ECHO_ID, 6)
    in_flight = _claim(ready, now, ServerLimits(max_concurrency=3))
    assert len(in_flight) == 3 and _claim(ready, now, ServerLimits(max_concurrency=3)) == []
    held = [t for t in _pending(ready)]
    assert all("waiting: LangFlow at its limit of 3 runs at once" in _logs(ready, t) for t in held)
    _finish(ready, in_flight, now)

    # 2 per minute (starts are counted while a rate limit is set): two now, one after the minute.
    rate = ServerLimits(rate_per_minute=2)
    first = _claim(ready, now + timedelta(seconds=1), rate)
    assert len(first) == 2
    _finish(ready, first, now + timedelta(seconds=2))
    assert _claim(ready, now + timedelta(seconds=30), rate) == []
    assert len(_claim(ready, now + timedelta(seconds=62), rate)) == 1


def _pending(db):
    with db.read() as session:
        return session.scalars(select(Task.id).where(Task.status == TaskStatus.PENDING)).all()


def test_claimers_racing_never_pass_a_flow_limit(ready, frozen_clock, database_url):
    """Three claimers (each its own connection pool, as three daemons) claim and finish as fast
    as they can; the number running, read after every claim, never passes the limit."""
    flow_service.update_flow_settings(ready, ECHO_ID, max_concurrency=4)
    _queue(ready, ECHO_ID, 60)
    now, seen, errors = frozen_clock.now, [], []

    def daemon(name):
        db = Database(database_url)
        try:
            held = []
            for _ in range(80):
                held += record_and_claim(db, name, [], now, 3, 60)[1]
                with db.read() as session:
                    seen.append(
                        session.scalar(select(func.count()).select_from(Task).where(Task.status == TaskStatus.RUNNING))
                    )
                if held:
                    _finish(db, held[:1], now, name)
                    held = held[1:]
            _finish(db, held, now, name)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            db.dispose()

    threads = [threading.Thread(target=daemon, args=(f"d{i}",)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors
    # Without the limit the three would hold up to 9 at once; with it never more than 4.
    assert 2 <= max(seen) <= 4
    with ready.read() as session:
        statuses = session.scalars(select(Task.status)).all()
    assert statuses.count(TaskStatus.COMPLETED) == 60  # every run ran, none skipped or failed


def test_retries_count_against_the_starts_per_minute(ready, frozen_clock):
    """Found by review: the rate counted tasks' latest start, so a retried task claimed again
    within the minute counted once however often it started."""
    task_service.run_flow_now(ready, ECHO_ID, '{"input": "x"}', max_retries=5)
    rate, t0, starts = ServerLimits(rate_per_minute=2), frozen_clock.now, []
    for at in (0, 15, 45, 75):  # the retry rule's backoff: about 10 s, then 20 s
        now = t0 + timedelta(seconds=at)
        claimed = record_and_claim(ready, "d1", [], now, 10, 60, server_limits=rate).claimed
        starts += [at] * len(claimed)
        record_attempts(
            ready,
            "d1",
            [
                Attempt(
                    c.id, [], error="HTTP 503", transient=True, started_at=now, finished_at=now + timedelta(seconds=1)
                )
                for c in claimed
            ],
            now + timedelta(seconds=1),
        )
    assert starts == [0, 15, 75]  # the third try waited for the minute of the first to pass
