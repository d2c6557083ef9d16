"""Daily budgets: a flow's fires skipped once its runs today cost the budget, one alert a day,
manual runs refused unless forced, runs again the next day (in TIMEZONE)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from automagik.costfmt import usd
from automagik.costs.budgets import today
from automagik.daemon.alerts import wait_for_alerts
from automagik.daemon.loop import LOOK_AHEAD, Daemon
from automagik.daemon.runner import TaskRunner
from automagik.daemon.settings import DaemonSettings
from automagik.db.models import Task, TaskLog, TaskStatus
from automagik.monitoring.incidents import list_open
from automagik.monitoring.watch import watch
from automagik.runs.fires import dispatch_due
from automagik.runs.leases import claim_tasks, record_attempts
from automagik.services import flows as flow_service
from automagik.services import tasks as task_service
from automagik.services.errors import BudgetExceeded, InvalidInput
from automagik.services.schedules import ScheduleSpec, create_schedule
from tests.langflow_server import LLMUsage
from tests.services.helpers import client_for, synced
from tests.support.webhook import WebhookReceiver

UTC = UTC
ZONE = "Europe/Berlin"  # the suite's TIMEZONE: 2026-11-27 09:00 UTC is 10:00 there
RUN_COST = (1200 * 0.15 + 300 * 0.60) / 1e6  # one run of the flow below: $0.00036 (gpt-4o-mini's list price)
OPTIONS = DaemonSettings(missed_grace_seconds=60)


@pytest.fixture
def costly(db, langflow, frozen_clock):
    """A synced flow whose every run costs RUN_COST, with a daily budget of two runs' worth minus a bit."""
    flow_id = langflow.add_flow(
        "Digest", others=["FakeLLM-u2"], llm=LLMUsage(model="gpt-4o-mini", input_tokens=1200, output_tokens=300)
    )
    synced(db, langflow)
    flow_service.update_flow_settings(db, flow_id, daily_budget_usd=0.0006)
    return flow_id


def _run_due(db, langflow, now) -> None:
    """Every task due by `now` tried against the test server and recorded, as a daemon would."""
    runner = TaskRunner("d1", DaemonSettings(), lambda: client_for(langflow))
    record_attempts(db, "d1", [runner.attempt(claimed) for claimed in claim_tasks(db, "d1", now, 10, 60)], now)


def _run(db, langflow, now, **queue_options) -> Task:
    """A manual run queued, then run."""
    task = task_service.run_flow_now(db, queue_options.pop("flow_id"), '{"input": "x"}', zone=ZONE, **queue_options)
    _run_due(db, langflow, now)
    return task_service.get_task(db, task.id).task


def _fires(db, schedule_id):
    with db.read() as session:
        return session.scalars(select(Task).where(Task.schedule_id == schedule_id).order_by(Task.scheduled_for)).all()


def test_the_day_is_the_zones_and_a_dst_day_is_25_hours():
    day, start, end = today(datetime(2026, 10, 25, 12, 0, tzinfo=UTC), ZONE)
    assert (day, start, end - start) == ("2026-10-25", datetime(2026, 10, 24, 22, 0, tzinfo=UTC), timedelta(hours=25))
    assert today(datetime(2026, 11, 27, 23, 30, tzinfo=UTC), ZONE)[0] == "2026-11-28"


@pytest.mark.parametrize(
    "amount, shown",
    [
        (5, "$5.00"),
        (1234.5, "$1,234.50"),
        (0.0006, "$0.0006"),
        (0.00072, "$0.00072"),
        (0.0, "$0.00"),
        (2e-7, "$2.00e-07"),
    ],
)
def test_money_is_shown_to_the_cent_or_to_four_digits_below_it(amount, shown):
    assert usd(amount) == shown


@pytest.mark.parametrize("text, budget", [("5", 5.0), ("$0.50", 0.5), (" 12.25 ", 12.25), ("0", None), ("none", None)])
def test_a_budget_is_typed_as_an_amount_or_none(text, budget):
    assert flow_service.parse_daily_budget(text) == budget


@pytest.mark.parametrize("text", ["-1", "abc", "nan", "inf", "1e9", "", "  "])
def test_a_budget_that_is_not_an_amount_is_refused(text):
    with pytest.raises(InvalidInput):
        flow_service.parse_daily_budget(text)


