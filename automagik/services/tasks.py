"""Tasks, the history of runs: run a flow now, list and filter runs, look at one, retry one."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Select, func, select
from sqlalchemy.orm import aliased

from automagik.clock import utcnow
from automagik.costs.budgets import BudgetReached, budgets_reached
from automagik.db.engine import Database
from automagik.db.models import Flow, Schedule, Task, TaskLog, TaskStatus
from automagik.runs import manual, retention
from automagik.runs.templates import uses_chain_only
from automagik.scheduling import InvalidSchedule
from automagik.scheduling.interval import parse_interval
from automagik.services import chains
from automagik.services.errors import BudgetExceeded, InvalidInput, NotFound
from automagik.services.flow_input import parse_flow_input
from automagik.services.lookup import find, resolve_id, storable_id
from automagik.services.schedules import MAX_RETRIES_LIMIT, TIMEOUT_LIMIT_SECONDS, _checked_int, _ready_flow

MAX_PAGE_SIZE = 1000
#: What can queue a run (tasks.trigger): a schedule's fire, a person's run or retry, a
#: backfill of past fires, another run's end (a chain).
TRIGGERS = ("schedule", "manual", "retry", "backfill", "chain")


@dataclass(frozen=True)
class TaskFilter:
    """Which runs to show; every field is optional. Times bound `scheduled_for` (since inclusive)."""

    statuses: tuple[str, ...] = ()
    flow_id: str | None = None
    schedule_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    triggers: tuple[str, ...] = ()  # what queued them (TRIGGERS); none: any

    def __post_init__(self) -> None:
        for trigger in self.triggers:
            if trigger not in TRIGGERS:
                raise InvalidInput(f'Unknown trigger "{trigger}": use {", ".join(TRIGGERS)}.')
        for status in self.statuses:
            if status not in {s.value for s in TaskStatus}:
                raise InvalidInput(
                    f'Unknown task status "{status}": use pending, running, completed, failed or skipped.'
                )
        for name in ("flow_id", "schedule_id"):
            value = getattr(self, name)
            if value is not None and not storable_id(value):
                raise InvalidInput(f'"{value!r}" is not a {name.replace("_", " ")}: see the ids in the listings.')
        for name in ("since", "until"):
            value = getattr(self, name)
            if value is not None and (value.tzinfo is None or value.utcoffset() is None):
                raise InvalidInput(f"--{name} needs a time zone (e.g. 2026-11-27T08:00:00+01:00 or ...Z).")
        if self.since and self.until and self.since >= self.until:
            raise InvalidInput("The time range is empty: --since must be before --until.")

    def apply(self, query: Select) -> Select:
        if self.statuses:
            query = query.where(Task.status.in_([TaskStatus(s) for s in self.statuses]))
        if self.flow_id:
            query = query.where(Task.flow_id == self.flow_id)
        if self.schedule_id:
            query = query.where(Task.schedule_id == self.schedule_id)
        if self.triggers:
            query = query.where(Task.trigger.in_(list(self.triggers)))
        if self.since:
            query = query.where(Task.scheduled_for >= self.since)
        if self.until:
            query = query.where(Task.scheduled_for < self.until)
        return query


@dataclass(frozen=True)
class TaskRow:
    task: Task
    flow_name: str
    upstream_flow_name: str | None = None  # for a chain's run: the flow of the run that started it

    @property
    def started_by(self) -> str | None:
        """ "started by run 1a2b3c4d of Echo" for a chain's run, else None."""
        return chains.started_by_text(self.task.upstream_task_id, self.upstream_flow_name)


@dataclass(frozen=True)
class TaskDetail:
    task: Task
    flow_name: str
    logs: list[TaskLog] = field(default_factory=list)
    started_by: str | None = None  # "started by run 1a2b3c4d of Echo" (a chain's run)
    started: list[chains.StartedRun] = field(default_factory=list)  # the chains' runs its end started


