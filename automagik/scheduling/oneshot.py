"""One-shot schedules: fire exactly once, at one moment, then never again.

The time is read by the one parser of typed times (typed_times.py): without an offset it is
read on the wall clock of the schedule's zone, because that is what the person typing
"2026-12-01 09:00" meant; a wall time the clocks skip is refused, a repeated one means its
first occurrence.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from .errors import InvalidSchedule
from .types import as_utc


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
