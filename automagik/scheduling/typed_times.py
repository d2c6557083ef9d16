"""Times people type, read by one parser with one rule, wherever they are typed.

A oneshot's time (CLI and Schedules page), `tasks list|export --since/--until`, `schedules
preview --after`, the Tasks page's range and a backfill's range (`schedules backfill`) all go through
`parse_typed_time`, so the same text names the same instant everywhere.

The rule for a time typed without an offset, read on the wall clock of the given zone:

- a wall time the clocks show once is that instant;
- a wall time the clocks skip (the spring-forward gap) is refused, naming the gap: any instant
  picked for it would be a time the user did not write;
- a wall time the clocks show twice (the autumn fold) means its first occurrence, the one a
  cron job at that time fires at (cron.py); an offset, like 02:30+01:00, picks the other.

A time with an offset or Z is taken as is. The zone is checked first, even when the text has an
offset, so a bad zone is refused the same way whatever time comes with it.

The year typed must be from MIN_YEAR to MAX_YEAR: no run of a scheduler predates 1970, and
within a day of year 1 or 9999 the instant, or a walk of fires from it (a backfill's range),
falls outside the calendar Python can count in.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from .errors import InvalidTime, quoted
from .timezones import end_of_gap, instants_at, load_zone, offset_at

MIN_YEAR, MAX_YEAR = 1970, 9998
_EXAMPLES = 'like "2026-12-01 09:00", "2026-12-01T08:00:00Z" or "2026-12-01"'


def parse_typed_time(text: str, zone: str) -> datetime:
    """The aware UTC instant an ISO 8601 date or date-time names; without an offset, in `zone`.

    Accepts a "T" or a space between date and time, a trailing "Z" (or "z"), an explicit
    offset, or a date alone (midnight). Raises InvalidTimezone for a bad zone and InvalidTime,
    with one line saying why, for anything else that names no single instant or whose year is
    not from MIN_YEAR to MAX_YEAR.
    """
    wall_zone = load_zone(zone)
    moment = _read_iso(text)
    if not MIN_YEAR <= moment.year <= MAX_YEAR:
        raise InvalidTime(f"Invalid time {quoted(text)}: the year must be from {MIN_YEAR} to {MAX_YEAR}.")
    if moment.tzinfo is not None:
        return moment.astimezone(UTC)
    instants = instants_at(moment, wall_zone)
    if not instants:
        raise _skipped(text, moment, zone, wall_zone)
    return instants[0]  # the first occurrence when the wall time is repeated: see the module docstring


def _read_iso(text: str) -> datetime:
    if not isinstance(text, str):
        raise InvalidTime(f"Invalid time {quoted(text)}: give a date and time as text, {_EXAMPLES}.")
    if not text.strip():
        raise InvalidTime(f"Invalid time {quoted(text)}: it is empty; give a date and time {_EXAMPLES}.")
    raw = text.strip()
    if raw.endswith("z"):  # RFC 3339 allows a lower-case z; fromisoformat does not
        raw = raw[:-1] + "Z"
    try:
        return datetime.fromisoformat(raw)
    except ValueError:
        raise InvalidTime(f"Invalid time {quoted(text)}: it is not an ISO 8601 time; give one {_EXAMPLES}.") from None


def _skipped(text: str, wall: datetime, zone_name: str, zone: ZoneInfo) -> InvalidTime:
    """The refusal of a wall time inside a gap, naming the wall times the clocks jump between."""
    jump = end_of_gap(wall, zone)
    offset_before = offset_at(jump - timedelta(seconds=1), zone)
    jumps_from = (jump + offset_before).replace(tzinfo=None)
    jumps_to = jump.astimezone(zone)
    return InvalidTime(
        f"Invalid time {quoted(text)}: it does not exist in {zone_name} (the clocks jump from "
        f"{jumps_from:%H:%M} to {jumps_to:%H:%M}): pick a time outside the gap or give an offset."
    )
