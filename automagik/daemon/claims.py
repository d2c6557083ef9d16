"""Task leases: claim runnable tasks, keep the claim alive, recover abandoned ones, hand back.

A daemon owns a running task while `claimed_by` is its id and `lease_until` is ahead; every
write it makes about the task repeats that condition (compare-and-set), so a daemon whose
lease was taken over can never overwrite what the new owner records.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, bindparam, exists, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased

from automagik.db.engine import Database
from automagik.db.models import Flow, LogLevel, Task, TaskLog, TaskStatus


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
    outcomes: list[AttemptOutcome],
    now: datetime,
    limit: int,
    lease_seconds: float,
    until: datetime | None = None,
) -> tuple[set[str], list[ClaimedTask]]:
    """Record finished attempts and claim the next tasks in one write transaction (one lock on
    SQLite, one commit on PostgreSQL); returns the ids recorded (see record_outcomes) and the
    tasks claimed."""
    until = until or now
    if not outcomes:
        if limit <= 0 or not _any_runnable(db, until):
            return set(), []
    try:
        with db.write() as session:
            recorded = _record(session, db.dialect, daemon_id, outcomes, now)
            claimed = _claim(session, db.dialect, daemon_id, now, until, limit, lease_seconds) if limit > 0 else []
            return recorded, claimed
    except IntegrityError:
        # Two daemons took tasks of the same schedule at once (PostgreSQL): the unique index
        # refused the second; nothing was written. The outcomes are recorded alone, and the
        # next tick claims again.
        if not outcomes:
            return set(), []
        with db.write() as session:
            return _record(session, db.dialect, daemon_id, outcomes, now), []


def _any_runnable(db: Database, until: datetime) -> bool:
    """Look before locking (see dispatch_due): most ticks find nothing to claim."""
    with db.read() as session:
        return session.scalar(
            select(Task.id).where(Task.status == TaskStatus.PENDING, Task.next_retry_at <= until).limit(1)
        ) is not None


def _claim(
    session, dialect: str, daemon_id: str, now: datetime, until: datetime, limit: int, lease_seconds: float
) -> list[ClaimedTask]:
    running = aliased(Task)
    candidates = (
        select(Task.id, Task.schedule_id)
        .where(
            Task.status == TaskStatus.PENDING,
            Task.next_retry_at <= until,
            ~exists().where(and_(running.schedule_id == Task.schedule_id, running.status == TaskStatus.RUNNING)),
        )
        .order_by(Task.next_retry_at)
        .limit(limit * 2)
    )
    if dialect == "postgresql":
        candidates = candidates.with_for_update(skip_locked=True, of=Task)
    chosen, schedules = [], set()
    for task_id, schedule_id in session.execute(candidates):
        if schedule_id is not None and schedule_id in schedules:
            continue
        schedules.add(schedule_id)
        chosen.append(task_id)
        if len(chosen) == limit:
            break
    if not chosen:
        return []
    table = Task.__table__  # Core, not the ORM: this runs for every batch of runs
    claimed_ids = session.scalars(
        update(table)
        .where(table.c.id.in_(chosen), table.c.status == TaskStatus.PENDING.value)
        .values(
            status=TaskStatus.RUNNING.value,
            claimed_by=daemon_id,
            lease_until=now + timedelta(seconds=lease_seconds),
            tries=table.c.tries + 1,
            started_at=now,  # replaced by the attempt's real start when its outcome is recorded
            updated_at=now,
        )
        .returning(table.c.id)
    ).all()
    if not claimed_ids:
        return []
    rows = session.execute(
        select(
            Task.id, Flow.id, Flow.name, Task.schedule_id, Flow.input_component, Flow.output_component,
            Flow.removed_at, Task.input_data, Task.tries, Task.max_retries, Task.timeout_seconds,
            Task.scheduled_for, Task.next_retry_at,
        )
        .join(Flow, Flow.id == Task.flow_id)
        .where(Task.id.in_(claimed_ids))
    ).all()
    return sorted((_claimed(*row) for row in rows), key=lambda c: c.run_at)


def _claimed(
    task_id, flow_id, flow_name, schedule_id, input_component, output_component, removed_at,
    input_data, tries, max_retries, timeout_seconds, scheduled_for, run_at,
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
    )


def extend_leases(db: Database, daemon_id: str, task_ids: list[str], now: datetime, lease_seconds: float) -> int:
    if not task_ids:
        return 0
    with db.write() as session:
        return session.execute(
            update(Task)
            .where(Task.id.in_(task_ids), Task.claimed_by == daemon_id, Task.status == TaskStatus.RUNNING)
            .values(lease_until=now + timedelta(seconds=lease_seconds), updated_at=now)
            .execution_options(synchronize_session=False)
        ).rowcount


@dataclass(frozen=True)
class AttemptOutcome:
    """What one attempt of a task came to, ready to be recorded (workers never write)."""

    task_id: str
    status: TaskStatus  # completed, failed, or pending again for a retry
    logs: list[tuple[LogLevel, str, datetime]]
    result: dict | None = None
    error: str | None = None
    next_retry_at: datetime | None = None
    started_at: datetime | None = None  # when the attempt really began (claims may come ahead of it)
    finished_at: datetime | None = None  # when it ended (it is recorded a little later, in a batch)


def record_outcomes(db: Database, daemon_id: str, outcomes: list[AttemptOutcome], now: datetime) -> set[str]:
    """Record attempts' outcomes in one transaction; returns the ids this daemon still owned
    (a task whose lease was taken over by another daemon keeps what its new owner records)."""
    if not outcomes:
        return set()
    return record_and_claim(db, daemon_id, outcomes, now, 0, 0)[0]


def _record(session, dialect: str, daemon_id: str, outcomes: list[AttemptOutcome], now: datetime) -> set[str]:
    if not outcomes:
        return set()
    table = Task.__table__
    owned_query = select(Task.id).where(
        Task.id.in_([o.task_id for o in outcomes]), Task.claimed_by == daemon_id, Task.status == TaskStatus.RUNNING
    )
    if dialect == "postgresql":
        owned_query = owned_query.with_for_update()
    recorded = set(session.scalars(owned_query))
    rows = [_outcome_row(o, now) for o in outcomes if o.task_id in recorded]
    if rows:
        # One statement for the batch; the rows were just checked (and locked) as ours.
        session.execute(
            update(table)
            .where(table.c.id == bindparam("task_id"), table.c.claimed_by == daemon_id)
            .values(
                status=bindparam("new_status"), error=bindparam("new_error"), result=bindparam("new_result"),
                started_at=func.coalesce(bindparam("new_started_at"), table.c.started_at),
                finished_at=bindparam("new_finished_at"), next_retry_at=bindparam("new_next_retry_at"),
                claimed_by=None, lease_until=None, updated_at=now,
            ),
            rows,
        )
    _add_logs_many(session, [(o.task_id, line) for o in outcomes if o.task_id in recorded for line in o.logs])
    return recorded


def _outcome_row(outcome: AttemptOutcome, now: datetime) -> dict:
    retrying = outcome.status is TaskStatus.PENDING
    return {
        "task_id": outcome.task_id,
        "new_status": outcome.status.value,
        "new_error": outcome.error,
        "new_result": None if retrying else outcome.result,
        "new_finished_at": None if retrying else outcome.finished_at or now,
        "new_next_retry_at": outcome.next_retry_at if retrying else None,
        "new_started_at": outcome.started_at,
    }


def finish_task(
    db: Database,
    daemon_id: str,
    task_id: str,
    now: datetime,
    *,
    status: TaskStatus,
    logs: list[tuple[LogLevel, str, datetime]],
    result: dict | None = None,
    error: str | None = None,
    next_retry_at: datetime | None = None,
) -> bool:
    """Record one attempt's outcome; False if this daemon no longer owns the task."""
    outcome = AttemptOutcome(task_id, status, logs, result=result, error=error, next_retry_at=next_retry_at)
    return task_id in record_outcomes(db, daemon_id, [outcome], now)


