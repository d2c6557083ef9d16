"""Showing instants to people: in their zone, with the zone named. Parsing the times they type."""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo


def format_local(moment: datetime | None, zone: str, seconds: bool = True) -> str:
    """ "2026-11-27 07:00:00 CET": the instant in `zone`, with the zone's abbreviation."""
    if moment is None:
        return "-"
    local = moment.astimezone(ZoneInfo(zone))
    return local.strftime("%Y-%m-%d %H:%M:%S %Z" if seconds else "%Y-%m-%d %H:%M %Z")


def parse_instant(text: str, zone: str) -> datetime:
    """Read an ISO 8601 time the user typed; a time without offset is read in `zone`.

    Raises ValueError with a one-line message.
    """
    raw = text.strip()
    try:
        value = datetime.fromisoformat(raw[:-1] + "+00:00" if raw.endswith(("Z", "z")) else raw)
    except ValueError:
        raise ValueError(f'"{text}" is not an ISO 8601 time: expected like 2026-11-27T08:00 or 2026-11-27T08:00:00Z.') from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo(zone))
    try:
        return value.astimezone(timezone.utc)
    except OverflowError:  # within hours of year 1 or 9999, UTC falls outside the calendar
        raise ValueError(f'"{text}" is too close to the ends of the calendar: use a year from 2 to 9998.') from None
