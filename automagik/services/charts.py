"""The numbers behind the dashboard's charts, computed where a million-row history stays fast.

Counts are SQL aggregates (GROUP BY a time bucket, or by flow), so what leaves the database
is one row per bucket and status, never one per run. Duration percentiles need the durations
themselves: they come from a bounded sample (the newest DURATION_SAMPLE finished runs that
match), and the chart says so. Buckets are returned as UTC instants; the page shows them in
its zone.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from datetime import UTC, datetime, time, timedelta
from typing import cast
from zoneinfo import ZoneInfo

import pandas as pd
from sqlalchemy import ColumnElement, func, select

from automagik.clock import utcnow
from automagik.db.engine import Database
from automagik.db.models import Flow, Task, TaskStatus
from automagik.services.lookup import flow_names
from automagik.services.tasks import TaskFilter
from automagik.services.usage import UsageTotals, usage_query

DURATION_SAMPLE = 5000
# Past these spans a finer bucket makes too many bars to read (and too many rows to send).
MINUTE_BUCKETS_UP_TO = timedelta(hours=6)
HOUR_BUCKETS_UP_TO = timedelta(days=14)
# Aggregates cost one index or table read per matching run: charting only the newest month of
# a long range keeps them quick whatever the history's length (the page says when it cuts).
MAX_CHART_SPAN = timedelta(days=31)


class Bucket(str, enum.Enum):
    """How long one bar of a chart over time is."""

    MINUTE = "minute"
    HOUR = "hour"
    DAY = "day"  # a calendar day in the display zone (summed from hours, see runs_over_time)


def pick_bucket(since: datetime, until: datetime) -> Bucket:
    span = until - since
    if span <= MINUTE_BUCKETS_UP_TO:
        return Bucket.MINUTE
    return Bucket.HOUR if span <= HOUR_BUCKETS_UP_TO else Bucket.DAY


def time_bucket(column, unit: Bucket, dialect: str) -> ColumnElement:
    """SQL for the start of the UTC minute or hour containing `column` (DAY groups by hour).

    Each database spells it its own way: SQLite stores our instants as UTC text, which
    strftime truncates; PostgreSQL's date_trunc on a timestamptz would truncate in the
    session's zone, so the value is turned into UTC wall time first.
    """
    minute = unit is Bucket.MINUTE
    if dialect == "sqlite":
        return func.strftime("%Y-%m-%d %H:%M:00" if minute else "%Y-%m-%d %H:00:00", column)
    if dialect == "postgresql":
        return func.date_trunc("minute" if minute else "hour", func.timezone("UTC", column))
    raise ValueError(f"no time bucket for the {dialect} dialect")


def _utc(value: datetime | str) -> datetime:
    """A bucket as the database returns it (text on SQLite, naive UTC on PostgreSQL) as aware UTC."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def bucket_start(moment: datetime, unit: Bucket, zone: str) -> datetime:
    """The start (UTC) of the bucket holding `moment`; days begin at midnight in `zone`."""
    if unit is Bucket.DAY:
        local = moment.astimezone(ZoneInfo(zone))
        return datetime.combine(local.date(), time(0), tzinfo=ZoneInfo(zone)).astimezone(UTC)
    moment = moment.astimezone(UTC)
    if unit is Bucket.HOUR:
        return moment.replace(minute=0, second=0, microsecond=0)
    return moment.replace(second=0, microsecond=0)


@dataclass(frozen=True)
class ChartRange:
    since: datetime
    until: datetime
    capped: bool  # the filter's range was longer than MAX_CHART_SPAN: only its end is charted

    def narrow(self, filters: TaskFilter) -> TaskFilter:
        return replace(filters, since=self.since, until=self.until)


def bucket_span(since: datetime, until: datetime, unit: Bucket, zone: str = "UTC") -> tuple[datetime, datetime]:
    """From the start of the bucket holding `since` to the end of the one holding `until`:
    the x axis of a chart, so its first and last bars are drawn whole."""
    last = bucket_start(until, unit, zone)
    if unit is Bucket.DAY:
        # The next local midnight: 23 or 25 hours away on the days clocks change.
        end = bucket_start(last + timedelta(hours=36), unit, zone)
    else:
        end = last + (timedelta(hours=1) if unit is Bucket.HOUR else timedelta(minutes=1))
    return bucket_start(since, unit, zone), end


