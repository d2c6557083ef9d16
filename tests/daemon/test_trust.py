"""Regressions of the daemon's loop and its state owner: each case stalled the daemon, ran a
flow twice, or said something untrue (see the README's Reliability table)."""

from __future__ import annotations

import json
import threading
from contextlib import contextmanager
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from sqlalchemy import select, update

import automagik.daemon.loop as loop_module
from automagik.daemon.loop import Daemon
from automagik.daemon.settings import DaemonSettings
from automagik.db.models import Schedule, Task, TaskStatus
from automagik.runs.fires import QUEUED_REASON, RUNNING_REASON, dispatch_due
from automagik.runs.leases import Attempt, claim_tasks, record_attempts
from automagik.scheduling.cron import CronTrigger
from automagik.services import tasks as task_service
from automagik.services.schedules import ScheduleSpec, create_schedule
from tests.services.helpers import ECHO_ID, client_for, synced


@pytest.fixture
def ready(db, langflow, frozen_clock):
    synced(db, langflow)
    return db


@contextmanager
def daemon_of(db, settings, langflow, **options):
    daemon = Daemon(settings, DaemonSettings(**options), db=db, client_factory=lambda: client_for(langflow))
    try:
        yield daemon
    finally:
        daemon.pool.close()


def _running_run_of(db, schedule_id, now, owner="other-daemon"):
    task = task_service.run_flow_now(db, ECHO_ID, schedule_id=schedule_id)
    [claimed] = [c for c in claim_tasks(db, owner, now, 100, 60) if c.id == task.id]
    return claimed


def _tasks(db, schedule_id):
    with db.read() as session:
        return session.scalars(select(Task).where(Task.schedule_id == schedule_id).order_by(Task.scheduled_for)).all()


# -- 1. a full batch of busy schedules in the look-ahead ended the tick only never -----------------


def test_a_full_batch_of_busy_schedules_due_ahead_ends_the_tick(ready, settings, langflow, frozen_clock, monkeypatch):
    schedules = [create_schedule(ready, ScheduleSpec(ECHO_ID, "interval", "1m")) for _ in range(5)]
    fire = schedules[0].next_run_at
    assert {s.next_run_at for s in schedules} == {fire}
    for schedule in schedules:
        _running_run_of(ready, schedule.id, frozen_clock.now)
    frozen_clock.now = fire - timedelta(milliseconds=150)  # due within the look-ahead, not yet at its instant

    calls = []

    def counted(*args, **kwargs):
        calls.append(1)
        if len(calls) > 50:
            raise RuntimeError("the tick kept dispatching the same batch: it would never end")
        return dispatch_due(*args, **kwargs)

    monkeypatch.setattr(loop_module, "dispatch_due", counted)
    with daemon_of(ready, settings, langflow, dispatch_batch=5) as daemon:
        daemon.tick()
        assert len(calls) == 1
        assert daemon._recheck_at == fire  # decided at its instant, when the runs may be over
    assert all(len(_tasks(ready, s.id)) == 1 for s in schedules)  # nothing skipped ahead of time


def test_busy_schedules_in_the_look_ahead_do_not_hide_free_ones_behind_them(ready, frozen_clock):
    busy = [create_schedule(ready, ScheduleSpec(ECHO_ID, "interval", "1m")) for _ in range(3)]
    for schedule in busy:
        _running_run_of(ready, schedule.id, frozen_clock.now)
    free = create_schedule(ready, ScheduleSpec(ECHO_ID, "interval", "1m"))
    frozen_clock.now = free.next_run_at - timedelta(milliseconds=150)
    result = dispatch_due(ready, frozen_clock.now, DaemonSettings(dispatch_batch=2), "d1",
                          until=free.next_run_at + timedelta(milliseconds=50))
    assert (result.schedules, result.fired) == (1, 1)
    assert [t.status for t in _tasks(ready, free.id)] == [TaskStatus.PENDING]


# -- 4. catch-up arithmetic ran inside the write transaction ------------------------------------------


def test_catch_up_is_walked_outside_any_write_transaction(ready, settings, langflow, frozen_clock, monkeypatch):
    schedules = [create_schedule(ready, ScheduleSpec(ECHO_ID, "cron", "* * * * *", timezone="UTC")) for _ in range(4)]
    week_ago = frozen_clock.now - timedelta(days=7)
    with ready.write() as session:
        session.execute(update(Schedule).values(next_run_at=week_ago))

    writing = threading.local()
    original_write, original_next = ready.write, CronTrigger.next_fire_after
    walked_while_writing = []

    @contextmanager
    def watched_write():
        writing.open = True
        try:
            with original_write() as session:
                yield session
        finally:
            writing.open = False

    def watched_next(self, after):
        if getattr(writing, "open", False):
            walked_while_writing.append(after)
        return original_next(self, after)

    monkeypatch.setattr(ready, "write", watched_write)
    monkeypatch.setattr(CronTrigger, "next_fire_after", watched_next)
    with daemon_of(ready, settings, langflow) as daemon:
        for _ in range(10):
            daemon.tick()
    assert walked_while_writing == []
    for schedule in schedules:
        [task] = _tasks(ready, schedule.id)  # coalesced into one run, noted as such
        assert "coalesced" in task_service.get_task(ready, task.id).logs[0].message


