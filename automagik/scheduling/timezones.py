"""IANA time zones, and how a local wall-clock time maps to UTC instants.

A wall time can name one instant (almost always), none (it falls in the gap when clocks
jump forward) or two (it is repeated when clocks fall back). Cron and one-shot schedules
each decide what to do in those cases; this module only tells them which case they are in.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from .errors import InvalidTimezone, quoted


def load_zone(name: str) -> ZoneInfo:
    """Load an IANA zone by name: the one validator of every zone a user or a setting gives.

    An empty or blank name is refused, never read as "the default zone": it is what a script
    passes for an unset variable (`--timezone "$TZ_NAME"`). Callers that have a default use it
    only when no zone was given at all (None). Surrounding spaces are refused rather than
    stripped, so what is stored is exactly what was validated.

    zoneinfo raises ValueError for path-like keys, ZoneInfoNotFoundError (a KeyError) for
    unknown ones, IsADirectoryError for "Europe/", and others for odd input, so catch them all.
    """
    if isinstance(name, str) and not name.strip():
        raise InvalidTimezone(
            f"Unknown timezone {quoted(name)}: it is empty; use an IANA name like Europe/Berlin or UTC."
        )
    if isinstance(name, str) and name == name.strip():
        try:
            return ZoneInfo(name)
        except Exception:  # noqa: BLE001 - see docstring: the failure modes are many
            pass
    raise InvalidTimezone(f"Unknown timezone {quoted(name)}: use an IANA name like Europe/Berlin or UTC.")


def instants_at(wall: datetime, zone: ZoneInfo) -> list[datetime]:
    """The UTC instants at which clocks in `zone` show the naive wall time `wall`, earliest first.

    Empty in a spring-forward gap, two items in an autumn fold, otherwise one.
    """
    first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    second = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    if first == second:
        return [first]
    if first < second:  # fold=0 uses the earlier (larger) offset: the hour is repeated
        return [first, second]
    return []  # fold=0 landed after fold=1: the wall time was skipped


def offset_at(moment: datetime, zone: ZoneInfo) -> timedelta:
    """The UTC offset clocks in `zone` show at the aware instant `moment`.

    datetime.utcoffset() is typed Optional because a tzinfo may decline to answer; a ZoneInfo
    always answers for an aware instant, so the None branch is unreachable and only says so.
    """
    offset = moment.astimezone(zone).utcoffset()
    if offset is None:
        raise ValueError(f"Zone {zone.key} gave no UTC offset at {moment.isoformat()}.")
    return offset


def end_of_gap(wall: datetime, zone: ZoneInfo) -> datetime:
    """For a wall time skipped by a forward jump, the instant the clocks jumped (UTC).

    This is the first real instant after the missing wall time, e.g. 01:00 UTC (03:00 CEST)
    for Europe/Berlin 02:30 on 2026-03-29. PEP 495 puts the jump between the fold=1 reading
    (offset after, too early) and the fold=0 reading (offset before, too late); transitions
    fall on whole seconds, so a binary search over seconds finds it exactly.
    """
    before = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    after = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    offset_after = offset_at(after, zone)
    low, high = 0, int((after - before).total_seconds())
    while low < high:  # smallest second from `before` whose offset is already the new one
        middle = (low + high) // 2
        if offset_at(before + timedelta(seconds=middle), zone) == offset_after:
            high = middle
        else:
            low = middle + 1
    return before + timedelta(seconds=low)


def day_bounds(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The UTC instants [start, end) of a calendar day in `zone`: midnight to midnight, so 23
    or 25 hours long on the days clocks change. A midnight the clocks skip starts the day at
    the jump (fold=0 reads it with the offset before), one shown twice at its first showing."""
    start = datetime.combine(day, time(), tzinfo=zone).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(), tzinfo=zone).astimezone(UTC)
    return start, end
