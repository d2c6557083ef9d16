"""Running tasks under leases: claimed, within every limit, and renewed.

A daemon owns a running task while `claimed_by` is its id and `lease_until` is ahead; every
write it makes about the task repeats that condition (compare-and-set), so a daemon whose
lease was taken over can never overwrite what the new owner records. A claim shares its
transaction with the recording of finished tries (runs/outcomes.py); a lease that expired,
and the runs of a daemon that stops, are taken back by runs/recovery.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from sqlalchemy import and_, exists, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased

from automagik.costs.budgets import budgets_reached
from automagik.db.engine import Database, rows_matched
from automagik.db.models import Backfill, Flow, LogLevel, Schedule, ScheduleStatus, Task, TaskStatus
from automagik.runs.limits import (
    BackfillSlots,
    ServerLimits,
    note_held,
    note_starts,
    read_flow_rules,
    read_limits,
)
from automagik.runs.outcomes import Attempt, Recorded, record_outcomes
from automagik.runs.states import RetryPolicy, Transition, log_row, sources, target, write_logs


@dataclass(frozen=True)
class ClaimedTask:
    """Everything a worker needs to run a task, read at claim time (no session kept open)."""

    id: str
    flow_id: str
    flow_name: str
    schedule_id: str | None
    input_component: str | None
    output_component: str | None
    flow_ready: bool
    input_data: dict
    tries: int
    max_retries: int
    timeout_seconds: int | None
    scheduled_for: datetime
    run_at: datetime  # when the attempt may start: the fire's instant, or the retry's
    flow_updated_at: datetime | None = None  # LangFlow's updated_at of the flow, as last synced


class RecordedAndClaimed(NamedTuple):
    recorded: list[Recorded]
    claimed: list[ClaimedTask]
    held: int = 0  # runnable tasks a limit held back (they wait for a slot)


def claim_tasks(
    db: Database, daemon_id: str, now: datetime, limit: int, lease_seconds: float, until: datetime | None = None
) -> list[ClaimedTask]:
    """Claim up to `limit` pending tasks runnable by `until` (default now), at most one per
    schedule and none whose schedule already has a run going (a partial unique index enforces
    that across daemons too). A task claimed ahead of its time is started at its time."""
    return record_and_claim(db, daemon_id, [], now, limit, lease_seconds, until)[1]


def record_and_claim(
    db: Database,
    daemon_id: str,
    attempts: list[Attempt],
    now: datetime,
    limit: int,
    lease_seconds: float,
    until: datetime | None = None,
    retry: RetryPolicy = RetryPolicy(),
    server_limits: ServerLimits = ServerLimits(),
    zone: str = "UTC",
) -> RecordedAndClaimed:
    """Record finished attempts and claim the next tasks in one write transaction (one lock on
    SQLite, one commit on PostgreSQL); returns what was recorded (only tasks this daemon still
    owned), the tasks claimed, within every limit (automagik.runs.limits), and how many runnable
    tasks a limit held back. A queued fire of a flow whose daily budget (the day in `zone`) ran
    out is skipped instead of claimed."""
    until = until or now
    if not attempts and (limit <= 0 or not _any_runnable(db, until, now, zone)):
        return RecordedAndClaimed([], [])
    for last_try in (False, True):
        try:
            with db.write() as session:
                recorded = record_outcomes(session, db.dialect, daemon_id, attempts, now, retry)
                claimed, held = (
                    _claim(session, db.dialect, daemon_id, now, until, limit, lease_seconds, server_limits, zone)
                    if limit > 0
                    else ([], 0)
                )
                return RecordedAndClaimed(recorded, claimed, held)
        except IntegrityError:
            # Two daemons took tasks of the same schedule at once (PostgreSQL): the unique
            # index refused the second and nothing was written. Once more (the other claim has
            # committed: its schedules are now left out); then the outcomes alone.
            if last_try:
                break
    if not attempts:
        return RecordedAndClaimed([], [])
    with db.write() as session:
        return RecordedAndClaimed(record_outcomes(session, db.dialect, daemon_id, attempts, now, retry), [])


def record_attempts(
    db: Database, daemon_id: str, attempts: list[Attempt], now: datetime, retry: RetryPolicy = RetryPolicy()
) -> list[Recorded]:
    """Record attempts' outcomes in one transaction (see record_and_claim)."""
    if not attempts:
        return []
    return record_and_claim(db, daemon_id, attempts, now, 0, 0, retry=retry)[0]


