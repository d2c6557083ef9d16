"""Time edges through the daemon's dispatch (issue 6, item 5).

Cron and interval schedules across daylight-saving changes in Europe/Berlin,
America/New_York, Australia/Lord_Howe (a 30-minute shift) and America/Sao_Paulo (DST until
2019, so 2018 dates); naive one-shot times read in TIMEZONE; 30 simulated days of an interval
schedule with zero drift. Everything goes through `automagik.runs.fires.dispatch_due`
called at explicit instants (the schedules are created under `frozen_clock`), not only the
triggers (tests/scheduling covers those): a fire must become a task at exactly its planned
UTC instant, never a microsecond early, and the schedule must advance from the planned
instant whatever the lateness of the tick.

The expected instants are written out by hand from the zones' rules, not computed with the
code under test. Every test runs on SQLite and PostgreSQL, except the CLI one (SQLite).

Sizes: the 30-day interval runs "37m" (1,167 fires) in CI and "7m" (6,171 fires) with
AUTOMAGIK_FAULTS_FULL=1.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from automagik.daemon.settings import DaemonSettings
from automagik.db.models import ScheduleStatus, Task, TaskStatus
from automagik.runs.fires import dispatch_due
from automagik.scheduling import parse_interval
from automagik.services import schedules as schedule_service
from automagik.services.schedules import ScheduleSpec
from tests.faults.conftest import size
from tests.services.helpers import ECHO_ID, synced

UTC = UTC
OPTIONS = DaemonSettings(missed_grace_seconds=60, catch_up_limit=100)
TICK_LATE = timedelta(milliseconds=250)
JUST_BEFORE = timedelta(microseconds=1)


def utc(*parts) -> datetime:
    return datetime(*parts, tzinfo=UTC)


@pytest.fixture
def ready(db, langflow, frozen_clock):
    synced(db, langflow)
    return db


def create(db, clock, at: datetime, kind: str, expr: str, zone: str | None = None, default_zone: str = "UTC"):
    clock.now = at
    return schedule_service.create_schedule(
        db, ScheduleSpec(ECHO_ID, kind, expr, timezone=zone), default_timezone=default_zone
    )


def finish_pending(db) -> None:
    """Let every queued run finish, so the next fire is never skipped as overlapping."""
    with db.write() as session:
        session.execute(update(Task).where(Task.status == TaskStatus.PENDING).values(status=TaskStatus.COMPLETED))


def fires_of(db, schedule_id: str) -> list[datetime]:
    with db.read() as session:
        return list(
            session.scalars(
                select(Task.scheduled_for).where(Task.schedule_id == schedule_id).order_by(Task.scheduled_for)
            )
        )


def drive(db, schedule_id: str, until: datetime, lateness=lambda n: TICK_LATE, probe_every: int = 1) -> list[datetime]:
    """Tick the dispatcher at each planned fire up to `until`, each tick `lateness(n)` late;
    every `probe_every`-th fire is first probed a microsecond early (it must not fire yet)."""
    n = 0
    while True:
        planned = schedule_service.get_schedule(db, schedule_id).next_run_at
        if planned is None or planned > until:
            break
        if n % probe_every == 0:
            early = dispatch_due(db, planned - JUST_BEFORE, OPTIONS, "time-edges")
            assert early.fired == 0 and early.schedules == 0, f"fired before its planned instant {planned}"
        result = dispatch_due(db, planned + lateness(n), OPTIONS, "time-edges")
        assert (result.fired, result.skipped) == (1, 0), (planned, result)
        finish_pending(db)
        n += 1
    return fires_of(db, schedule_id)


# -- cron across DST --------------------------------------------------------------------------------

CRON_CASES = [
    # Europe/Berlin 2026: 02:00 CET -> 03:00 CEST on Mar 29 (01:00 UTC); 03:00 CEST -> 02:00 CET on Oct 25 (01:00 UTC).
    pytest.param(
        "Europe/Berlin",
        "30 2 * * *",
        utc(2026, 3, 27, 12),
        utc(2026, 3, 30, 12),
        [utc(2026, 3, 28, 1, 30), utc(2026, 3, 29, 1, 0), utc(2026, 3, 30, 0, 30)],
        id="berlin-spring-daily-gap",
    ),
    pytest.param(
        "Europe/Berlin",
        "30 2 * * *",
        utc(2026, 10, 23, 12),
        utc(2026, 10, 26, 12),
        [utc(2026, 10, 24, 0, 30), utc(2026, 10, 25, 0, 30), utc(2026, 10, 26, 1, 30)],
        id="berlin-fall-daily-once",
    ),
    pytest.param(
        "Europe/Berlin",
        "*/30 * * * *",
        utc(2026, 3, 28, 23, 10),
        utc(2026, 3, 29, 2, 0),
        [
            utc(2026, 3, 28, 23, 30),
            utc(2026, 3, 29, 0, 0),
            utc(2026, 3, 29, 0, 30),
            utc(2026, 3, 29, 1, 0),
            utc(2026, 3, 29, 1, 30),
            utc(2026, 3, 29, 2, 0),
        ],
        id="berlin-spring-30min",
    ),
    pytest.param(
        "Europe/Berlin",
        "*/30 * * * *",
        utc(2026, 10, 24, 23, 10),
        utc(2026, 10, 25, 2, 0),
        [
            utc(2026, 10, 24, 23, 30),
            utc(2026, 10, 25, 0, 0),
            utc(2026, 10, 25, 0, 30),
            utc(2026, 10, 25, 1, 0),
            utc(2026, 10, 25, 1, 30),
            utc(2026, 10, 25, 2, 0),
        ],
        id="berlin-fall-30min",
    ),
    # America/New_York 2026: 02:00 EST -> 03:00 EDT on Mar 8 (07:00 UTC); 02:00 EDT -> 01:00 EST on Nov 1 (06:00 UTC).
    pytest.param(
        "America/New_York",
        "30 2 * * *",
        utc(2026, 3, 6, 12),
        utc(2026, 3, 9, 12),
        [utc(2026, 3, 7, 7, 30), utc(2026, 3, 8, 7, 0), utc(2026, 3, 9, 6, 30)],
        id="newyork-spring-daily-gap",
    ),
    pytest.param(
        "America/New_York",
        "30 1 * * *",
        utc(2026, 10, 30, 12),
        utc(2026, 11, 2, 12),
        [utc(2026, 10, 31, 5, 30), utc(2026, 11, 1, 5, 30), utc(2026, 11, 2, 6, 30)],
        id="newyork-fall-daily-once",
    ),
    pytest.param(
        "America/New_York",
        "0 * * * *",
        utc(2026, 3, 8, 5, 30),
        utc(2026, 3, 8, 9, 0),
        [utc(2026, 3, 8, 6), utc(2026, 3, 8, 7), utc(2026, 3, 8, 8), utc(2026, 3, 8, 9)],
        id="newyork-spring-hourly",
    ),
    pytest.param(
        "America/New_York",
        "0 * * * *",
        utc(2026, 11, 1, 3, 30),
        utc(2026, 11, 1, 8, 0),
        [utc(2026, 11, 1, 4), utc(2026, 11, 1, 5), utc(2026, 11, 1, 6), utc(2026, 11, 1, 7), utc(2026, 11, 1, 8)],
        id="newyork-fall-hourly",
    ),
    # Australia/Lord_Howe 2026, a 30-minute shift: 02:00 LHST (+10:30) -> 02:30 LHDT (+11) on Oct 4
    # (Oct 3 15:30 UTC); 02:00 LHDT -> 01:30 LHST on Apr 5 (Apr 4 15:00 UTC).
    pytest.param(
        "Australia/Lord_Howe",
        "15 2 * * *",
        utc(2026, 10, 1, 12),
        utc(2026, 10, 4, 18),
        [utc(2026, 10, 1, 15, 45), utc(2026, 10, 2, 15, 45), utc(2026, 10, 3, 15, 30), utc(2026, 10, 4, 15, 15)],
        id="lordhowe-spring-daily-gap",
    ),
    pytest.param(
        "Australia/Lord_Howe",
        "*/15 * * * *",
        utc(2026, 10, 3, 14, 50),
        utc(2026, 10, 3, 16, 0),
        [
            utc(2026, 10, 3, 15, 0),
            utc(2026, 10, 3, 15, 15),
            utc(2026, 10, 3, 15, 30),
            utc(2026, 10, 3, 15, 45),
            utc(2026, 10, 3, 16, 0),
        ],
        id="lordhowe-spring-15min",
    ),
    pytest.param(
        "Australia/Lord_Howe",
        "45 1 * * *",
        utc(2026, 4, 2, 12),
        utc(2026, 4, 5, 18),
        [utc(2026, 4, 2, 14, 45), utc(2026, 4, 3, 14, 45), utc(2026, 4, 4, 14, 45), utc(2026, 4, 5, 15, 15)],
        id="lordhowe-fall-daily-once",
    ),
    pytest.param(
        "Australia/Lord_Howe",
        "*/15 * * * *",
        utc(2026, 4, 4, 14, 5),
        utc(2026, 4, 4, 15, 30),
        [
            utc(2026, 4, 4, 14, 15),
            utc(2026, 4, 4, 14, 30),
            utc(2026, 4, 4, 14, 45),
            utc(2026, 4, 4, 15, 0),
            utc(2026, 4, 4, 15, 15),
            utc(2026, 4, 4, 15, 30),
        ],
        id="lordhowe-fall-15min",
    ),
    # America/Sao_Paulo 2018 (DST until 2019), changing at midnight: 00:00 -03 -> 01:00 -02 on
    # Nov 4 (03:00 UTC), so midnight does not exist that day; 00:00 -02 -> 23:00 -03 on Feb 18 (02:00 UTC).
    pytest.param(
        "America/Sao_Paulo",
        "@daily",
        utc(2018, 11, 2, 12),
        utc(2018, 11, 5, 12),
        [utc(2018, 11, 3, 3), utc(2018, 11, 4, 3), utc(2018, 11, 5, 2)],
        id="saopaulo-2018-spring-midnight-gap",
    ),
    pytest.param(
        "America/Sao_Paulo",
        "30 23 * * *",
        utc(2018, 2, 16, 12),
        utc(2018, 2, 19, 12),
        [utc(2018, 2, 17, 1, 30), utc(2018, 2, 18, 1, 30), utc(2018, 2, 19, 2, 30)],
        id="saopaulo-2018-fall-once",
    ),
    pytest.param(
        "America/Sao_Paulo",
        "0 * * * *",
        utc(2018, 2, 17, 23, 30),
        utc(2018, 2, 18, 4, 0),
        [utc(2018, 2, 18, 0), utc(2018, 2, 18, 1), utc(2018, 2, 18, 2), utc(2018, 2, 18, 3), utc(2018, 2, 18, 4)],
        id="saopaulo-2018-fall-hourly",
    ),
    pytest.param(
        "America/Sao_Paulo",
        "@daily",
        utc(2019, 11, 2, 12),
        utc(2019, 11, 5, 12),
        [utc(2019, 11, 3, 3), utc(2019, 11, 4, 3), utc(2019, 11, 5, 3)],
        id="saopaulo-2019-no-dst-any-more",
    ),
]


@pytest.mark.parametrize("zone, expr, created, until, expected", CRON_CASES)
def test_cron_across_dst_fires_once_per_planned_instant(ready, frozen_clock, zone, expr, created, until, expected):
    schedule = create(ready, frozen_clock, created, "cron", expr, zone)
    assert schedule.next_run_at == expected[0]
    fires = drive(ready, schedule.id, until)
    assert fires == expected
    stored = schedule_service.get_schedule(ready, schedule.id)
    assert stored.status is ScheduleStatus.ACTIVE and stored.next_run_at > until
    assert stored.last_run_at == expected[-1]


# -- intervals across DST ---------------------------------------------------------------------------

INTERVAL_CASES = [
    pytest.param("Europe/Berlin", "1h", utc(2026, 3, 28, 21, 17, 5), 30, id="berlin-spring-1h"),
    pytest.param("Europe/Berlin", "1h", utc(2026, 10, 24, 21, 17, 5), 30, id="berlin-fall-1h"),
    pytest.param("America/New_York", "25m", utc(2026, 3, 8, 4, 0, 59), 20, id="newyork-spring-25m"),
    pytest.param("America/New_York", "1d", utc(2026, 10, 29, 12, 0, 0), 5, id="newyork-fall-1d"),
    pytest.param("Australia/Lord_Howe", "45m", utc(2026, 10, 3, 12, 7, 0), 12, id="lordhowe-spring-45m"),
    pytest.param("Australia/Lord_Howe", "30m", utc(2026, 4, 4, 13, 0, 0), 8, id="lordhowe-fall-30m"),
    pytest.param("America/Sao_Paulo", "1d", utc(2018, 11, 2, 2, 30, 0), 4, id="saopaulo-2018-spring-1d"),
    pytest.param("America/Sao_Paulo", "1h30m", utc(2018, 2, 17, 20, 0, 0), 8, id="saopaulo-2018-fall-1h30m"),
]


@pytest.mark.parametrize("zone, every, created, count", INTERVAL_CASES)
def test_interval_across_dst_is_elapsed_time(ready, frozen_clock, zone, every, created, count):
    """Intervals ignore daylight saving: fires are exactly anchor + k x every in UTC, even
    through the night the schedule's zone changes its clocks (the zone is stored, unused)."""
    schedule = create(ready, frozen_clock, created, "interval", every, zone)
    step = parse_interval(every)
    expected = [created + k * step for k in range(1, count + 1)]
    assert schedule.anchor_at == created
    assert drive(ready, schedule.id, expected[-1]) == expected
    assert schedule_service.get_schedule(ready, schedule.id).next_run_at == created + (count + 1) * step


