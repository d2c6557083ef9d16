"""What the overview shows at a glance: is LangFlow there, is the database ready, what runs next,
what failed lately, how many of everything. Every query here is bounded (LIMIT or an aggregate),
so the overview stays fast with a million runs in the history.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select

from automagik.clock import utcnow
from automagik.costfmt import PRICE_HINT
from automagik.costs.budgets import today as budget_day
from automagik.db.engine import Database
from automagik.db.migrate import schema_problem  # noqa: F401  (the dashboard asks it here)
from automagik.db.models import Flow, Schedule, ScheduleStatus, Task, TaskStatus
from automagik.langflow import display_url
from automagik.plural import counted
from automagik.scheduling import InvalidSchedule, preview_fires
from automagik.services.context import AppContext
from automagik.services.lookup import flow_names
from automagik.services.schedules import schedule_trigger
from automagik.services.tasks import TaskFilter, TaskRow, count_by_status
from automagik.services.usage import NO_USAGE, UsageTotals, usage_query


@dataclass(frozen=True)
class LangFlowStatus:
    reachable: bool
    ready: bool
    version: str | None
    message: str  # LangFlow's state in one sentence (never contains the API key)
    hint: str | None  # what to do about it, naming the variable to set


def langflow_status(context: AppContext) -> LangFlowStatus:
    """Probe LangFlow's health and version; never raises for network trouble."""
    settings = context.settings
    with context.langflow() as client:
        health = client.health()
    hint = None
    if not health.reachable:
        hint = (
            f"Check that LangFlow is running, or set LANGFLOW_API_URL to its address "
            f"(now {display_url(settings.langflow_api_url)})."
        )
    elif not settings.langflow_api_key:
        # /health_check answers without a key, so "ready" says nothing about the key: say so.
        hint = "LANGFLOW_API_KEY is not set: LangFlow refuses to list or run flows without an API key."
    return LangFlowStatus(health.reachable, health.ready, health.version, health.detail, hint)


@dataclass(frozen=True)
class OverviewCounts:
    flows: int  # in LangFlow (removed ones left out)
    flows_needing_components: int
    schedules_by_status: dict[str, int]
    runs_by_status: dict[str, int]  # of the last `window`, by planned time

    @property
    def active_schedules(self) -> int:
        return self.schedules_by_status.get(ScheduleStatus.ACTIVE.value, 0)

    @property
    def runs(self) -> int:
        return sum(self.runs_by_status.values())


def overview_counts(
    db: Database, now: datetime | None = None, window: timedelta = timedelta(hours=24)
) -> OverviewCounts:
    now = now or utcnow()
    with db.read() as session:
        present = Flow.removed_at.is_(None)
        flows = session.scalar(select(func.count()).select_from(Flow).where(present)) or 0
        unready = (
            session.scalar(
                select(func.count())
                .select_from(Flow)
                .where(present, (Flow.input_component.is_(None)) | (Flow.output_component.is_(None)))
            )
            or 0
        )
        schedules = {
            status.value: n
            for status, n in session.execute(select(Schedule.status, func.count()).group_by(Schedule.status))
        }
    runs = count_by_status(db, TaskFilter(since=now - window))
    return OverviewCounts(flows, unready, schedules, runs)


@dataclass(frozen=True)
class UpcomingFire:
    at: datetime  # UTC
    schedule_id: str
    flow_name: str
    schedule_type: str
    schedule_expr: str
    timezone: str
    overdue: bool  # its time has passed and no daemon has taken it yet


