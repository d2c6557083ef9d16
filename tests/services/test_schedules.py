"""Schedule verbs: create (each type), validation that writes nothing, pause/resume, update, delete."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from automagik.db.models import MissedRunPolicy, Schedule, ScheduleStatus, Task, TaskStatus
from automagik.scheduling import ScheduleType
from automagik.services import schedules as svc
from automagik.services import tasks as task_service
from automagik.services.errors import InvalidInput, NotFound
from automagik.services.flow_input import parse_flow_input
from tests.services.helpers import ECHO_ID, TWO_OUT_ID, synced

UTC = UTC


@pytest.fixture
def ready(db, langflow, frozen_clock):
    synced(db, langflow)
    return db


def _count(db) -> int:
    with db.read() as session:
        return session.scalar(select(func.count()).select_from(Schedule))


def test_interval_schedule_is_anchored_at_creation_and_fires_every_period(ready, frozen_clock):
    frozen_clock.now = datetime(2026, 11, 27, 9, 0, 12, 345678, tzinfo=UTC)
    schedule = svc.create_schedule(ready, svc.ScheduleSpec(ECHO_ID, "interval", "1h30m", '{"input": "hi"}'))
    assert schedule.schedule_type is ScheduleType.INTERVAL and schedule.schedule_expr == "1h30m"
    assert schedule.anchor_at == datetime(2026, 11, 27, 9, 0, 12, tzinfo=UTC)
    assert schedule.next_run_at == datetime(2026, 11, 27, 10, 30, 12, tzinfo=UTC)
    assert schedule.flow_params == {"input": "hi", "tweaks": {}}
    assert schedule.status is ScheduleStatus.ACTIVE and schedule.missed_policy is MissedRunPolicy.COALESCE
    stored = svc.get_schedule(ready, schedule.id)
    assert stored.next_run_at == schedule.next_run_at and stored.next_run_at.tzinfo is not None


def test_cron_schedule_is_evaluated_in_its_zone(ready, frozen_clock):
    frozen_clock.now = datetime(2026, 3, 28, 12, 0, tzinfo=UTC)
    schedule = svc.create_schedule(
        ready,
        svc.ScheduleSpec(
            ECHO_ID,
            "cron",
            "30 2 * * *",
            timezone="Europe/Berlin",
            max_retries=5,
            timeout_seconds=90,
            missed_policy="all",
        ),
    )
    # 02:30 does not exist in Berlin on 2026-03-29: the first valid instant after it, 03:00 CEST.
    assert schedule.next_run_at == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)
    assert (schedule.max_retries, schedule.timeout_seconds, schedule.missed_policy) == (5, 90, MissedRunPolicy.ALL)


def test_oneshot_without_offset_is_read_in_the_default_zone(ready, frozen_clock):
    schedule = svc.create_schedule(
        ready, svc.ScheduleSpec(ECHO_ID, "oneshot", "2026-12-01T09:00"), default_timezone="Europe/Berlin"
    )
    assert schedule.next_run_at == datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    assert schedule.timezone == "Europe/Berlin"


@pytest.mark.parametrize(
    "spec, message",
    [
        (svc.ScheduleSpec("no-such-flow", "interval", "5m"), "Unknown flow id"),
        (svc.ScheduleSpec(TWO_OUT_ID, "interval", "5m"), "no output component chosen"),
        (svc.ScheduleSpec(ECHO_ID, "weekly", "5m"), "Unknown schedule type"),
        (svc.ScheduleSpec(ECHO_ID, "interval", "5x"), "Invalid interval"),
        (svc.ScheduleSpec(ECHO_ID, "interval", "0s"), "interval"),
        (svc.ScheduleSpec(ECHO_ID, "cron", "61 * * * *"), "cron"),
        (svc.ScheduleSpec(ECHO_ID, "cron", "0 0 30 2 *"), "cron"),
        (svc.ScheduleSpec(ECHO_ID, "oneshot", "tomorrow"), "oneshot|ISO|time"),
        (svc.ScheduleSpec(ECHO_ID, "oneshot", "2026-11-27T08:00:00Z"), "in the past"),
        (svc.ScheduleSpec(ECHO_ID, "cron", "0 9 * * *", timezone="Mars/Base"), "Unknown timezone"),
        (svc.ScheduleSpec(ECHO_ID, "interval", "5m", flow_input="{not json"), "not valid JSON"),
        (svc.ScheduleSpec(ECHO_ID, "interval", "5m", flow_input='{"message": "x"}'), 'Unknown key "message"'),
        (svc.ScheduleSpec(ECHO_ID, "interval", "5m", flow_input='{"input": 5}'), "must be a string"),
        (svc.ScheduleSpec(ECHO_ID, "interval", "5m", flow_input='{"tweaks": []}'), "tweaks"),
        (
            svc.ScheduleSpec(ECHO_ID, "interval", "5m", flow_input='{"input": "{{ fire_day }}"}'),
            r"Unknown placeholder \{\{ fire_day \}\}",
        ),
        (
            svc.ScheduleSpec(ECHO_ID, "cron", "@daily", flow_input={"input": "x", "tweaks": {"C": {"f": "{{ 1+1 }}"}}}),
            "Unknown placeholder",
        ),
        (
            svc.ScheduleSpec(ECHO_ID, "interval", "5m", flow_input='{"input": "{{ upstream_output }}"}'),
            "only for a schedule of type after",
        ),
        (svc.ScheduleSpec(ECHO_ID, "interval", "5m", max_retries=-1), "max retries"),
        (svc.ScheduleSpec(ECHO_ID, "interval", "5m", timeout_seconds=0), "timeout"),
        (svc.ScheduleSpec(ECHO_ID, "interval", "5m", missed_policy="sometimes"), "missed-run policy"),
    ],
)
def test_bad_input_is_refused_with_one_line_and_nothing_written(ready, spec, message):
    with pytest.raises(InvalidInput, match=message) as refused:
        svc.create_schedule(ready, spec)
    assert "\n" not in refused.value.message
    assert _count(ready) == 0


def test_pause_resume_skips_the_paused_time_without_catch_up(ready, frozen_clock):
    schedule = svc.create_schedule(ready, svc.ScheduleSpec(ECHO_ID, "interval", "10m"))
    assert svc.pause_schedule(ready, schedule.id).status is ScheduleStatus.PAUSED
    frozen_clock.advance(minutes=35)
    resumed = svc.resume_schedule(ready, schedule.id)
    assert resumed.status is ScheduleStatus.ACTIVE
    # Still on the original grid (anchor + k * 10m), at the first fire after now.
    assert resumed.next_run_at == schedule.anchor_at + timedelta(minutes=40)


def test_past_oneshot_cannot_resume(ready, frozen_clock):
    schedule = svc.create_schedule(ready, svc.ScheduleSpec(ECHO_ID, "oneshot", "2026-11-27T10:00:00Z"))
    svc.pause_schedule(ready, schedule.id)
    frozen_clock.advance(hours=2)
    with pytest.raises(InvalidInput, match="has passed"):
        svc.resume_schedule(ready, schedule.id)
    assert svc.get_schedule(ready, schedule.id).status is ScheduleStatus.PAUSED


def test_a_schedule_saved_with_an_expression_now_refused_cannot_resume(ready):
    kept = svc.create_schedule(ready, svc.ScheduleSpec(ECHO_ID, "cron", "0 0 * * FRI-SAT"))
    refused = svc.create_schedule(ready, svc.ScheduleSpec(ECHO_ID, "cron", "0 0 * * FRI-SAT"))
    svc.pause_all(ready)
    with ready.write() as session:  # as an older version, which read a backward range as wrapping round, stored it
        session.get(Schedule, refused.id).schedule_expr = "0 0 * * FRI-MON"
    with pytest.raises(
        InvalidInput, match='cannot resume: Invalid cron expression "0 0 \\* \\* FRI-MON": the day of week'
    ):
        svc.resume_schedule(ready, refused.id)
    assert svc.resume_all(ready)[0] == 1
    assert [svc.get_schedule(ready, s.id).status for s in (kept, refused)] == [
        ScheduleStatus.ACTIVE,
        ScheduleStatus.PAUSED,
    ]


def test_pause_all_and_resume_all(ready, frozen_clock):
    ids = [svc.create_schedule(ready, svc.ScheduleSpec(ECHO_ID, "interval", f"{n}m")).id for n in (1, 2, 3)]
    oneshot = svc.create_schedule(ready, svc.ScheduleSpec(ECHO_ID, "oneshot", "2026-11-27T09:30:00Z"))
    assert svc.pause_all(ready) == 4
    assert {svc.get_schedule(ready, i).status for i in ids} == {ScheduleStatus.PAUSED}
    frozen_clock.advance(hours=1)
    resumed, refused = svc.resume_all(ready)
    assert resumed == 3 and len(refused) == 1 and oneshot.id in refused[0]
    assert {svc.get_schedule(ready, i).status for i in ids} == {ScheduleStatus.ACTIVE}


def test_update_changes_timing_and_settings_and_validates_first(ready, frozen_clock):
    schedule = svc.create_schedule(ready, svc.ScheduleSpec(ECHO_ID, "interval", "5m"))
    with pytest.raises(InvalidInput):
        svc.update_schedule(ready, schedule.id, schedule_expr="every day", max_retries=7)
    assert svc.get_schedule(ready, schedule.id).max_retries == 3  # nothing written on refusal

    frozen_clock.advance(minutes=2)
    updated = svc.update_schedule(
        ready,
        schedule.id,
        schedule_type="cron",
        schedule_expr="0  9 * * 1-5",
        timezone="America/New_York",
        flow_input='{"input": "new"}',
        max_retries=0,
        timeout_seconds=30,
        missed_policy="skip",
    )
    assert updated.schedule_type is ScheduleType.CRON and updated.schedule_expr == "0 9 * * 1-5"
    assert updated.next_run_at == datetime(2026, 11, 27, 14, 0, tzinfo=UTC)  # Friday 09:00 EST
    assert updated.flow_params["input"] == "new" and updated.missed_policy is MissedRunPolicy.SKIP
    assert (updated.max_retries, updated.timeout_seconds) == (0, 30)


def test_the_same_timing_in_another_spelling_does_not_restart_the_schedule(ready, frozen_clock):
    """Found by review: "90m" is stored as "1h30m", and an update that sent "90m" again (the
    Edit form, a script repeating its create options) counted as a new timing and restarted
    the schedule's grid from now."""
    schedule = svc.create_schedule(ready, svc.ScheduleSpec(ECHO_ID, "interval", "90m"))
    assert schedule.schedule_expr == "1h30m"
    cron = svc.create_schedule(ready, svc.ScheduleSpec(ECHO_ID, "cron", "0 9 * * 1-5", timezone="Europe/Berlin"))
    frozen_clock.advance(minutes=20)
    updated = svc.update_schedule(ready, schedule.id, schedule_expr="90m", max_retries=5)
    assert (updated.anchor_at, updated.next_run_at, updated.max_retries) == (
        schedule.anchor_at,
        schedule.next_run_at,
        5,
    )
    updated = svc.update_schedule(ready, cron.id, schedule_expr=" 0  9 * *  1-5 ", timezone="Europe/Berlin")
    assert (updated.schedule_expr, updated.anchor_at) == ("0 9 * * 1-5", cron.anchor_at)
    # A real change still restarts it.
    updated = svc.update_schedule(ready, schedule.id, schedule_expr="1h")
    assert updated.schedule_expr == "1h" and updated.anchor_at > schedule.anchor_at