def _any_runnable(db: Database, until: datetime, now: datetime, zone: str = "UTC") -> bool:
    """Look before locking (see dispatch_due): most ticks find nothing to claim. A backfill
    waits without making every tick take the write lock only to hold its runs again while its
    schedule is paused, while max_parallel of its runs are in flight, and while its flow's
    daily budget (the day in `zone`) is reached, once its next run has been told why."""
    in_flight = (
        select(func.count())
        .where(Task.backfill_id == Backfill.id, Task.status == TaskStatus.RUNNING)
        .correlate(Backfill)
        .scalar_subquery()
    )
    next_held_since = (
        select(Task.held_since)
        .where(Task.backfill_id == Backfill.id, _WAITING)
        .order_by(Task.scheduled_for, Task.id)
        .limit(1)
        .correlate(Backfill)
        .scalar_subquery()
    )
    with db.read() as session:
        due = select(Task.id).where(Task.status == TaskStatus.PENDING, Task.next_retry_at <= until).limit(1)
        if session.scalar(due) is not None:
            return True
        waiting = session.execute(
            select(Flow.id, Flow.name, Flow.daily_budget_usd, next_held_since)
            .join(Schedule, Schedule.flow_id == Flow.id)
            .join(Backfill, Backfill.schedule_id == Schedule.id)
            .where(
                Schedule.status != ScheduleStatus.PAUSED,
                in_flight < Backfill.max_parallel,
                exists().where(Task.backfill_id == Backfill.id, _WAITING),
            )
        ).all()
        if any(budget is None or held_since is None for _, _, budget, held_since in waiting):
            return True  # runnable, or the claim is to note why its next run waits
        budgets = {flow_id: (name, budget) for flow_id, name, budget, _ in waiting if budget is not None}
        return len(budgets_reached(session, budgets, now, zone)) < len(budgets)


# A backfill's run waiting for its turn: pending, never given a time (runs/backfill.py).
_WAITING = and_(Task.status == TaskStatus.PENDING, Task.next_retry_at.is_(None))


