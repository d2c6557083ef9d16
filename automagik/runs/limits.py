"""Limits that protect LangFlow, held by the database across every daemon: runs in flight per
flow (`flows.max_concurrency`) and per LangFlow server (AUTOMAGIK_LANGFLOW_MAX_CONCURRENCY),
and runs started per minute (AUTOMAGIK_LANGFLOW_RATE_PER_MINUTE).

Claims count what is running, so two daemons claiming at once must not both see a free slot:
on PostgreSQL a claim under limits first takes a transaction-scoped advisory lock (claims
then follow one another; they are short), on SQLite the write lock already serializes them.
A run held back stays pending, is never skipped or failed for waiting, and gets one log line
(its `held_since` is set once); it starts as soon as a slot frees. Runs claimed ahead of
their instant count as running: the limit is never passed, at the cost of a slot held up to
the look-ahead early.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import delete, func, insert, select, text, update

from automagik.costs.budgets import budgets_reached
from automagik.db.models import Backfill, Flow, LangFlowStart, LogLevel, Schedule, ScheduleStatus, Task, TaskStatus
from automagik.runs.states import log_row, write_logs

# Any constant: the key of the advisory lock every claim under limits takes on PostgreSQL.
CLAIM_LOCK_KEY = 0x61_75_74_6F_6C_69_6D  # "autolim"


@dataclass(frozen=True)
class ServerLimits:
    """The LangFlow server's limits (None: none); set the same on every daemon."""

    max_concurrency: int | None = None
    rate_per_minute: int | None = None


@dataclass
class LimitState:
    """What a claim may still start, read at its beginning and counted down as it chooses."""

    flow_limits: dict[str, int]
    running_by_flow: dict[str, int]
    server_left: int | None  # runs the server limit still allows (None: no limit)
    server_limit: int | None
    rate_left: int | None
    rate_limit: int | None
    held: dict[str, str] = field(default_factory=dict)  # task id -> why it waits

    @property
    def server_full(self) -> bool:
        return (self.server_left is not None and self.server_left <= 0) or (
            self.rate_left is not None and self.rate_left <= 0
        )

    def flow_full(self, flow_id: str) -> bool:
        limit = self.flow_limits.get(flow_id)
        return limit is not None and self.running_by_flow.get(flow_id, 0) >= limit

    def admit(self, task_id: str, flow_id: str) -> bool:
        """Whether the task may start now; if so it is counted, else the reason is kept."""
        if self.flow_full(flow_id):
            limit = self.flow_limits[flow_id]
            self.held[task_id] = f"waiting: flow at its limit {self.running_by_flow.get(flow_id, 0)}/{limit}"
            return False
        if self.server_left is not None and self.server_left <= 0:
            self.held[task_id] = f"waiting: LangFlow at its limit of {self.server_limit} runs at once"
            return False
        if self.rate_left is not None and self.rate_left <= 0:
            self.held[task_id] = f"waiting: LangFlow at its limit of {self.rate_limit} runs started per minute"
            return False
        self.running_by_flow[flow_id] = self.running_by_flow.get(flow_id, 0) + 1
        if self.server_left is not None:
            self.server_left -= 1
        if self.rate_left is not None:
            self.rate_left -= 1
        return True


@dataclass(frozen=True)
class FlowRules:
    """The flows' own limits and budgets, read once per claim (one query over a small table)."""

    max_concurrency: dict[str, int]
    budgets: dict[str, tuple[str, float]]  # flow id -> (name, daily budget in USD)


def read_flow_rules(session) -> FlowRules:
    rows = session.execute(
        select(Flow.id, Flow.name, Flow.max_concurrency, Flow.daily_budget_usd).where(
            (Flow.max_concurrency.is_not(None)) | (Flow.daily_budget_usd.is_not(None))
        )
    ).all()
    return FlowRules(
        {flow_id: limit for flow_id, _, limit, _ in rows if limit is not None},
        {flow_id: (name, budget) for flow_id, name, _, budget in rows if budget is not None},
    )


def read_limits(session, dialect: str, server: ServerLimits, now: datetime, rules: FlowRules) -> LimitState | None:
    """The limits and what runs against them now; None when there are no limits at all (the
    claim then takes no lock and counts nothing)."""
    flow_limits = dict(rules.max_concurrency)
    if not flow_limits and server.max_concurrency is None and server.rate_per_minute is None:
        return None
    if dialect == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": CLAIM_LOCK_KEY})
    running = select(Task.flow_id, func.count()).where(Task.status == TaskStatus.RUNNING)
    running_by_flow = (
        dict(session.execute(running.where(Task.flow_id.in_(list(flow_limits))).group_by(Task.flow_id)).all())
        if flow_limits
        else {}
    )
    server_left = rate_left = None
    if server.max_concurrency is not None:
        in_flight = session.scalar(select(func.count()).select_from(Task).where(Task.status == TaskStatus.RUNNING))
        server_left = server.max_concurrency - (in_flight or 0)
    if server.rate_per_minute is not None:
        started = session.scalar(
            select(func.count()).select_from(LangFlowStart).where(LangFlowStart.started_at > now - timedelta(minutes=1))
        )
        rate_left = server.rate_per_minute - (started or 0)
    return LimitState(
        flow_limits, running_by_flow, server_left, server.max_concurrency, rate_left, server.rate_per_minute
    )