def run_flow_now(
    db: Database,
    flow_id: str,
    flow_input: str | dict[str, Any] | None = None,
    *,
    max_retries: int = 3,
    timeout_seconds: int | None = None,
    schedule_id: str | None = None,
    force: bool = False,
    zone: str = "UTC",
) -> Task:
    """Queue a run for a daemon to pick up at once; returns the pending task.

    With `schedule_id` the run uses that schedule's input and settings and shows in its history;
    it is planned for "now" to the microsecond, so it never takes the key of one of its fires.
    A flow whose daily budget (the day in `zone`, TIMEZONE) is reached is refused unless `force`d.
    The input's placeholders are filled as for a fire now: in the schedule's zone, else in `zone`.
    """
    now = utcnow()
    max_retries = _checked_int("max retries", max_retries, 0, MAX_RETRIES_LIMIT)
    if timeout_seconds is not None:
        timeout_seconds = _checked_int("timeout", timeout_seconds, 1, TIMEOUT_LIMIT_SECONDS)
    params = parse_flow_input(flow_input) if flow_input is not None or schedule_id is None else None
    input_zone = zone  # a run of no schedule fills {{ fire_date }} and {{ fire_time }} in TIMEZONE
    with db.write() as session:
        if schedule_id is not None:
            schedule = find(session, Schedule, schedule_id)
            if schedule is None:
                raise NotFound(f'Unknown schedule id "{schedule_id}": see `schedules list` for the ids.')
            flow_id, schedule_id = schedule.flow_id, schedule.id  # the whole id of a short one
            if not params and uses_chain_only(schedule.flow_params or {}):
                raise InvalidInput(
                    f"Schedule {schedule.id} cannot run now with its input: its {{{{ upstream_output }}}} has a "
                    "value only when a run of the flow it follows ends. Run that flow, or run this flow with an "
                    "input of its own."
                )
            params = params or dict(schedule.flow_params)
            max_retries, timeout_seconds = schedule.max_retries, schedule.timeout_seconds
            input_zone = schedule.timezone
        flow = _ready_flow(session, flow_id)
        reached = _budget_reached(session, flow, now, zone, force)
        task = manual.queue_run(
            session,
            flow_id=flow.id,
            schedule_id=schedule_id,
            input_data=cast(dict[str, Any], params),  # parsed above, or the schedule's: never None here
            max_retries=max_retries,
            timeout_seconds=timeout_seconds,
            now=now,
            flow_name=flow.name,
            zone=input_zone,
        )
        if reached:
            manual.note_forced(session, task, reached.reason, now)
        return task


def _budget_reached(session, flow: Flow, now: datetime, zone: str, force: bool) -> BudgetReached | None:
    """The flow's reached budget, for a run forced past it; a run not forced is refused."""
    if flow.daily_budget_usd is None:
        return None
    reached = budgets_reached(session, {flow.id: (flow.name, flow.daily_budget_usd)}, now, zone).get(flow.id)
    if reached and not force:
        raise BudgetExceeded(
            f'Flow "{flow.name}": {reached.reason} today ({zone}). To run it anyway, force it: '
            '--force, or "Run even if the daily budget is reached" on the Flows page.'
        )
    return reached


def rows_query(filters: TaskFilter) -> Select:
    """The list's rows with their flow names, newest planned time first, the id breaking ties."""
    # The upstream run's flow, for a chain's run (by primary key; nothing to join for the others).
    upstream, upstream_flow = aliased(Task), aliased(Flow)
    query = (
        select(Task, Flow.name, upstream_flow.name)
        .join(Flow, Flow.id == Task.flow_id)
        .outerjoin(upstream, upstream.id == Task.upstream_task_id)
        .outerjoin(upstream_flow, upstream_flow.id == upstream.flow_id)
    )
    return filters.apply(query).order_by(Task.scheduled_for.desc(), Task.id.desc())


def list_tasks(db: Database, filters: TaskFilter = TaskFilter(), limit: int = 50, offset: int = 0) -> list[TaskRow]:
    """`limit` runs from the `offset`-th, newest planned time first; filtering and paging happen
    in SQL, by keyset (services/task_pages.py), so a deep offset stays fast. No runs for a flow
    or schedule id that names nothing is an error, not an empty page."""
    from automagik.services import task_pages  # it builds on this module's filter and rows

    limit = checked_page_size(limit, "limit")
    offset = _checked_int("offset", offset, 0, 10**12)
    with task_pages.snapshot_read(db) as session:
        return task_pages.rows_at(session, full_ids(session, filters), offset, limit)


def checked_page_size(size: int, name: str = "page size") -> int:
    return _checked_int(name, size, 1, MAX_PAGE_SIZE)


def check_named_ids(db: Database, filters: TaskFilter) -> TaskFilter:
    """The filter with its flow and schedule ids whole (a short id resolved); NotFound for one
    that names nothing (a typo, not "no runs")."""
    with db.read() as session:
        return full_ids(session, filters)


def full_ids(session, filters: TaskFilter) -> TaskFilter:
    flow_id, schedule_id = filters.flow_id, filters.schedule_id
    if flow_id is not None:
        flow_id = resolve_id(session, Flow, flow_id)
        if flow_id is None:
            raise NotFound(f'Unknown flow id "{filters.flow_id}": see `flows list` for the ids.')
    if schedule_id is not None:
        schedule_id = resolve_id(session, Schedule, schedule_id)
        if schedule_id is None:
            raise NotFound(f'Unknown schedule id "{filters.schedule_id}": see `schedules list` for the ids.')
    return replace(filters, flow_id=flow_id, schedule_id=schedule_id)


