"""Interval schedules: fire every fixed amount of elapsed time, counted from an anchor.

An interval means elapsed time, so it is computed in UTC and no time zone or DST change
ever moves it: "1h" fires every 3600 seconds, even on the night clocks jump. Fires are
always anchor + k*every, computed with integer arithmetic, never "last run + every",
which drifts by however late each run started.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from .errors import InvalidSchedule, quoted
from .types import as_utc

#: Units from largest to smallest, with their length in seconds.
UNIT_SECONDS: dict[str, int] = {"w": 604_800, "d": 86_400, "h": 3_600, "m": 60, "s": 1}
UNIT_ORDER = list(UNIT_SECONDS)

MIN_INTERVAL_SECONDS = 1
MAX_INTERVAL_SECONDS = 366 * 86_400

_PART = re.compile(r"(\d+)([a-z])\s*")
_EXAMPLES = 'like "30s", "5m", "1h30m"'


def parse_interval(expr: str) -> timedelta:
    """Parse "30s", "5m", "1h30m", "1d 12h"... into a timedelta (case-insensitive).

    Each unit may appear once, largest first, so every interval has one obvious spelling.
    """
    if not isinstance(expr, str) or not expr.strip():
        raise InvalidSchedule(f"Invalid interval {quoted(expr)}: it is empty; use a number and a unit, {_EXAMPLES}.")
    text = expr.strip().lower()
    seconds, position, last_unit_index = 0, 0, -1
    while position < len(text):
        part = _PART.match(text, position)
        if part is None or part.group(2) not in UNIT_SECONDS:
            raise InvalidSchedule(
                f"Invalid interval {quoted(expr)}: use a number and a unit s, m, h, d or w, {_EXAMPLES}."
            )
        digits, unit = part.groups()
        unit_index = UNIT_ORDER.index(unit)
        if unit_index <= last_unit_index:
            raise InvalidSchedule(
                f'Invalid interval {quoted(expr)}: give each unit once, largest first, like "1d12h" or "1h30m".'
            )
        if len(digits) > 12:  # far beyond the maximum anyway; keeps int() and timedelta() cheap and safe
            raise InvalidSchedule(f"Invalid interval {quoted(expr)}: it must be at most 366 days.")
        seconds += int(digits) * UNIT_SECONDS[unit]
        last_unit_index, position = unit_index, part.end()
    if seconds < MIN_INTERVAL_SECONDS:
        raise InvalidSchedule(f"Invalid interval {quoted(expr)}: it must be at least 1 second.")
    if seconds > MAX_INTERVAL_SECONDS:
        raise InvalidSchedule(f"Invalid interval {quoted(expr)}: it must be at most 366 days.")
    return timedelta(seconds=seconds)


def format_interval(every: timedelta) -> str:
    """The canonical spelling of a whole-second interval: 5400 s → "1h30m", 7 days → "1w"."""
    if every <= timedelta(0) or every % timedelta(seconds=1):
        raise InvalidSchedule(f"Invalid interval {every}: it must be a positive whole number of seconds.")
    remaining = every // timedelta(seconds=1)
    parts = []
    for unit, size in UNIT_SECONDS.items():
        count, remaining = divmod(remaining, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


@dataclass(frozen=True)
class IntervalTrigger:
    """Fires at anchor + k*every for k = 1, 2, 3... (never at the anchor itself).

    The anchor is usually when the schedule was created, so "every 1h" created at 09:12
    fires at 10:12, 11:12... The answer depends only on (anchor, every, after): no clock,
    no time zone, no accumulated error however far from the anchor.
    """

    every: timedelta
    anchor: datetime

    def __post_init__(self) -> None:
        if not isinstance(self.every, timedelta) or self.every <= timedelta(0):
            raise InvalidSchedule(f"Invalid interval {self.every!r}: it must be a positive duration.")
        object.__setattr__(self, "anchor", as_utc(self.anchor, "anchor"))

    def next_fire_after(self, after: datetime) -> datetime | None:
        """The smallest anchor + k*every (k ≥ 1) strictly after `after`; None past year 9999."""
        after = as_utc(after, "after")
        if after < self.anchor:
            periods = 1
        else:  # timedelta // timedelta is exact integer division in microseconds
            periods = (after - self.anchor) // self.every + 1
        try:
            return self.anchor + periods * self.every
        except OverflowError:
            return None
