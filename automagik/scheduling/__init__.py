"""Schedules: turn what a user typed into triggers that say when a flow runs next.

Four kinds, one question. Every trigger answers `next_fire_after(after)` with an aware
UTC datetime, or None when it will never fire again; the caller keeps the last fire and
the clock. Nothing here sleeps, reads the clock or touches the database.

What this package does not do: seconds-level cron fields, @reboot, random or hashed cron
fields ("R", "H"), "run missed fires on catch-up" policies (that is the daemon's choice),
or refusing one-shot times in the past on its own (pass your clock to `ensure_in_future`).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import lru_cache

from .after import AfterTrigger, describe_after, normalize_after
from .cron import CronTrigger, describe_cron, normalize_cron
from .errors import InvalidSchedule, InvalidTime, InvalidTimezone, NaiveDatetimeError, quoted
from .interval import IntervalTrigger, format_interval, parse_interval
from .oneshot import OneshotTrigger, ensure_in_future
from .timezones import load_zone
from .typed_times import parse_typed_time
from .types import ScheduleType, Trigger, as_utc

__all__ = [
    "AfterTrigger",
    "CronTrigger",
    "IntervalTrigger",
    "InvalidSchedule",
    "InvalidTime",
    "InvalidTimezone",
    "NaiveDatetimeError",
    "OneshotTrigger",
    "ScheduleType",
    "Trigger",
    "build_trigger",
    "describe",
    "describe_cron",
    "ensure_in_future",
    "fires_between",
    "fires_on_time",
    "format_interval",
    "load_zone",
    "normalize_expr",
    "parse_interval",
    "parse_typed_time",
    "preview_fires",
    "schedule_type_of",
]

MAX_PREVIEW = 1000


def schedule_type_of(value: ScheduleType | str) -> ScheduleType:
    """Accept the enum or its stored string ("cron", " Cron "); refuse anything else."""
    try:
        return ScheduleType(value.strip().lower() if isinstance(value, str) else value)
    except ValueError:
        raise InvalidSchedule(f"Unknown schedule type {quoted(value)}: use interval, cron, oneshot or after.") from None


def fires_on_time(schedule_type: ScheduleType | str) -> bool:
    """Whether a kind has times of its own. An "after" schedule has none: its next_run_at stays
    empty, it has no preview, and resuming it needs no next fire (other runs' ends start it)."""
    return schedule_type_of(schedule_type) is not ScheduleType.AFTER


def build_trigger(
    schedule_type: ScheduleType | str,
    expr: str,
    *,
    timezone: str = "UTC",
    anchor: datetime | None = None,
) -> Trigger:
    """Build the trigger for a stored schedule, validating the expression and the zone.

    Intervals count from `anchor` (usually the schedule's creation time), which is why it is
    required for them and ignored otherwise. The zone is validated for every kind so that a
    bad one is refused when the schedule is saved, not when it is later switched to cron.
    """
    kind = schedule_type_of(schedule_type)
    load_zone(timezone)
    if kind is ScheduleType.INTERVAL:
        if anchor is None:
            raise ValueError("An interval trigger needs an anchor: the aware UTC instant it counts from.")
        return IntervalTrigger(parse_interval(expr), anchor)
    if kind is ScheduleType.CRON:
        return CronTrigger(expr, timezone)
    if kind is ScheduleType.AFTER:
        return AfterTrigger(normalize_after(expr))
    return OneshotTrigger(parse_typed_time(expr, timezone))


def preview_fires(trigger: Trigger, after: datetime, count: int) -> list[datetime]:
    """The next `count` fires strictly after `after` (fewer if the trigger runs out), in UTC."""
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_PREVIEW:
        raise ValueError(f"Preview count must be a whole number from 1 to {MAX_PREVIEW}, got {count!r}.")
    fires: list[datetime] = []
    moment = as_utc(after, "after")
    while len(fires) < count:
        fire = trigger.next_fire_after(moment)
        if fire is None:
            break
        fires.append(fire)
        moment = fire
    return fires


def fires_between(trigger: Trigger, start: datetime, end: datetime, cap: int) -> list[datetime]:
    """The trigger's fires in [start, end), oldest first; at most cap + 1 (one more than `cap`
    says "more than cap" without walking a range of millions)."""
    if isinstance(trigger, CronTrigger):
        return trigger.fires_between(start, end, cap)
    fires: list[datetime] = []
    fire = trigger.next_fire_after(as_utc(start, "start") - timedelta(microseconds=1))  # strict: `start` counts
    while fire is not None and fire < end and len(fires) <= cap:
        fires.append(fire)
        fire = trigger.next_fire_after(fire)
    return fires


def describe(
    schedule_type: ScheduleType | str,
    expr: str,
    timezone: str = "UTC",
    *,
    upstream_name: str | None = None,
    outcome: str | None = None,
) -> str:
    """A short human description: "every 1h30m", "Every 5 minutes (Europe/Berlin)",
    "once at 2026-12-01 09:00 CET" (with seconds when it has some), "after Echo completes" (an
    after schedule's upstream flow by name when given, else by id). Raises InvalidSchedule for
    input that does not validate."""
    kind = schedule_type_of(schedule_type)
    if kind is ScheduleType.AFTER:
        return describe_after(upstream_name or normalize_after(expr), outcome)
    return _describe(kind, expr, timezone)


# A page lists every schedule on each rerun, and a cron description costs about a millisecond
# (the expression is checked, then put into words): remembered, as they depend on nothing else.
@lru_cache(maxsize=65_536)
def _describe(kind: ScheduleType, expr: str, timezone: str) -> str:
    zone = load_zone(timezone)
    if kind is ScheduleType.INTERVAL:
        return f"every {format_interval(parse_interval(expr))}"
    if kind is ScheduleType.CRON:
        CronTrigger(expr, timezone)
        return f"{describe_cron(expr)} ({timezone})"
    local = parse_typed_time(expr, timezone).astimezone(zone)
    shown = f"{local:%Y-%m-%d %H:%M:%S}" if local.second else f"{local:%Y-%m-%d %H:%M}"
    return f"once at {shown} {local.tzname()}"


def normalize_expr(schedule_type: ScheduleType | str, expr: str, timezone: str = "UTC") -> str:
    """The canonical form to store, after validating: "1h30m", "*/5 * * * *", or an ISO UTC time.

    One-shot times are stored in UTC so that changing the schedule's zone later cannot move them.
    """
    kind = schedule_type_of(schedule_type)
    load_zone(timezone)
    if kind is ScheduleType.INTERVAL:
        return format_interval(parse_interval(expr))
    if kind is ScheduleType.CRON:
        CronTrigger(expr, timezone)
        return normalize_cron(expr)
    if kind is ScheduleType.AFTER:
        return normalize_after(expr)
    return parse_typed_time(expr, timezone).isoformat()
