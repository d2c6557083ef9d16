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
from sqlalchemy.exc import OperationalError

import automagik.daemon.loop as loop_module
from automagik.clock import utcnow
from automagik.daemon.loop import Daemon
from automagik.daemon.settings import DaemonSettings
from automagik.db.engine import Database
from automagik.db.models import Schedule, Task, TaskStatus
from automagik.runs import fires
from automagik.runs.fires import QUEUED_REASON, RUNNING_REASON, dispatch_due
from automagik.runs.leases import claim_tasks, record_attempts
from automagik.runs.outcomes import Attempt
from automagik.scheduling.cron import CronTrigger
from automagik.services import tasks as task_service
from automagik.services.schedules import ScheduleSpec, create_schedule, update_schedule
from tests.daemon.process_helpers import wait_until
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
        assert len(calls) == 2  # the batch, then one more that reads past what it left for later
        assert daemon._recheck_at == fire  # decided at its instant, when the runs may be over
    assert all(len(_tasks(ready, s.id)) == 1 for s in schedules)  # nothing skipped ahead of time


def test_busy_schedules_in_the_look_ahead_do_not_hide_free_ones_behind_them(ready, settings, langflow, frozen_clock):
    busy = [create_schedule(ready, ScheduleSpec(ECHO_ID, "interval", "1m")) for _ in range(3)]
    for schedule in busy:
        _running_run_of(ready, schedule.id, frozen_clock.now)
    free = create_schedule(ready, ScheduleSpec(ECHO_ID, "interval", "1m"))
    frozen_clock.now = free.next_run_at - timedelta(milliseconds=150)
    with daemon_of(ready, settings, langflow, dispatch_batch=2) as daemon:
        daemon.tick()
    assert len(_tasks(ready, free.id)) == 1  # dispatched ahead, in the same tick
    assert all(len(_tasks(ready, s.id)) == 1 for s in busy)  # their fires wait for their instant


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
    [recorded] = record_attempts(
        ready, "d1", [Attempt(claimed.id, [], error="LangFlow answered 500", transient=True)], frozen_clock.now
    )
    assert recorded.status is TaskStatus.PENDING
    with ready.write() as session:  # a long backoff: the retry waits five minutes
        session.execute(
            update(Task).where(Task.id == claimed.id).values(next_retry_at=first_fire + timedelta(minutes=5))
        )

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
        with daemon_of(
            ready, settings, langflow, alert_webhook_url=f"http://127.0.0.1:{server.server_port}/"
        ) as daemon:
            daemon.recover()
        assert _Webhook.arrived.wait(10)
    finally:
        server.shutdown()
    [alert] = _Webhook.received
    assert alert["task_id"] == task.id and alert["tries"] == 1
    assert "dead-daemon stopped" in alert["error"] and "no retries left" in alert["error"]
    assert task_service.get_task(ready, task.id).task.status is TaskStatus.FAILED


# -- found by review: each failed before its fix --------------------------------------------------


@contextmanager
def running(daemon, once=False):
    """The daemon's loop in a thread; stopped (and joined) when the block ends."""
    result = {}
    thread = threading.Thread(
        target=lambda: result.setdefault("rc", daemon.run(once=once, install_signals=False)), daemon=True
    )
    thread.start()
    try:
        yield thread, result
    finally:
        daemon.stop()
        thread.join(15)


@pytest.fixture
def real_clock_ready(db, langflow):
    synced(db, langflow)
    return db


def test_a_database_outage_near_a_fire_does_not_spin_the_loop(real_clock_ready, settings, langflow, monkeypatch):
    attempts = []

    def database_away(*args, **kwargs):
        attempts.append(1)
        raise OperationalError("SELECT 1", {}, Exception("connection refused"))

    monkeypatch.setattr(loop_module, "dispatch_due", database_away)
    monkeypatch.setattr(loop_module.log, "exception", lambda *a, **k: None)
    daemon = Daemon(
        settings, DaemonSettings(poll_seconds=1.0), db=real_clock_ready, client_factory=lambda: client_for(langflow)
    )
    daemon._next_due = utcnow() + timedelta(milliseconds=50)  # a fire was close when the database went away
    stopped = threading.Event()
    with running(daemon):
        stopped.wait(1.0)  # the outage lasts a second
    assert 1 <= len(attempts) <= 8  # backing off 0.1, 0.2, 0.4 s...: not tens of thousands


