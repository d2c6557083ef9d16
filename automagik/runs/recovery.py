"""Runs whose daemon let go of them: expired leases recovered, a stopping daemon's runs handed back.

A running task belongs to the daemon named in `claimed_by` until `lease_until`. A daemon that
dies stops renewing: once the lease has expired, any daemon retries the task by the retry
rule, or fails it (starting the chains a failure starts, in the same transaction). A daemon
that stops on purpose returns what it holds at once instead of leaving it for the lease.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import select, update

from automagik.db.engine import Database, rows_matched
from automagik.db.models import Flow, LogLevel, Task, TaskStatus
from automagik.runs.chains import Ended, start_chains
from automagik.runs.outcomes import Recorded
from automagik.runs.states import RetryPolicy, Transition, log_row, sources, target, write_logs


def recover_expired(db: Database, now: datetime, limit: int = 500, exclude: Collection[str] = ()) -> list[Recorded]:
    """Retry or fail running tasks whose lease expired: the daemon that held them is gone.
    `exclude` names tasks the caller itself still holds (a daemon never takes its own runs)."""
    recovered: list[Recorded] = []
    with db.write() as session:
        query = (
            select(
                Task.id,
                Task.claimed_by,
                Task.lease_until,
                Task.tries,
                Task.max_retries,
                Task.flow_id,
                Flow.name,
                Task.schedule_id,
            )
            .join(Flow, Flow.id == Task.flow_id)
            .where(Task.status.in_(sources(Transition.RECOVER)), Task.lease_until < now)
            .limit(limit)
        )
        if exclude:
            query = query.where(Task.id.not_in(list(exclude)))
        if db.dialect == "postgresql":
            query = query.with_for_update(skip_locked=True, of=Task)
        for task_id, owner, lease_until, tries, max_retries, flow_id, flow_name, schedule_id in session.execute(
            query
        ).all():
            retried = RetryPolicy.may_retry(tries, max_retries)
            transition = Transition.RECOVER if retried else Transition.RECOVER_FAIL
            message = (
                f"daemon {owner} stopped while running this task (its lease expired at "
                f"{lease_until:%Y-%m-%d %H:%M:%S} UTC); "
                + ("retrying now" if retried else f"no retries left after {tries} tries: failed")
            )
            values = dict(status=target(transition), claimed_by=None, lease_until=None, updated_at=now)
            if retried:
                values.update(next_retry_at=now)
            else:
                values.update(finished_at=now, error=message)
            changed = rows_matched(
                session.execute(
                    update(Task)
                    .where(Task.id == task_id, Task.status.in_(sources(transition)), Task.lease_until == lease_until)
                    .values(**values)
                    .execution_options(synchronize_session=False)
                )
            )
            if changed:
                write_logs(session, [log_row(task_id, LogLevel.WARNING if retried else LogLevel.ERROR, message, now)])
                recovered.append(
                    Recorded(
                        task_id,
                        TaskStatus(target(transition)),
                        flow_id,
                        flow_name,
                        schedule_id,
                        tries,
                        None if retried else message,
                        now if retried else None,
                        owner,
                    )
                )
        start_chains(
            session,
            db.dialect,
            [
                Ended(r.task_id, r.flow_id, r.flow_name, r.status, r.error)
                for r in recovered
                if r.status is TaskStatus.FAILED
            ],
            now,
        )
    return recovered


def hand_back(db: Database, daemon_id: str, task_ids: list[str], now: datetime, started: bool = True) -> int:
    """On shutdown: return unfinished tasks to the queue; the cut-short attempt is not counted.
    Tasks claimed ahead that never `started` go back without a note: nothing happened to them."""
    if not task_ids:
        return 0
    values = dict(
        status=target(Transition.HAND_BACK), claimed_by=None, lease_until=None, tries=Task.tries - 1, updated_at=now
    )
    if started:
        values.update(next_retry_at=now)  # the cut-short run is retried at once
    else:
        values.update(started_at=None)  # it keeps its planned time
    with db.write() as session:
        handed = session.scalars(
            update(Task)
            .where(Task.id.in_(task_ids), Task.claimed_by == daemon_id, Task.status.in_(sources(Transition.HAND_BACK)))
            .values(**values)
            .returning(Task.id)
            .execution_options(synchronize_session=False)
        ).all()
        if started:
            note = f"daemon {daemon_id} shut down during the run; handed back to the queue"
            write_logs(session, [log_row(task_id, LogLevel.WARNING, note, now) for task_id in handed])
        return len(handed)
