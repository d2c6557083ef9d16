"""Fires become tasks: each due schedule's fires recorded, the schedule advanced.

Exactly once per fire rests on two things. The schedule row is advanced by compare-and-set
(UPDATE ... WHERE next_run_at = the value read), its row locked meanwhile (FOR UPDATE SKIP
LOCKED on PostgreSQL, the write lock on SQLite). And a task's key (schedule_id,
scheduled_for) is unique, so even a lost race cannot insert a fire twice. next_run_at
advances from the planned instant, never from "now", so schedules never drift.

The work is split so that no write transaction holds the lock for long: the due schedules
are read, and their fires since next_run_at walked (after downtime, up to MAX_WALK of them
per schedule: runs/catch_up.py), outside any transaction and within a time budget; the write
transaction then only checks that each schedule is as it was read, applies its missed-run
policy (runs/catch_up.py) and writes.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, bindparam, exists, or_, select, text, update
from sqlalchemy import insert as generic_insert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from automagik.costs.budgets import BudgetReached, budgets_reached, today
from automagik.db.engine import Database
from automagik.db.models import Flow, LogLevel, MissedRunPolicy, Schedule, ScheduleStatus, Task, TaskStatus
from automagik.monitoring.incidents import Kind, open_incident
from automagik.runs.catch_up import FirePlan, Walk, plan_fires, walk_fires
from automagik.runs.schedules import schedule_trigger
from automagik.runs.states import Transition, log_row, target, write_logs
from automagik.runs.templates import FireValues, has_placeholders, render_input
from automagik.scheduling import InvalidSchedule

if TYPE_CHECKING:
    from automagik.daemon.settings import DaemonSettings

# Seconds of fire-walking per batch: the rest of the due schedules wait for the next batch,
# so a tick after a long downtime never keeps the daemon from its heartbeat.
PLAN_BUDGET = 0.25
# Tasks written by one batch at most (catch-up under the "all" policy writes up to
# catch_up_limit per schedule): the rest waits for the next batch, keeping the transaction short.
MAX_BATCH_TASKS = 1_000

RUNNING_REASON = "skipped: the previous run of this schedule was still going"
QUEUED_REASON = "skipped: the previous run of this schedule was still waiting to start"


def in_progress(task=Task):
    """A run holds its schedule while it runs, or is queued and has never been tried. A task
    waiting for a retry does not: its schedule's next fire runs on time, and the retry runs
    when its turn comes (never at the same time as another run of the schedule)."""
    # The IN lets both databases use the (schedule_id, status) index for it.
    return and_(
        task.status.in_([TaskStatus.RUNNING, TaskStatus.PENDING]),
        or_(task.status == TaskStatus.RUNNING, task.tries == 0),
    )


@dataclass
class DispatchResult:
    selected: int = 0  # due schedules read (at most one batch)
    schedules: int = 0  # ... of which advanced
    fired: int = 0
    skipped: int = 0
    completed: int = 0
    deferred: datetime | None = None  # the earliest fire left for its instant (see dispatch_due)
    deferred_ids: list[str] = field(default_factory=list)  # ... and the schedules left so
    cut_short: bool = False  # the batch was full, or its planning budget ran out
    budget_alerts: list[BudgetReached] = field(default_factory=list)  # flows whose budget incident this opened
    budget_skipped: set[str] = field(default_factory=set)  # schedules whose fire this batch skipped for budget

    @property
    def more(self) -> bool:
        """Whether another batch may find due work: this one was full (or cut short) and
        advanced or deferred something (the next batch reads past what it deferred). A batch
        that did neither ends the tick: no spinning."""
        return self.cut_short and (self.schedules > 0 or bool(self.deferred_ids))


def insert_for(dialect: str):
    """The INSERT with ON CONFLICT of `dialect` (backfill and chains insert their tasks with it too)."""
    if dialect == "postgresql":
        return pg_insert
    if dialect == "sqlite":
        return sqlite_insert
    return generic_insert


def dispatch_due(
    db: Database,
    now: datetime,
    settings: DaemonSettings,
    daemon_id: str,
    until: datetime | None = None,
    finished: Collection[str] = (),
    plan_budget: float = PLAN_BUDGET,
    deferred: Collection[str] = (),
    zone: str = "UTC",
) -> DispatchResult:
    """Fire every active schedule whose next_run_at has come by `until` (default now), one batch;
    safe to run anywhere, twice. Fires a little ahead of now become tasks that wait for their
    instant (`next_retry_at`), so that one tick can serve many fires.

    A schedule whose previous run is in progress skips its fire, but only once the fire is
    due: a future fire of a busy schedule is left alone (`deferred`, with the earliest such
    instant), since the run may be over by then. The caller passes the schedules it already
    left alone this way back as `deferred`, so that the next batch reads past them.
    `finished` names tasks the caller knows have finished, not yet recorded. A flow whose
    daily budget (`zone`'s day) is reached has its fires skipped, and is named once a day in
    `budget_alerts`."""
    result = DispatchResult()
    until = until or now
    finished = list(finished)
    rows = _read_due(db, until, settings.dispatch_batch, finished, list(deferred))
    result.selected = len(rows)
    schedules, budgets, flow_names = [], {}, {}
    for schedule, busy, flow_name, daily_budget in rows:
        flow_names[schedule.id] = flow_name
        if daily_budget is not None:
            budgets[schedule.flow_id] = (flow_name, daily_budget)
        if busy and schedule.next_run_at > now:
            result.deferred_ids.append(schedule.id)
            if result.deferred is None or schedule.next_run_at < result.deferred:
                result.deferred = schedule.next_run_at
        else:
            schedules.append(schedule)
    result.cut_short = len(rows) == settings.dispatch_batch
    if not schedules:
        return result
    walks: dict[str, Walk | InvalidSchedule] = {}
    deadline = time.monotonic() + plan_budget
    for schedule in schedules:
        if walks and time.monotonic() > deadline:
            result.cut_short = True
            break
        walks[schedule.id] = _walk(schedule, until, settings)
    planned = [s for s in schedules if s.id in walks]
    with db.write() as session:
        over_budget = _over_budget(session, [s for s in planned if s.flow_id in budgets], budgets, now, zone)
        _write_fires(session, db.dialect, planned, walks, now, settings, finished, result, over_budget, flow_names)
        skipped = {
            (reached.flow_id, reached.day): reached
            for sid, reached in over_budget.items()
            if sid in result.budget_skipped
        }
        # One incident per flow while its budget stays reached, whatever daemon finds it first
        # (the watch clears it once the day's spending is under the budget again).
        result.budget_alerts = [
            reached
            for reached in skipped.values()
            if open_incident(session, db.dialect, Kind.BUDGET_REACHED, reached.flow_id, reached.message, now)
        ]
    return result


def _over_budget(
    session, schedules: list[Schedule], budgets: dict[str, tuple[str, float]], now: datetime, zone: str
) -> dict[str, BudgetReached]:
    """The schedules whose flow's budget is reached on the day of their fire (a fire a moment
    after midnight, dispatched a moment before, belongs to the new day), by schedule id."""
    by_day: dict[str, list[Schedule]] = {}
    for schedule in schedules:
        by_day.setdefault(today(max(now, _due_at(schedule)), zone)[0], []).append(schedule)
    reached: dict[str, BudgetReached] = {}
    for members in by_day.values():
        when = max(now, _due_at(members[0]))
        flows = budgets_reached(session, {s.flow_id: budgets[s.flow_id] for s in members}, when, zone)
        reached.update({s.id: flows[s.flow_id] for s in members if s.flow_id in flows})
    return reached


def _busy(finished: list[str]):
    return _busy_with(finished, in_progress())


def _busy_with(finished: list[str], condition):
    """EXISTS a task of the schedule meeting `condition`, leaving out tasks known finished. A
    backfill's runs never make their schedule busy: they are a stream of their own, limited by
    the backfill's max_parallel (runs/backfill.py), and the schedule's own fires go on."""
    busy = exists().where(Task.schedule_id == Schedule.id, condition, Task.backfill_id.is_(None))
    return busy.where(Task.id.not_in(finished)) if finished else busy


def _read_due(db: Database, until: datetime, limit: int, finished: list[str], deferred: list[str]) -> list[tuple]:
    """One batch of due schedules, each with whether a run of it is in progress, its flow's
    name and daily budget; one query, in a read transaction (most ticks find nothing due, and
    take no write lock)."""
    query = (
        select(Schedule, _busy(finished).label("busy"), Flow.name, Flow.daily_budget_usd)
        .join(Flow, Flow.id == Schedule.flow_id)
        .where(Schedule.status == ScheduleStatus.ACTIVE, Schedule.next_run_at <= until)
        .order_by(Schedule.next_run_at)
        .limit(limit)
    )
    if deferred:
        query = query.where(Schedule.id.not_in(deferred))
    with db.read() as session:
        return [tuple(row) for row in session.execute(query)]


def _due_at(schedule: Schedule) -> datetime:
    """A due schedule's next fire. Due schedules are read by their next_run_at (_read_due), so
    it is never None here; the column is nullable for schedules with no fire left."""
    if schedule.next_run_at is None:
        raise ValueError(f"Schedule {schedule.id} has no next fire, so it cannot be due.")
    return schedule.next_run_at


def _walk(schedule: Schedule, until: datetime, settings: DaemonSettings) -> Walk | InvalidSchedule:
    keep = settings.catch_up_limit if schedule.missed_policy is MissedRunPolicy.ALL else 1
    try:
        return walk_fires(schedule_trigger(schedule), _due_at(schedule), until, keep)
    except InvalidSchedule as exc:  # an expression that no longer parses: stopped, visibly
        return exc


def _write_fires(
    session,
    dialect: str,
    schedules: list[Schedule],
    walks: dict,
    now: datetime,
    settings: DaemonSettings,
    finished: list[str],
    result: DispatchResult,
    over_budget: dict[str, BudgetReached],
    flow_names: dict[str, str],
) -> None:
    as_read = {s.id: (s.next_run_at, s.updated_at) for s in schedules}
    running = _busy_with(finished, Task.status == TaskStatus.RUNNING)
    queued = _busy_with(finished, and_(Task.status == TaskStatus.PENDING, Task.tries == 0))
    current = select(
        Schedule.id,
        Schedule.status,
        Schedule.next_run_at,
        Schedule.updated_at,
        running.label("running"),
        queued.label("queued"),
    ).where(Schedule.id.in_(list(as_read)))
    if dialect == "postgresql":
        current = current.with_for_update(skip_locked=True, of=Schedule)  # another daemon's rows: theirs to fire
    # Compare-and-set on what was read outside the transaction: a schedule paused, edited (its
    # input, its expression) or fired by another daemon since is left for the next batch to read.
    # Whether its previous run is going is read again here, under the lock.
    unchanged, reasons = set(), {}
    for sid, status, next_run_at, updated_at, is_running, is_queued in session.execute(current):
        if status is ScheduleStatus.ACTIVE and next_run_at is not None and (next_run_at, updated_at) == as_read[sid]:
            unchanged.add(sid)
            if is_running or is_queued:
                reasons[sid] = RUNNING_REASON if is_running else QUEUED_REASON
    tasks: list[dict[str, Any]] = []
    logs: list[dict[str, object]] = []
    advances: list[dict[str, Any]] = []
    for schedule in schedules:
        if schedule.id not in unchanged:
            continue
        if len(tasks) >= MAX_BATCH_TASKS:
            result.cut_short = True
            break
        reason, due = reasons.get(schedule.id), _due_at(schedule)
        if reason is None and schedule.id in over_budget:
            reason = f"skipped: {over_budget[schedule.id].reason}"
            result.budget_skipped.add(schedule.id)
        elif reason and due > now:
            if result.deferred is None or due < result.deferred:
                result.deferred = due
            continue
        walk = walks[schedule.id]
        if isinstance(walk, InvalidSchedule):
            plan = FirePlan(skipped=[due], reason=f"skipped: {walk}; schedule paused", status=ScheduleStatus.PAUSED)
        else:
            plan = plan_fires(schedule, walk, now, settings, reason)
        advances.append(
            {
                "schedule_id": schedule.id,
                "read_next_run_at": schedule.next_run_at,
                "new_next_run_at": plan.next_run_at,
                "new_status": plan.status.value,
                "new_last_run_at": max(plan.run + plan.skipped),
            }
        )
        result.schedules += 1
        result.completed += plan.status is ScheduleStatus.COMPLETED
        # Asked once per schedule, not per fire: most inputs have no braces and are stored as they are.
        templated = has_placeholders(schedule.flow_params or {})
        flow_name = flow_names.get(schedule.id, "")
        for index, fire in enumerate(plan.run):
            task_id = str(uuid.uuid4())
            tasks.append(
                fire_task_row(
                    task_id, schedule, fire, Transition.FIRE, now, None, flow_name=flow_name, templated=templated
                )
            )
            if index == 0 and plan.note:
                logs.append(log_row(task_id, LogLevel.WARNING, plan.note, now))
        for fire in plan.skipped:
            task_id = str(uuid.uuid4())
            tasks.append(
                fire_task_row(
                    task_id, schedule, fire, Transition.SKIP, now, plan.reason, flow_name=flow_name, templated=templated
                )
            )
            logs.append(log_row(task_id, LogLevel.WARNING, plan.reason, now))
    _advance(session, advances, now)
    inserted = insert_fire_tasks(session, dialect, tasks)
    write_logs(session, [line for line in logs if line["task_id"] in inserted])
    for row in tasks:
        if row["id"] in inserted:
            result.fired += row["status"] == TaskStatus.PENDING.value
            result.skipped += row["status"] == TaskStatus.SKIPPED.value


def _advance(session, advances: list[dict], now: datetime) -> None:
    """Move every claimed schedule to its next fire in one statement. The WHERE repeats what was
    read (compare-and-set); the rows are also locked (FOR UPDATE on PostgreSQL, the write lock on
    SQLite), and the tasks' unique fire key stands behind both."""
    if not advances:
        return
    if session.get_bind().dialect.name == "postgresql":
        _advance_unnest(session, advances, now)
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


