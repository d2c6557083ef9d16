"""Chains: a run that ends starts the runs of the "after" schedules that follow its flow.

Called by every transition that ends a task for good (completed; failed by the retry rule or by
lease recovery), inside the write transaction that records the end. The upstream's end and its
chain's runs therefore commit together or not at all: a daemon killed at any point can neither
lose a chain's run nor start it twice (the end is recorded again only if it was not committed).
The partial unique index uq_tasks_chain (upstream_task_id, schedule_id) stands behind that: a
replayed end inserts nothing.

The daemon records thousands of ends a minute, nearly always with no chain at all: the cost
of asking is one query on the partial index ix_schedules_after, per recorded batch.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, text, tuple_, update

from automagik.db.models import Flow, LogLevel, Schedule, ScheduleStatus, Task, TaskStatus
from automagik.runs.fires import insert_for
from automagik.runs.states import Transition, log_row, target, write_logs
from automagik.runs.templates import FireValues, render_input
from automagik.scheduling.after import STATUSES_OF

# The same literal as the partial index's predicate, so that both planners use the index (a bound
# parameter does not prove the predicate to SQLite).
_IS_AFTER = text("schedules.schedule_type = 'after'")
# Tries at new fire instants for runs whose planned instant another run of the schedule took
# (its unique fire key); more than one is needed only when runs keep landing on the same
# microsecond. Past that, the transaction fails loudly rather than drop a run.
_PLACING_TRIES = 5
_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True)
class Ended:
    """A task that has just ended for good, as the chains need it."""

    task_id: str
    flow_id: str
    flow_name: str
    status: TaskStatus  # completed or failed
    output: str | None  # the answer's text; for a failed run, its error


def output_of(result: dict | None, error: str | None) -> str | None:
    """What {{ upstream_output }} becomes: the text LangFlow answered (the runner stores it as
    result["text"]), or for a failed run the reason it failed."""
    if result and result.get("text") is not None:
        return str(result["text"])
    return error


def start_chains(session, dialect: str, ended: list[Ended], now: datetime) -> list[str]:
    """Queue, in the caller's transaction, one pending run of every active "after" schedule that
    follows an ended task's flow and outcome; returns the ids of the runs queued."""
    finals = [e for e in ended if e.status in (TaskStatus.COMPLETED, TaskStatus.FAILED)]
    if not finals:
        return []
    # The status is checked here, not in SQL: given a status term, SQLite's planner walks
    # ix_schedules_due over every active schedule instead of the partial index.
    chains = [
        row[1:]
        for row in session.execute(
            select(
                Schedule.status,
                Schedule.id,
                Schedule.schedule_expr,
                Schedule.after_outcome,
                Schedule.flow_id,
                Schedule.flow_params,
                Schedule.max_retries,
                Schedule.timeout_seconds,
                Schedule.timezone,
            )
            .where(_IS_AFTER, Schedule.schedule_expr.in_(sorted({e.flow_id for e in finals})))
            .order_by(Schedule.id)
        )
        if row[0] is ScheduleStatus.ACTIVE
    ]
    if not chains:
        return []
    names = dict(session.execute(select(Flow.id, Flow.name).where(Flow.id.in_(sorted({c[3] for c in chains})))).all())
    # A chain's {{ fire_date }} and {{ fire_time }} are the upstream run's planned time: the run
    # after a backfilled (or late) fire is about the day that fire stood for, not the day it ended.
    planned = dict(
        session.execute(
            select(Task.id, Task.scheduled_for).where(Task.id.in_(sorted({e.task_id for e in finals})))
        ).all()
    )
    rows: list[dict] = []
    logs: dict[str, dict[str, object]] = {}
    for upstream in finals:
        for sid, upstream_flow, outcome, flow_id, params, max_retries, timeout, zone in chains:
            flow_name = names.get(flow_id, "")
            if upstream_flow != upstream.flow_id or upstream.status.value not in STATUSES_OF.get(outcome or "", ()):
                continue
            # Runs queued in one batch get instants a microsecond apart: two ends recorded
            # together must not share their chain's fire key (schedule_id, scheduled_for).
            when = now + _MICROSECOND * len(rows)
            task_id = str(uuid.uuid4())
            values = FireValues(
                fire_time=planned.get(upstream.task_id) or when,
                zone=zone,
                task_id=task_id,
                flow_name=flow_name,
                schedule_id=sid,
                upstream_output=upstream.output,
            )
            rows.append(
                _task_row(
                    task_id,
                    sid,
                    flow_id,
                    render_input(params or {}, values),
                    max_retries,
                    timeout,
                    upstream.task_id,
                    when,
                    now,
                )
            )
            logs[task_id] = log_row(
                task_id,
                LogLevel.INFO,
                f"started by run {upstream.task_id[:8]} of {upstream.flow_name} ({upstream.status.value})",
                now,
            )
    inserted = _place(session, dialect, rows)
    write_logs(session, [logs[task_id] for task_id in inserted])
    started = {row["schedule_id"] for row in rows if row["id"] in inserted}
    if started:
        table = Schedule.__table__
        session.execute(update(table).where(table.c.id.in_(sorted(started))).values(last_run_at=now))
    return inserted


