"""Turn due fires into tasks: claim each due schedule, record its fire(s), advance it.

Exactly once per fire rests on two things. The schedule row is advanced by compare-and-set
(UPDATE ... WHERE next_run_at = the value read), and candidates are locked with FOR UPDATE
SKIP LOCKED on PostgreSQL (SQLite serialises writers instead). And a task's key
(schedule_id, scheduled_for) is unique, so even a lost race cannot insert a fire twice.
next_run_at advances from the planned instant, never from "now", so schedules never drift.
"""

from __future__ import annotations

import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Collection

from sqlalchemy import insert as generic_insert
from sqlalchemy import bindparam, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from automagik.daemon.settings import DaemonSettings
from automagik.db.engine import Database
from automagik.db.models import LogLevel, MissedRunPolicy, Schedule, ScheduleStatus, Task, TaskLog, TaskStatus
from automagik.scheduling import InvalidSchedule, Trigger
from automagik.services.schedules import schedule_trigger

# Walking a dense trigger through a long downtime one fire at a time would be slow; past
# this many fires we jump close to "now" and only estimate how many were missed.
MAX_WALK = 10_000


@dataclass
class FirePlan:
    """What one due schedule gets now."""

    run: list[datetime] = field(default_factory=list)  # fires that become runnable tasks
    skipped: list[datetime] = field(default_factory=list)  # fires recorded as skipped (with `reason`)
    reason: str | None = None
    note: str | None = None  # a remark for the log of the first task (coalesced fires...)
    next_run_at: datetime | None = None


@dataclass
class DispatchResult:
    selected: int = 0  # due schedules read (at most one batch)
    schedules: int = 0  # ... of which advanced
    fired: int = 0
    skipped: int = 0
    completed: int = 0
    deferred: datetime | None = None  # the earliest fire left for its instant (see dispatch_due)


def _due_fires(trigger: Trigger, first: datetime, now: datetime, keep: int) -> tuple[list[datetime], int, datetime | None]:
    """The last `keep` fires in [first, now], how many there were, and the first fire after now."""
    kept: deque[datetime] = deque(maxlen=keep)
    count, fire, previous = 0, first, None
    while fire is not None and fire <= now:
        if count == MAX_WALK and previous is not None:
            period = fire - previous
            jump_to = trigger.next_fire_after(now - period * (keep + 1))
            if jump_to is not None and jump_to > fire:
                count += max(0, int((jump_to - fire) / period)) if period > timedelta(0) else 0
                fire = jump_to
                continue
        kept.append(fire)
        count += 1
        previous, fire = fire, trigger.next_fire_after(fire)
    return list(kept), count, fire


def plan_fires(
    schedule: Schedule, trigger: Trigger, now: datetime, settings: DaemonSettings, busy: bool,
    until: datetime | None = None,
) -> FirePlan:
    """Apply the schedule's missed-run policy to the fires due since next_run_at, up to
    `until` (default now; a little later when the daemon dispatches ahead)."""
    policy = schedule.missed_policy
    keep = settings.catch_up_limit if policy is MissedRunPolicy.ALL else 1
    due, count, following = _due_fires(trigger, schedule.next_run_at, until or now, keep)
    plan = FirePlan(next_run_at=following)
    latest = due[-1]
    grace = timedelta(seconds=settings.missed_grace_seconds)
    late = now - latest > grace
    earlier = count - len(due)
    if busy:
        # Under "all" every fire gets its own task, a skipped one here; otherwise the latest
        # stands for the fires it would have been coalesced with.
        plan.skipped = due if policy is MissedRunPolicy.ALL else [latest]
        plan.reason = "skipped: the previous run of this schedule was still going"
        if count > len(plan.skipped):
            plan.reason += f" ({count - len(plan.skipped)} earlier fire(s) missed as well)"
        return plan
    if policy is MissedRunPolicy.SKIP and late:
        plan.skipped = [latest]
        plan.reason = (
            f"skipped: missed by {_ago(now - latest)} (more than the {settings.missed_grace_seconds:g} s grace) "
            "while no daemon was running; policy skip"
        )
        if count > 1:
            plan.reason += f"; {count - 1} earlier fire(s) missed too"
        return plan
    if policy is MissedRunPolicy.ALL:
        plan.run = due
        if earlier:
            plan.note = f"catch-up after downtime: {earlier} older missed fire(s) beyond the limit of {keep} not run"
        elif count > 1:
            plan.note = f"catch-up after downtime: running all {count} missed fires"
        return plan
    plan.run = [latest]
    if count > 1:
        plan.note = f"coalesced {count - 1} missed fire(s) since {due[0] if len(due) > 1 else schedule.next_run_at:%Y-%m-%d %H:%M:%S} UTC into this run"
    elif late:
        plan.note = f"running {_ago(now - latest)} late (no daemon was running at the planned time)"
    return plan