def test_once_runs_what_was_due_when_it_started_not_fires_that_come_after(real_clock_ready, settings, langflow):
    langflow.latency = 1.0
    due, later = (create_schedule(real_clock_ready, ScheduleSpec(ECHO_ID, "interval", "1h")) for _ in range(2))
    now = utcnow()
    with real_clock_ready.write() as session:
        session.execute(update(Schedule).where(Schedule.id == due.id).values(next_run_at=now))
        session.execute(
            update(Schedule).where(Schedule.id == later.id).values(next_run_at=now + timedelta(seconds=0.6))
        )
    daemon = Daemon(settings, DaemonSettings(), db=real_clock_ready, client_factory=lambda: client_for(langflow))
    with running(daemon, once=True) as (thread, result):
        thread.join(15)
        assert not thread.is_alive() and result["rc"] == 0
    assert [t.status for t in _tasks(real_clock_ready, due.id)] == [TaskStatus.COMPLETED]
    assert _tasks(real_clock_ready, later.id) == []  # the next --once's
    assert langflow.run_count == 1


def test_once_records_its_runs_in_its_loop_and_retries_a_failed_record(
    real_clock_ready, settings, langflow, monkeypatch
):
    tasks = [task_service.run_flow_now(real_clock_ready, ECHO_ID, f'{{"input": "run {n}"}}') for n in range(2)]
    real, failures = loop_module.record_and_claim, []

    def flaky(db, daemon_id, attempts, *args, **kwargs):
        if attempts and len(failures) < 2:  # the database is briefly away while recording
            failures.append(1)
            raise OperationalError("UPDATE tasks", {}, Exception("server closed the connection unexpectedly"))
        return real(db, daemon_id, attempts, *args, **kwargs)

    monkeypatch.setattr(loop_module, "record_and_claim", flaky)
    monkeypatch.setattr(loop_module.log, "exception", lambda *a, **k: None)
    daemon = Daemon(settings, DaemonSettings(), db=real_clock_ready, client_factory=lambda: client_for(langflow))
    left_at_shutdown = []
    shutdown = daemon._shutdown
    monkeypatch.setattr(daemon, "_shutdown", lambda: left_at_shutdown.append(daemon._holds_work()) or shutdown())
    with running(daemon, once=True) as (thread, result):
        thread.join(15)
        assert not thread.is_alive()
    assert left_at_shutdown == [False] and len(failures) == 2
    assert [task_service.get_task(real_clock_ready, t.id).task.status for t in tasks] == [TaskStatus.COMPLETED] * 2


def test_once_waits_for_the_alert_of_a_run_that_failed_for_good(real_clock_ready, settings, langflow, monkeypatch):
    import automagik.daemon.alerts as alerts_module

    delivered = []

    def slow_webhook(url, payload):
        threading.Event().wait(0.5)  # a webhook on the internet: DNS, TCP, TLS
        delivered.append(payload["task_id"])
        return True

    monkeypatch.setattr(alerts_module, "post_alert", slow_webhook)
    langflow.force_status = 400  # failed for good at once
    task = task_service.run_flow_now(real_clock_ready, ECHO_ID, '{"input": "x"}', max_retries=0)
    daemon = Daemon(
        settings,
        DaemonSettings(alert_webhook_url="http://127.0.0.1:9/hook"),
        db=real_clock_ready,
        client_factory=lambda: client_for(langflow),
    )
    assert daemon.run(once=True, install_signals=False) == 0
    assert delivered == [task.id]


