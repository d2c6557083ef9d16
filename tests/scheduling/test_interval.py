"""Interval parsing and the zero-drift promise: every fire is exactly anchor + k*every."""

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from automagik.scheduling import (
    IntervalTrigger,
    InvalidSchedule,
    NaiveDatetimeError,
    format_interval,
    parse_interval,
    preview_fires,
)

ANCHOR = datetime(2026, 1, 1, 9, 12, 34, tzinfo=UTC)


@pytest.mark.parametrize(
    ("expr", "seconds"),
    [
        ("30s", 30),
        ("5m", 300),
        ("1h", 3600),
        ("2d", 172_800),
        ("1w", 604_800),
        ("1h30m", 5400),
        ("1d12h", 129_600),
        ("1h 30m", 5400),
        ("1H30M", 5400),
        ("  5m  ", 300),
        ("1w2d3h4m5s", 604_800 + 172_800 + 10_800 + 240 + 5),
        ("90m", 5400),
        ("1s", 1),
        ("366d", 366 * 86_400),
    ],
)
def test_parse_interval_accepts(expr, seconds):
    assert parse_interval(expr) == timedelta(seconds=seconds)


@pytest.mark.parametrize(
    ("expr", "hint"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("0s", "at least 1 second"),
        ("0h0m", "at least 1 second"),
        ("5", "use a number and a unit"),
        ("5x", "use a number and a unit"),
        ("-5m", "use a number and a unit"),
        ("1.5h", "use a number and a unit"),
        ("m5", "use a number and a unit"),
        ("5 m", "use a number and a unit"),
        ("1h30", "use a number and a unit"),
        ("5min", "use a number and a unit"),
        ("30m1h", "largest first"),
        ("1h1h", "largest first"),
        ("367d", "at most 366 days"),
        ("53w", "at most 366 days"),
        ("99999999999999999999999999h", "at most 366 days"),
        ("9" * 5000 + "s", "at most 366 days"),
        (None, "empty"),
    ],
)
def test_parse_interval_refuses_with_one_line_message(expr, hint):
    with pytest.raises(InvalidSchedule) as caught:
        parse_interval(expr)
    message = str(caught.value)
    assert hint in message
    assert "\n" not in message and len(message) < 200
    assert message.startswith("Invalid interval ")


def test_error_message_matches_house_style():
    with pytest.raises(InvalidSchedule) as caught:
        parse_interval("5x")
    assert str(caught.value) == (
        'Invalid interval "5x": use a number and a unit s, m, h, d or w, like "30s", "5m", "1h30m".'
    )


@pytest.mark.parametrize(
    ("expr", "canonical"),
    [("90m", "1h30m"), ("7d", "1w"), ("3600s", "1h"), ("86400s", "1d"), ("1d 12h", "1d12h"), ("61s", "1m1s")],
)
def test_format_interval_is_canonical_and_round_trips(expr, canonical):
    assert format_interval(parse_interval(expr)) == canonical
    assert parse_interval(canonical) == parse_interval(expr)


@pytest.mark.parametrize("every", [timedelta(0), timedelta(seconds=-5), timedelta(milliseconds=1500)])
def test_format_interval_refuses_non_positive_or_fractional(every):
    with pytest.raises(InvalidSchedule):
        format_interval(every)


def test_never_fires_at_the_anchor_itself():
    trigger = IntervalTrigger(timedelta(hours=1), ANCHOR)
    assert trigger.next_fire_after(ANCHOR) == ANCHOR + timedelta(hours=1)
    assert trigger.next_fire_after(ANCHOR - timedelta(days=3)) == ANCHOR + timedelta(hours=1)


def test_next_fire_is_strictly_after():
    trigger = IntervalTrigger(timedelta(minutes=7), ANCHOR)
    fire = ANCHOR + 5 * timedelta(minutes=7)
    assert trigger.next_fire_after(fire) == fire + timedelta(minutes=7)
    assert trigger.next_fire_after(fire - timedelta(microseconds=1)) == fire


@pytest.mark.parametrize(("every", "fires_in_30_days"), [(timedelta(hours=1), 720), (timedelta(minutes=7), 6171)])
def test_thirty_simulated_days_never_drift(every, fires_in_30_days):
    """A daemon that wakes late after each run still lands on anchor + k*every."""
    trigger = IntervalTrigger(every, ANCHOR)
    end = ANCHOR + timedelta(days=30)
    fires, woke_at = [], ANCHOR
    while (fire := trigger.next_fire_after(woke_at)) <= end:
        fires.append(fire)
        woke_at = fire + timedelta(seconds=(len(fires) * 37) % 59)  # runs finish a little late
    assert len(fires) == fires_in_30_days
    assert all(fire == ANCHOR + k * every for k, fire in enumerate(fires, start=1))
    assert all(fire.tzinfo is UTC for fire in fires)

    preview = preview_fires(trigger, ANCHOR, min(fires_in_30_days, 1000))
    assert len(preview) == min(fires_in_30_days, 1000)
    assert preview == fires[: len(preview)]


def test_no_drift_far_from_the_anchor():
    every = timedelta(minutes=7)
    trigger = IntervalTrigger(every, ANCHOR)
    far = ANCHOR + 1_000_000 * every
    assert trigger.next_fire_after(far) == ANCHOR + 1_000_001 * every
    assert trigger.next_fire_after(far + timedelta(microseconds=1)) == ANCHOR + 1_000_001 * every


def test_dst_never_changes_elapsed_time():
    """Anchored in Berlin local time just before the spring gap: still exactly one hour apart."""
    anchor = datetime(2026, 3, 29, 0, 30, tzinfo=ZoneInfo("Europe/Berlin"))  # 23:30 UTC the day before
    trigger = IntervalTrigger(timedelta(hours=1), anchor)
    assert trigger.anchor == datetime(2026, 3, 28, 23, 30, tzinfo=UTC)
    fires = preview_fires(trigger, anchor, 4)
    assert fires == [datetime(2026, 3, 29, h, 30, tzinfo=UTC) for h in range(4)]


def test_aware_non_utc_input_comes_back_in_utc():
    trigger = IntervalTrigger(timedelta(hours=1), ANCHOR)
    after = datetime(2026, 1, 1, 12, 0, tzinfo=timezone(timedelta(hours=5)))  # 07:00 UTC
    assert trigger.next_fire_after(after) == ANCHOR + timedelta(hours=1)
    assert trigger.next_fire_after(after).tzinfo is UTC


def test_naive_datetimes_are_refused():
    with pytest.raises(NaiveDatetimeError):
        IntervalTrigger(timedelta(hours=1), datetime(2026, 1, 1))
    with pytest.raises(ValueError):
        IntervalTrigger(timedelta(hours=1), ANCHOR).next_fire_after(datetime(2026, 1, 1))


def test_non_positive_every_is_refused():
    with pytest.raises(InvalidSchedule):
        IntervalTrigger(timedelta(0), ANCHOR)


def test_never_again_past_the_end_of_the_calendar():
    trigger = IntervalTrigger(timedelta(days=366), ANCHOR)
    assert trigger.next_fire_after(datetime(9999, 7, 4, 9, 12, 34, tzinfo=UTC)) is None