# -- naive one-shot times -------------------------------------------------------------------------------

ONESHOT_CASES = [
    # (TIMEZONE, --timezone, typed, created, expected UTC instant)
    pytest.param(
        "Europe/Berlin", None, "2026-03-29 03:30", utc(2026, 3, 1), utc(2026, 3, 29, 1, 30), id="berlin-after-the-jump"
    ),
    pytest.param(
        "Europe/Berlin", None, "2026-10-25 02:30", utc(2026, 10, 1), utc(2026, 10, 25, 0, 30), id="berlin-fold-first"
    ),
    pytest.param(
        "America/New_York",
        None,
        "2026-11-01T01:30:00",
        utc(2026, 10, 1),
        utc(2026, 11, 1, 5, 30),
        id="newyork-fold-first",
    ),
    pytest.param(
        "America/New_York", None, "2026-07-04", utc(2026, 6, 1), utc(2026, 7, 4, 4, 0), id="newyork-date-alone"
    ),
    pytest.param(
        "Australia/Lord_Howe",
        None,
        "2026-04-05 01:45",
        utc(2026, 4, 1),
        utc(2026, 4, 4, 14, 45),
        id="lordhowe-fold-first",
    ),
    pytest.param(
        "Australia/Lord_Howe",
        None,
        "2026-10-04 02:45",
        utc(2026, 10, 1),
        utc(2026, 10, 3, 15, 45),
        id="lordhowe-after-gap",
    ),
    pytest.param(
        "America/Sao_Paulo",
        None,
        "2018-11-04 01:00",
        utc(2018, 11, 1),
        utc(2018, 11, 4, 3, 0),
        id="saopaulo-2018-first-hour",
    ),
    pytest.param(
        "America/Sao_Paulo",
        None,
        "2018-02-17 23:30",
        utc(2018, 2, 1),
        utc(2018, 2, 18, 1, 30),
        id="saopaulo-2018-fold-first",
    ),
    pytest.param(
        "UTC",
        "Australia/Lord_Howe",
        "2026-07-01 12:00",
        utc(2026, 6, 1),
        utc(2026, 7, 1, 1, 30),
        id="timezone-option-wins",
    ),
    pytest.param(
        "Australia/Lord_Howe",
        None,
        "2026-07-01T12:00:00+02:00",
        utc(2026, 6, 1),
        utc(2026, 7, 1, 10, 0),
        id="offset-wins",
    ),
]


