"""Cron in the schedule's own zone, pinned at explicit UTC instants around every kind of clock change."""

import time
from datetime import UTC, datetime, timedelta
from itertools import takewhile

import pytest

from automagik.scheduling import CronTrigger, InvalidSchedule, InvalidTimezone, describe_cron, load_zone, preview_fires

from .cron_oracle import cronsim_fires


def utc(*fields):
    return datetime(*fields, tzinfo=UTC)


def fires(expr, zone, after, count):
    return preview_fires(CronTrigger(expr, zone), after, count)


# --- Europe/Berlin: spring gap 2026-03-29 01:00 UTC, autumn fold 2026-10-25 01:00 UTC ----------


def test_berlin_daily_in_the_spring_gap_fires_when_the_clocks_jump():
    # 02:30 does not exist on 2026-03-29; the first real instant after it is 03:00 CEST = 01:00 UTC.
    assert fires("30 2 * * *", "Europe/Berlin", utc(2026, 3, 28), 3) == [
        utc(2026, 3, 28, 1, 30),  # 02:30 CET
        utc(2026, 3, 29, 1, 0),  # the jump
        utc(2026, 3, 30, 0, 30),  # 02:30 CEST
    ]


def test_berlin_daily_in_the_autumn_fold_fires_once():
    assert fires("30 2 * * *", "Europe/Berlin", utc(2026, 10, 24), 3) == [
        utc(2026, 10, 24, 0, 30),  # 02:30 CEST
        utc(2026, 10, 25, 0, 30),  # first 02:30 (CEST) only; not 01:30 UTC as well
        utc(2026, 10, 26, 1, 30),  # 02:30 CET
    ]


def test_berlin_daily_asked_between_the_two_occurrences_waits_for_tomorrow():
    trigger = CronTrigger("30 2 * * *", "Europe/Berlin")
    assert trigger.next_fire_after(utc(2026, 10, 25, 0, 30)) == utc(2026, 10, 26, 1, 30)
    assert trigger.next_fire_after(utc(2026, 10, 25, 1, 15)) == utc(2026, 10, 26, 1, 30)


def test_berlin_every_30_minutes_through_the_spring_gap():
    # 02:00 and 02:30 do not exist, and a wildcard job skips them: still 30 real minutes apart.
    assert fires("*/30 * * * *", "Europe/Berlin", utc(2026, 3, 28, 23, 50), 6) == [
        utc(2026, 3, 29, 0, 0),
        utc(2026, 3, 29, 0, 30),
        utc(2026, 3, 29, 1, 0),
        utc(2026, 3, 29, 1, 30),
        utc(2026, 3, 29, 2, 0),
        utc(2026, 3, 29, 2, 30),
    ]


def test_berlin_every_30_minutes_through_the_autumn_fold():
    # The minute field starts with "*", so the repeated 02:00-02:59 fires twice: real time keeps flowing.
    assert fires("*/30 * * * *", "Europe/Berlin", utc(2026, 10, 24, 23, 50), 6) == [
        utc(2026, 10, 25, 0, 0),  # 02:00 CEST
        utc(2026, 10, 25, 0, 30),  # 02:30 CEST
        utc(2026, 10, 25, 1, 0),  # 02:00 CET
        utc(2026, 10, 25, 1, 30),  # 02:30 CET
        utc(2026, 10, 25, 2, 0),  # 03:00 CET
        utc(2026, 10, 25, 2, 30),
    ]


def test_berlin_three_oclock_on_both_change_days():
    assert fires("0 3 * * *", "Europe/Berlin", utc(2026, 3, 28), 3) == [
        utc(2026, 3, 28, 2, 0),
        utc(2026, 3, 29, 1, 0),  # 03:00 CEST, which is also the jump instant: fires once
        utc(2026, 3, 30, 1, 0),
    ]
    assert fires("0 3 * * *", "Europe/Berlin", utc(2026, 10, 24), 3) == [
        utc(2026, 10, 24, 1, 0),
        utc(2026, 10, 25, 2, 0),
        utc(2026, 10, 26, 2, 0),
    ]