def test_a_reached_budget_skips_the_days_fires_alerts_once_and_lifts_the_next_day(db, langflow, frozen_clock, costly):
    schedule = create_schedule(db, ScheduleSpec(costly, "interval", "1m", '{"input": "x"}'))
    now = frozen_clock.now
    _run(db, langflow, now, flow_id=costly)  # $0.00036 of $0.0006: more may run
    first = dispatch_due(db, now + timedelta(minutes=1), OPTIONS, "d1", zone=ZONE)
    assert first.fired == 1 and first.budget_alerts == []
    _run_due(db, langflow, now + timedelta(minutes=1))  # the fire's run: $0.00072, the budget is reached

    second = dispatch_due(db, now + timedelta(minutes=2), OPTIONS, "d1", zone=ZONE)
    assert (second.fired, second.skipped) == (0, 1)
    [alert] = second.budget_alerts
    assert (alert.flow_id, alert.day, alert.budget_usd) == (costly, "2026-11-27", 0.0006)
    assert alert.spent_usd == pytest.approx(2 * RUN_COST)
    skipped = _fires(db, schedule.id)[-1]
    assert skipped.status is TaskStatus.SKIPPED
    assert skipped.error == "skipped: daily budget of $0.0006 reached ($0.00072 spent)"

    # Another daemon, a later fire: skipped too, but the day's alert went out already.
    third = dispatch_due(db, now + timedelta(minutes=3), OPTIONS, "d2", zone=ZONE)
    assert (third.skipped, third.budget_alerts) == (1, [])

    # 22:59 UTC is 23:59 in Berlin: still the same day. 23:00 UTC is the next day there.
    late = datetime(2026, 11, 27, 22, 59, tzinfo=UTC)
    assert dispatch_due(db, late, OPTIONS, "d1", zone=ZONE).skipped == 1
    next_day = dispatch_due(db, datetime(2026, 11, 27, 23, 0, tzinfo=UTC), OPTIONS, "d1", zone=ZONE)
    assert next_day.fired == 1 and next_day.budget_alerts == []
    # Under UTC the same spending is still "today" at 23:00: the zone decides the day.
    assert dispatch_due(db, datetime(2026, 11, 27, 23, 1, tzinfo=UTC), OPTIONS, "d1", zone="UTC").skipped == 1


def test_manual_runs_and_retries_are_refused_past_the_budget_unless_forced(db, langflow, frozen_clock, costly):
    now = frozen_clock.now
    _run(db, langflow, now, flow_id=costly)
    _run(db, langflow, now, flow_id=costly)
    with pytest.raises(BudgetExceeded) as refused:
        task_service.run_flow_now(db, costly, '{"input": "x"}', zone=ZONE)
    assert str(refused.value).startswith(
        'Flow "Digest": daily budget of $0.0006 reached ($0.00072 spent) today '
        "(Europe/Berlin). To run it anyway, force it"
    )
    with db.read() as session:
        assert session.scalar(select(Task.id).where(Task.status == TaskStatus.PENDING)) is None  # nothing queued

    forced = task_service.run_flow_now(db, costly, '{"input": "x"}', zone=ZONE, force=True)
    with db.read() as session:
        notes = session.scalars(select(TaskLog.message).where(TaskLog.task_id == forced.id)).all()
    assert "run forced by the user: daily budget of $0.0006 reached ($0.00072 spent)" in notes

    langflow.force_status = 404
    try:
        failed = _run(db, langflow, now, flow_id=costly, force=True, max_retries=0)
    finally:
        langflow.force_status = None
    assert failed.status is TaskStatus.FAILED
    with pytest.raises(BudgetExceeded):
        task_service.retry_task(db, failed.id, zone=ZONE)
    assert task_service.retry_task(db, failed.id, zone=ZONE, force=True).status is TaskStatus.PENDING


def test_runs_of_unknown_cost_count_as_nothing(db, langflow, frozen_clock):
    flow_id = langflow.add_flow("Local", others=["FakeLLM-u2"], llm=LLMUsage(model="llama3:8b"))
    synced(db, langflow)
    flow_service.update_flow_settings(db, flow_id, daily_budget_usd=0.000001)
    assert _run(db, langflow, frozen_clock.now, flow_id=flow_id).cost_usd is None
    assert _run(db, langflow, frozen_clock.now, flow_id=flow_id).status is TaskStatus.COMPLETED  # not refused