def note_starts(session, state: LimitState, started: int, now: datetime) -> None:
    """Under a rate limit, remember each run this claim started (a retry is a start too: the
    task row keeps only its latest), and forget the starts the limit no longer looks at."""
    if state.rate_limit is None:
        return
    session.execute(delete(LangFlowStart).where(LangFlowStart.started_at <= now - timedelta(minutes=2)))
    if started:
        session.execute(insert(LangFlowStart), [{"started_at": now}] * started)


def note_held(session, held: dict[str, str], now: datetime) -> None:
    """One log line per held run (task id -> why it waits), the first time it is held (its
    held_since is then set)."""
    if not held:
        return
    newly = session.scalars(
        update(Task)
        .where(Task.id.in_(list(held)), Task.status == TaskStatus.PENDING, Task.held_since.is_(None))
        .values(held_since=now)
        .returning(Task.id)
        .execution_options(synchronize_session=False)
    ).all()
    write_logs(session, [log_row(task_id, LogLevel.INFO, held[task_id], now) for task_id in newly])


class BackfillSlots:
    """A backfill's runs in flight against its max_parallel, and the flows whose daily budget a
    backfill's runs wait on. Nothing is read until the claim meets a backfill's run (most claims
    never do); then the claim lock is taken on PostgreSQL, so that claims under a backfill's
    limit follow one another (as under the limits above), and each backfill's numbers are read
    on its first run seen (two queries on indexes): its max_parallel with whether its schedule is
    paused (its runs then wait, held like any run a limit holds back, until it is resumed), then
    its runs in flight.

    Taking the lock after the claim has locked its candidate rows cannot deadlock: whoever holds
    the lock only waits for nothing (its candidates are read with SKIP LOCKED and it writes only
    rows it locked itself), and the counts read after the lock see every claim committed before.
    """

    def __init__(self, session, dialect: str, now: datetime, zone: str, budgets: dict[str, tuple[str, float]]) -> None:
        self._session, self._dialect, self._now, self._zone, self._budgets = session, dialect, now, zone, budgets
        self._budget_reached: dict[str, str] | None = None  # flow id -> the reason of its reached budget
        self.max_parallel: dict[str, int] = {}
        self.running: dict[str, int] = {}
        self.paused: set[str] = set()  # backfills whose schedule is paused: their runs wait

    def _start(self) -> dict[str, str]:
        if self._budget_reached is None:
            if self._dialect == "postgresql":
                self._session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": CLAIM_LOCK_KEY})
            reached = budgets_reached(self._session, self._budgets, self._now, self._zone) if self._budgets else {}
            self._budget_reached = {flow_id: r.reason for flow_id, r in reached.items()}
        return self._budget_reached

    def _load(self, backfill_id: str) -> None:
        if backfill_id in self.max_parallel:
            return
        row = self._session.execute(
            select(Backfill.max_parallel, Schedule.status)
            .join(Schedule, Schedule.id == Backfill.schedule_id)
            .where(Backfill.id == backfill_id)
        ).first()
        max_parallel, status = row if row is not None else (1, None)
        self.max_parallel[backfill_id] = max_parallel or 1
        if status is ScheduleStatus.PAUSED:
            self.paused.add(backfill_id)
        self.running[backfill_id] = (
            self._session.scalar(
                select(func.count())
                .select_from(Task)
                .where(Task.backfill_id == backfill_id, Task.status == TaskStatus.RUNNING)
            )
            or 0
        )

    def admit(self, backfill_id: str, flow_id: str) -> str | None:
        """None when a run of the backfill may start (it is then counted), else why it waits."""
        budget_reached = self._start()
        self._load(backfill_id)
        if backfill_id in self.paused:
            return "waiting: its schedule is paused"
        if flow_id in budget_reached:
            return f"waiting: {budget_reached[flow_id]}; a backfill's runs wait for the next day"
        limit, running = self.max_parallel[backfill_id], self.running[backfill_id]
        if running >= limit:
            return f"waiting: backfill at its limit {running}/{limit}"
        self.running[backfill_id] = running + 1
        return None
