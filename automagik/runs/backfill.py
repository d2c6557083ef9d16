"""Backfill, the state owner's side: a schedule's past fires in a range become runs now.

A fire is still identified by (schedule_id, scheduled_for): a backfilled run carries its
historical fire as `scheduled_for`, so it can never duplicate a fire the daemon dispatched, and
a second backfill of the same range finds every fire taken (`missing`) or no longer failed
(`failed`). Its runs wait with no `next_retry_at`, out of the claim's queue of due work: the
claim gives them the places left over once every fire, retry and manual run due has one, oldest
fire first, at most the backfill's max_parallel (runs/leases.py). A backfill asked for never
stands in front of the fires due while it runs.

The fires are written in batches of BATCH_FIRES, each its own short write transaction and each
idempotent (insert ... on conflict do nothing; an UPDATE whose WHERE repeats `failed`): ten
thousand fires never hold SQLite's write lock for seconds, and a backfill cut short by a crash
is completed by running it again. The counts on the backfills row grow with each batch.

A schedule deleted meanwhile stops the backfill (each batch reads it first, on PostgreSQL under
a share lock the delete waits for), and the delete skips the backfill's runs still pending
(`skip_runs_of_deleted_schedule`, in the delete's transaction): with the schedule its backfills
rows go too, and a run left pending would run outside its backfill's max_parallel.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, select, update

from automagik.db.engine import Database
from automagik.db.models import Backfill, Flow, LogLevel, Schedule, Task, TaskStatus
from automagik.runs.fires import fire_task_row, insert_fire_tasks
from automagik.runs.states import Transition, log_row, sources, target, write_logs
from automagik.runs.templates import FireValues, render_input

BATCH_FIRES = 500  # fires per write transaction


class Only(str, enum.Enum):
    """Which fires of the range a backfill runs."""

    #: Fires that have no task yet (never dispatched: the daemons were down, the schedule paused).
    MISSING = "missing"
    #: Fires whose task failed for good: one more try of the same task.
    FAILED = "failed"
    #: Both.
    ALL = "all"

    @property
    def queues_missing(self) -> bool:
        return self is not Only.FAILED

    @property
    def redoes_failed(self) -> bool:
        return self is not Only.MISSING


def tasks_in_range(db: Database, schedule_id: str, start: datetime, end: datetime) -> dict[datetime, TaskStatus]:
    """The status of each fire of the schedule in [start, end) that has a task (the fire key's index)."""
    with db.read() as session:
        rows = session.execute(
            select(Task.scheduled_for, Task.status).where(
                Task.schedule_id == schedule_id, Task.scheduled_for >= start, Task.scheduled_for < end
            )
        ).all()
    return {fire: status for fire, status in rows}


@dataclass(frozen=True)
class BackfillRequest:
    schedule_id: str
    range_from: datetime
    range_to: datetime
    only: Only
    max_parallel: int


@dataclass(frozen=True)
class BackfillWritten:
    """What run_backfill wrote, from its own counts (the backfills row goes with its schedule)."""

    backfill_id: str | None  # None: the schedule was gone before anything was written
    fires: int
    queued: int
    redone: int
    schedule_deleted: bool = False  # the schedule was deleted before the backfill was all written


def _schedule_row(session, schedule_id: str):
    """The schedule and its flow's name, or None when it is gone. On PostgreSQL the schedule row
    is share-locked (FOR KEY SHARE) until the transaction ends: a delete waits for the batch and
    then skips what it queued, and a batch after a delete finds no schedule."""
    return session.execute(
        select(Schedule, Flow.name)
        .join(Flow, Flow.id == Schedule.flow_id)
        .where(Schedule.id == schedule_id)
        .with_for_update(read=True, key_share=True, of=Schedule)
    ).first()


def run_backfill(
    db: Database, request: BackfillRequest, fires: list[datetime], now: datetime, batch_fires: int = BATCH_FIRES
) -> BackfillWritten:
    """Record the backfill and queue (or redo) its fires, batch by batch; returns what was written.
    A schedule deleted meanwhile stops it before the next write (`schedule_deleted`)."""
    with db.write() as session:
        if _schedule_row(session, request.schedule_id) is None:
            return BackfillWritten(None, len(fires), 0, 0, schedule_deleted=True)
        backfill = Backfill(
            schedule_id=request.schedule_id,
            range_from=request.range_from,
            range_to=request.range_to,
            only=request.only.value,
            max_parallel=request.max_parallel,
            fires=len(fires),
            queued=0,
            redone=0,
            created_at=now,
        )
        session.add(backfill)
        session.flush()
        backfill_id = backfill.id
    queued_in_all = redone_in_all = 0
    for first in range(0, len(fires), batch_fires):
        with db.write() as session:
            row = _schedule_row(session, request.schedule_id)
            if row is None:
                return BackfillWritten(backfill_id, len(fires), queued_in_all, redone_in_all, schedule_deleted=True)
            schedule, flow_name = row
            chunk = list(enumerate(fires[first : first + batch_fires], start=first))
            queued = (
                _queue_missing(session, schedule, flow_name, backfill_id, chunk, now)
                if request.only.queues_missing
                else 0
            )
            redone = _redo_failed(session, schedule.id, backfill_id, chunk, now) if request.only.redoes_failed else 0
            if queued or redone:
                session.execute(
                    update(Backfill)
                    .where(Backfill.id == backfill_id)
                    .values(queued=Backfill.queued + queued, redone=Backfill.redone + redone)
                    .execution_options(synchronize_session=False)
                )
        queued_in_all += queued
        redone_in_all += redone
    return BackfillWritten(backfill_id, len(fires), queued_in_all, redone_in_all)


SCHEDULE_DELETED = "skipped: its schedule was deleted"


def skip_runs_of_deleted_schedule(session, schedule_id: str, now: datetime) -> int:
    """In the transaction that deletes the schedule, before the delete: its backfills' runs still
    pending are skipped with the reason (Transition.SKIP_QUEUED); returns how many. Runs already
    going finish. On PostgreSQL the schedule row is locked first, so a backfill batch being
    written is waited for and its runs are skipped too."""
    session.execute(select(Schedule.id).where(Schedule.id == schedule_id).with_for_update())
    table = Task.__table__
    skipped = session.scalars(
        update(table)
        .where(
            table.c.backfill_id.in_(select(Backfill.id).where(Backfill.schedule_id == schedule_id)),
            table.c.status.in_(sources(Transition.SKIP_QUEUED)),
        )
        # backfill_id: the delete's cascade empties it anyway; emptied here, PostgreSQL need not
        # check it against the backfills row the same delete removes (a row this transaction
        # changed is checked again on its next change, the cascade's SET NULL of schedule_id).
        .values(
            status=target(Transition.SKIP_QUEUED),
            error=SCHEDULE_DELETED,
            finished_at=now,
            updated_at=now,
            backfill_id=None,
        )
        .returning(table.c.id)
    ).all()
    write_logs(session, [log_row(task_id, LogLevel.WARNING, SCHEDULE_DELETED, now) for task_id in sorted(skipped)])
    return len(skipped)


def _queue_missing(
    session, schedule: Schedule, flow_name: str, backfill_id: str, chunk: list[tuple[int, datetime]], now: datetime
) -> int:
    rows = []
    for _position, fire in chunk:
        task_id = str(uuid.uuid4())
        row = fire_task_row(task_id, schedule, fire, Transition.FIRE, now, None)
        # The input says the day the fire stood for, in the schedule's zone, not the day it ran.
        values = FireValues(
            fire_time=fire, zone=schedule.timezone, task_id=task_id, flow_name=flow_name, schedule_id=schedule.id
        )
        row.update(
            status=target(Transition.BACKFILL),
            input_data=render_input(schedule.flow_params or {}, values),
            next_retry_at=None,
            trigger="backfill",
            backfill_id=backfill_id,
        )
        rows.append(row)
    inserted = insert_fire_tasks(session, session.get_bind().dialect.name, rows)
    write_logs(
        session,
        [
            log_row(task_id, LogLevel.INFO, f"queued by backfill {backfill_id}: a past fire that never ran", now)
            for task_id in sorted(inserted)
        ],
    )
    return len(inserted)


def _redo_failed(session, schedule_id: str, backfill_id: str, chunk: list[tuple[int, datetime]], now: datetime) -> int:
    places = {fire: position for position, fire in chunk}
    query = select(Task.id, Task.scheduled_for, Task.tries, Task.max_retries).where(
        Task.schedule_id == schedule_id,
        Task.scheduled_for.in_(list(places)),
        Task.status.in_(sources(Transition.BACKFILL_REDO)),
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()  # a person's retry of the same task waits (SQLite: the write lock)
    failed = session.execute(query).all()
    if not failed:
        return 0
    table = Task.__table__
    # One more try of the same row, as a person's retry gives: a task runs while tries <= max_retries.
    rows = [
        {"task_id": task_id, "new_max_retries": max(max_retries, tries)} for task_id, fire, tries, max_retries in failed
    ]
    session.execute(
        update(table)
        .where(table.c.id == bindparam("task_id"), table.c.status.in_(sources(Transition.BACKFILL_REDO)))
        .values(
            status=target(Transition.BACKFILL_REDO),
            next_retry_at=None,
            max_retries=bindparam("new_max_retries"),
            finished_at=None,
            claimed_by=None,
            lease_until=None,
            held_since=None,
            updated_at=now,
            trigger="backfill",
            backfill_id=backfill_id,
        ),
        rows,
    )
    write_logs(
        session,
        [
            log_row(row["task_id"], LogLevel.INFO, f"retried by backfill {backfill_id}: one more try", now)
            for row in rows
        ],
    )
    return len(rows)