@pytest.mark.parametrize("default_zone, zone, typed, created, expected", ONESHOT_CASES)
def test_naive_oneshot_is_read_in_timezone_and_fires_there(
    ready, frozen_clock, default_zone, zone, typed, created, expected
):
    schedule = create(ready, frozen_clock, created, "oneshot", typed, zone, default_zone=default_zone)
    assert schedule.next_run_at == expected
    assert schedule.timezone == (zone or default_zone)
    assert dispatch_due(ready, expected - JUST_BEFORE, OPTIONS, "time-edges").fired == 0
    assert dispatch_due(ready, expected + TICK_LATE, OPTIONS, "time-edges").fired == 1
    assert dispatch_due(ready, expected + timedelta(days=400), OPTIONS, "time-edges").fired == 0
    assert fires_of(ready, schedule.id) == [expected]
    stored = schedule_service.get_schedule(ready, schedule.id)
    assert stored.status is ScheduleStatus.COMPLETED and stored.next_run_at is None


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_cli_reads_a_naive_oneshot_in_timezone(cli_in_process, db, langflow):
    """The CLI's default zone is TIMEZONE; --timezone overrides it (real clock: dates years ahead)."""
    cli = cli_in_process
    synced(db, langflow)
    from tests.cli.conftest import run_all

    cases = [
        ("America/New_York", [], "2031-07-01 09:00", "2031-07-01T13:00:00+00:00"),
        ("America/New_York", [], "2031-12-01 09:00", "2031-12-01T14:00:00+00:00"),
        ("Australia/Lord_Howe", [], "2031-12-01 09:00", "2031-11-30T22:00:00+00:00"),
        ("Australia/Lord_Howe", [], "2031-06-01 09:00", "2031-05-31T22:30:00+00:00"),
        ("UTC", ["--timezone", "America/Sao_Paulo"], "2031-01-10 09:00", "2031-01-10T12:00:00+00:00"),
    ]
    results = run_all(
        cli,
        *(
            (
                ("schedules", "create", ECHO_ID, "--type", "oneshot", "--expr", typed, "--json", *extra),
                {"TIMEZONE": zone},
            )
            for zone, extra, typed, _ in cases
        ),
    )
    for (zone, extra, typed, expected), result in zip(cases, results, strict=False):
        assert result.returncode == 0 and result.stderr == "", result.output
        row = json.loads(result.stdout)
        assert row["next_run_at"] == expected, (zone, extra, typed, row)
        assert row["timezone"] == (extra[1] if extra else zone)


