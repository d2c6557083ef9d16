"""One-shot schedules: fire exactly once, at one moment, then never again.

A time typed without an offset is read on the wall clock of the schedule's zone, because
that is what the person typing "2026-12-01 09:00" meant. A wall time the clocks skip is
refused rather than guessed; a repeated one means its first occurrence.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from .errors import InvalidSchedule, quoted
from .timezones import instants_at, load_zone
from .types import as_utc

_EXAMPLES = 'like "2026-12-01 09:00", "2026-12-01T08:00:00Z" or "2026-12-01"'


def parse_oneshot(expr: str, timezone: str) -> datetime:
    """Parse an ISO 8601 date or date-time into a UTC instant.

    Accepts a "T" or a space between date and time, a trailing "Z", an explicit offset,
    or a date alone (midnight). Without an offset the time is read in `timezone`.
    """
    zone = load_zone(timezone)
    if not isinstance(expr, str) or not expr.strip():
        raise InvalidSchedule(f"Invalid time {quoted(expr)}: it is empty; give a date and time {_EXAMPLES}.")
    try:
        moment = datetime.fromisoformat(expr.strip())
    except ValueError:
        raise InvalidSchedule(f"Invalid time {quoted(expr)}: give an ISO 8601 date and time {_EXAMPLES}.") from None
    try:
        if moment.tzinfo is not None:
            return moment.astimezone(UTC)
        instants = instants_at(moment, zone)
    except OverflowError:
        raise InvalidSchedule(f"Invalid time {quoted(expr)}: it is too close to year 1 or 9999.") from None
    if not instants:
        raise InvalidSchedule(
            f"Invalid time {quoted(expr)}: it does not exist in {timezone} (the clocks skip it); "
            "pick another time or add a UTC offset."
        )
    return instants[0]


def ensure_in_future(at: datetime, now: datetime) -> datetime:
    """Refuse a one-shot time that has already passed; `now` comes from the caller's clock."""
    at, now = as_utc(at, "at"), as_utc(now, "now")
    if at <= now:
        raise InvalidSchedule(
            f"The time {at:%Y-%m-%d %H:%M:%S} UTC is in the past (it is now {now:%Y-%m-%d %H:%M:%S} UTC)."
        )
    return at


@dataclass(frozen=True)
class OneshotTrigger:
    """Fires once at `at`: asked about any earlier moment it answers `at`, afterwards None."""

    at: datetime

    def __post_init__(self) -> None:
        object.__setattr__(self, "at", as_utc(self.at, "at"))

    def next_fire_after(self, after: datetime) -> datetime | None:
        """`at` if it is strictly after `after`, else None: a one-shot never fires twice."""
        return self.at if self.at > as_utc(after, "after") else None
