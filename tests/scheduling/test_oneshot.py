"""One-shot triggers: stored and fired in UTC, exactly once; never in the past.

How a one-shot's typed time is read (the schedule's zone, DST gaps and folds) is the one parser
of typed times: tests/scheduling/test_typed_times.py.
"""

from datetime import UTC, datetime, timedelta, timezone

import pytest

from automagik.scheduling import InvalidSchedule, OneshotTrigger, ensure_in_future


def utc(*fields):
    return datetime(*fields, tzinfo=UTC)


def test_oneshot_fires_once():
    at = utc(2026, 12, 1, 8)
    trigger = OneshotTrigger(at)
    assert trigger.next_fire_after(at - timedelta(days=30)) == at
    assert trigger.next_fire_after(at - timedelta(microseconds=1)) == at
    assert trigger.next_fire_after(at) is None
    assert trigger.next_fire_after(at + timedelta(seconds=1)) is None


def test_oneshot_normalizes_to_utc_and_refuses_naive():
    trigger = OneshotTrigger(datetime(2026, 12, 1, 9, tzinfo=timezone(timedelta(hours=1))))
    assert trigger.at == utc(2026, 12, 1, 8) and trigger.at.tzinfo is UTC
    with pytest.raises(ValueError):
        OneshotTrigger(datetime(2026, 12, 1, 9))
    with pytest.raises(ValueError):
        trigger.next_fire_after(datetime(2026, 12, 1))


def test_ensure_in_future():
    now = utc(2026, 6, 1, 12)
    assert ensure_in_future(utc(2026, 6, 1, 12, 0, 1), now) == utc(2026, 6, 1, 12, 0, 1)
    for past in (now, utc(2026, 5, 1)):
        with pytest.raises(InvalidSchedule) as caught:
            ensure_in_future(past, now)
        assert "is in the past (it is now 2026-06-01 12:00:00 UTC)" in str(caught.value)