def test_hour_field_listing_all_hours_without_a_star_is_a_fixed_time_job():
    # "0-23" does not start with "*": the job runs once per wall time, so once in the repeated hour.
    assert fires("0 0-23 * * *", "Europe/Berlin", utc(2026, 10, 24, 23, 30), 4) == [
        utc(2026, 10, 25, 0),
        utc(2026, 10, 25, 2),
        utc(2026, 10, 25, 3),
        utc(2026, 10, 25, 4),
    ]
    # "@hourly" is "0 * * * *", a wildcard job: it runs at 02:00 CEST and again at 02:00 CET.
    assert fires("@hourly", "Europe/Berlin", utc(2026, 10, 24, 23, 30), 4) == [utc(2026, 10, 25, h) for h in range(4)]


def test_every_minute_through_the_fold_is_one_minute_apart():
    result = fires("* * * * *", "Europe/Berlin", utc(2026, 10, 24, 23, 0), 240)
    assert result == [utc(2026, 10, 24, 23, 0) + timedelta(minutes=k) for k in range(1, 241)]


# --- America/New_York: spring 2026-03-08 07:00 UTC, autumn 2026-11-01 06:00 UTC ------------------


def test_new_york_spring_gap_and_autumn_fold():
    assert fires("30 2 * * *", "America/New_York", utc(2026, 3, 7), 3) == [
        utc(2026, 3, 7, 7, 30),  # 02:30 EST
        utc(2026, 3, 8, 7, 0),  # skipped 02:30 → the jump, 03:00 EDT
        utc(2026, 3, 9, 6, 30),  # 02:30 EDT
    ]
    assert fires("30 1 * * *", "America/New_York", utc(2026, 10, 31), 3) == [
        utc(2026, 10, 31, 5, 30),
        utc(2026, 11, 1, 5, 30),  # first 01:30 (EDT) only
        utc(2026, 11, 2, 6, 30),
    ]


# --- Zones without DST ------------------------------------------------------------------------


@pytest.mark.parametrize(("zone", "expected_hour"), [("Asia/Tokyo", 0), ("UTC", 9)])
def test_zone_without_dst_fires_at_the_same_utc_time_every_day(zone, expected_hour):
    result = fires("0 9 * * *", zone, utc(2025, 12, 31, 12), 365)
    assert result == [utc(2026, 1, 1, expected_hour) + timedelta(days=k) for k in range(365)]


# --- Odd shifts -------------------------------------------------------------------------------


def test_lord_howe_half_hour_shifts():
    # Spring 2026-10-04: 02:00 LHST (+10:30) jumps to 02:30 LHDT (+11) at 2026-10-03 15:30 UTC.
    assert fires("15 2 * * *", "Australia/Lord_Howe", utc(2026, 10, 2), 3) == [
        utc(2026, 10, 2, 15, 45),
        utc(2026, 10, 3, 15, 30),  # skipped 02:15 → the jump
        utc(2026, 10, 4, 15, 15),
    ]
    # Autumn 2026-04-05: 02:00 LHDT falls back to 01:30 LHST at 2026-04-04 15:00 UTC.
    assert fires("*/15 * * * *", "Australia/Lord_Howe", utc(2026, 4, 4, 14, 0), 7) == [
        utc(2026, 4, 4, 14, 15),
        utc(2026, 4, 4, 14, 30),  # 01:30 LHDT
        utc(2026, 4, 4, 14, 45),
        utc(2026, 4, 4, 15, 0),  # 01:30 LHST, the repeat
        utc(2026, 4, 4, 15, 15),
        utc(2026, 4, 4, 15, 30),
        utc(2026, 4, 4, 15, 45),
    ]
    assert fires("45 1 * * *", "Australia/Lord_Howe", utc(2026, 4, 4), 2) == [
        utc(2026, 4, 4, 14, 45),  # first 01:45 only
        utc(2026, 4, 5, 15, 15),
    ]


