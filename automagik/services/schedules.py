"""Schedules: create, change, pause, resume, delete; and preview when they would fire."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import and_, false, func, select
from sqlalchemy.orm import aliased

from automagik.clock import utcnow
from automagik.db.engine import Database
from automagik.db.models import Flow, MissedRunPolicy, Schedule, ScheduleStatus, Task
from automagik.runs.backfill import skip_runs_of_deleted_schedule
from automagik.runs.schedules import schedule_trigger
from automagik.scheduling import (
    InvalidSchedule,
    ScheduleType,
    build_trigger,
    ensure_in_future,
    fires_on_time,
    load_zone,
    normalize_expr,
    parse_typed_time,
    preview_fires,
    schedule_type_of,
)
from automagik.services import chains
from automagik.services.errors import InvalidInput, NotFound
from automagik.services.flow_input import checked_placeholders, parse_flow_input
from automagik.services.lookup import find, resolve_id

MAX_RETRIES_LIMIT = 20
TIMEOUT_LIMIT_SECONDS = 24 * 3600
PREVIEW_LIMIT = 1000
# A schedule of this type runs after another flow's run, so its input has an upstream output.
CHAIN_TYPE = "after"


def is_chain(schedule_type: ScheduleType | str) -> bool:
    return getattr(schedule_type, "value", schedule_type) == CHAIN_TYPE


@dataclass(frozen=True)
class ScheduleSpec:
    """What the user asks for; every field is checked before anything is written."""

    flow_id: str
    schedule_type: str
    schedule_expr: str
    flow_input: str | dict[str, Any] | None = None
    timezone: str | None = None
    max_retries: int = 3
    timeout_seconds: int | None = None
    missed_policy: str = MissedRunPolicy.COALESCE.value
    alert_after_failures: int = 1  # failures for good in a row that alert once (1: each one alerts)
    # For type after: which ends of the upstream flow's runs start one (None: completed).
    after_outcome: str | None = None


@dataclass(frozen=True)
class ScheduleRow:
    """A schedule with what its listing shows beside it: the flow's name and the last run."""

    schedule: Schedule
    flow_name: str
    last_status: str | None
    upstream_name: str | None = None  # for type after: the name of the flow it follows

    @property
    def when(self) -> str:
        """ "every 5m", "after Echo completes"..."""
        return chains.describe_schedule(self.schedule, self.upstream_name)


ALERT_AFTER_LIMIT = 1000


def _checked_type(value: str) -> ScheduleType:
    try:
        return schedule_type_of(value)
    except InvalidSchedule as exc:
        raise InvalidInput(str(exc)) from None


def _checked_policy(value: str) -> MissedRunPolicy:
    try:
        return MissedRunPolicy(str(value).strip().lower())
    except ValueError:
        raise InvalidInput(f'Unknown missed-run policy "{value}": use coalesce, skip or all.') from None