def _claim(
    session,
    dialect: str,
    daemon_id: str,
    now: datetime,
    until: datetime,
    limit: int,
    lease_seconds: float,
    server_limits: ServerLimits,
    zone: str,
) -> tuple[list[ClaimedTask], int]:
    running = aliased(Task)
    # A schedule's own runs go one at a time; a backfill's runs are a stream of their own
    # (neither holds the other back), limited by the backfill's max_parallel instead.
    schedule_free = ~exists().where(
        and_(
            running.schedule_id == Task.schedule_id, running.status == TaskStatus.RUNNING, running.backfill_id.is_(None)
        )
    )
    candidates = (
        select(Task.id, Task.schedule_id, Task.flow_id, Task.backfill_id)
        .where(
            Task.status.in_(sources(Transition.CLAIM)),
            Task.next_retry_at <= until,
            or_(Task.backfill_id.is_not(None), schedule_free),
        )
        .order_by(Task.next_retry_at)
    )
    if dialect == "postgresql":
        candidates = candidates.with_for_update(skip_locked=True, of=Task)
    rules = read_flow_rules(session)
    limits = read_limits(session, dialect, server_limits, now, rules)
    backfills = BackfillSlots(session, dialect, now, zone, rules.budgets)
    # At most one task per schedule, the earliest. Candidates come in windows of twice what is
    # wanted; a schedule seen once is left out of the next window, so a queue of one
    # schedule's runs (catch-up, manual runs) cannot fill the windows and hold back the rest.
    # Likewise a flow at its limit, and a backfill at its own: their tasks wait, the others' go ahead.
    chosen: list[str] = []
    seen: set[str] = set()
    full_flows: set[str] = set()
    full_backfills: set[str] = set()
    held: dict[str, str] = {}

    def backfill_admits(task_id: str, flow_id: str, backfill_id: str) -> bool:
        """Whether the backfill has a place for this run (then counted); a backfill found full
        holds this run, and its others are passed over for the rest of the claim."""
        if backfill_id in full_backfills:
            return False
        waits = backfills.admit(backfill_id, flow_id)
        if waits:
            held[task_id] = waits
            full_backfills.add(backfill_id)
        return not waits

    while len(chosen) < limit:
        window = candidates
        if chosen:
            window = window.where(Task.id.not_in(chosen))
        if seen:
            window = window.where(
                or_(Task.schedule_id.is_(None), Task.backfill_id.is_not(None), Task.schedule_id.not_in(list(seen)))
            )
        if full_flows:
            window = window.where(Task.flow_id.not_in(list(full_flows)))
        if full_backfills:
            window = window.where(or_(Task.backfill_id.is_(None), Task.backfill_id.not_in(list(full_backfills))))
        wanted = 2 * (limit - len(chosen))
        rows = session.execute(window.limit(wanted)).all()
        for task_id, schedule_id, flow_id, backfill_id in rows:
            if backfill_id is None and schedule_id is not None and schedule_id in seen:
                continue
            if backfill_id is not None and not backfill_admits(task_id, flow_id, backfill_id):
                continue
            if limits and not limits.admit(task_id, flow_id):
                if backfill_id is not None:
                    backfills.running[backfill_id] -= 1  # counted above, not started after all
                if limits.flow_full(flow_id):
                    full_flows.add(flow_id)
                continue  # the server full: each of this window's runs is noted as waiting
            if schedule_id is not None and backfill_id is None:
                seen.add(schedule_id)
            chosen.append(task_id)
            if len(chosen) == limit:
                break
        if len(rows) < wanted or (limits and limits.server_full):
            break
    # A backfill's runs take the places left over, after every fire, retry and manual run due:
    # queued when the backfill was asked for, they would otherwise stand in front of every fire
    # due since, until the backfill is done. They wait with no next_retry_at, out of the queue
    # above, and are taken here oldest fire first, at most max_parallel per backfill.
    if len(chosen) < limit and not (limits and limits.server_full):
        for backfill_id, task_id, flow_id in _waiting_backfill_runs(session, dialect, limit - len(chosen)):
            if not backfill_admits(task_id, flow_id, backfill_id):
                continue
            if limits and not limits.admit(task_id, flow_id):
                backfills.running[backfill_id] -= 1  # counted above, not started after all
                if limits.server_full:
                    break
                continue
            chosen.append(task_id)
            if len(chosen) == limit:
                break
    if limits:
        held.update(limits.held)
    note_held(session, held, now)
    chosen = _skip_fires_over_budget(session, chosen, rules.budgets, now, zone)
    if not chosen:
        return [], len(held)
    table = Task.__table__  # Core, not the ORM: this runs for every batch of runs
    claimed_ids = session.scalars(
        update(table)
        .where(table.c.id.in_(chosen), table.c.status.in_(sources(Transition.CLAIM)))
        .values(
            status=target(Transition.CLAIM),
            claimed_by=daemon_id,
            lease_until=now + timedelta(seconds=lease_seconds),
            tries=table.c.tries + 1,
            started_at=now,  # replaced by the attempt's real start when its outcome is recorded
            updated_at=now,
            held_since=None,  # it waits no more: held again later (a retry), it is again noted and not overdue
        )
        .returning(table.c.id)
    ).all()
    if limits:
        note_starts(session, limits, len(claimed_ids), now)
    if not claimed_ids:
        return [], len(held)
    rows = session.execute(
        select(
            Task.id,
            Flow.id,
            Flow.name,
            Task.schedule_id,
            Flow.input_component,
            Flow.output_component,
            Flow.removed_at,
            Task.input_data,
            Task.tries,
            Task.max_retries,
            Task.timeout_seconds,
            Task.scheduled_for,
            Task.next_retry_at,
            Flow.data["updated_at"].as_string(),
        )
        .join(Flow, Flow.id == Task.flow_id)
        .where(Task.id.in_(claimed_ids))
    ).all()
    return sorted((_claimed(*row) for row in rows), key=lambda c: c.run_at), len(held)