def test_a_dispatch_batch_walks_within_its_budget_and_says_more_is_due(ready, frozen_clock):
    for _ in range(3):
        create_schedule(ready, ScheduleSpec(ECHO_ID, "cron", "* * * * *", timezone="UTC"))
    with ready.write() as session:
        session.execute(update(Schedule).values(next_run_at=frozen_clock.now - timedelta(days=7)))
    result = dispatch_due(ready, frozen_clock.now, DaemonSettings(), "d1", plan_budget=0.0)
    assert (result.selected, result.schedules, result.more) == (3, 1, True)  # one walked, two left
    assert dispatch_due(ready, frozen_clock.now, DaemonSettings(), "d1", plan_budget=0.0).schedules == 1


# -- 6. a task waiting for its retry made its schedule's fires "skipped: still going" ------------------


def test_a_pending_retry_does_not_hold_back_the_next_fire(ready, frozen_clock):
    schedule = create_schedule(ready, ScheduleSpec(ECHO_ID, "interval", "1m", max_retries=3))
    first_fire = schedule.next_run_at
    frozen_clock.now = first_fire
    dispatch_due(ready, frozen_clock.now, DaemonSettings(), "d1")
    [claimed] = claim_tasks(ready, "d1", frozen_clock.now, 10, 60)
    [recorded] = record_attempts(ready, "d1", [Attempt(claimed.id, [], error="LangFlow answered 500", transient=True)],
                                 frozen_clock.now)
    assert recorded.status is TaskStatus.PENDING
    with ready.write() as session:  # a long backoff: the retry waits five minutes
        session.execute(update(Task).where(Task.id == claimed.id).values(next_retry_at=first_fire + timedelta(minutes=5)))

    for minute in (1, 2, 3, 4):
        frozen_clock.now = first_fire + timedelta(minutes=minute)
        dispatch_due(ready, frozen_clock.now, DaemonSettings(), "d1")
        [fresh] = claim_tasks(ready, "d1", frozen_clock.now, 10, 60)  # each fire runs on time...
        assert fresh.id != claimed.id and fresh.scheduled_for == frozen_clock.now
        record_attempts(ready, "d1", [Attempt(fresh.id, [], result={"text": "ok"})], frozen_clock.now)
    statuses = [t.status for t in _tasks(ready, schedule.id)]
    assert statuses == [TaskStatus.PENDING] + [TaskStatus.COMPLETED] * 4  # ...and the retry still waits
    frozen_clock.now = first_fire + timedelta(minutes=5, seconds=1)
    assert [c.id for c in claim_tasks(ready, "d1", frozen_clock.now, 10, 60)] == [claimed.id]


def test_a_skipped_fire_says_whether_the_previous_run_was_going_or_still_queued(ready, frozen_clock):
    running = create_schedule(ready, ScheduleSpec(ECHO_ID, "interval", "1m"))
    queued = create_schedule(ready, ScheduleSpec(ECHO_ID, "interval", "1m"))
    _running_run_of(ready, running.id, frozen_clock.now)
    task_service.run_flow_now(ready, ECHO_ID, schedule_id=queued.id)  # queued, never tried
    frozen_clock.now = running.next_run_at
    dispatch_due(ready, frozen_clock.now, DaemonSettings(), "d1")
    [skipped_running] = [t for t in _tasks(ready, running.id) if t.status is TaskStatus.SKIPPED]
    [skipped_queued] = [t for t in _tasks(ready, queued.id) if t.status is TaskStatus.SKIPPED]
    assert skipped_running.error == RUNNING_REASON and skipped_queued.error == QUEUED_REASON


# -- 7. recovery failed tasks for good without an alert ---------------------------------------------


class _Webhook(BaseHTTPRequestHandler):
    received: list = []
    arrived = threading.Event()

    def do_POST(self):  # noqa: N802 - http.server's naming
        _Webhook.received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(200)
        self.end_headers()
        _Webhook.arrived.set()

    def log_message(self, *args):
        pass


def test_a_task_failed_for_good_by_recovery_is_alerted(ready, settings, langflow, frozen_clock):
    server = HTTPServer(("127.0.0.1", 0), _Webhook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Webhook.received, _Webhook.arrived = [], threading.Event()
    try:
        task = task_service.run_flow_now(ready, ECHO_ID, '{"input": "x"}', max_retries=0)
        claim_tasks(ready, "dead-daemon", frozen_clock.now, 10, lease_seconds=30)
        frozen_clock.advance(seconds=31)
        with daemon_of(ready, settings, langflow, alert_webhook_url=f"http://127.0.0.1:{server.server_port}/") as daemon:
            daemon.recover()
        assert _Webhook.arrived.wait(10)
    finally:
        server.shutdown()
    [alert] = _Webhook.received
    assert alert["task_id"] == task.id and alert["tries"] == 1
    assert "dead-daemon stopped" in alert["error"] and "no retries left" in alert["error"]
    assert task_service.get_task(ready, task.id).task.status is TaskStatus.FAILED

