"""A range's fires (backfill) found by one walk are exactly those next_fire_after gives one by one,
across DST changes in both directions, in zones with and without DST."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from automagik.scheduling import CronTrigger, IntervalTrigger, OneshotTrigger, fires_between

UTC = UTC


def one_by_one(trigger, start, end):
    fires, fire = [], trigger.next_fire_after(start - timedelta(microseconds=1))
    while fire is not None and fire < end:
        fires.append(fire)
        fire = trigger.next_fire_after(fire)
    return fires


@pytest.mark.parametrize(
    "expr", ["0 * * * *", "30 2 * * *", "*/20 1-3 * * *", "15 */2 * * *", "0 9 * * 1-5", "@daily", "0 0-23 * * *"]
)
@pytest.mark.parametrize(
    "zone, start",
    [
        ("Europe/Berlin", datetime(2026, 3, 27, tzinfo=UTC)),  # spring forward on the 29th
        ("Europe/Berlin", datetime(2026, 10, 23, tzinfo=UTC)),  # fall back on the 25th
        ("Australia/Lord_Howe", datetime(2026, 4, 3, tzinfo=UTC)),  # a half-hour change
        ("Asia/Tokyo", datetime(2026, 1, 1, tzinfo=UTC)),  # no DST
    ],
)
def test_a_cron_range_walk_matches_next_fire_after(expr, zone, start):
    trigger = CronTrigger(expr, zone)
    end = start + timedelta(days=5, hours=7)
    expected = one_by_one(trigger, start, end)
    assert fires_between(trigger, start, end, 10_000) == expected
    assert fires_between(trigger, start, end, 3) == expected[:4]  # cap + 1: "more than the cap"


def test_the_range_includes_its_start_and_excludes_its_end():
    trigger = CronTrigger("0 * * * *", "UTC")
    start = datetime(2026, 1, 1, 5, tzinfo=UTC)
    assert fires_between(trigger, start, start + timedelta(hours=3), 100) == [
        start + timedelta(hours=h) for h in range(3)
    ]
    every = IntervalTrigger(timedelta(hours=1), datetime(2026, 1, 1, tzinfo=UTC))
    assert fires_between(every, start, start + timedelta(hours=3), 100) == [
        start + timedelta(hours=h) for h in range(3)
    ]
    once = OneshotTrigger(start)
    assert fires_between(once, start, start + timedelta(hours=3), 100) == [start]
    assert fires_between(once, start + timedelta(seconds=1), start + timedelta(hours=3), 100) == []
