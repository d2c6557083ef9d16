"""Dispatch at explicit instants: exact fire times, no drift, one task per fire, missed-run policies."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from automagik.daemon.settings import DaemonSettings
from automagik.db.models import ScheduleStatus, Task, TaskLog, TaskStatus
from automagik.runs.fires import dispatch_due
from automagik.runs.leases import claim_tasks
from automagik.services import schedules as schedule_service
from automagik.services.schedules import ScheduleSpec
from tests.services.helpers import ECHO_ID, synced

UTC = UTC
T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
OPTIONS = DaemonSettings(missed_grace_seconds=60, catch_up_limit=100)


@pytest.fixture
def ready(db, langflow, frozen_clock):
    synced(db, langflow)
    frozen_clock.now = T0
    return db


def _tasks(db, schedule_id=None):
    with db.read() as session:
        query = select(Task).order_by(Task.scheduled_for)
        if schedule_id:
            query = query.where(Task.schedule_id == schedule_id)
        return list(session.scalars(query))


def _logs(db, task_id):
    with db.read() as session:
        return [
            line.message
            for line in session.scalars(select(TaskLog).where(TaskLog.task_id == task_id).order_by(TaskLog.id))
        ]


def test_interval_fires_at_planned_instants_and_advances_from_them_not_from_now(ready):
    schedule = schedule_service.create_schedule(ready, ScheduleSpec(ECHO_ID, "interval", "5m", '{"input": "hi"}'))
    assert dispatch_due(ready, T0 + timedelta(minutes=5) - timedelta(microseconds=1), OPTIONS, "d1").fired == 0
    # A late tick (0.7 s) still records the planned instant, and the next fire stays on the grid.
    assert dispatch_due(ready, T0 + timedelta(minutes=5, seconds=0.7), OPTIONS, "d1").fired == 1
    task = _tasks(ready)[0]
    assert task.scheduled_for == T0 + timedelta(minutes=5)
    assert (task.status, task.input_data, task.max_retries) == (TaskStatus.PENDING, {"input": "hi", "tweaks": {}}, 3)
    stored = schedule_service.get_schedule(ready, schedule.id)
    assert stored.next_run_at == T0 + timedelta(minutes=10) and stored.last_run_at == T0 + timedelta(minutes=5)


def test_a_thousand_ticks_never_drift(ready):
    schedule = schedule_service.create_schedule(ready, ScheduleSpec(ECHO_ID, "interval", "7s"))
    now = T0
    for _ in range(200):
        now += timedelta(seconds=7, milliseconds=13)  # every tick a little late
        dispatch_due(ready, now, OPTIONS, "d1")
        with ready.write() as session:  # let each run finish so none is skipped as overlapping
            for task in session.scalars(select(Task).where(Task.status == TaskStatus.PENDING)):
                task.status = TaskStatus.COMPLETED
    fires = [t.scheduled_for for t in _tasks(ready, schedule.id)]
    assert all((f - schedule.anchor_at) % timedelta(seconds=7) == timedelta(0) for f in fires)
    assert fires == sorted(set(fires))


def test_cron_fires_in_the_schedule_zone(ready, frozen_clock):
    schedule_service.create_schedule(ready, ScheduleSpec(ECHO_ID, "cron", "0 9 * * *", timezone="Europe/Berlin"))
    dispatch_due(ready, datetime(2026, 11, 28, 8, 0, 1, tzinfo=UTC), OPTIONS, "d1")
    assert [t.scheduled_for for t in _tasks(ready)] == [datetime(2026, 11, 28, 8, 0, tzinfo=UTC)]  # 09:00 CET


def test_oneshot_fires_once_then_completes(ready):
    schedule = schedule_service.create_schedule(ready, ScheduleSpec(ECHO_ID, "oneshot", "2026-11-27T09:30:00Z"))
    dispatch_due(ready, T0 + timedelta(minutes=31), OPTIONS, "d1")
    dispatch_due(ready, T0 + timedelta(days=1), OPTIONS, "d1")
    assert [t.scheduled_for for t in _tasks(ready)] == [T0 + timedelta(minutes=30)]
    stored = schedule_service.get_schedule(ready, schedule.id)
    assert stored.status is ScheduleStatus.COMPLETED and stored.next_run_at is None


def test_paused_schedules_do_not_fire(ready):
    schedule = schedule_service.create_schedule(ready, ScheduleSpec(ECHO_ID, "interval", "1m"))
    schedule_service.pause_schedule(ready, schedule.id)
    assert dispatch_due(ready, T0 + timedelta(hours=1), OPTIONS, "d1").fired == 0
    assert _tasks(ready) == []


def test_dispatching_the_same_instant_twice_creates_nothing_more(ready):
    schedule_service.create_schedule(ready, ScheduleSpec(ECHO_ID, "interval", "1m"))
    now = T0 + timedelta(minutes=1)
    assert dispatch_due(ready, now, OPTIONS, "d1").fired == 1
    assert dispatch_due(ready, now, OPTIONS, "d2").fired == 0
    assert len(_tasks(ready)) == 1


def test_concurrent_dispatchers_make_exactly_one_task_per_fire(ready):
    for n in range(40):
        schedule_service.create_schedule(ready, ScheduleSpec(ECHO_ID, "interval", f"{n % 5 + 1}m"))
    now = T0 + timedelta(minutes=5)
    errors = []

    def dispatcher(name):
        try:
            for _ in range(5):
                dispatch_due(ready, now, OPTIONS, name)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=dispatcher, args=(f"d{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    tasks = _tasks(ready)
    assert len(tasks) == 40  # one latest fire per schedule (coalesce), never two
    assert len({(t.schedule_id, t.scheduled_for) for t in tasks}) == 40


def _downtime(ready, policy, minutes_down, every="10m", **options):
    schedule = schedule_service.create_schedule(ready, ScheduleSpec(ECHO_ID, "interval", every, missed_policy=policy))
    now = T0 + timedelta(minutes=minutes_down)
    dispatch_due(ready, now, DaemonSettings(missed_grace_seconds=60, **options), "d1")
    return schedule, _tasks(ready, schedule.id), now


def test_coalesce_runs_the_latest_missed_fire_once_and_notes_the_others(ready):
    schedule, tasks, _ = _downtime(ready, "coalesce", 65)
    assert [(t.scheduled_for, t.status) for t in tasks] == [(T0 + timedelta(minutes=60), TaskStatus.PENDING)]
    assert any("coalesced 5 missed fires" in line for line in _logs(ready, tasks[0].id))
    assert schedule_service.get_schedule(ready, schedule.id).next_run_at == T0 + timedelta(minutes=70)


def test_skip_records_the_missed_fire_as_skipped_and_waits_for_the_next(ready):
    schedule, tasks, _ = _downtime(ready, "skip", 65)
    assert [(t.scheduled_for, t.status) for t in tasks] == [(T0 + timedelta(minutes=60), TaskStatus.SKIPPED)]
    assert "policy skip" in tasks[0].error and "5 earlier fires missed" in tasks[0].error
    assert schedule_service.get_schedule(ready, schedule.id).next_run_at == T0 + timedelta(minutes=70)


def test_skip_still_runs_a_fire_within_the_grace(ready):
    _, tasks, _ = _downtime(ready, "skip", 60.5)
    assert [(t.scheduled_for, t.status) for t in tasks] == [(T0 + timedelta(minutes=60), TaskStatus.PENDING)]


def test_all_runs_every_missed_fire_up_to_the_limit(ready):
    _, tasks, _ = _downtime(ready, "all", 65)
    assert [t.scheduled_for for t in tasks] == [T0 + timedelta(minutes=10 * k) for k in range(1, 7)]
    _, capped, _ = _downtime(ready, "all", 65, every="1m", catch_up_limit=3)
    assert [t.scheduled_for for t in capped] == [T0 + timedelta(minutes=k) for k in (63, 64, 65)]
    assert any("62 older missed fires" in line for line in _logs(ready, capped[0].id))


def test_long_downtime_of_a_dense_schedule_is_handled_quickly(ready):
    _, tasks, _ = _downtime(ready, "coalesce", 60 * 24 * 30, every="1s")  # 2.6 million missed fires
    assert [t.scheduled_for for t in tasks] == [T0 + timedelta(days=30)]


def test_a_fire_during_a_run_is_recorded_as_skipped_with_the_reason(ready):
    schedule = schedule_service.create_schedule(ready, ScheduleSpec(ECHO_ID, "interval", "1m"))
    dispatch_due(ready, T0 + timedelta(minutes=1), OPTIONS, "d1")
    with ready.write() as session:
        session.scalars(select(Task)).one().status = TaskStatus.RUNNING
    dispatch_due(ready, T0 + timedelta(minutes=2), OPTIONS, "d1")
    second = _tasks(ready, schedule.id)[1]
    assert second.status is TaskStatus.SKIPPED and "previous run" in second.error
    assert second.finished_at is not None


def test_fires_within_the_look_ahead_become_tasks_that_wait_for_their_instant(ready):
    schedule = schedule_service.create_schedule(ready, ScheduleSpec(ECHO_ID, "interval", "5m", '{"input": "hi"}'))
    fire = T0 + timedelta(minutes=5)
    now, until = fire - timedelta(milliseconds=150), fire + timedelta(milliseconds=50)
    assert dispatch_due(ready, now, OPTIONS, "d1", until=fire - timedelta(microseconds=1)).fired == 0
    assert dispatch_due(ready, now, OPTIONS, "d1", until=until).fired == 1
    task = _tasks(ready)[0]
    assert (task.scheduled_for, task.next_retry_at, task.status) == (fire, fire, TaskStatus.PENDING)
    assert schedule_service.get_schedule(ready, schedule.id).next_run_at == fire + timedelta(minutes=5)
    assert _logs(ready, task.id) == []  # early, not late: no "running late" note

    assert claim_tasks(ready, "d1", now, 10, 60) == []  # not runnable before its instant...
    claimed = claim_tasks(ready, "d1", now, 10, 60, until=until)  # ...but claimable ahead of it
    assert [(c.id, c.run_at, c.scheduled_for) for c in claimed] == [(task.id, fire, fire)]


def test_a_busy_schedules_fire_is_decided_at_its_instant_not_ahead(ready):
    """Dispatching ahead must not skip a fire whose previous run may be over by its instant."""
    schedule = schedule_service.create_schedule(ready, ScheduleSpec(ECHO_ID, "interval", "1m"))
    dispatch_due(ready, T0 + timedelta(minutes=1), OPTIONS, "d1")
    with ready.write() as session:
        first = session.scalars(select(Task)).one()
        first.status, first_id = TaskStatus.RUNNING, first.id
    fire = T0 + timedelta(minutes=2)

    ahead = dispatch_due(
        ready, fire - timedelta(milliseconds=150), OPTIONS, "d1", until=fire + timedelta(milliseconds=50)
    )
    assert (ahead.selected, ahead.schedules, ahead.deferred) == (1, 0, fire)  # read, and left for its instant
    assert len(_tasks(ready, schedule.id)) == 1
    assert schedule_service.get_schedule(ready, schedule.id).next_run_at == fire  # untouched

    # The run finished meanwhile (its outcome not yet recorded): at its instant the fire runs.
    at_fire = dispatch_due(ready, fire, OPTIONS, "d1", finished=[first_id])
    assert (at_fire.fired, at_fire.skipped, at_fire.deferred) == (1, 0, None)
    assert _tasks(ready, schedule.id)[1].status is TaskStatus.PENDING


def test_a_fire_due_while_the_run_still_goes_is_skipped_at_its_instant(ready):
    schedule = schedule_service.create_schedule(ready, ScheduleSpec(ECHO_ID, "interval", "1m"))
    dispatch_due(ready, T0 + timedelta(minutes=1), OPTIONS, "d1")
    with ready.write() as session:
        session.scalars(select(Task)).one().status = TaskStatus.RUNNING
    fire = T0 + timedelta(minutes=2)
    assert dispatch_due(ready, fire - timedelta(milliseconds=100), OPTIONS, "d1", until=fire).deferred == fire
    assert dispatch_due(ready, fire, OPTIONS, "d1", until=fire + timedelta(milliseconds=200)).skipped == 1
    assert _tasks(ready, schedule.id)[1].status is TaskStatus.SKIPPED
