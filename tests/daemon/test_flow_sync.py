"""Flows kept current by the daemons: one of them re-syncs; a vanished component pauses its
schedules with the reason shown, and one alert per schedule."""

from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest

from automagik.clock import utcnow
from automagik.config import ConfigError
from automagik.daemon import heartbeat
from automagik.daemon.alerts import wait_for_alerts
from automagik.daemon.flow_sync import FlowSync
from automagik.daemon.leader import leading_daemon
from automagik.daemon.loop import Daemon
from automagik.daemon.settings import DaemonSettings, daemon_settings
from automagik.db.models import ScheduleStatus
from automagik.monitoring.incidents import list_open
from automagik.monitoring.watch import watch
from automagik.services import flows as flow_service
from automagik.services import schedules as schedule_service
from tests.daemon.process_helpers import wait_until
from tests.services.helpers import ECHO_ID, TWO_OUT_ID, client_for, synced
from tests.support.webhook import WebhookReceiver


def _identity(name, started):
    return heartbeat.DaemonIdentity(id=name, host="h", pid=1, version="v", workers=1, started_at=started)


def test_the_live_daemon_that_started_first_is_the_one_that_syncs(db):
    now = utcnow()
    for name, started, seen in (("old-but-silent", -300, -60), ("first", -100, 0), ("second", -50, 0)):
        heartbeat.beat(db, _identity(name, now + timedelta(seconds=started)), now + timedelta(seconds=seen), 0)
    assert leading_daemon(db, heartbeat_seconds=5) == "first"
    heartbeat.mark_stopped(db, _identity("first", now), now)
    assert leading_daemon(db, heartbeat_seconds=5) == "second"


@pytest.fixture
def webhook():
    with WebhookReceiver() as receiver:
        yield receiver


def _without_output(langflow, flow_id, component):
    raw = json.loads(json.dumps(next(f for f in langflow.flows if f["id"] == flow_id)))
    raw["data"]["nodes"] = [n for n in raw["data"]["nodes"] if n["id"] != component]
    raw["updated_at"] = "2026-11-28T00:00:00+00:00"
    langflow.set_flows([f for f in langflow.flows if f["id"] != flow_id] + [raw])


def test_a_vanished_component_pauses_its_schedules_with_the_reason_and_alerts_once(db, langflow, webhook):
    synced(db, langflow)
    flow_service.set_components(db, TWO_OUT_ID, "ChatInput-tw001", "ChatOutput-tw004")
    schedule = schedule_service.create_schedule(db, schedule_service.ScheduleSpec(TWO_OUT_ID, "interval", "5m"))
    _without_output(langflow, TWO_OUT_ID, "ChatOutput-tw004")
    threads: list[threading.Thread] = []
    sync = FlowSync("d1", db, lambda: client_for(langflow), 5, webhook.url, threads.extend)
    sync.sync()
    sync.sync()  # nothing new: no second alert
    wait_for_alerts(threads)

    paused = schedule_service.get_schedule(db, schedule.id)
    reason = 'the chosen output component ChatOutput-tw004 of flow "TwoOut 1a87" no longer exists in LangFlow'
    assert (paused.status, paused.paused_reason) == (ScheduleStatus.PAUSED, reason)
    [alert] = webhook.take()
    assert (alert["schedule_id"], alert["flow_id"], alert["reason"]) == (schedule.id, TWO_OUT_ID, reason)
    assert alert["text"].startswith(f"Automagik: schedule {schedule.id} paused: {reason}")
    assert (alert["incident"], alert["subject"], alert["state"]) == ("schedule_paused", schedule.id, "open")
    # An incident until the schedule runs again: on the Overview and in `check`.
    [incident] = list_open(db)
    assert (incident.kind, incident.subject) == ("schedule_paused", schedule.id)
    assert watch(db, "d1", utcnow(), 5, 60) == []  # still paused: stays open

    # Fixed (the one output left is chosen by the sync) and resumed: the reason goes, and the
    # next watch clears the incident, once.
    assert schedule_service.resume_schedule(db, schedule.id).paused_reason is None
    [cleared] = watch(db, "d2", utcnow(), 5, 60)
    assert (cleared.kind.value, cleared.subject, cleared.opened) == ("schedule_paused", schedule.id, False)
    assert list_open(db) == [] and watch(db, "d1", utcnow(), 5, 60) == []