def test_delete_keeps_the_run_history(ready):
    schedule = svc.create_schedule(ready, svc.ScheduleSpec(ECHO_ID, "interval", "5m"))
    task = task_service.run_flow_now(ready, ECHO_ID, schedule_id=schedule.id)
    svc.delete_schedule(ready, schedule.id)
    with pytest.raises(NotFound):
        svc.get_schedule(ready, schedule.id)
    kept = task_service.get_task(ready, task.id).task
    assert kept.schedule_id is None and kept.status is TaskStatus.PENDING


def test_list_shows_flow_name_and_last_run_soonest_first(ready, frozen_clock):
    later = svc.create_schedule(ready, svc.ScheduleSpec(ECHO_ID, "interval", "1h"))
    sooner = svc.create_schedule(ready, svc.ScheduleSpec(ECHO_ID, "interval", "1m"))
    task_service.run_flow_now(ready, ECHO_ID, schedule_id=sooner.id)
    rows = svc.list_schedules(ready)
    assert [r.schedule.id for r in rows] == [sooner.id, later.id]
    assert rows[0].flow_name == "Echo 30f7" and rows[0].last_status == "pending" and rows[1].last_status is None


def test_unique_fire_key_makes_a_second_task_for_one_fire_impossible(ready):
    from sqlalchemy.exc import IntegrityError

    schedule = svc.create_schedule(ready, svc.ScheduleSpec(ECHO_ID, "interval", "5m"))
    fire = schedule.next_run_at

    def add_task():
        with ready.write() as session:
            session.add(
                Task(
                    flow_id=ECHO_ID,
                    schedule_id=schedule.id,
                    status=TaskStatus.PENDING,
                    input_data={},
                    tries=0,
                    max_retries=3,
                    scheduled_for=fire,
                    created_at=fire,
                    updated_at=fire,
                )
            )

    add_task()
    with pytest.raises(IntegrityError):
        add_task()