def count_tasks(db: Database, filters: TaskFilter = TaskFilter()) -> int:
    with db.read() as session:
        return session.scalar(filters.apply(select(func.count()).select_from(Task))) or 0


def count_by_status(db: Database, filters: TaskFilter = TaskFilter()) -> dict[str, int]:
    with db.read() as session:
        rows = session.execute(filters.apply(select(Task.status, func.count()).group_by(Task.status)))
        return {status.value: n for status, n in rows}


def get_task(db: Database, task_id: str) -> TaskDetail:
    """One run with its log lines, by its id or a unique start of it (8+ characters)."""
    with db.read() as session:
        full_id = resolve_id(session, Task, task_id)
        row = (
            full_id
            and session.execute(
                select(Task, Flow.name).join(Flow, Flow.id == Task.flow_id).where(Task.id == full_id)
            ).first()
        )
        if not row:
            raise NotFound(f'Unknown task id "{task_id}": see `tasks list` for the ids.')
        logs = session.scalars(select(TaskLog).where(TaskLog.task_id == full_id).order_by(TaskLog.id)).all()
        return TaskDetail(
            row[0],
            row[1],
            list(logs),
            chains.upstream_of(session, row[0]),
            chains.started_runs(session, cast(str, full_id)),  # the row was found by it: never None here
        )


def retry_task(db: Database, task_id: str, force: bool = False, zone: str = "UTC") -> Task:
    """Put a failed task back to pending for one more attempt, on the same row; refused when
    the flow's daily budget is reached, unless `force`d."""
    now = utcnow()
    with db.write() as session:
        task = find(session, Task, task_id)
        if task is None:
            raise NotFound(f'Unknown task id "{task_id}": see `tasks list` for the ids.')
        if task.status is not TaskStatus.FAILED:
            raise InvalidInput(f"Task {task_id} is {task.status.value}: only a failed task can be retried.")
        reached = _budget_reached(session, _ready_flow(session, task.flow_id), now, zone, force)
        if not manual.retry_by_user(session, task, now):
            raise InvalidInput(f"Task {task_id} is no longer failed: only a failed task can be retried.")
        if reached:
            manual.note_forced(session, task, reached.reason, now)
        return task


def iter_task_rows(db: Database, filters: TaskFilter, chunk_size: int = 1000) -> Iterable[TaskRow]:
    """Every run matching `filters`, newest first, read in chunks so memory stays flat.

    Keyset paging (on scheduled_for, id) instead of one long cursor: each chunk is its own
    short read, so an export of a million rows never holds a transaction (or SQLite's WAL)
    open for its whole duration.
    """
    after: tuple[datetime, str] | None = None
    while True:
        query = rows_query(filters)
        if after is not None:
            at, task_id = after
            # The leading `<=` gives both planners an index range on scheduled_for; the OR
            # alone made each chunk rescan everything newer (quadratic over the export).
            query = query.where(Task.scheduled_for <= at, (Task.scheduled_for < at) | (Task.id < task_id))
        with db.read() as session:
            rows = session.execute(query.limit(chunk_size)).all()
        for row in rows:
            yield TaskRow(*row)
        if len(rows) < chunk_size:
            return
        last = rows[-1][0]
        after = (last.scheduled_for, last.id)


@dataclass(frozen=True)
class PrunePlan:
    before: datetime
    statuses: tuple[TaskStatus, ...]
    count: int  # runs matching now


def plan_prune(db: Database, older_than: str, statuses: tuple[str, ...] = ()) -> PrunePlan:
    """Which finished runs `prune` deletes: planned more than `older_than` ago (like 90d)."""
    try:
        age = parse_interval(older_than)
    except InvalidSchedule:
        raise InvalidInput(f'"{older_than}" is not an age: give one like 90d, 12w or 36h.') from None
    chosen = []
    for status in statuses:
        if status not in {s.value for s in retention.FINISHED}:
            raise InvalidInput(f'Only finished runs are pruned: "{status}" is not completed, failed or skipped.')
        chosen.append(TaskStatus(status))
    before = utcnow() - age
    kinds = tuple(chosen) or retention.FINISHED
    return PrunePlan(before, kinds, retention.count_prunable(db, before, kinds))


def prune(db: Database, plan: PrunePlan) -> int:
    """Delete what the plan names (in small batches); returns how many runs went."""
    return retention.prune_tasks(db, plan.before, plan.statuses)
