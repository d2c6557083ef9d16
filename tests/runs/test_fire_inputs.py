"""Placeholders filled where fires and runs become tasks: the task stores, and LangFlow receives,
the input of its own fire (its day in the schedule's zone, across a DST change and a catch-up);
an input without braces is stored as it was given."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from automagik.daemon.settings import DaemonSettings
from automagik.db.models import Task
from automagik.runs.fires import dispatch_due
from automagik.services import flows as flow_service
from automagik.services import schedules as schedule_service
from automagik.services import tasks as task_service
from automagik.services.schedules import ScheduleSpec
from tests.services.helpers import ECHO_ID, run_due_tasks, synced

UTC = UTC
OPTIONS = DaemonSettings(missed_grace_seconds=60, catch_up_limit=100)
DIGEST = {
    "input": "Digest of {{ fire_date }} ({{ fire_time }}) by {{ flow_name }}, run {{ task_id }} of {{ schedule_id }}",
    "tweaks": {"ChatInput-acc01": {"sender_name": "digest {{fire_date}}", "should_store_message": True}},
}
# A daily 07:00 in Berlin around the night of 29 March 2026, when the clocks go from 02:00 CET to
# 03:00 CEST: 07:00 is 06:00 UTC before it and 05:00 UTC after.
BERLIN_FIRES = [
    (datetime(2026, 3, 28, 6, 0, tzinfo=UTC), "2026-03-28", "2026-03-28T07:00:00+01:00"),
    (datetime(2026, 3, 29, 5, 0, tzinfo=UTC), "2026-03-29", "2026-03-29T07:00:00+02:00"),
    (datetime(2026, 3, 30, 5, 0, tzinfo=UTC), "2026-03-30", "2026-03-30T07:00:00+02:00"),
]


@pytest.fixture
def ready(db, langflow, frozen_clock):
    synced(db, langflow)
    frozen_clock.now = datetime(2026, 3, 27, 12, 0, tzinfo=UTC)
    return db


def _tasks(db) -> list[Task]:
    with db.read() as session:
        return list(session.scalars(select(Task).order_by(Task.scheduled_for)))


def _digest(db, **options):
    return schedule_service.create_schedule(
        db, ScheduleSpec(ECHO_ID, "cron", "0 7 * * *", DIGEST, timezone="Europe/Berlin", **options)
    )


def _expected(task: Task, schedule_id: str, flow_name: str, day: str, time: str) -> dict:
    return {
        "input": f"Digest of {day} ({time}) by {flow_name}, run {task.id} of {schedule_id}",
        "tweaks": {"ChatInput-acc01": {"sender_name": f"digest {day}", "should_store_message": True}},
    }


def test_a_daily_digest_across_the_dst_change_stores_and_sends_its_own_day(ready, langflow, frozen_clock):
    schedule = _digest(ready)
    flow_name = flow_service.get_flow(ready, ECHO_ID).name
    for fire, _, _ in BERLIN_FIRES:
        frozen_clock.now = fire + timedelta(seconds=1)
        assert dispatch_due(ready, frozen_clock.now, OPTIONS, "d1").fired == 1
        assert [r.status.value for r in run_due_tasks(ready, langflow)] == ["completed"]

    tasks = _tasks(ready)
    assert [t.scheduled_for for t in tasks] == [fire for fire, _, _ in BERLIN_FIRES]
    for task, (_, day, time) in zip(tasks, BERLIN_FIRES, strict=False):
        assert task.input_data == _expected(task, schedule.id, flow_name, day, time)
    # LangFlow received exactly what each task stored (the input text goes in as the input
    # component's input_value, beside the rendered tweak).
    sent = [run.body["tweaks"]["ChatInput-acc01"] for run in langflow.runs]
    assert [s["input_value"] for s in sent] == [t.input_data["input"] for t in tasks]
    assert [s["sender_name"] for s in sent] == ["digest 2026-03-28", "digest 2026-03-29", "digest 2026-03-30"]
    # The schedule keeps the template.
    assert schedule_service.get_schedule(ready, schedule.id).flow_params == DIGEST


def test_fires_caught_up_after_downtime_each_say_their_own_day(ready, frozen_clock):
    """Under the "all" policy a daemon back after three days writes the three missed fires in
    one batch: each is filled with its own planned time, not the time it was caught up."""
    schedule = _digest(ready, missed_policy="all")
    frozen_clock.now = BERLIN_FIRES[-1][0] + timedelta(hours=2)
    assert dispatch_due(ready, frozen_clock.now, OPTIONS, "d1").fired == 3
    flow_name = flow_service.get_flow(ready, ECHO_ID).name
    tasks = _tasks(ready)
    assert [t.input_data for t in tasks] == [
        _expected(task, schedule.id, flow_name, day, time)
        for task, (_, day, time) in zip(tasks, BERLIN_FIRES, strict=False)
    ]


def test_a_skipped_fire_stores_what_it_would_have_sent(ready, frozen_clock):
    schedule = _digest(ready, missed_policy="skip")
    frozen_clock.now = BERLIN_FIRES[0][0] + timedelta(hours=1)  # past the 60 s grace: skipped
    assert dispatch_due(ready, frozen_clock.now, OPTIONS, "d1").skipped == 1
    [task] = _tasks(ready)
    assert task.status.value == "skipped"
    assert task.input_data["input"].startswith("Digest of 2026-03-28 (2026-03-28T07:00:00+01:00)")
    assert task.input_data["input"].endswith(f"run {task.id} of {schedule.id}")


def test_an_input_without_braces_is_stored_unchanged(ready, langflow, frozen_clock):
    given = {"input": "plain { text } with }} and a lone {", "tweaks": {"ChatInput-acc01": {"sender_name": "x"}}}
    schedule = schedule_service.create_schedule(ready, ScheduleSpec(ECHO_ID, "interval", "5m", given))
    frozen_clock.now = schedule.next_run_at + timedelta(seconds=1)
    dispatch_due(ready, frozen_clock.now, OPTIONS, "d1")
    run_due_tasks(ready, langflow)
    [task] = _tasks(ready)
    assert task.input_data == given == schedule_service.get_schedule(ready, schedule.id).flow_params
    assert langflow.runs[-1].body["tweaks"]["ChatInput-acc01"]["input_value"] == given["input"]


def test_escaped_braces_are_sent_literally(ready, langflow, frozen_clock):
    schedule = schedule_service.create_schedule(
        ready,
        ScheduleSpec(
            ECHO_ID, "interval", "5m", {"input": r"Write \{{ fire_date }} for {{ fire_date }}"}, timezone="UTC"
        ),
    )
    frozen_clock.now = schedule.next_run_at + timedelta(seconds=1)
    dispatch_due(ready, frozen_clock.now, OPTIONS, "d1")
    run_due_tasks(ready, langflow)
    [task] = _tasks(ready)
    assert task.input_data["input"] == "Write {{ fire_date }} for 2026-03-27"
    assert langflow.runs[-1].body["tweaks"]["ChatInput-acc01"]["input_value"] == "Write {{ fire_date }} for 2026-03-27"


def test_a_manual_run_of_a_schedule_is_filled_as_a_fire_now_in_its_zone(ready, langflow, frozen_clock):
    schedule = _digest(ready)
    frozen_clock.now = datetime(2026, 3, 29, 22, 30, tzinfo=UTC)  # already 30 March in Berlin
    task = task_service.run_flow_now(ready, ECHO_ID, schedule_id=schedule.id, zone="UTC")
    flow_name = flow_service.get_flow(ready, ECHO_ID).name
    stored = task_service.get_task(ready, task.id).task
    assert stored.input_data == _expected(stored, schedule.id, flow_name, "2026-03-30", "2026-03-30T00:30:00+02:00")
    run_due_tasks(ready, langflow)
    assert langflow.runs[-1].body["tweaks"]["ChatInput-acc01"]["input_value"] == stored.input_data["input"]


def test_a_run_of_no_schedule_is_filled_in_the_given_zone_with_no_schedule_id(ready, frozen_clock):
    frozen_clock.now = datetime(2026, 11, 27, 23, 30, tzinfo=UTC)
    task = task_service.run_flow_now(
        ready, ECHO_ID, {"input": "{{ fire_date }} [{{ schedule_id }}] {{ task_id }}"}, zone="Europe/Berlin"
    )
    assert task_service.get_task(ready, task.id).task.input_data["input"] == f"2026-11-28 [] {task.id}"