def _place(session, dialect: str, rows: list[dict]) -> list[str]:
    """Insert the runs; a run whose chain already has one for that upstream run is dropped (the
    end was recorded before), while one whose planned instant another run of its schedule took
    is moved past that schedule's latest instant and inserted again. Never drops a run silently."""
    inserted: list[str] = []
    table = Task.__table__
    # No conflict target: either unique key (the chain's or the fire's) makes a row "do nothing",
    # then the rows left out are told apart below.
    statement = insert_for(dialect)(table).on_conflict_do_nothing().returning(table.c.id)
    for _ in range(_PLACING_TRIES):
        if not rows:
            return inserted
        done = set(session.scalars(statement, rows, execution_options={"synchronize_session": False}).all())
        inserted += [row["id"] for row in rows if row["id"] in done]
        left = [row for row in rows if row["id"] not in done]
        if not left:
            return inserted
        chained = set(
            session.execute(
                select(Task.upstream_task_id, Task.schedule_id).where(
                    tuple_(Task.upstream_task_id, Task.schedule_id).in_(
                        [(row["upstream_task_id"], row["schedule_id"]) for row in left]
                    )
                )
            ).all()
        )
        rows = [row for row in left if (row["upstream_task_id"], row["schedule_id"]) not in chained]
        if rows:
            latest = dict(
                session.execute(
                    select(Task.schedule_id, func.max(Task.scheduled_for))
                    .where(Task.schedule_id.in_(sorted({row["schedule_id"] for row in rows})))
                    .group_by(Task.schedule_id)
                ).all()
            )
            for index, row in enumerate(rows, start=1):
                moved = max(row["scheduled_for"], latest[row["schedule_id"]]) + _MICROSECOND * index
                row.update(scheduled_for=moved, next_retry_at=moved)
    raise RuntimeError(f"could not give {len(rows)} chained run(s) a free planned instant")


def _task_row(
    task_id: str,
    schedule_id: str,
    flow_id: str,
    input_data: dict,
    max_retries: int,
    timeout_seconds: int | None,
    upstream_task_id: str,
    when: datetime,
    now: datetime,
) -> dict:
    return {
        "id": task_id,
        "flow_id": flow_id,
        "schedule_id": schedule_id,
        "status": target(Transition.CHAIN),
        "input_data": input_data,
        "result": None,
        "error": None,
        "tries": 0,
        "max_retries": max_retries,
        "timeout_seconds": timeout_seconds,
        "scheduled_for": when,
        "next_retry_at": when,
        "claimed_by": None,
        "lease_until": None,
        "created_at": now,
        "started_at": None,
        "finished_at": None,
        "updated_at": now,
        "trigger": "chain",
        "upstream_task_id": upstream_task_id,
    }