def _skip_fires_over_budget(
    session, chosen: list[str], budgets: dict[str, tuple[str, float]], now: datetime, zone: str
) -> list[str]:
    """Queued fires and chain runs, never tried, of a flow whose daily budget ran out since they
    were queued (a catch-up queues many at once) are skipped with the reason instead of run: like
    a fire, a chain's run is started by no person who could force it."""
    if not chosen or not budgets:
        return chosen
    fires = session.execute(
        select(Task.id, Task.flow_id).where(
            Task.id.in_(chosen),
            Task.flow_id.in_(list(budgets)),
            Task.trigger.in_(("schedule", "chain")),
            Task.tries == 0,
        )
    ).all()
    reached = budgets_reached(session, {flow_id: budgets[flow_id] for _, flow_id in fires}, now, zone) if fires else {}
    over = {task_id: reached[flow_id] for task_id, flow_id in fires if flow_id in reached}
    if not over:
        return chosen
    for task_id, flow in over.items():
        reason = f"skipped: {flow.reason}"
        changed = rows_matched(
            session.execute(
                update(Task)
                .where(Task.id == task_id, Task.status.in_(sources(Transition.SKIP_QUEUED)))
                .values(status=target(Transition.SKIP_QUEUED), error=reason, finished_at=now, updated_at=now)
                .execution_options(synchronize_session=False)
            )
        )
        if changed:
            write_logs(session, [log_row(task_id, LogLevel.WARNING, reason, now)])
    return [task_id for task_id in chosen if task_id not in over]


def _waiting_backfill_runs(session, dialect: str, places: int):
    """(backfill, task, flow) of the runs backfills have waiting, each backfill's oldest fires
    first, the oldest backfill first: `2 * places` per backfill at most, each read on the
    (backfill_id, status, scheduled_for) index."""
    backfill_ids = session.scalars(
        select(Backfill.id)
        .where(exists().where(Task.backfill_id == Backfill.id, _WAITING))
        .order_by(Backfill.created_at, Backfill.id)
    ).all()
    for backfill_id in backfill_ids:
        query = (
            select(Task.id, Task.flow_id)
            .where(Task.backfill_id == backfill_id, _WAITING)
            .order_by(Task.scheduled_for)
            .limit(2 * places)
        )
        if dialect == "postgresql":
            query = query.with_for_update(skip_locked=True, of=Task)
        for task_id, flow_id in session.execute(query):
            yield backfill_id, task_id, flow_id


def _claimed(
    task_id,
    flow_id,
    flow_name,
    schedule_id,
    input_component,
    output_component,
    removed_at,
    input_data,
    tries,
    max_retries,
    timeout_seconds,
    scheduled_for,
    run_at,
    flow_updated_at,
) -> ClaimedTask:
    return ClaimedTask(
        id=task_id,
        flow_id=flow_id,
        flow_name=flow_name,
        schedule_id=schedule_id,
        input_component=input_component,
        output_component=output_component,
        flow_ready=bool(input_component and output_component and removed_at is None),
        input_data=dict(input_data or {}),
        tries=tries,
        max_retries=max_retries,
        timeout_seconds=timeout_seconds,
        scheduled_for=scheduled_for,
        run_at=run_at or scheduled_for,
        flow_updated_at=_instant(flow_updated_at),
    )


def _instant(text: str | None) -> datetime | None:
    """LangFlow's ISO time as an aware UTC instant; None when absent or not a time (a naive one
    is LangFlow's UTC)."""
    try:
        moment = datetime.fromisoformat(text) if text else None
    except ValueError:
        return None
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def renew_leases(db: Database, daemon_id: str, task_ids: list[str], now: datetime, lease_seconds: float) -> int:
    """Push the leases of the tasks this daemon runs `lease_seconds` ahead."""
    if not task_ids:
        return 0
    with db.write() as session:
        return rows_matched(
            session.execute(
                update(Task)
                .where(Task.id.in_(task_ids), Task.claimed_by == daemon_id, Task.status == TaskStatus.RUNNING)
                .values(lease_until=now + timedelta(seconds=lease_seconds), updated_at=now)
                .execution_options(synchronize_session=False)
            )
        )