def _ago(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h"


def _insert(dialect: str):
    if dialect == "postgresql":
        return pg_insert
    if dialect == "sqlite":
        return sqlite_insert
    return generic_insert


def dispatch_due(
    db: Database, now: datetime, settings: DaemonSettings, daemon_id: str, until: datetime | None = None,
    finished: Collection[str] = (),
) -> DispatchResult:
    """Fire every active schedule whose next_run_at has come by `until` (default now), one batch;
    safe to run anywhere, twice. Fires a little ahead of now become tasks that wait for their
    instant (`next_retry_at`), so that one tick can serve many fires.

    A schedule whose previous run is still going skips its fire, but only once the fire is
    due: a future fire of a busy schedule is left alone (`deferred`), since the run may be over
    by then. `finished` names tasks the caller knows have finished, not yet recorded."""
    result = DispatchResult()
    until = until or now
    due = (Schedule.status == ScheduleStatus.ACTIVE, Schedule.next_run_at <= until)
    # Look before locking: most ticks find nothing due, and on SQLite a write transaction
    # would take the database's single write lock every time.
    with db.read() as session:
        if session.scalar(select(Schedule.id).where(*due).limit(1)) is None:
            return result
    with db.write() as session:
        query = (
            select(Schedule)
            .where(*due)
            .order_by(Schedule.next_run_at)
            .limit(settings.dispatch_batch)
        )
        if db.dialect == "postgresql":
            query = query.with_for_update(skip_locked=True)
        schedules = session.scalars(query).all()
        if not schedules:
            return result
        ids = [s.id for s in schedules]
        result.selected = len(schedules)
        going = select(Task.schedule_id).where(
            Task.schedule_id.in_(ids), Task.status.in_([TaskStatus.PENDING, TaskStatus.RUNNING])
        )
        if finished:
            going = going.where(Task.id.not_in(list(finished)))
        busy = set(session.scalars(going))
        tasks: list[dict] = []
        logs: list[dict] = []
        advances: list[dict] = []
        for schedule in schedules:
            if schedule.id in busy and schedule.next_run_at > now:
                if result.deferred is None or schedule.next_run_at < result.deferred:
                    result.deferred = schedule.next_run_at
                continue
            try:
                plan = plan_fires(schedule, schedule_trigger(schedule), now, settings, schedule.id in busy, until)
            except InvalidSchedule as exc:  # an expression that no longer parses: stop it, visibly
                plan = FirePlan(skipped=[schedule.next_run_at], reason=f"skipped: {exc}; schedule paused")
                new_status = ScheduleStatus.PAUSED
            else:
                new_status = ScheduleStatus.ACTIVE if plan.next_run_at is not None else ScheduleStatus.COMPLETED
            advances.append(
                {
                    "schedule_id": schedule.id,
                    "read_next_run_at": schedule.next_run_at,
                    "new_next_run_at": plan.next_run_at,
                    "new_status": new_status.value,
                    "new_last_run_at": max(plan.run + plan.skipped),
                }
            )
            result.schedules += 1
            result.completed += new_status is ScheduleStatus.COMPLETED
            for index, fire in enumerate(plan.run):
                task_id = str(uuid.uuid4())
                tasks.append(_task_row(task_id, schedule, fire, TaskStatus.PENDING, now, None))
                if index == 0 and plan.note:
                    logs.append(_log_row(task_id, LogLevel.WARNING, plan.note, now))
            for fire in plan.skipped:
                task_id = str(uuid.uuid4())
                tasks.append(_task_row(task_id, schedule, fire, TaskStatus.SKIPPED, now, plan.reason))
                logs.append(_log_row(task_id, LogLevel.WARNING, plan.reason, now))
        _advance(session, advances, now)
        inserted = _insert_tasks(session, db.dialect, tasks)
        logs = [line for line in logs if line["task_id"] in inserted]
        if logs:
            session.execute(generic_insert(TaskLog.__table__), logs)
        for row in tasks:
            if row["id"] in inserted:
                result.fired += row["status"] == TaskStatus.PENDING.value
                result.skipped += row["status"] == TaskStatus.SKIPPED.value
    return result


def _advance(session, advances: list[dict], now: datetime) -> None:
    """Move every claimed schedule to its next fire in one statement. The WHERE repeats what was
    read (compare-and-set); the rows are also locked (FOR UPDATE on PostgreSQL, the write lock on
    SQLite), and the tasks' unique fire key stands behind both."""
    if not advances:
        return
    table = Schedule.__table__
    session.execute(
        update(table)
        .where(
            table.c.id == bindparam("schedule_id"),
            table.c.status == ScheduleStatus.ACTIVE.value,
            table.c.next_run_at == bindparam("read_next_run_at"),
        )
        .values(
            next_run_at=bindparam("new_next_run_at"),
            status=bindparam("new_status"),
            last_run_at=bindparam("new_last_run_at"),
            updated_at=now,
        ),
        advances,
    )


def _insert_tasks(session, dialect: str, rows: list[dict]) -> set[str]:
    """Insert the tasks, silently dropping any fire that already has one; returns ids inserted."""
    if not rows:
        return set()
    table = Task.__table__
    statement = (
        _insert(dialect)(table)
        .on_conflict_do_nothing(index_elements=["schedule_id", "scheduled_for"])
        .returning(table.c.id)
    )
    return set(session.scalars(statement, rows, execution_options={"synchronize_session": False}).all())


def _task_row(task_id: str, schedule: Schedule, fire: datetime, status: TaskStatus, now: datetime, error: str | None) -> dict:
    return {
        "id": task_id,
        "flow_id": schedule.flow_id,
        "schedule_id": schedule.id,
        "status": status.value,
        "input_data": schedule.flow_params or {},
        "result": None,
        "error": error,
        "tries": 0,
        "max_retries": schedule.max_retries,
        "timeout_seconds": schedule.timeout_seconds,
        "scheduled_for": fire,
        "next_retry_at": fire if status is TaskStatus.PENDING else None,
        "claimed_by": None,
        "lease_until": None,
        "created_at": now,
        "started_at": None,
        "finished_at": now if status is TaskStatus.SKIPPED else None,
        "updated_at": now,
    }


def _log_row(task_id: str, level: LogLevel, message: str, now: datetime) -> dict:
    return {"task_id": task_id, "level": level.value, "message": message, "created_at": now}