def _checked_int(name: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        try:
            value = int(str(value).strip())
        except ValueError:
            raise InvalidInput(f"{name} must be a whole number from {low} to {high}, not {value!r}.") from None
    if not low <= value <= high:
        raise InvalidInput(f"{name} must be from {low} to {high}, not {value}.")
    return value


@dataclass(frozen=True)
class _CheckedTiming:
    schedule_type: ScheduleType
    expr: str
    timezone: str
    anchor_at: datetime
    next_run_at: datetime | None


def _check_timing(schedule_type: str, expr: str, timezone: str, now: datetime) -> _CheckedTiming:
    """Prove a schedule by computing its first fire; a oneshot in the past is refused."""
    kind = _checked_type(schedule_type)
    try:
        load_zone(timezone)
        normalized = normalize_expr(kind, expr, timezone)
        anchor = now.replace(microsecond=0)
        trigger = build_trigger(kind, normalized, timezone=timezone, anchor=anchor)
        if kind is ScheduleType.ONESHOT:
            ensure_in_future(parse_typed_time(normalized, timezone), now)
        next_run = trigger.next_fire_after(now)
    except InvalidSchedule as exc:
        raise InvalidInput(str(exc)) from None
    return _CheckedTiming(kind, normalized, timezone, anchor, next_run)


def _ready_flow(session, flow_id: str) -> Flow:
    flow = find(session, Flow, flow_id)
    if flow is None:
        raise NotFound(f'Unknown flow id "{flow_id}": run `flows sync`, then `flows list` to see the ids.')
    if flow.removed_at is not None:
        raise InvalidInput(f'Flow "{flow.name}" is no longer in LangFlow: sync flows, or schedule another flow.')
    missing = [
        role for role, chosen in (("input", flow.input_component), ("output", flow.output_component)) if not chosen
    ]
    if missing:
        options = " ".join(f"--{role}-component ID" for role in missing)
        raise InvalidInput(
            f'Flow "{flow.name}" has no {" and no ".join(missing)} component chosen yet: choose '
            f"{'it' if len(missing) == 1 else 'them'} with `flows sync --flow-id {flow.id} {options}` "
            f"(`flows show {flow.id}` lists the components) or on the Flows page."
        )
    return flow


def create_schedule(
    db: Database, spec: ScheduleSpec, default_timezone: str = "UTC", paused_reason: str | None = None
) -> Schedule:
    """Create a schedule after checking every field. Only a zone left out (None) means
    `default_timezone`: an empty one is refused like any unknown zone (see load_zone). With
    `paused_reason` it is created paused, saying why (it fires once resumed)."""
    now = utcnow()
    zone = default_timezone if spec.timezone is None else spec.timezone
    timing = _check_timing(spec.schedule_type, spec.schedule_expr, zone, now)
    params = parse_flow_input(spec.flow_input, chained=is_chain(timing.schedule_type))
    max_retries = _checked_int("max retries", spec.max_retries, 0, MAX_RETRIES_LIMIT)
    timeout = (
        None
        if spec.timeout_seconds is None
        else _checked_int("timeout", spec.timeout_seconds, 1, TIMEOUT_LIMIT_SECONDS)
    )
    policy = _checked_policy(spec.missed_policy)
    alert_after = _checked_int("alert after failures", spec.alert_after_failures, 1, ALERT_AFTER_LIMIT)
    outcome = chains.checked_outcome(timing.schedule_type, spec.after_outcome)
    if outcome is not None:
        chains.check_chain_input(params)
    with db.write() as session:
        flow = _ready_flow(session, spec.flow_id)
        expr = timing.expr
        if outcome is not None:
            chains.lock_chains(session)
            upstream = chains.check_upstream(session, flow.id, timing.expr)
            if not paused_reason:
                chains.check_followers(session, upstream)
            expr = upstream.id  # the whole id: the daemon matches a run's flow to it as stored
        schedule = Schedule(
            flow_id=flow.id,
            schedule_type=timing.schedule_type,
            schedule_expr=expr,
            timezone=timing.timezone,
            anchor_at=timing.anchor_at,
            flow_params=params,
            next_run_at=timing.next_run_at,
            status=ScheduleStatus.PAUSED if paused_reason else ScheduleStatus.ACTIVE,
            paused_reason=paused_reason,
            max_retries=max_retries,
            timeout_seconds=timeout,
            missed_policy=policy,
            alert_after_failures=alert_after,
            after_outcome=outcome,
            created_at=now,
            updated_at=now,
        )
        session.add(schedule)
    return schedule


_UNSET: Any = object()


def update_schedule(
    db: Database,
    schedule_id: str,
    *,
    schedule_type: str = _UNSET,
    schedule_expr: str = _UNSET,
    timezone: str = _UNSET,
    flow_input: str | dict | None = _UNSET,
    max_retries: int = _UNSET,
    timeout_seconds: int | None = _UNSET,
    missed_policy: str = _UNSET,
    alert_after_failures: int = _UNSET,
    after_outcome: str | None = _UNSET,
) -> Schedule:
    """Change a schedule; a new type, expression or zone restarts its timing from now. A schedule
    turned into (or kept as) type after is checked like a new one: known upstream, no loop."""
    now = utcnow()
    with db.write() as session:
        schedule = _get_for_update(session, schedule_id)
        new_type = schedule.schedule_type.value if schedule_type is _UNSET else schedule_type
        new_expr = schedule.schedule_expr if schedule_expr is _UNSET else schedule_expr
        new_zone = schedule.timezone if timezone is _UNSET else timezone
        timing_changed = (new_type, new_zone) != (schedule.schedule_type.value, schedule.timezone) or not (
            new_expr == schedule.schedule_expr or _spelled_alike(schedule, new_expr)
        )
        if timing_changed:
            timing = _check_timing(new_type, new_expr, new_zone, now)
        chained = is_chain(timing.schedule_type if timing_changed else schedule.schedule_type)
        if flow_input is not _UNSET:
            schedule.flow_params = parse_flow_input(flow_input, chained=chained)
        elif timing_changed:  # a new type can leave the kept input a placeholder it cannot fill
            checked_placeholders(schedule.flow_params or {}, chained=chained)
        if max_retries is not _UNSET:
            schedule.max_retries = _checked_int("max retries", max_retries, 0, MAX_RETRIES_LIMIT)
        if timeout_seconds is not _UNSET:
            schedule.timeout_seconds = (
                None if timeout_seconds is None else _checked_int("timeout", timeout_seconds, 1, TIMEOUT_LIMIT_SECONDS)
            )
        if missed_policy is not _UNSET:
            schedule.missed_policy = _checked_policy(missed_policy)
        if alert_after_failures is not _UNSET:
            schedule.alert_after_failures = _checked_int(
                "alert after failures", alert_after_failures, 1, ALERT_AFTER_LIMIT
            )
        new_kind = timing.schedule_type if timing_changed else schedule.schedule_type
        if after_outcome is not _UNSET or new_kind is not schedule.schedule_type:
            kept = schedule.after_outcome if new_kind is ScheduleType.AFTER else None
            schedule.after_outcome = chains.checked_outcome(
                new_kind, kept if after_outcome is _UNSET else after_outcome
            )
        if new_kind is ScheduleType.AFTER:
            chains.check_chain_input(schedule.flow_params or {})
            if timing_changed:
                chains.lock_chains(session)
                upstream = chains.check_upstream(session, schedule.flow_id, timing.expr, schedule.id)
                if schedule.status is not ScheduleStatus.PAUSED:
                    chains.check_followers(session, upstream, schedule.id)
                timing = replace(timing, expr=upstream.id)  # stored whole, as the daemon matches it
        if timing_changed:
            schedule.schedule_type, schedule.schedule_expr = timing.schedule_type, timing.expr
            schedule.timezone, schedule.anchor_at = timing.timezone, timing.anchor_at
            schedule.next_run_at = timing.next_run_at
            if schedule.status is ScheduleStatus.COMPLETED:
                schedule.status = ScheduleStatus.ACTIVE
        schedule.updated_at = now
        return schedule


def _spelled_alike(schedule: Schedule, expr: str) -> bool:
    """`expr` is the schedule's stored expression written another way ("90m" for "1h30m"):
    the same timing, which an update must not restart."""
    try:
        return normalize_expr(schedule.schedule_type, expr, schedule.timezone) == schedule.schedule_expr
    except (InvalidSchedule, ValueError):
        return False  # not valid: refused as a new timing, with its reason


def _get_for_update(session, schedule_id: str) -> Schedule:
    schedule = find(session, Schedule, schedule_id)
    if schedule is None:
        raise NotFound(f'Unknown schedule id "{schedule_id}": see `schedules list` for the ids.')
    return schedule


def get_schedule(db: Database, schedule_id: str) -> Schedule:
    with db.read() as session:
        schedule = find(session, Schedule, schedule_id)
        if schedule is None:
            raise NotFound(f'Unknown schedule id "{schedule_id}": see `schedules list` for the ids.')
        return schedule


def describe_schedule(db: Database, schedule: Schedule) -> str:
    """ "every 5m", "At 09:00 (Europe/Berlin)", "after Echo completes" (the upstream flow by name)."""
    with db.read() as session:
        return chains.describe_schedule(schedule, chains.upstream_name(session, schedule))


def list_schedules(
    db: Database, status: str | None = None, flow_id: str | None = None, limit: int | None = None, offset: int = 0
) -> list[ScheduleRow]:
    """The schedules, soonest next run first (`limit` of them from `offset`, or all), each with
    its flow's name and its last run's status."""
    # "max(scheduled_for) of this schedule" is an index-only lookup on the fire key; ordering
    # by scheduled_for instead made PostgreSQL scan the history backwards for idle schedules.
    last_fire = select(func.max(Task.scheduled_for)).where(Task.schedule_id == Schedule.id).correlate(Schedule)
    last_status = (
        select(Task.status)
        .where(Task.schedule_id == Schedule.id, Task.scheduled_for == last_fire.scalar_subquery())
        .limit(1)
        .correlate(Schedule)
        .scalar_subquery()
    )
    upstream = aliased(Flow)
    query = (
        select(Schedule, Flow.name, last_status, upstream.name)
        .join(Flow, Flow.id == Schedule.flow_id)
        .outerjoin(upstream, and_(Schedule.schedule_type == ScheduleType.AFTER, upstream.id == Schedule.schedule_expr))
        .order_by(Schedule.next_run_at.is_(None), Schedule.next_run_at, Schedule.created_at, Schedule.id)
    )
    if limit is not None:
        query = query.limit(limit).offset(offset)
    if status:
        try:
            query = query.where(Schedule.status == ScheduleStatus(status))
        except ValueError:
            raise InvalidInput(f'Unknown schedule status "{status}": use active, paused or completed.') from None
    with db.read() as session:
        if flow_id:  # an id that names no flow lists nothing; a short one is made whole
            flow_id = resolve_id(session, Flow, flow_id)
            query = query.where(Schedule.flow_id == flow_id) if flow_id else query.where(false())
        return [
            ScheduleRow(schedule, name, status.value if hasattr(status, "value") else status, upstream_name)
            for schedule, name, status, upstream_name in session.execute(query)
        ]


def schedule_choices(db: Database) -> dict[str, str]:
    """Every schedule's id with a short label ("Echo · 5m · 1a2b3c4d"), soonest next run first,
    for a filter's choices: three columns and no ORM objects, quick with 10,000 schedules."""
    query = (
        select(Schedule.id, Flow.name, Schedule.schedule_expr)
        .join(Flow, Flow.id == Schedule.flow_id)
        .order_by(Schedule.next_run_at.is_(None), Schedule.next_run_at, Schedule.created_at, Schedule.id)
    )
    with db.read() as session:
        return {sid: f"{name} · {expr} · {sid[:8]}" for sid, name, expr in session.execute(query)}


def pause_schedule(db: Database, schedule_id: str) -> Schedule:
    with db.write() as session:
        schedule = _get_for_update(session, schedule_id)
        if schedule.status is ScheduleStatus.COMPLETED:
            raise InvalidInput(f"Schedule {schedule_id} has completed (a oneshot that ran): there is nothing to pause.")
        schedule.status, schedule.updated_at = ScheduleStatus.PAUSED, utcnow()
        return schedule


def resume_schedule(db: Database, schedule_id: str) -> Schedule:
    """Make a paused schedule fire again, from its next fire after now (no catch-up of the pause)."""
    now = utcnow()
    with db.write() as session:
        schedule = _get_for_update(session, schedule_id)
        if schedule.status is ScheduleStatus.ACTIVE:
            return schedule
        _resume(session, schedule, now)
        return schedule


def _resume(session, schedule: Schedule, now: datetime) -> None:
    _ready_flow(session, schedule.flow_id)
    if not fires_on_time(schedule.schedule_type):  # other runs' ends start it: no next fire to find
        upstream = find(session, Flow, schedule.schedule_expr)
        if upstream is not None:
            chains.lock_chains(session)
            chains.check_followers(session, upstream, schedule.id)
        schedule.status, schedule.next_run_at, schedule.updated_at = ScheduleStatus.ACTIVE, None, now
        schedule.paused_reason = None
        return
    try:
        next_run = schedule_trigger(schedule).next_fire_after(now)
    except InvalidSchedule as exc:  # saved before a stricter version refused its expression ("FRI-MON")
        raise InvalidInput(f"Schedule {schedule.id} cannot resume: {exc} Edit its expression first.") from None
    if next_run is None:
        raise InvalidInput(
            f"Schedule {schedule.id} cannot resume: its time ({schedule.schedule_expr}) has passed; "
            "edit it with a new time or delete it."
        )
    schedule.status, schedule.next_run_at, schedule.updated_at = ScheduleStatus.ACTIVE, next_run, now
    schedule.paused_reason = None


def delete_schedule(db: Database, schedule_id: str) -> str:
    """Delete a schedule; its past runs stay in the history (their schedule_id becomes empty).
    Its backfills' runs still pending are skipped, in the same transaction: a backfill goes with
    its schedule, and its runs would otherwise run outside its max_parallel. Returns its whole id
    (the one given may be a short one)."""
    with db.write() as session:
        schedule = _get_for_update(session, schedule_id)
        deleted = schedule.id
        skip_runs_of_deleted_schedule(session, deleted, utcnow())
        session.delete(schedule)
        return deleted


def pause_all(db: Database) -> int:
    now = utcnow()
    with db.write() as session:
        schedules = session.scalars(select(Schedule).where(Schedule.status == ScheduleStatus.ACTIVE)).all()
        for schedule in schedules:
            schedule.status, schedule.updated_at = ScheduleStatus.PAUSED, now
        return len(schedules)


def resume_all(db: Database) -> tuple[int, list[str]]:
    """Resume every paused schedule that can run; returns (resumed, reasons for the others)."""
    now = utcnow()
    resumed, refused = 0, []
    with db.write() as session:
        for schedule in session.scalars(select(Schedule).where(Schedule.status == ScheduleStatus.PAUSED)).all():
            try:
                _resume(session, schedule, now)
                resumed += 1
            except InvalidInput as exc:
                refused.append(exc.message)
    return resumed, refused


def preview(
    schedule_type: str, expr: str, timezone: str = "UTC", after: datetime | None = None, count: int = 5
) -> list[datetime]:
    """The next `count` fires of an expression, without creating anything (UTC instants)."""
    count = _checked_int("count", count, 1, PREVIEW_LIMIT)
    now = after or utcnow()
    kind = _checked_type(schedule_type)
    if not fires_on_time(kind):
        raise InvalidInput(
            "A schedule of type after has no times to preview: it runs when a run of the flow " "it follows ends."
        )
    try:
        load_zone(timezone)
        normalized = normalize_expr(kind, expr, timezone)
        trigger = build_trigger(kind, normalized, timezone=timezone, anchor=now.replace(microsecond=0))
        return preview_fires(trigger, now, count)
    except InvalidSchedule as exc:
        raise InvalidInput(str(exc)) from None


def count_schedules(db: Database) -> dict[str, int]:
    with db.read() as session:
        rows = session.execute(select(Schedule.status, func.count()).group_by(Schedule.status))
        return {status.value: n for status, n in rows}


__all__ = [
    "ScheduleSpec",
    "ScheduleRow",
    "create_schedule",
    "update_schedule",
    "get_schedule",
    "describe_schedule",
    "list_schedules",
    "schedule_choices",
    "pause_schedule",
    "resume_schedule",
    "delete_schedule",
    "pause_all",
    "resume_all",
    "preview",
    "count_schedules",
    "schedule_trigger",
]