def test_sao_paulo_midnight_that_did_not_exist_and_no_dst_today():
    # 2018-11-04: clocks went from 00:00 straight to 01:00 (-02), at 03:00 UTC.
    assert fires("0 0 * * *", "America/Sao_Paulo", utc(2018, 11, 3, 12), 2) == [
        utc(2018, 11, 4, 3, 0),
        utc(2018, 11, 5, 2, 0),
    ]
    # Brazil abolished DST in 2019: 09:00 is 12:00 UTC all year.
    assert fires("0 9 * * *", "America/Sao_Paulo", utc(2026, 1, 1), 365)[::73] == [
        utc(2026, 1, 1, 12) + timedelta(days=k) for k in range(0, 365, 73)
    ]


# --- Aliases, sparse expressions, edges -------------------------------------------------------


@pytest.mark.parametrize(
    ("alias", "fields"),
    [
        ("@daily", "0 0 * * *"),
        ("@midnight", "0 0 * * *"),
        ("@hourly", "0 * * * *"),
        ("@weekly", "0 0 * * 0"),
        ("@monthly", "0 0 1 * *"),
        ("@yearly", "0 0 1 1 *"),
        ("@annually", "0 0 1 1 *"),
        ("@DAILY", "0 0 * * *"),
    ],
)
def test_aliases_behave_like_their_five_fields(alias, fields):
    after = utc(2026, 3, 28, 12)
    assert fires(alias, "Europe/Berlin", after, 5) == fires(fields, "Europe/Berlin", after, 5)


def test_daily_and_hourly_in_berlin():
    assert fires("@daily", "Europe/Berlin", utc(2026, 3, 28), 2) == [utc(2026, 3, 28, 23), utc(2026, 3, 29, 22)]
    assert fires("@hourly", "Europe/Berlin", utc(2026, 3, 29, 0, 30), 3) == [
        utc(2026, 3, 29, 1),
        utc(2026, 3, 29, 2),
        utc(2026, 3, 29, 3),
    ]


def test_leap_day_only_is_fast():
    started = time.perf_counter()
    result = fires("0 0 29 2 *", "UTC", utc(2026, 1, 1), 25)
    assert time.perf_counter() - started < 0.5
    assert result[:3] == [utc(2028, 2, 29), utc(2032, 2, 29), utc(2036, 2, 29)]
    assert [f.year for f in result[17:20]] == [2096, 2104, 2108]  # 2100 is not a leap year


def test_next_fire_is_strictly_after_and_in_utc():
    trigger = CronTrigger("*/5 * * * *", "Asia/Tokyo")
    fire = utc(2026, 5, 1, 10, 5)
    assert trigger.next_fire_after(fire) == utc(2026, 5, 1, 10, 10)
    assert trigger.next_fire_after(fire - timedelta(microseconds=1)) == fire
    assert trigger.next_fire_after(fire).tzinfo is UTC


def test_never_again_past_the_end_of_the_calendar():
    assert CronTrigger("0 0 1 1 *", "UTC").next_fire_after(utc(9999, 6, 1)) is None


def test_naive_after_is_refused():
    with pytest.raises(ValueError):
        CronTrigger("* * * * *", "UTC").next_fire_after(datetime(2026, 1, 1))


@pytest.mark.parametrize(
    "expr",
    [
        "",
        "* * * *",
        "0 0 * * * *",
        "0 0 * * * * 2026",
        "@reboot",
        "@every 5m",
        "61 * * * *",
        "* 24 * * *",
        "0 0 30 2 *",
        "0 0 31 4 *",
        "R * * * *",
        "H * * * *",
        "*/0 * * * *",
        "a b c d e",
        "0 0 * * 8",
        None,
    ],
)
def test_invalid_expressions_are_refused_with_one_line_message(expr):
    with pytest.raises(InvalidSchedule) as caught:
        CronTrigger(expr, "UTC")
    message = str(caught.value)
    assert message.startswith("Invalid cron expression ")
    assert "\n" not in message and '"*/5 * * * *"' in message