def test_preview_lists_fires_without_writing(ready):
    fires = svc.preview("cron", "0 3 * * *", "Europe/Berlin", after=datetime(2026, 10, 24, tzinfo=UTC), count=3)
    assert fires == [
        datetime(2026, 10, 24, 1, 0, tzinfo=UTC),
        datetime(2026, 10, 25, 2, 0, tzinfo=UTC),  # after the autumn change: CET, UTC+1
        datetime(2026, 10, 26, 2, 0, tzinfo=UTC),
    ]
    with pytest.raises(InvalidInput, match="count"):
        svc.preview("interval", "5m", count=0)
    assert _count(ready) == 0


@pytest.mark.parametrize("zone", ["", "   ", "\t"])
def test_an_empty_zone_is_refused_everywhere_a_zone_is_taken(ready, zone):
    """Only None means "the default zone": an empty string is a caller's mistake (an unset
    variable in a script), refused like any unknown zone, with nothing written."""
    kept = svc.create_schedule(ready, svc.ScheduleSpec(ECHO_ID, "cron", "0 9 * * *", timezone="America/New_York"))
    attempts = [
        lambda: svc.create_schedule(
            ready, svc.ScheduleSpec(ECHO_ID, "cron", "@daily", timezone=zone), default_timezone="Europe/Berlin"
        ),
        lambda: svc.create_schedule(ready, svc.ScheduleSpec(ECHO_ID, "interval", "5m", timezone=zone)),
        lambda: svc.update_schedule(ready, kept.id, timezone=zone),
        lambda: svc.update_schedule(ready, kept.id, schedule_expr="0 10 * * *", timezone=zone),
        lambda: svc.preview("cron", "@daily", zone),
    ]
    for attempt in attempts:
        with pytest.raises(InvalidInput, match='Unknown timezone "": it is empty') as refused:
            attempt()
        assert "\n" not in refused.value.message
    assert _count(ready) == 1
    stored = svc.get_schedule(ready, kept.id)
    assert (stored.timezone, stored.schedule_expr, stored.updated_at) == (
        "America/New_York",
        "0 9 * * *",
        kept.updated_at,
    )


def test_placeholders_are_checked_for_the_schedules_type(ready):
    """Only a chain (type after) has an upstream run whose output can fill {{ upstream_output }}."""
    chained = '{"input": "Summarise: {{ upstream_output }}"}'
    assert parse_flow_input(chained, chained=True)["input"] == "Summarise: {{ upstream_output }}"
    assert svc.is_chain("after") and not svc.is_chain(ScheduleType.CRON)
    schedule = svc.create_schedule(
        ready, svc.ScheduleSpec(ECHO_ID, "interval", "5m", flow_input={"input": "kept {{ fire_date }}"})
    )
    with pytest.raises(InvalidInput, match="only for a schedule of type after"):
        svc.update_schedule(ready, schedule.id, flow_input=chained, schedule_expr="10m")
    stored = svc.get_schedule(ready, schedule.id)
    assert (stored.schedule_expr, stored.flow_params["input"]) == ("5m", "kept {{ fire_date }}")
