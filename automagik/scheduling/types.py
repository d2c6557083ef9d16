"""The vocabulary every trigger shares: the kinds of schedule and the one question a trigger answers."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import Enum
from typing import Protocol, runtime_checkable

from .errors import NaiveDatetimeError


class ScheduleType(str, Enum):
    """How a schedule decides when to fire (stored as its string value)."""

    #: Every fixed amount of elapsed time, counted from an anchor ("30s", "1h30m").
    INTERVAL = "interval"
    #: On wall-clock times matching a 5-field cron expression in the schedule's time zone.
    CRON = "cron"
    #: Exactly once, at one moment; then never again.
    ONESHOT = "oneshot"
    #: When a run of another flow ends (a chain); its expression is that flow's id.
    AFTER = "after"

    @property
    def doc(self) -> str:
        """One line saying what this kind of schedule means, for help texts."""
        return SCHEDULE_TYPE_DOCS[self]


SCHEDULE_TYPE_DOCS: dict[ScheduleType, str] = {
    ScheduleType.INTERVAL: "Every fixed amount of elapsed time, counted from an anchor.",
    ScheduleType.CRON: "On wall-clock times matching a cron expression in the schedule's time zone.",
    ScheduleType.ONESHOT: "Exactly once, at one moment.",
    ScheduleType.AFTER: "When a run of another flow ends (completed, failed or either).",
}


@runtime_checkable
class Trigger(Protocol):
    """Anything that can say when a schedule fires next.

    Triggers are stateless: the caller remembers the last fire and asks again, so a trigger
    can be rebuilt from its stored expression at any time and shared between threads.
    """

    def next_fire_after(self, after: datetime) -> datetime | None:
        """The first fire strictly after `after` (aware), in UTC; None if it never fires again."""
        ...


def as_utc(moment: datetime, what: str = "time") -> datetime:
    """Return an aware datetime converted to UTC; refuse naive ones, which name no instant."""
    if not isinstance(moment, datetime):
        raise NaiveDatetimeError(f"{what} must be a timezone-aware datetime, got {type(moment).__name__}.")
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise NaiveDatetimeError(f"{what} must be timezone-aware (UTC), got naive {moment.isoformat()}.")
    return moment.astimezone(UTC)
