"""Cron schedules, evaluated on the wall clock of the schedule's own IANA time zone.

"30 2 * * *" in Europe/Berlin means 02:30 as Berlin clocks show it, whatever the season,
so matches are found on naive local wall times and each one is converted straight back to
UTC (the scheduler stores and compares nothing else). croniter only enumerates wall times,
after cron_fields.py has made it read the fields as Debian cron does; the time zone handling
is done here, explicitly, because that is where the edge cases live.

Jobs and clock changes, as Debian cron (Vixie cron) runs them:

- A job whose minute or hour field starts with `*` (`*/15 * * * *`, `0 */3 * * *`,
  `* 1-6 * * *`, `@hourly`) follows real time. It skips the wall times the clocks jump over:
  `7 * * * *` in Europe/London does not run on the night 01:07 never shows. It runs in both
  copies of a repeated hour: `0 */3 * * *` in Europe/Riga runs at 03:00 EEST and again at
  03:00 EET on 2021-10-31.
- Any other job (`30 2 * * *`, `0 0-23 * * *`, `@daily`) runs once for each wall time it
  names. A time the clocks skip runs at the moment they jump: `30 2 * * *` in Europe/Berlin
  runs at 03:00 CEST on 2026-03-29 (several skipped times run once). A repeated time runs at
  its first occurrence only: `30 2 * * *` runs at 02:30 CEST on 2026-10-25, not at 02:30 CET.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from datetime import datetime, timedelta

from cron_descriptor import Options, get_description
from croniter import CroniterBadDateError, croniter

from .cron_fields import invalid_cron, read_cron
from .timezones import end_of_gap, instants_at, load_zone, offset_at
from .types import as_utc

# Validation proves an expression from a fixed date, so it never depends on the clock.
_PROOF_START = datetime(2000, 1, 1)


def normalize_cron(expr: str) -> str:
    """The stored form: stripped and single-spaced, @-shortcuts lower-cased and kept as written."""
    text = " ".join(expr.split())
    return text.lower() if text.startswith("@") else text


class CronTrigger:
    """Fires on the wall times matching a cron expression in an IANA zone, returned in UTC."""

    __slots__ = ("expr", "timezone", "_fields", "_zone")

    def __init__(self, expr: str, timezone: str = "UTC") -> None:
        self.expr = expr
        self.timezone = timezone
        self._zone = load_zone(timezone)
        self._fields = read_cron(expr)
        # Like healthchecks' validator: an expression is only valid if it can actually fire.
        if next(self._wall_times_after(_PROOF_START), None) is None:
            raise invalid_cron(expr, "it never matches a real date")

    def __repr__(self) -> str:
        return f"CronTrigger({self.expr!r}, timezone={self.timezone!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CronTrigger) and (self._fields, self.timezone) == (other._fields, other.timezone)

    def __hash__(self) -> int:
        return hash((self._fields, self.timezone))

    def next_fire_after(self, after: datetime) -> datetime | None:
        """The first matching instant strictly after `after`, in UTC; None past year 9999.

        Candidates are scanned in wall-time order. Their first instants (a skipped wall
        time's being the jump) never go backwards, so the scan stops at the first candidate
        whose first instant is past `after`; second occurrences in a fold can only come
        earlier than that, never later. The scan starts early enough to see wall times
        repeated after `after`: at `after`'s wall time read with the smaller of the offsets
        in force now and three hours later.
        """
        after = as_utc(after, "after")
        try:
            offsets = [offset_at(after + timedelta(hours=h), self._zone) for h in (0, 3)]
            start = (after + min(offsets)).replace(tzinfo=None) - timedelta(minutes=1)
        except OverflowError:
            return None
        best: datetime | None = None
        for wall in self._wall_times_after(start):
            # Cron speaks the zone's wall clock; everything else here speaks UTC, so each
            # match is converted straight back and compared as an instant.
            instants = self._instants_for(wall)
            later = [instant for instant in instants if instant > after]
            if later and (best is None or later[0] < best):
                best = later[0]
            if instants and instants[0] > after:
                return best
        return best

    def fires_between(self, start: datetime, end: datetime, cap: int) -> list[datetime]:
        """Every fire in [start, end), in order; at most cap + 1 of them (a backfill's range).

        The same fires as asking next_fire_after again and again, found by one walk of the wall
        times instead of a new scan per fire (ten times faster over a long range): every
        matching wall time from a day before `start` to a day after `end` is mapped to its
        instants, which are kept when in the range. A day's margin covers any zone's offsets.
        """
        start, end = as_utc(start, "start"), as_utc(end, "end")
        margin = timedelta(days=1)
        try:
            first_wall = start.astimezone(self._zone).replace(tzinfo=None) - margin
            last_wall = end.astimezone(self._zone).replace(tzinfo=None) + margin
        except OverflowError:
            return []
        fires: set[datetime] = set()
        for wall in self._wall_times_after(first_wall - timedelta(microseconds=1)):
            if wall > last_wall:
                break
            fires.update(instant for instant in self._instants_for(wall) if start <= instant < end)
            if len(fires) > cap + 1:
                # Walls a day later only give later instants: the first cap + 1 are all found.
                last_wall = min(last_wall, wall + margin)
        return sorted(fires)[: cap + 1]

    def _instants_for(self, wall: datetime) -> list[datetime]:
        """UTC instants at which this schedule fires for one matching wall time (see module docstring)."""
        instants = instants_at(wall, self._zone)
        if self._fields.follows_real_time:
            return instants
        return instants[:1] if instants else [end_of_gap(wall, self._zone)]

    def _wall_times_after(self, wall: datetime) -> Iterator[datetime]:
        """Naive wall times strictly after `wall` matching the fields, in order, each once."""
        previous = None
        for match in heapq.merge(*(_croniter_matches(text, wall) for text in self._fields.croniter_texts())):
            if match != previous:
                yield match
            previous = match


def _croniter_matches(text: str, wall: datetime) -> Iterator[datetime]:
    """croniter's wall times strictly after `wall`, until it finds no more (or the calendar ends)."""
    try:
        matches = croniter(text, wall, day_or=False)
        while True:
            yield matches.get_next(datetime)
    except (CroniterBadDateError, OverflowError, ValueError):
        return


def describe_cron(expr: str) -> str:
    """Plain English for a cron expression ("Every 5 minutes"); falls back to the expression itself."""
    try:
        options = Options()
        options.use_24hour_time_format = True
        fields = read_cron(expr)
        description: str = get_description(fields.text, options)  # cron_descriptor is untyped
    except Exception:  # noqa: BLE001 - a description is a nicety; never fail a page for it
        return str(expr)
    if fields.days_must_both_match:  # cron_descriptor always joins two restricted day fields with "or"
        description = description.replace(", or on ", ", only on ")
    return description