# PostgreSQL: the batch as one UPDATE joined to the unnested columns, passed as five arrays. As
# an executemany psycopg2 sends one UPDATE per schedule, and a VALUES list is compiled anew for
# every batch (its rows are bound one by one): both cost more CPU than the whole rest of a batch.
_ADVANCE_UNNEST = text("""
    UPDATE schedules AS s
    SET next_run_at = a.new_next_run_at, status = a.new_status, last_run_at = a.new_last_run_at,
        updated_at = :now
    FROM unnest(CAST(:ids AS varchar[]), CAST(:reads AS timestamptz[]), CAST(:nexts AS timestamptz[]),
                CAST(:statuses AS varchar[]), CAST(:lasts AS timestamptz[]))
         AS a(id, read_next_run_at, new_next_run_at, new_status, new_last_run_at)
    WHERE s.id = a.id AND s.status = :active AND s.next_run_at = a.read_next_run_at
""")


def _advance_unnest(session, advances: list[dict], now: datetime) -> None:
    session.execute(
        _ADVANCE_UNNEST,
        {
            "ids": [row["schedule_id"] for row in advances],
            "reads": [row["read_next_run_at"] for row in advances],
            "nexts": [row["new_next_run_at"] for row in advances],
            "statuses": [row["new_status"] for row in advances],
            "lasts": [row["new_last_run_at"] for row in advances],
            "now": now,
            "active": ScheduleStatus.ACTIVE.value,
        },
    )


