"""Alerts that notice silence, each proven with a real webhook receiver: a daemon gone silent
(noticed by another), fires overdue, a schedule's failure streak; once when opened, once
when cleared, however many daemons watch."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from automagik.daemon import heartbeat
from automagik.daemon.alerts import wait_for_alerts
from automagik.daemon.loop import Daemon
from automagik.daemon.settings import DaemonSettings
from automagik.db.models import Flow, Schedule
from automagik.monitoring.incidents import Kind, list_open, open_incident
from automagik.monitoring.watch import watch
from automagik.runs.fires import dispatch_due
from automagik.runs.leases import claim_tasks, record_attempts
from automagik.runs.outcomes import Attempt
from automagik.runs.recovery import recover_expired
from automagik.services import flows as flow_service
from automagik.services import schedules as schedule_service
from automagik.services import tasks as task_service
from tests.services.helpers import ECHO_ID, client_for, synced
from tests.support.webhook import WebhookReceiver


@pytest.fixture
def hook():
    with WebhookReceiver() as receiver:
        yield receiver


@pytest.fixture
def daemons(db, langflow, settings, frozen_clock, hook):
    """Two daemons watching one database, both posting to a real local webhook."""
    synced(db, langflow)
    options = DaemonSettings(alert_webhook_url=hook.url, heartbeat_seconds=5)
    made = [Daemon(settings, options, db=db, client_factory=lambda: client_for(langflow)) for _ in range(2)]
    yield made
    for daemon in made:
        daemon.pool.close()


def _watch(daemons, hook):
    for daemon in daemons:
        daemon.beat()
    for daemon in daemons:
        daemon.watch()
    for daemon in daemons:
        wait_for_alerts(daemon._alerts)
    return hook.take()


def test_a_daemon_gone_silent_alerts_once_and_once_more_when_it_is_back(db, daemons, frozen_clock, hook):
    silent = heartbeat.DaemonIdentity("silent:7:abc", "far", 7, "test", 8, frozen_clock.now)
    heartbeat.beat(db, silent, frozen_clock.now, 0)
    assert _watch(daemons, hook) == []
    frozen_clock.advance(seconds=16)  # three heartbeats missed
    [opened] = _watch(daemons, hook)
    assert opened["incident"] == "daemon_stale" and opened["state"] == "open" and opened["subject"] == silent.id
    assert opened["text"].startswith(f"Automagik: daemon {silent.id} (far, pid 7) has sent no heartbeat since ")
    assert _watch(daemons, hook) == []  # still silent: no second alert
    assert [i.subject for i in list_open(db)] == [silent.id]
    heartbeat.beat(db, silent, frozen_clock.now, 0)
    [cleared] = _watch(daemons, hook)
    assert cleared["state"] == "cleared" and cleared["text"].startswith("Automagik: cleared: daemon silent:7:abc")
    assert list_open(db) == []


def test_fires_overdue_alert_once_and_clear_once_dispatched(db, daemons, frozen_clock, hook):
    schedule = schedule_service.create_schedule(db, schedule_service.ScheduleSpec(ECHO_ID, "interval", "1h"))
    with db.write() as session:
        session.execute(
            update(Schedule)
            .where(Schedule.id == schedule.id)
            .values(next_run_at=frozen_clock.now - timedelta(minutes=5))
        )
    [opened] = _watch(daemons, hook)
    assert opened["incident"] == "fires_overdue" and "1 schedule has a fire overdue by more than 60 s" in opened["text"]
    dispatch_due(db, frozen_clock.now, DaemonSettings(), "d1")
    claim_tasks(db, "d1", frozen_clock.now, 10, 60)  # started: neither fire nor run is overdue now
    [cleared] = _watch(daemons, hook)
    assert cleared["incident"] == "fires_overdue" and cleared["state"] == "cleared"


def test_a_failure_streak_alerts_once_after_n_failures_and_once_when_a_run_completes(
    db, daemons, langflow, frozen_clock, hook
):
    schedule = schedule_service.create_schedule(
        db,
        schedule_service.ScheduleSpec(
            ECHO_ID, "interval", "1h", '{"input": "x"}', max_retries=0, alert_after_failures=3
        ),
    )
    daemon = daemons[0]

    def run_once(status):
        langflow.force_status = status
        try:
            task_service.run_flow_now(db, ECHO_ID, schedule_id=schedule.id)
            [claimed] = claim_tasks(db, daemon.id, frozen_clock.now, 10, 60)
            daemon._finished.put((claimed, daemon.runner.attempt(claimed)))
            daemon.record_finished()
        finally:
            langflow.force_status = None
        frozen_clock.advance(seconds=1)
        wait_for_alerts(daemon._alerts)
        return hook.take()

    assert run_once(404) == [] and run_once(404) == []  # 1 and 2 of 3: nothing yet
    [streak] = run_once(404)
    assert streak["incident"] == "failure_streak" and streak["subject"] == schedule.id
    assert f"schedule {schedule.id} of flow " in streak["text"] and "has failed 3 times in a row" in streak["text"]
    assert run_once(404) == []  # the streak goes on: no alert per task
    assert run_once(None) == []  # a run completes...
    [cleared] = _watch(daemons, hook)  # ...and a watching daemon says the streak is over, once
    assert cleared["incident"] == "failure_streak" and cleared["state"] == "cleared"


def test_every_failure_alerts_with_the_default_of_one(db, daemons, langflow, frozen_clock, hook):
    schedule = schedule_service.create_schedule(
        db, schedule_service.ScheduleSpec(ECHO_ID, "interval", "1h", '{"input": "x"}', max_retries=0)
    )
    daemon = daemons[0]
    langflow.force_status = 404
    try:
        for _ in range(2):
            task_service.run_flow_now(db, ECHO_ID, schedule_id=schedule.id)
            [claimed] = claim_tasks(db, daemon.id, frozen_clock.now, 10, 60)
            daemon._finished.put((claimed, daemon.runner.attempt(claimed)))
            daemon.record_finished()
            frozen_clock.advance(seconds=1)
    finally:
        langflow.force_status = None
    wait_for_alerts(daemon._alerts)
    assert [alert.get("task_id") is not None for alert in hook.take()] == [True, True]


def test_a_run_held_once_by_a_limit_is_reported_overdue_when_it_waits_again_for_no_reason(db, langflow, frozen_clock):
    """Found by review: the mark of a run held by a limit (held_since) stayed after the run
    started, so a run once held, then recovered after its daemon died, was never overdue again
    however long no daemon took it."""
    synced(db, langflow)
    flow_service.update_flow_settings(db, ECHO_ID, max_concurrency=1)
    task_service.run_flow_now(db, ECHO_ID, {"input": "a"})
    second = task_service.run_flow_now(db, ECHO_ID, {"input": "b"})
    [first_claimed] = claim_tasks(db, "d1", frozen_clock.now, 10, 60)  # the second waits: held
    record_attempts(db, "d1", [Attempt(first_claimed.id, [], result={"text": "ok"})], frozen_clock.now)
    [claimed] = claim_tasks(db, "d1", frozen_clock.now, 10, 60)
    assert claimed.id == second.id
    frozen_clock.advance(seconds=120)  # its daemon died: recovered, due again at once
    recover_expired(db, frozen_clock.now)
    frozen_clock.advance(hours=1)  # and no daemon takes it
    changes = watch(db, "d-watch", frozen_clock.now, 10, 60)
    assert [c.kind for c in changes if c.opened] == [Kind.RUNS_OVERDUE]


class _WriteAfter:
    """The database, with `action` run once just before the first write transaction begins:
    what another daemon does between a watch's read and its write."""

    def __init__(self, db, action):
        self._db, self._action, self.dialect = db, action, db.dialect

    def read(self):
        return self._db.read()

    def write(self):
        action, self._action = self._action, None
        if action:
            action()
        return self._db.write()


