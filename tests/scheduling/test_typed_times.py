"""The one parser of typed times: the same text names the same instant for every caller.

Pinned at explicit UTC instants written out by hand from the zones' rules: Europe/Berlin
(02:00 -> 03:00 on 2026-03-29, 03:00 -> 02:00 on 2026-10-25), America/New_York (2026-03-08,
2026-11-01), Australia/Lord_Howe (a 30-minute shift), America/Sao_Paulo 2018 (changes at
midnight) and zones without daylight saving.
"""

from datetime import UTC, datetime

import pytest

from automagik.scheduling import InvalidTime, InvalidTimezone, normalize_expr, parse_typed_time
from automagik.services.errors import InvalidInput
from automagik.services.time_input import parse_time_input


def utc(*fields):
    return datetime(*fields, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "zone", "expected"),
    [
        ("2026-12-01T09:00", "Europe/Berlin", utc(2026, 12, 1, 8)),
        ("2026-12-01 09:00", "Europe/Berlin", utc(2026, 12, 1, 8)),
        ("2026-12-01 09:00:30", "Europe/Berlin", utc(2026, 12, 1, 8, 0, 30)),
        ("2026-07-01 09:00", "Europe/Berlin", utc(2026, 7, 1, 7)),  # summer time
        ("2026-12-01", "Europe/Berlin", utc(2026, 11, 30, 23)),  # a date alone is midnight
        ("  2026-12-01 09:00  ", "UTC", utc(2026, 12, 1, 9)),
        ("2026-12-01 09:00", "Asia/Tokyo", utc(2026, 12, 1, 0)),
    ],
)
def test_a_time_without_offset_is_read_on_the_wall_clock_of_the_zone(text, zone, expected):
    parsed = parse_typed_time(text, zone)
    assert parsed == expected and parsed.tzinfo is UTC


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-12-01T08:00:00Z", utc(2026, 12, 1, 8)),
        ("2026-12-01T08:00:00z", utc(2026, 12, 1, 8)),
        ("2026-12-01T09:00:00+05:30", utc(2026, 12, 1, 3, 30)),
        ("2026-12-01 05:00-03:00", utc(2026, 12, 1, 8)),
        # Inside Berlin's gap and fold an offset says which instant: taken as is, never refused.
        ("2026-03-29T02:30+01:00", utc(2026, 3, 29, 1, 30)),
        ("2026-03-29T02:30Z", utc(2026, 3, 29, 2, 30)),
        ("2026-10-25T02:30+02:00", utc(2026, 10, 25, 0, 30)),
        ("2026-10-25T02:30+01:00", utc(2026, 10, 25, 1, 30)),
    ],
)
def test_an_offset_or_z_is_taken_as_is_whatever_the_zone(text, expected):
    assert parse_typed_time(text, "Europe/Berlin") == expected
    assert parse_typed_time(text, "Pacific/Kiritimati") == expected


@pytest.mark.parametrize(
    ("text", "zone", "jump"),
    [
        ("2026-03-29T02:30", "Europe/Berlin", "02:00 to 03:00"),
        ("2026-03-29 02:00", "Europe/Berlin", "02:00 to 03:00"),  # the first skipped minute
        ("2026-03-29 02:59:59", "Europe/Berlin", "02:00 to 03:00"),
        ("2026-03-08 02:30", "America/New_York", "02:00 to 03:00"),
        ("2026-10-04 02:15", "Australia/Lord_Howe", "02:00 to 02:30"),
        ("2018-11-04", "America/Sao_Paulo", "00:00 to 01:00"),  # midnight itself was skipped
    ],
)
def test_a_local_time_the_clocks_skip_is_refused_naming_the_gap(text, zone, jump):
    with pytest.raises(InvalidTime) as refused:
        parse_typed_time(text, zone)
    assert str(refused.value) == (
        f'Invalid time "{text}": it does not exist in {zone} (the clocks jump from {jump}): '
        "pick a time outside the gap or give an offset."
    )


@pytest.mark.parametrize(
    ("text", "zone", "expected"),
    [
        ("2026-03-29 01:59:59", "Europe/Berlin", utc(2026, 3, 29, 0, 59, 59)),  # the last CET second
        ("2026-03-29 03:00", "Europe/Berlin", utc(2026, 3, 29, 1)),  # the first CEST minute
        ("2026-10-04 02:30", "Australia/Lord_Howe", utc(2026, 10, 3, 15, 30)),  # the first minute after the jump
        ("2018-11-04 01:00", "America/Sao_Paulo", utc(2018, 11, 4, 3)),
    ],
)
def test_the_times_either_side_of_a_gap_are_taken(text, zone, expected):
    assert parse_typed_time(text, zone) == expected


