"""The package surface: building triggers from stored rows, previews, descriptions, stored forms."""

from datetime import UTC, datetime, timedelta

import pytest

from automagik.scheduling import (
    AfterTrigger,
    CronTrigger,
    IntervalTrigger,
    InvalidSchedule,
    InvalidTimezone,
    OneshotTrigger,
    ScheduleType,
    Trigger,
    build_trigger,
    describe,
    fires_on_time,
    normalize_expr,
    preview_fires,
)

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)


def test_schedule_type_values_and_docs():
    assert [kind.value for kind in ScheduleType] == ["interval", "cron", "oneshot", "after"]
    assert ScheduleType("cron") is ScheduleType.CRON and ScheduleType.CRON == "cron"
    assert all(kind.doc for kind in ScheduleType)


def test_build_trigger_for_each_kind():
    interval = build_trigger("interval", "1h30m", anchor=NOW)
    cron = build_trigger(ScheduleType.CRON, "*/5 * * * *", timezone="Europe/Berlin")
    oneshot = build_trigger(" Oneshot ", "2026-12-01 09:00", timezone="Europe/Berlin")
    assert interval == IntervalTrigger(timedelta(minutes=90), NOW)
    assert cron == CronTrigger("*/5 * * * *", "Europe/Berlin")
    assert oneshot == OneshotTrigger(datetime(2026, 12, 1, 8, tzinfo=UTC))
    assert all(isinstance(trigger, Trigger) for trigger in (interval, cron, oneshot))


def test_an_after_schedule_has_no_time_of_its_own():
    """A chain's runs are started by its upstream's ends: its trigger never fires, it has no
    preview, and it is described by what it follows."""
    trigger = build_trigger("after", " 4ef644de ")
    assert trigger == AfterTrigger("4ef644de") and trigger.next_fire_after(NOW) is None
    assert preview_fires(trigger, NOW, 5) == []
    assert not fires_on_time("after") and fires_on_time("cron")
    assert normalize_expr("after", " 4ef644de ") == "4ef644de"
    assert describe("after", "4ef644de", upstream_name="Echo", outcome="failed") == "after Echo fails"
    assert describe("after", "4ef644de") == "after 4ef644de completes"
    with pytest.raises(InvalidSchedule, match="needs --expr"):
        normalize_expr("after", "  ")


def test_build_trigger_refuses_bad_input():
    with pytest.raises(InvalidSchedule, match='Unknown schedule type "weekly"'):
        build_trigger("weekly", "1h", anchor=NOW)
    with pytest.raises(ValueError, match="anchor"):
        build_trigger("interval", "1h")
    with pytest.raises(InvalidTimezone):
        build_trigger("interval", "1h", timezone="Mars/Base", anchor=NOW)
    with pytest.raises(InvalidSchedule):
        build_trigger("cron", "@reboot")


def test_preview_interval():
    trigger = build_trigger("interval", "15m", anchor=NOW)
    assert preview_fires(trigger, NOW, 3) == [NOW + timedelta(minutes=15 * k) for k in (1, 2, 3)]


def test_preview_cron_across_a_dst_change():
    trigger = build_trigger("cron", "0 9 * * *", timezone="Europe/Berlin")
    assert preview_fires(trigger, datetime(2026, 3, 27, tzinfo=UTC), 4) == [
        datetime(2026, 3, 27, 8, tzinfo=UTC),
        datetime(2026, 3, 28, 8, tzinfo=UTC),
        datetime(2026, 3, 29, 7, tzinfo=UTC),  # CEST from here on
        datetime(2026, 3, 30, 7, tzinfo=UTC),
    ]


def test_preview_stops_when_the_trigger_runs_out():
    trigger = build_trigger("oneshot", "2026-12-01T08:00:00Z")
    assert preview_fires(trigger, NOW, 10) == [datetime(2026, 12, 1, 8, tzinfo=UTC)]
    assert preview_fires(trigger, datetime(2027, 1, 1, tzinfo=UTC), 10) == []


def test_preview_maximum_is_fast_and_strictly_increasing():
    fires = preview_fires(build_trigger("cron", "* * * * *", timezone="Europe/Berlin"), NOW, 1000)
    assert len(fires) == 1000
    assert all(a < b for a, b in zip(fires, fires[1:], strict=False))


@pytest.mark.parametrize("count", [0, -1, 1001, 2.5, "10", True])
def test_preview_count_bounds(count):
    with pytest.raises(ValueError):
        preview_fires(build_trigger("interval", "1h", anchor=NOW), NOW, count)


def test_preview_refuses_naive_after():
    with pytest.raises(ValueError):
        preview_fires(build_trigger("interval", "1h", anchor=NOW), datetime(2026, 1, 1), 3)


@pytest.mark.parametrize(
    ("kind", "expr", "zone", "text"),
    [
        ("interval", "90m", "UTC", "every 1h30m"),
        ("interval", "1h 30m", "Europe/Berlin", "every 1h30m"),
        ("cron", "*/5 * * * *", "Europe/Berlin", "Every 5 minutes (Europe/Berlin)"),
        ("cron", "@daily", "UTC", "At 00:00 (UTC)"),
        ("oneshot", "2026-12-01 09:00", "Europe/Berlin", "once at 2026-12-01 09:00 CET"),
        ("oneshot", "2026-07-01T07:00:00Z", "Europe/Berlin", "once at 2026-07-01 09:00 CEST"),
        ("oneshot", "2026-12-01 09:00", "UTC", "once at 2026-12-01 09:00 UTC"),
        ("oneshot", "2026-12-01 09:00:30", "Europe/Berlin", "once at 2026-12-01 09:00:30 CET"),  # seconds kept
    ],
)
def test_describe(kind, expr, zone, text):
    assert describe(kind, expr, zone) == text


def test_describe_refuses_invalid_input():
    with pytest.raises(InvalidSchedule):
        describe("interval", "5x", "UTC")


@pytest.mark.parametrize(
    ("kind", "expr", "zone", "stored"),
    [
        ("interval", "90m", "UTC", "1h30m"),
        ("interval", " 1D 12H ", "UTC", "1d12h"),
        ("cron", "  */5   *  * * * ", "Europe/Berlin", "*/5 * * * *"),
        ("cron", " @Daily ", "UTC", "@daily"),
        ("oneshot", "2026-12-01 09:00", "Europe/Berlin", "2026-12-01T08:00:00+00:00"),
        ("oneshot", "2026-12-01T08:00:00Z", "Asia/Tokyo", "2026-12-01T08:00:00+00:00"),
    ],
)
def test_normalize_expr(kind, expr, zone, stored):
    assert normalize_expr(kind, expr, zone) == stored
    assert normalize_expr(kind, stored, zone) == stored  # the stored form is a fixed point


def test_normalize_expr_refuses_invalid_input():
    with pytest.raises(InvalidSchedule):
        normalize_expr("cron", "0 0 30 2 *", "UTC")
    with pytest.raises(InvalidTimezone):
        normalize_expr("cron", "* * * * *", "Mars/Base")