def test_two_daemons_post_the_days_budget_alert_once(db, settings, langflow, frozen_clock, costly):
    create_schedule(db, ScheduleSpec(costly, "interval", "1m", '{"input": "x"}'))
    _run(db, langflow, frozen_clock.now, flow_id=costly)
    _run(db, langflow, frozen_clock.now, flow_id=costly)
    with WebhookReceiver() as hook:
        options = DaemonSettings(alert_webhook_url=hook.url)
        daemons = [Daemon(settings, options, db=db, client_factory=lambda: client_for(langflow)) for _ in range(2)]
        try:
            for _minute in (1, 2):
                frozen_clock.now += timedelta(minutes=1)
                for daemon in daemons:
                    daemon.tick()
            for daemon in daemons:
                wait_for_alerts(daemon._alerts)
        finally:
            for daemon in daemons:
                daemon.pool.close()
    [alert] = hook.take()
    assert alert["flow_id"] == costly and alert["day"] == "2026-11-27" and alert["daily_budget_usd"] == 0.0006
    assert alert["text"] == (
        'Automagik: flow "Digest" reached its daily budget of $0.0006 ($0.00072 spent on '
        "2026-11-27): its further fires that day are skipped; runs resume the next day"
    )
    assert (alert["incident"], alert["subject"], alert["state"]) == ("budget_reached", costly, "open")
    [incident] = list_open(db)
    assert (incident.kind, incident.subject) == ("budget_reached", costly)

    # Still reached later that day: the incident stays. Raising the budget ends it; so would the
    # next day in the zone (the end of the day is tested below).
    assert watch(db, "d1", frozen_clock.now, 5, 3600, zone=ZONE) == []
    flow_service.update_flow_settings(db, costly, daily_budget_usd=1.0)
    [cleared] = watch(db, "d1", frozen_clock.now, 5, 3600, zone=ZONE)
    assert (cleared.kind.value, cleared.subject, cleared.opened) == ("budget_reached", costly, False)
    assert list_open(db) == []


def test_a_budget_incident_clears_when_the_zones_day_ends(db, langflow, frozen_clock, costly):
    create_schedule(db, ScheduleSpec(costly, "interval", "1m", '{"input": "x"}'))
    _run(db, langflow, frozen_clock.now, flow_id=costly)
    _run(db, langflow, frozen_clock.now, flow_id=costly)
    [reached] = dispatch_due(db, frozen_clock.now + timedelta(minutes=1), OPTIONS, "d1", zone=ZONE).budget_alerts
    # 22:59 UTC is 23:59 in Berlin: the same day, still reached; 23:00 UTC is the next day there.
    assert watch(db, "d1", datetime(2026, 11, 27, 22, 59, tzinfo=UTC), 5, 86400, zone=ZONE) == []
    [cleared] = watch(db, "d2", datetime(2026, 11, 27, 23, 0, tzinfo=UTC), 5, 86400, zone=ZONE)
    assert (cleared.subject, cleared.opened) == (reached.flow_id, False)
    assert cleared.message.startswith('flow "Digest" reached its daily budget')


def test_the_first_fire_of_a_new_day_is_not_skipped_for_yesterdays_budget(db, langflow, frozen_clock, costly):
    """Found by review: the loop dispatches a fire up to 200 ms ahead, and a midnight fire was
    judged on the previous day's spending."""
    _run(db, langflow, frozen_clock.now, flow_id=costly)
    _run(db, langflow, frozen_clock.now, flow_id=costly)  # the 27th's budget is reached
    schedule = create_schedule(db, ScheduleSpec(costly, "cron", "0 0 * * *", '{"input": "x"}', timezone=ZONE))
    midnight = datetime(2026, 11, 27, 23, 0, tzinfo=UTC)  # the 28th in Berlin
    assert schedule.next_run_at == midnight
    woke = midnight - LOOK_AHEAD / 2
    result = dispatch_due(db, woke, OPTIONS, "d1", until=woke + LOOK_AHEAD, zone=ZONE)
    assert (result.fired, result.skipped) == (1, 0)


def test_catch_up_runs_stop_once_the_budget_is_reached(db, langflow, frozen_clock, costly):
    """Found by review: after downtime the "all" policy queued 20 missed fires at once, before
    any ran, and every one was run with the day's budget long reached."""
    schedule = create_schedule(db, ScheduleSpec(costly, "interval", "1m", '{"input": "x"}', missed_policy="all"))
    later = frozen_clock.advance(minutes=20)
    dispatch_due(db, later, OPTIONS, "d1", zone=ZONE)
    for step in range(25):  # a daemon working through the queue, one run of the schedule at a time
        _run_due(db, langflow, later + timedelta(seconds=step))
    tasks = _fires(db, schedule.id)
    completed = [t for t in tasks if t.status is TaskStatus.COMPLETED]
    assert len(completed) == 2 and len(tasks) == 20  # $0.00072 of $0.0006: then the budget holds
    skipped = [t for t in tasks if t.status is TaskStatus.SKIPPED]
    assert len(skipped) == 18 and all(t.error.startswith("skipped: daily budget of $0.0006 reached") for t in skipped)