def test_expression_that_never_fires_says_so():
    with pytest.raises(InvalidSchedule, match="never matches a real date"):
        CronTrigger("0 0 30 2 *", "Europe/Berlin")


@pytest.mark.parametrize(
    "name", ["Mars/Base", "", "../etc/passwd", "/etc/localtime", "Europe/", "Europe/Berlin ", None]
)
def test_unknown_timezones_are_refused(name):
    with pytest.raises(InvalidTimezone) as caught:
        load_zone(name)
    assert "use an IANA name like Europe/Berlin or UTC" in str(caught.value)
    with pytest.raises(InvalidTimezone):
        CronTrigger("* * * * *", name)


def test_unknown_timezone_message():
    with pytest.raises(InvalidTimezone) as caught:
        load_zone("Mars/Base")
    assert str(caught.value) == 'Unknown timezone "Mars/Base": use an IANA name like Europe/Berlin or UTC.'


@pytest.mark.parametrize(
    ("expr", "description"),
    [
        ("*/5 * * * *", "Every 5 minutes"),
        ("0 * * * *", "Every hour"),
        ("30 2 * * *", "At 02:30"),
        ("0 9 * * 1-5", "At 09:00, Monday through Friday"),
        ("@daily", "At 00:00"),
        ("@hourly", "Every hour"),
        ("5-5 * * * *", "At 5 minutes past the hour"),
        ("0 16 13 * fri", "At 16:00, on day 13 of the month, or on Friday"),
        ("0 16 */2 * sat", "At 16:00, every 2 days, only on Saturday"),
        ("  */5   * * * * ", "Every 5 minutes"),
        ("not cron", "not cron"),
        ("@reboot", "@reboot"),
    ],
)
def test_describe_cron(expr, description):
    assert describe_cron(expr) == description


# --- Cross-check: the scan window never misses or invents a fire near a transition -------------

TRANSITIONS = [
    ("Europe/Berlin", utc(2026, 3, 29, 1)),
    ("Europe/Berlin", utc(2026, 10, 25, 1)),
    ("America/St_Johns", utc(2026, 11, 1, 4, 30)),  # -02:30 → -03:30
    ("Australia/Lord_Howe", utc(2026, 4, 4, 15)),  # 30-minute fold
    ("Antarctica/Troll", utc(2026, 3, 29, 1)),  # +00 → +02: a two-hour gap
    ("Antarctica/Troll", utc(2026, 10, 25, 1)),  # +02 → +00: a two-hour fold
    ("Pacific/Apia", utc(2011, 12, 30, 10)),  # Samoa skipped 2011-12-30 entirely
]
EXPRESSIONS = ["*/15 * * * *", "30 2 * * *", "0 * * * *", "*/7 1-3 * * *", "0 0 * * *", "59 23 * * *", "0,30 0-2 * * *"]


@pytest.mark.parametrize(("zone", "transition"), TRANSITIONS)
def test_next_fire_after_agrees_with_cronsim_near_clock_changes(zone, transition):
    """Every fire of four days by cronsim, an independent implementation of Debian cron's rules
    (cron_oracle.py); asked every few minutes around the change, the trigger names the next one."""
    for expr in EXPRESSIONS:
        trigger = CronTrigger(expr, zone)
        end = transition + timedelta(days=2)
        fires = cronsim_fires(expr, zone, transition - timedelta(days=2))
        expected = list(takewhile(lambda fire: fire < end, fires))  # noqa: B023 - consumed at once
        for minutes in range(-300, 300, 7):
            after = transition + timedelta(minutes=minutes, seconds=minutes % 3)
            assert trigger.next_fire_after(after) == next(i for i in expected if i > after), (expr, after)