def test_a_shutdown_grace_longer_than_the_lease_keeps_the_lease(real_clock_ready, settings, langflow):
    langflow.latency = 3.0  # the run outlasts the lease, and ends within the grace
    task = task_service.run_flow_now(real_clock_ready, ECHO_ID, '{"input": "long"}')
    timers = dict(lease_seconds=1, heartbeat_seconds=0.25, recovery_seconds=0.2)
    first = Daemon(
        settings,
        DaemonSettings(shutdown_grace_seconds=6, **timers),
        db=real_clock_ready,
        client_factory=lambda: client_for(langflow),
    )
    other = Daemon(
        settings,
        DaemonSettings(**timers),
        db=Database(settings.database_url),
        client_factory=lambda: client_for(langflow),
    )
    with running(first) as (first_thread, _):
        wait_until(lambda: task.id in first.pool.busy_ids(), 10, "the run started")
        first.stop()  # SIGTERM while it runs
        with running(other):
            first_thread.join(15)
    done = task_service.get_task(real_clock_ready, task.id).task
    assert (done.status, done.tries, langflow.run_count) == (TaskStatus.COMPLETED, 1, 1)


def test_recovery_never_takes_a_run_this_daemon_still_holds(ready, settings, langflow, frozen_clock):
    langflow.hang = True
    task = task_service.run_flow_now(ready, ECHO_ID, '{"input": "long"}')
    with daemon_of(ready, settings, langflow) as daemon:
        try:
            daemon.tick()
            wait_until(lambda: langflow.run_count == 1, 10, "the run reached LangFlow")
            frozen_clock.advance(seconds=61)  # the loop was held up past its lease (or the clock jumped)
            daemon.recover()
            assert task_service.get_task(ready, task.id).task.status is TaskStatus.RUNNING
        finally:
            langflow.hang = False


def test_a_catch_up_batch_writes_a_bounded_number_of_tasks(ready, frozen_clock):
    for _ in range(30):
        create_schedule(ready, ScheduleSpec(ECHO_ID, "interval", "1s", missed_policy="all"))
    ten_minutes_ago = frozen_clock.now - timedelta(minutes=10)
    with ready.write() as session:
        session.execute(update(Schedule).values(next_run_at=ten_minutes_ago, anchor_at=ten_minutes_ago))
    settings = DaemonSettings(catch_up_limit=500)
    result = dispatch_due(ready, frozen_clock.now, settings, "d1")
    assert result.fired <= fires.MAX_BATCH_TASKS + settings.catch_up_limit and result.more
    total = result.fired
    while (result := dispatch_due(ready, frozen_clock.now, settings, "d1")).schedules:
        total += result.fired
    assert total == 30 * 500  # every schedule caught up, batch after batch


def test_a_queue_of_one_schedules_runs_does_not_hold_back_other_work(ready, frozen_clock):
    piled = create_schedule(ready, ScheduleSpec(ECHO_ID, "interval", "1h"))
    for _ in range(40):
        frozen_clock.advance(milliseconds=1)  # a manual run is planned for "now": one per instant
        task_service.run_flow_now(ready, ECHO_ID, schedule_id=piled.id)
    others = [task_service.run_flow_now(ready, ECHO_ID, f'{{"input": "{n}"}}').id for n in range(10)]
    frozen_clock.advance(seconds=1)
    claimed = claim_tasks(ready, "d1", frozen_clock.now, 8, 60)
    assert len(claimed) == 8 and sum(c.schedule_id == piled.id for c in claimed) == 1
    assert {c.id for c in claimed} - {c.id for c in claimed if c.schedule_id} <= set(others)


def test_an_edit_while_a_fire_is_planned_is_not_overwritten_by_the_old_read(ready, frozen_clock, monkeypatch):
    schedule = create_schedule(ready, ScheduleSpec(ECHO_ID, "interval", "1m", '{"input": "old"}'))
    frozen_clock.now = schedule.next_run_at
    real_walk = fires._walk

    def walk_then_edit(*args, **kwargs):
        walked = real_walk(*args, **kwargs)
        update_schedule(ready, schedule.id, flow_input='{"input": "new"}')  # the dashboard, meanwhile
        return walked

    monkeypatch.setattr(fires, "_walk", walk_then_edit)
    assert dispatch_due(ready, frozen_clock.now, DaemonSettings(), "d1").schedules == 0  # left for the next read
    monkeypatch.setattr(fires, "_walk", real_walk)
    assert dispatch_due(ready, frozen_clock.now, DaemonSettings(), "d1").fired == 1
    [task] = _tasks(ready, schedule.id)
    assert task.input_data["input"] == "new"