def insert_fire_tasks(session, dialect: str, rows: list[dict]) -> set[str]:
    """Insert the tasks, silently dropping any fire that already has one; returns ids inserted."""
    if not rows:
        return set()
    table = Task.__table__
    statement = (
        insert_for(dialect)(table)
        .on_conflict_do_nothing(index_elements=["schedule_id", "scheduled_for"])
        .returning(table.c.id)
    )
    return set(session.scalars(statement, rows, execution_options={"synchronize_session": False}).all())


def fire_task_row(
    task_id: str,
    schedule: Schedule,
    fire: datetime,
    transition: Transition,
    now: datetime,
    error: str | None,
    *,
    flow_name: str = "",
    templated: bool | None = None,
) -> dict:
    """A fire's task row. Its input is the schedule's with the placeholders filled from this fire
    (its own planned time in the schedule's zone, so a caught-up fire says its own day); a skipped
    fire stores what it would have sent. `templated` is has_placeholders(flow_params), if known."""
    pending = transition is Transition.FIRE
    input_data = schedule.flow_params or {}
    if templated or (templated is None and has_placeholders(input_data)):
        input_data = render_input(
            input_data,
            FireValues(
                fire_time=fire,
                zone=schedule.timezone,
                task_id=task_id,
                flow_name=flow_name,
                schedule_id=schedule.id,
            ),
        )
    return {
        "id": task_id,
        "flow_id": schedule.flow_id,
        "schedule_id": schedule.id,
        "status": target(transition),
        "input_data": input_data,
        "result": None,
        "error": error,
        "tries": 0,
        "max_retries": schedule.max_retries,
        "timeout_seconds": schedule.timeout_seconds,
        "scheduled_for": fire,
        "next_retry_at": fire if pending else None,
        "claimed_by": None,
        "lease_until": None,
        "created_at": now,
        "started_at": None,
        "finished_at": None if pending else now,
        "updated_at": now,
        "trigger": "schedule",
    }