def chart_range(
    db: Database, filters: TaskFilter, now: datetime | None = None, max_span: timedelta = MAX_CHART_SPAN
) -> ChartRange | None:
    """The span the charts cover: the filter's own, else from the first matching run to now;
    at most the last `max_span` of it, so that "all time" over years of history stays a
    bounded aggregate. None when no run matches an open-ended filter.
    """
    now = now or utcnow()
    since, until = filters.since, filters.until
    with db.read() as session:
        # Two queries, not one with min() and max(): each alone is a single index probe.
        if until is None:
            last = session.scalar(filters.apply(select(func.max(Task.scheduled_for))))
            if last is None:
                return None
            until = max(now, _utc(last) + timedelta(seconds=1))
        if since is None:
            first = session.scalar(filters.apply(select(func.min(Task.scheduled_for))))
            if first is None:
                return None
            since = _utc(first)
    capped = until - since > max_span
    return ChartRange(max(since, until - max_span), until, capped)


@dataclass(frozen=True)
class RunCount:
    start: datetime  # the bucket's first instant, UTC
    status: str
    runs: int


def runs_over_time(db: Database, filters: TaskFilter, unit: Bucket, zone: str = "UTC") -> list[RunCount]:
    """Runs per bucket of planned time and status, oldest first, from one GROUP BY.

    Days are summed from hourly SQL buckets so that they start at midnight in `zone` (exact
    for zones whose offset is whole hours, within 30 minutes for the others); a day's worth
    of hours per status is a small, bounded number of rows.
    """
    bucket = time_bucket(Task.scheduled_for, unit, db.dialect).label("bucket")
    query = filters.apply(select(bucket, Task.status, func.count()).group_by(bucket, Task.status)).order_by(
        bucket, Task.status
    )
    with db.read() as session:
        rows = [(_utc(start), status.value, n) for start, status, n in session.execute(query)]
    if unit is not Bucket.DAY:
        return [RunCount(start, status, n) for start, status, n in rows]
    days: dict[tuple[datetime, str], int] = {}
    for start, status, n in rows:
        key = (bucket_start(start, Bucket.DAY, zone), status)
        days[key] = days.get(key, 0) + n
    return [RunCount(start, status, n) for (start, status), n in sorted(days.items())]


@dataclass(frozen=True)
class FlowChange:
    at: datetime  # LangFlow's updated_at of the flow's current version
    flow_name: str


def flow_changes(db: Database, filters: TaskFilter, since: datetime, until: datetime) -> list[FlowChange]:
    """When the flows charted last changed in LangFlow, where that falls in [since, until): the
    runs before and after it ran different versions (each run keeps its own, flow_updated_at).
    Read from the flows table: one row per flow, however many runs."""
    query = select(Flow.name, Flow.data["updated_at"].as_string()).where(Flow.removed_at.is_(None))
    if filters.flow_id:
        query = query.where(Flow.id == filters.flow_id)
    changes = []
    with db.read() as session:
        for name, stamp in session.execute(query):
            try:
                moment = datetime.fromisoformat(stamp) if stamp else None
            except ValueError:
                continue
            if moment is None:
                continue
            moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
            if since <= moment < until:
                changes.append(FlowChange(moment, name))
    return sorted(changes, key=lambda change: change.at)


@dataclass(frozen=True)
class DurationPoint:
    scheduled_for: datetime
    seconds: float


def duration_sample(db: Database, filters: TaskFilter, limit: int = DURATION_SAMPLE) -> list[DurationPoint]:
    """How long the newest `limit` finished runs matching `filters` took (newest first)."""
    query = (
        filters.apply(
            select(Task.scheduled_for, Task.started_at, Task.finished_at).where(
                Task.status.in_([TaskStatus.COMPLETED, TaskStatus.FAILED]),
                Task.started_at.is_not(None),
                Task.finished_at.is_not(None),
            )
        )
        .order_by(Task.scheduled_for.desc(), Task.id.desc())
        .limit(limit)
    )
    with db.read() as session:
        return [
            DurationPoint(planned, (finished - started).total_seconds())
            for planned, started, finished in session.execute(query)
        ]