@pytest.mark.parametrize(
    ("text", "zone", "first", "second_offset", "second"),
    [
        ("2026-10-25 02:30", "Europe/Berlin", utc(2026, 10, 25, 0, 30), "+01:00", utc(2026, 10, 25, 1, 30)),
        ("2026-10-25 02:00", "Europe/Berlin", utc(2026, 10, 25, 0), "+01:00", utc(2026, 10, 25, 1)),
        ("2026-11-01 01:30", "America/New_York", utc(2026, 11, 1, 5, 30), "-05:00", utc(2026, 11, 1, 6, 30)),
        ("2026-04-05 01:45", "Australia/Lord_Howe", utc(2026, 4, 4, 14, 45), "+10:30", utc(2026, 4, 4, 15, 15)),
        ("2018-02-17 23:30", "America/Sao_Paulo", utc(2018, 2, 18, 1, 30), "-03:00", utc(2018, 2, 18, 2, 30)),
    ],
)
def test_a_local_time_the_clocks_show_twice_means_its_first_occurrence(text, zone, first, second_offset, second):
    """The rule a cron job at that wall time follows too; an offset picks the second one."""
    assert parse_typed_time(text, zone) == first
    assert parse_typed_time(text + second_offset, zone) == second


@pytest.mark.parametrize("zone", ["UTC", "Asia/Tokyo", "Asia/Kolkata", "Etc/GMT+5"])
def test_a_zone_without_daylight_saving_has_neither_gap_nor_fold(zone):
    offsets = {"UTC": 0, "Asia/Tokyo": 9 * 60, "Asia/Kolkata": 5 * 60 + 30, "Etc/GMT+5": -5 * 60}
    for wall in ("2026-03-29 02:30", "2026-10-25 02:30", "2026-03-08 02:30", "2026-11-01 01:30"):
        parsed = parse_typed_time(wall, zone)
        naive = datetime.fromisoformat(wall)
        assert (naive - parsed.replace(tzinfo=None)).total_seconds() == offsets[zone] * 60


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "it is empty"),
        ("   ", "it is empty"),
        (None, "give a date and time as text"),
        (20261201, "give a date and time as text"),
        ("tomorrow", "it is not an ISO 8601 time"),
        ("in 5 minutes", "it is not an ISO 8601 time"),
        ("12/01/2026", "it is not an ISO 8601 time"),
        ("2026-13-01", "it is not an ISO 8601 time"),
        ("2026-02-30 10:00", "it is not an ISO 8601 time"),
        ("2026-12-01 25:00", "it is not an ISO 8601 time"),
        ("2026-12-01T09:00+25:00", "it is not an ISO 8601 time"),
        ("2026-12-01\nT09:00", "it is not an ISO 8601 time"),
        ("0001-01-01T00:00+01:00", "the year must be from 1970 to 9998"),
        ("9999-12-31T23:59:59-10:00", "the year must be from 1970 to 9998"),
        ("0001-01-01T00:30", "the year must be from 1970 to 9998"),  # naive, in Berlin: before year 1 in UTC
        ("0001-01-01T00:00Z", "the year must be from 1970 to 9998"),
        ("1969-12-31", "the year must be from 1970 to 9998"),
        ("9999-01-01", "the year must be from 1970 to 9998"),
    ],
)
def test_text_that_names_no_instant_is_refused_with_one_line(text, reason):
    with pytest.raises(InvalidTime) as refused:
        parse_typed_time(text, "Europe/Berlin")
    message = str(refused.value)
    assert message.startswith("Invalid time ") and reason in message and "\n" not in message


@pytest.mark.parametrize("zone", ["Mars/Base", "", " UTC", "Europe/", "../../etc/passwd", None])
def test_the_zone_is_checked_first_even_when_the_text_has_an_offset(zone):
    for text in ("2026-12-01T08:00:00Z", "2026-12-01 09:00", "tomorrow"):
        with pytest.raises(InvalidTimezone):
            parse_typed_time(text, zone)


def test_every_caller_reads_a_time_the_same_way():
    """A oneshot's stored form, a typed field and the parser agree, on answers and on refusals."""
    for text in ("2026-10-25 02:30", "2026-12-01", "2026-03-29T02:30+01:00"):
        instant = parse_typed_time(text, "Europe/Berlin")
        assert normalize_expr("oneshot", text, "Europe/Berlin") == instant.isoformat()
        assert parse_time_input(text, "Europe/Berlin", "--since") == instant
    with pytest.raises(InvalidTime) as direct:
        parse_typed_time("2026-03-29 02:30", "Europe/Berlin")
    with pytest.raises(InvalidTime) as as_oneshot:
        normalize_expr("oneshot", "2026-03-29 02:30", "Europe/Berlin")
    with pytest.raises(InvalidInput) as as_field:
        parse_time_input("2026-03-29 02:30", "Europe/Berlin", "--since")
    assert str(direct.value) == str(as_oneshot.value)
    assert as_field.value.message == f"--since: {direct.value}"
    with pytest.raises(InvalidInput) as bad_zone:  # a bad zone is not the field's fault: no prefix
        parse_time_input("2026-12-01", "Mars/Base", "--since")
    assert bad_zone.value.message.startswith('Unknown timezone "Mars/Base"')
