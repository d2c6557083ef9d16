"""The run calendar: how many runs completed, failed or were skipped on each day of the last
twelve months, days being the display zone's.

A day in a zone with DST is 23 or 25 hours long, so days cannot be a fixed offset from UTC
buckets. Instead each local day's [start, end) is computed here as UTC instants and the
database counts the runs between them in one query: the days become a small table there, and
for each day and outcome a correlated count reads the range from an index alone:
`ix_tasks_status_time` (status, scheduled_for, ...), or under a flow filter
`ix_tasks_flow_time` (flow_id, scheduled_for, id, status), or under a schedule filter
`ix_tasks_schedule_status` (schedule_id, status, scheduled_for). What is read is the index
entries of the year's finished runs; what leaves the database is one row per day.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

from sqlalchemy import Integer, column, func, select, text

from automagik.clock import utcnow
from automagik.db.engine import Database
from automagik.db.models import Task, TaskStatus
from automagik.db.types import UTCDateTime
from automagik.scheduling import load_zone
from automagik.scheduling.timezones import day_bounds
from automagik.services.tasks import TaskFilter, check_named_ids

# The outcomes a day is coloured by; pending and running runs have none yet.
OUTCOMES = (TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.SKIPPED)


@dataclass(frozen=True)
class DayCount:
    """One day's runs by outcome (a day without any is not listed)."""

    day: date
    completed: int = 0
    failed: int = 0
    skipped: int = 0

    @property
    def total(self) -> int:
        return self.completed + self.failed + self.skipped

    @property
    def failure_share(self) -> float | None:
        """failed / (completed + failed): the day's colour; None when only skips happened."""
        finished = self.completed + self.failed
        return self.failed / finished if finished else None


@dataclass(frozen=True)
class RunCalendar:
    zone: str
    first: date  # the oldest day shown, in `zone`
    last: date  # today, in `zone`
    days: list[DayCount]  # oldest first, days with runs only

    def bounds(self, day: date) -> tuple[datetime, datetime]:
        return day_span(day, self.zone)


def day_span(day: date, zone: str) -> tuple[datetime, datetime]:
    """The UTC instants [start, end) of `day` in `zone`: what a day of the calendar counted,
    and so what filters the Tasks list to that day."""
    return day_bounds(day, load_zone(zone))


def today_in(zone: str, now: datetime | None = None) -> date:
    """The date it is now in `zone`."""
    return (now or utcnow()).astimezone(load_zone(zone)).date()


def year_before(today: date) -> date:
    """The first day of the twelve months that end with `today` (29 February: from 1 March)."""
    try:
        return today.replace(year=today.year - 1) + timedelta(days=1)
    except ValueError:
        return date(today.year - 1, 3, 1)


# The days reach the database as one parameter (an array, or JSON on SQLite) and become a
# table there, so the statement's text is the same every call and SQLAlchemy compiles it once;
# a VALUES list of 365 rows was compiled afresh each time (longer than the counting itself).
_DAYS_SQL = {
    "postgresql": "SELECT n, day_start, day_end FROM unnest(CAST(:starts AS timestamptz[]), "
    "CAST(:ends AS timestamptz[])) WITH ORDINALITY AS days(day_start, day_end, n)",
    # Each element is [start, end] as SQLite stores UTCDateTime text, so comparisons are exact.
    "sqlite": "SELECT CAST(key AS INTEGER) + 1 AS n, json_extract(value, '$[0]') AS day_start, "
    "json_extract(value, '$[1]') AS day_end FROM json_each(:spans)",
}


def _days_table(db: Database, spans: list[tuple[datetime, datetime]]):
    """A CTE `days(n, day_start, day_end)`, n counting from 1."""
    params: dict[str, object]
    if db.dialect == "sqlite":
        stored = UTCDateTime().dialect_impl(db.engine.dialect).bind_processor(db.engine.dialect)
        if stored is None:  # SQLAlchemy's SQLite DateTime always has one (it writes the text form)
            raise RuntimeError("SQLite's UTCDateTime has no bind processor.")
        params = {"spans": json.dumps([[stored(start), stored(end)] for start, end in spans])}
    else:
        params = {"starts": [start for start, _ in spans], "ends": [end for _, end in spans]}
    return (
        text(_DAYS_SQL[db.dialect])
        .bindparams(**params)
        .columns(column("n", Integer), column("day_start", UTCDateTime()), column("day_end", UTCDateTime()))
        .cte("days")
    )


def run_calendar(
    db: Database, zone: str, filters: TaskFilter = TaskFilter(), now: datetime | None = None
) -> RunCalendar:
    """Runs per day in `zone` by outcome, for the twelve months ending today.

    The filter's flow and schedule apply; its statuses and time range do not (a day's colour
    needs every outcome, and the calendar is always the last twelve months). An id that names
    nothing is NotFound, as for the Tasks list; a unique start of one (8+ characters) will do.
    """
    tz = load_zone(zone)
    today = today_in(zone, now)
    first = year_before(today)
    spans = [day_bounds(first + timedelta(days=n), tz) for n in range((today - first).days + 1)]
    days = _days_table(db, spans)
    scope = replace(filters, statuses=(), since=None, until=None)
    if scope.flow_id or scope.schedule_id:
        scope = check_named_ids(db, scope)  # NotFound for a typo; a short id made whole

    def runs_that(status: TaskStatus):
        # One index range count per day and outcome. Correlated counts rather than a JOIN with
        # GROUP BY: SQLite would sort every joined run into a temporary B-tree to group them.
        return (
            scope.apply(
                select(func.count())
                .select_from(Task)
                .where(
                    Task.status == status, Task.scheduled_for >= days.c.day_start, Task.scheduled_for < days.c.day_end
                )
            )
            .correlate(days)
            .scalar_subquery()
        )

    query = select(days.c.n, *(runs_that(status) for status in OUTCOMES))
    counts: dict[int, tuple[int, ...]] = {}
    with db.read() as session:
        if db.dialect == "postgresql":
            # The plan's cost (365 x 3 index probes) passes jit_above_cost, and compiling it
            # takes longer than the JIT saves on these simple counts.
            session.execute(text("SET LOCAL jit = off"))
        for n, *by_outcome in session.execute(query):
            if any(by_outcome):
                counts[n] = tuple(by_outcome)
    rows = [DayCount(first + timedelta(days=n - 1), *by) for n, by in sorted(counts.items())]
    return RunCalendar(zone, first, today, rows)