def _add_logs_many(session, lines: list[tuple[str, tuple[LogLevel, str, datetime]]]) -> None:
    if lines:
        session.execute(
            insert(TaskLog),
            [
                {"task_id": task_id, "level": level, "message": message[:10_000], "created_at": at}
                for task_id, (level, message, at) in lines
            ],
        )


def _add_logs(session, task_id: str, logs: list[tuple[LogLevel, str, datetime]]) -> None:
    """Append one task's log lines, each (level, message, at), in the caller's transaction."""
    _add_logs_many(session, [(task_id, line) for line in logs])


@dataclass(frozen=True)
class Recovered:
    task_id: str
    retried: bool
    owner: str | None


def recover_expired(db: Database, now: datetime, limit: int = 500) -> list[Recovered]:
    """Retry or fail running tasks whose lease expired: the daemon that held them is gone."""
    recovered: list[Recovered] = []
    with db.write() as session:
        query = (
            select(Task.id, Task.claimed_by, Task.lease_until, Task.tries, Task.max_retries)
            .where(Task.status == TaskStatus.RUNNING, Task.lease_until < now)
            .limit(limit)
        )
        if db.dialect == "postgresql":
            query = query.with_for_update(skip_locked=True)
        for task_id, owner, lease_until, tries, max_retries in session.execute(query).all():
            retry = tries <= max_retries
            message = (
                f"daemon {owner} stopped while running this task (its lease expired at "
                f"{lease_until:%Y-%m-%d %H:%M:%S} UTC); "
                + ("retrying now" if retry else f"no retries left after {tries} tries: failed")
            )
            values = dict(claimed_by=None, lease_until=None, updated_at=now)
            if retry:
                values.update(status=TaskStatus.PENDING, next_retry_at=now)
            else:
                values.update(status=TaskStatus.FAILED, finished_at=now, error=message)
            changed = session.execute(
                update(Task)
                .where(Task.id == task_id, Task.status == TaskStatus.RUNNING, Task.lease_until == lease_until)
                .values(**values)
                .execution_options(synchronize_session=False)
            ).rowcount
            if changed:
                _add_logs(session, task_id, [(LogLevel.WARNING if retry else LogLevel.ERROR, message, now)])
                recovered.append(Recovered(task_id, retry, owner))
    return recovered


def hand_back(db: Database, daemon_id: str, task_ids: list[str], now: datetime, started: bool = True) -> int:
    """On shutdown: return unfinished tasks to the queue; the cut-short attempt is not counted.
    Tasks claimed ahead that never `started` go back without a note: nothing happened to them."""
    if not task_ids:
        return 0
    values = dict(status=TaskStatus.PENDING, claimed_by=None, lease_until=None, tries=Task.tries - 1, updated_at=now)
    if started:
        values.update(next_retry_at=now)  # the cut-short run is retried at once
    else:
        values.update(started_at=None)  # it keeps its planned time
    with db.write() as session:
        handed = session.scalars(
            update(Task)
            .where(Task.id.in_(task_ids), Task.claimed_by == daemon_id, Task.status == TaskStatus.RUNNING)
            .values(**values)
            .returning(Task.id)
            .execution_options(synchronize_session=False)
        ).all()
        for task_id in handed if started else ():
            note = f"daemon {daemon_id} shut down during the run; handed back to the queue"
            _add_logs(session, task_id, [(LogLevel.WARNING, note, now)])
        return len(handed)