def test_langflow_away_leaves_the_flows_as_they_were(db, langflow, caplog):
    synced(db, langflow)
    before = flow_service.get_flow(db, ECHO_ID).synced_at
    langflow.down = True
    try:
        FlowSync("d1", db, lambda: client_for(langflow), 5, None, lambda threads: None).sync()
    finally:
        langflow.down = False
    assert flow_service.get_flow(db, ECHO_ID).synced_at == before
    assert any(r.message.startswith("flow sync skipped: Could not sync flows") for r in caplog.records)


def test_a_running_daemon_picks_up_a_new_flow_by_itself(db, settings, langflow):
    synced(db, langflow)
    new_id = langflow.add_flow("Added later")
    daemon = Daemon(
        settings,
        DaemonSettings(sync_seconds=0.2, heartbeat_seconds=0.5),
        db=db,
        client_factory=lambda: client_for(langflow),
    )
    thread = threading.Thread(target=daemon.run, kwargs={"install_signals": False}, daemon=True)
    thread.start()
    try:
        flow = wait_until(
            lambda: next((f for f in flow_service.list_flows(db) if f.id == new_id), None),
            15,
            "the daemon's own sync to add the new flow",
        )
    finally:
        daemon.stop()
        thread.join(15)
    assert flow.name == "Added later" and flow.is_ready


@pytest.mark.parametrize("value, expected", [("0", 0.0), ("600", 600.0)])
def test_the_sync_interval_is_a_setting_and_zero_turns_it_off(value, expected):
    assert daemon_settings(environ={"AUTOMAGIK_SYNC_SECONDS": value}, env_file=None).sync_seconds == expected


def test_a_bad_sync_interval_is_refused():
    with pytest.raises(ConfigError, match="AUTOMAGIK_SYNC_SECONDS"):
        daemon_settings(environ={"AUTOMAGIK_SYNC_SECONDS": "-5"}, env_file=None)


def test_a_sync_caught_by_shutdown_writes_nothing_whose_alert_would_be_lost(db, langflow, settings, webhook):
    """Found by review: a sync still reading LangFlow when the daemon stopped committed its
    pauses afterwards, and their alert went out, if ever, after the daemon had exited."""
    synced(db, langflow)
    flow_service.set_components(db, TWO_OUT_ID, "ChatInput-tw001", "ChatOutput-tw004")
    schedule = schedule_service.create_schedule(db, schedule_service.ScheduleSpec(TWO_OUT_ID, "interval", "5m"))
    _without_output(langflow, TWO_OUT_ID, "ChatOutput-tw004")
    listing, answer = threading.Event(), threading.Event()

    def slow_client():  # LangFlow answers the list of flows only once the daemon is stopping
        client = client_for(langflow)
        real = client.list_flows

        def list_flows():
            listing.set()
            answer.wait(10)
            return real()

        client.list_flows = list_flows
        return client

    daemon = Daemon(settings, DaemonSettings(alert_webhook_url=webhook.url), db=db, client_factory=slow_client)
    daemon.beat()  # the only live daemon: the one that syncs
    daemon.flow_sync.due()
    assert listing.wait(10)
    threading.Thread(target=lambda: (daemon._stopping.wait(10), answer.set()), daemon=True).start()
    daemon._shutdown()
    assert not daemon.flow_sync._thread.is_alive()
    assert schedule_service.get_schedule(db, schedule.id).status is ScheduleStatus.ACTIVE and webhook.take() == []


def test_an_empty_answer_from_langflow_pauses_nothing(db, langflow):
    """An automatic sync trusts LangFlow listing no flows at all as little as a human would (a
    key of another user answers so); a sync by hand still removes them."""
    synced(db, langflow)
    schedule = schedule_service.create_schedule(db, schedule_service.ScheduleSpec(ECHO_ID, "interval", "5m"))
    langflow.clear_flows()
    FlowSync("d1", db, lambda: client_for(langflow), 5, None, lambda threads: None).sync()
    assert flow_service.get_flow(db, ECHO_ID).removed_at is None
    assert schedule_service.get_schedule(db, schedule.id).status is ScheduleStatus.ACTIVE
    synced(db, langflow)
    assert flow_service.get_flow(db, ECHO_ID).removed_at is not None
