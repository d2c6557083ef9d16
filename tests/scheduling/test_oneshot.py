"""One-shot times: typed in the schedule's zone, stored and fired in UTC, exactly once."""

from datetime import UTC, datetime, timedelta, timezone

import pytest

from automagik.scheduling import InvalidSchedule, InvalidTimezone, OneshotTrigger, ensure_in_future, parse_oneshot


def utc(*fields):
    return datetime(*fields, tzinfo=UTC)


@pytest.mark.parametrize(
    ("expr", "zone", "expected"),
    [
        ("2026-12-01T09:00", "Europe/Berlin", utc(2026, 12, 1, 8)),
        ("2026-12-01 09:00", "Europe/Berlin", utc(2026, 12, 1, 8)),
        ("2026-12-01 09:00:30", "Europe/Berlin", utc(2026, 12, 1, 8, 0, 30)),
        ("2026-07-01 09:00", "Europe/Berlin", utc(2026, 7, 1, 7)),  # summer time
        ("2026-12-01", "Europe/Berlin", utc(2026, 11, 30, 23)),  # a date alone is midnight
        ("2026-12-01T08:00:00Z", "Europe/Berlin", utc(2026, 12, 1, 8)),  # explicit zone wins
        ("2026-12-01T09:00:00+05:30", "UTC", utc(2026, 12, 1, 3, 30)),
        ("  2026-12-01 09:00  ", "UTC", utc(2026, 12, 1, 9)),
        ("2026-12-01 09:00", "Asia/Tokyo", utc(2026, 12, 1, 0)),
    ],
)
def test_parse_oneshot(expr, zone, expected):
    parsed = parse_oneshot(expr, zone)
    assert parsed == expected
    assert parsed.tzinfo is UTC


def test_ambiguous_local_time_means_the_first_occurrence():
    # 02:30 happens twice in Berlin on 2026-10-25: first at 00:30 UTC (CEST), again at 01:30 UTC.
    assert parse_oneshot("2026-10-25 02:30", "Europe/Berlin") == utc(2026, 10, 25, 0, 30)
    assert parse_oneshot("2026-11-01 01:30", "America/New_York") == utc(2026, 11, 1, 5, 30)


def test_nonexistent_local_time_is_refused():
    with pytest.raises(InvalidSchedule) as caught:
        parse_oneshot("2026-03-29 02:30", "Europe/Berlin")
    message = str(caught.value)
    assert "does not exist in Europe/Berlin" in message and "\n" not in message
    # With an explicit offset there is nothing to guess.
    assert parse_oneshot("2026-03-29 02:30+01:00", "Europe/Berlin") == utc(2026, 3, 29, 1, 30)


@pytest.mark.parametrize(
    "expr",
    ["", "   ", "tomorrow", "2026-13-01", "2026-02-30 10:00", "2026-12-01 25:00", "12/01/2026", "in 5 minutes",
     "2026-12-01T09:00+25:00", "0001-01-01T00:00+01:00", None],
)
def test_garbage_is_refused_with_one_line_message(expr):
    with pytest.raises(InvalidSchedule) as caught:
        parse_oneshot(expr, "UTC")
    message = str(caught.value)
    assert message.startswith("Invalid time ") and "\n" not in message


def test_unknown_zone_is_refused_even_with_an_offset():
    with pytest.raises(InvalidTimezone):
        parse_oneshot("2026-12-01T08:00:00Z", "Mars/Base")


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
