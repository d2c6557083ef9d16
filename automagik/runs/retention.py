"""Retention: finished runs older than a cut-off deleted with their log lines, in small
batches (each its own short transaction: never a long write lock, so daemons and the
dashboard go on meanwhile). Pending and running tasks are never deleted."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import delete, func, or_, select

from automagik.db.engine import Database, rows_matched
from automagik.db.models import DaemonHeartbeat, Task, TaskLog, TaskStatus

FINISHED = (TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.SKIPPED)
BATCH = 500  # tasks per transaction


def _prunable(before: datetime, statuses: tuple[TaskStatus, ...]):
    # Planned and finished before the cut-off: a backfill runs last year's fires today, and
    # pruning them at once would make those fires "missing" again for the next backfill.
    return (
        Task.scheduled_for < before,
        or_(Task.finished_at.is_(None), Task.finished_at < before),
        Task.status.in_([s for s in statuses if s in FINISHED]),
    )


def count_prunable(db: Database, before: datetime, statuses: tuple[TaskStatus, ...] = FINISHED) -> int:
    with db.read() as session:
        return session.scalar(select(func.count()).select_from(Task).where(*_prunable(before, statuses))) or 0


def prune_tasks(
    db: Database,
    before: datetime,
    statuses: tuple[TaskStatus, ...] = FINISHED,
    limit: int | None = None,
    go_on: Callable[[], bool] = lambda: True,
) -> int:
    """Delete finished runs planned and finished before `before` (of `statuses`), oldest first,
    BATCH at a time, at most `limit`; returns how many. `go_on` is asked between batches."""
    deleted = 0
    while (limit is None or deleted < limit) and go_on():
        size = BATCH if limit is None else min(BATCH, limit - deleted)
        with db.write() as session:
            ids = session.scalars(
                select(Task.id).where(*_prunable(before, statuses)).order_by(Task.scheduled_for).limit(size)
            ).all()
            if not ids:
                break
            # The logs first: SQLite's cascade would do it too, but only with foreign keys on.
            session.execute(delete(TaskLog).where(TaskLog.task_id.in_(ids)))
            session.execute(delete(Task).where(Task.id.in_(ids), Task.status.in_(FINISHED)))
        deleted += len(ids)
    return deleted


def prune_daemon_rows(db: Database, before: datetime) -> int:
    """Forget daemons (stopped, or dead) last seen before `before`."""
    with db.write() as session:
        return rows_matched(session.execute(delete(DaemonHeartbeat).where(DaemonHeartbeat.last_seen < before))) or 0