# -- 30 days, zero drift ------------------------------------------------------------------------------

THIRTY_DAYS = timedelta(days=30)


def test_thirty_days_of_an_interval_never_drift(ready, frozen_clock):
    """Every tick late by 0-5 s (seeded), across Berlin's fall-back night: after 30 days the
    fires are still exactly anchor + k x every, one task each, and the next fire is on the grid."""
    every_text = size("37m", "7m")
    every = parse_interval(every_text)
    created = utc(2026, 10, 10, 8, 3, 17)
    schedule = create(ready, frozen_clock, created, "interval", every_text, "Europe/Berlin")
    rng = random.Random(20261025)
    end = created + THIRTY_DAYS
    fires = drive(
        ready, schedule.id, end, lateness=lambda n: timedelta(milliseconds=rng.randint(0, 5000)), probe_every=97
    )
    count = THIRTY_DAYS // every
    assert len(fires) == count
    assert fires == [created + k * every for k in range(1, count + 1)]
    stored = schedule_service.get_schedule(ready, schedule.id)
    assert stored.next_run_at == created + (count + 1) * every
    assert stored.last_run_at == fires[-1]
    with ready.read() as session:
        assert (
            session.scalar(select(Task.id).where(Task.schedule_id == schedule.id, Task.status != TaskStatus.COMPLETED))
            is None
        )


def test_thirty_days_of_a_daily_cron_follow_the_wall_clock(ready, frozen_clock):
    """09:00 Berlin every day for 30 days: 07:00 UTC in summer time, 08:00 UTC from Oct 25
    (the clocks go back at 03:00 that morning), each tick up to 59 s late."""
    created = utc(2026, 10, 10, 12)
    schedule = create(ready, frozen_clock, created, "cron", "0 9 * * *", "Europe/Berlin")
    rng = random.Random(9)
    fires = drive(
        ready, schedule.id, created + THIRTY_DAYS, lateness=lambda n: timedelta(milliseconds=rng.randint(0, 59_000))
    )
    expected = (
        [utc(2026, 10, day, 7) for day in range(11, 25)]
        + [utc(2026, 10, day, 8) for day in range(25, 32)]
        + [utc(2026, 11, day, 8) for day in range(1, 10)]
    )
    assert fires == expected