def test_a_watch_clears_only_the_incident_it_saw_not_one_reopened_meanwhile(db, langflow, frozen_clock):
    """Found by review: a watch cleared by kind and subject, so an incident another daemon
    cleared and a new streak reopened, between this watch's read and its write, was cleared
    with no reason, and its alert was a false all-clear."""
    synced(db, langflow)
    schedule = schedule_service.create_schedule(db, schedule_service.ScheduleSpec(ECHO_ID, "interval", "1h"))

    def open_streak():
        with db.write() as session:
            return open_incident(session, db.dialect, Kind.FAILURE_STREAK, schedule.id, "failing", frozen_clock.now)

    assert open_streak() is not None  # a streak; the schedule's runs since look over to any watch

    def meanwhile():
        [cleared] = watch(db, "d-other", frozen_clock.now, 10, 60)  # another daemon clears it first
        assert not cleared.opened
        assert open_streak() is not None  # and a new streak opens

    changes = watch(_WriteAfter(db, meanwhile), "d-watch", frozen_clock.now, 10, 60)
    assert changes == []  # what it saw was cleared already; the new streak is not its to end
    [still] = list_open(db)
    assert (still.kind, still.subject) == (Kind.FAILURE_STREAK.value, schedule.id)


def test_a_pause_back_between_a_watchs_read_and_its_write_keeps_its_incident_open(db, langflow, frozen_clock):
    """Found by review: a watch read a schedule resumed and cleared its pause incident at its
    write, by id; a flow sync that paused it again in between had found that incident still
    open (its opening a no-op, no alert), so the schedule stayed paused by Automagik with no
    incident open and nothing left to open one."""
    synced(db, langflow)
    schedule = schedule_service.create_schedule(db, schedule_service.ScheduleSpec(ECHO_ID, "interval", "1h"))

    def pause_by_sync():
        with db.write() as session:
            flow = session.get(Flow, ECHO_ID)
            report = flow_service.SyncReport()
            flow_service._pause_schedules_of(session, flow, frozen_clock.now, "its component is gone", report)
            return report.paused

    assert pause_by_sync()  # paused, its incident opened and alerted
    schedule_service.resume_schedule(db, schedule.id)  # a person resumes it: the watch will clear

    def meanwhile():
        assert pause_by_sync() == []  # paused again; the incident still open, so nothing alerts

    assert watch(_WriteAfter(db, meanwhile), "d-watch", frozen_clock.now, 10, 60) == []
    [still] = list_open(db)
    assert (still.kind, still.subject) == (Kind.SCHEDULE_PAUSED.value, schedule.id)