@dataclass(frozen=True)
class DurationStats:
    start: datetime  # the bucket's first instant, UTC
    p50: float
    p95: float
    runs: int


def duration_percentiles(points: list[DurationPoint], unit: Bucket, zone: str = "UTC") -> list[DurationStats]:
    """Median and 95th percentile of the durations per bucket (pandas' linear interpolation)."""
    if not points:
        return []
    frame = pd.DataFrame(
        {
            "start": [bucket_start(p.scheduled_for, unit, zone) for p in points],
            "seconds": [p.seconds for p in points],
        }
    )
    grouped = frame.groupby("start")["seconds"]
    stats = pd.DataFrame({"p50": grouped.quantile(0.5), "p95": grouped.quantile(0.95), "runs": grouped.size()})
    return [
        # pandas-stubs types an iterrows() label as any Hashable; this index holds Timestamps.
        DurationStats(cast(pd.Timestamp, start).to_pydatetime(), float(row.p50), float(row.p95), int(row.runs))
        for start, row in stats.sort_index().iterrows()
    ]


@dataclass(frozen=True)
class FlowSuccess:
    flow_id: str
    flow_name: str
    completed: int
    failed: int
    others: int  # pending, running, skipped: not an outcome of a run (yet)

    @property
    def rate(self) -> float | None:
        """completed / (completed + failed); None before any run finished."""
        finished = self.completed + self.failed
        return self.completed / finished if finished else None


def success_by_flow(db: Database, filters: TaskFilter) -> list[FlowSuccess]:
    """Per flow, how its runs ended; the status filter is ignored (a rate needs both outcomes)."""
    filters = replace(filters, statuses=())
    query = filters.apply(select(Task.flow_id, Task.status, func.count()).group_by(Task.flow_id, Task.status))
    counts: dict[str, dict[TaskStatus, int]] = {}
    with db.read() as session:
        for flow_id, status, n in session.execute(query):
            counts.setdefault(flow_id, {})[status] = n
        names = flow_names(session, counts)
    result = [
        FlowSuccess(
            flow_id,
            names.get(flow_id, flow_id),
            by.get(TaskStatus.COMPLETED, 0),
            by.get(TaskStatus.FAILED, 0),
            sum(n for status, n in by.items() if status not in (TaskStatus.COMPLETED, TaskStatus.FAILED)),
        )
        for flow_id, by in counts.items()
    ]
    return sorted(result, key=lambda row: (row.flow_name.lower(), row.flow_id))


@dataclass(frozen=True)
class FlowUsage:
    start: datetime  # the day's first instant (midnight in the zone), UTC
    flow_id: str
    flow_name: str
    usage: UsageTotals


def usage_per_day(db: Database, filters: TaskFilter, zone: str = "UTC") -> list[FlowUsage]:
    """Tokens and cost per day (midnight to midnight in `zone`) and flow, oldest day first.

    One GROUP BY of hourly buckets and flows, summed into days as runs_over_time does: what
    leaves the database is at most one row per hour and flow of the (capped) range.
    """
    bucket = time_bucket(Task.scheduled_for, Bucket.HOUR, db.dialect).label("bucket")
    days: dict[tuple[datetime, str], UsageTotals] = {}
    with db.read() as session:
        for start, flow_id, *sums in session.execute(filters.apply(usage_query(bucket, Task.flow_id))):
            key, usage = (bucket_start(_utc(start), Bucket.DAY, zone), flow_id), UsageTotals.of(sums)
            days[key] = days[key] + usage if key in days else usage
        names = flow_names(session, {flow_id for _, flow_id in days})
    rows = [FlowUsage(start, flow_id, names.get(flow_id, flow_id), usage) for (start, flow_id), usage in days.items()]
    return sorted(rows, key=lambda row: (row.start, row.flow_name.lower(), row.flow_id))