def next_fires(db: Database, count: int = 10, now: datetime | None = None) -> list[UpcomingFire]:
    """The next `count` fires over all active schedules, soonest first.

    Only the `count` schedules due soonest can own one of the next `count` fires (each of them
    fires at least once before any other schedule does), so that LIMIT bounds the work however
    many schedules there are; each of them is then expanded with its own trigger.
    """
    now = now or utcnow()
    query = (
        select(Schedule, Flow.name)
        .join(Flow, Flow.id == Schedule.flow_id)
        .where(Schedule.status == ScheduleStatus.ACTIVE, Schedule.next_run_at.is_not(None))
        .order_by(Schedule.next_run_at, Schedule.id)
        .limit(count)
    )
    with db.read() as session:
        candidates = session.execute(query).all()
    fires: list[UpcomingFire] = []
    for schedule, flow_name in candidates:
        # next_run_at is the next fire itself; the trigger gives the ones after it. An overdue
        # schedule (no daemon ran it) shows its late fire once, then its fires after now: the
        # missed ones in between are folded or skipped by its missed-run policy, not run.
        next_run_at = schedule.next_run_at
        if next_run_at is None:  # the query left those out; this tells the checker
            continue
        times = [next_run_at]
        if count > 1:
            try:
                times += preview_fires(schedule_trigger(schedule), max(next_run_at, now), count - 1)
            except InvalidSchedule:
                # Saved before a stricter version refused its expression ("FRI-MON"); the daemon
                # pauses it at that next fire, saying why, so only that fire is shown.
                pass
        fires.extend(
            UpcomingFire(
                at,
                schedule.id,
                flow_name,
                schedule.schedule_type.value,
                schedule.schedule_expr,
                schedule.timezone,
                overdue=at < now,
            )
            for at in times
        )
    fires.sort(key=lambda fire: (fire.at, fire.schedule_id))
    return fires[:count]


def recent_failures(db: Database, limit: int = 10) -> list[TaskRow]:
    """The newest failed runs (by planned time, which the status index covers), with their flow."""
    query = (
        select(Task, Flow.name)
        .join(Flow, Flow.id == Task.flow_id)
        .where(Task.status == TaskStatus.FAILED)
        .order_by(Task.scheduled_for.desc(), Task.id.desc())
        .limit(limit)
    )
    with db.read() as session:
        return [TaskRow(task, name) for task, name in session.execute(query)]


@dataclass(frozen=True)
class FlowCost:
    flow_id: str
    flow_name: str
    usage: UsageTotals


@dataclass(frozen=True)
class CostSummary:
    """What runs cost, counted when they finished: on the day a daily budget counts them."""

    as_of: datetime
    today: UsageTotals  # finished since midnight in the zone
    window_days: int
    window: UsageTotals  # finished in the last `window_days` days
    top_flows: list[FlowCost]  # the flows that cost most over the window, most first

    @property
    def unpriced_note(self) -> str | None:
        """How many runs the sums leave out because their cost is unknown; None when none."""
        if not self.window.unpriced:
            return None
        return (
            f"{counted(self.window.unpriced, 'run')} of the last {self.window_days} days ({self.today.unpriced:,} today) "
            f"reported tokens of a model without a known price: their cost is left out of these sums ({PRICE_HINT})."
        )


def cost_summary(db: Database, zone: str, now: datetime | None = None, days: int = 30, top: int = 5) -> CostSummary:
    """The cost of the runs that finished today (the day in `zone`, as for budgets) and in the
    last `days` days, and the `top` flows by cost over those days. Two aggregates over the runs
    that reported tokens: one row, then one row per flow."""
    now = now or utcnow()
    _day, today_since, _end = budget_day(now, zone)
    with db.read() as session:
        today = UsageTotals.of(session.execute(usage_query().where(Task.finished_at >= today_since)).one())
        # Grouped by an expression, not the bare column: SQLite would otherwise walk
        # ix_tasks_flow_finished for its order and read each run's row, 4x slower than sorting
        # the month of ix_tasks_usage (1,000,000 runs in 60 days: 1.1 s against 0.3 s).
        flow = func.coalesce(Task.flow_id, "").label("flow")
        window = usage_query(flow).where(Task.finished_at >= now - timedelta(days=days))
        by_flow = {flow_id: UsageTotals.of(sums) for flow_id, *sums in session.execute(window)}
        # Most cost first; flows whose cost is unknown after the priced ones, by tokens.
        ranked = sorted(
            by_flow,
            key=lambda f: (by_flow[f].cost_usd is None, -(by_flow[f].cost_usd or 0), -by_flow[f].total_tokens, f),
        )[:top]
        names = flow_names(session, ranked)
    return CostSummary(
        now,
        today,
        days,
        sum(by_flow.values(), NO_USAGE),
        [FlowCost(flow_id, names.get(flow_id, flow_id), by_flow[flow_id]) for flow_id in ranked],
    )
