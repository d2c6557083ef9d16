"""Pages of the runs list by keyset (seek), never by OFFSET over whole rows.

The list's order is newest planned time first, the id breaking ties: (scheduled_for, id)
descending, which is each run's key. A page is read in two steps:

1. the key of its first run, by a narrow query that reads only (scheduled_for, id), counting
   from whichever end of the list is nearer: a last page is found from the oldest run, a
   middle page skips at most half the list, and that skip reads an index alone (no row, no
   join): `ix_tasks_scheduled_for`, or under a flow or a status filter `ix_tasks_flow_time`
   or `ix_tasks_status_time`, each ending with the id, the list's tie-break;
2. its rows, from that key down, by keyset: `limit` rows read with their joins.

OFFSET on the full query read and joined every skipped row (781 ms for the last page at 1M
runs). The count the page number needs is the one the caption shows anyway.

A `top` key keeps the pages still while new runs arrive: positions count only the runs at or
below it, and the runs above it are counted apart (`newer`) for the caption to mention.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.orm import Session

from automagik.db.engine import Database
from automagik.db.models import Task
from automagik.services import tasks as task_service

#: A run's place in the list: (scheduled_for, id).
Key = tuple[datetime, str]


@dataclass(frozen=True)
class TaskPage:
    rows: list[task_service.TaskRow]
    number: int  # the page shown, 1-based (a number past the end is the last page)
    pages: int  # how many pages, at least 1
    total: int  # runs in the pages: matching the filters, at or below `top`
    newer: int  # runs matching the filters above `top` (0 without one)
    top: Key | None  # the newest run in the pages; pass it back to keep the pages still


def at_or_below(key: Key) -> ColumnElement[bool]:
    """Runs at `key` or after it in the list (planned earlier, or at the same time with a
    smaller id). The leading bound alone gives the planner an index range on scheduled_for."""
    at, task_id = key
    return (Task.scheduled_for <= at) & ((Task.scheduled_for < at) | (Task.id <= task_id))


def above(key: Key) -> ColumnElement[bool]:
    """Runs before `key` in the list (newer)."""
    at, task_id = key
    return (Task.scheduled_for >= at) & ((Task.scheduled_for > at) | (Task.id > task_id))


def _bounded(filters: task_service.TaskFilter, query: Select, top: Key | None) -> Select:
    query = filters.apply(query)
    return query if top is None else query.where(at_or_below(top))


def key_at(session, filters: task_service.TaskFilter, position: int, total: int, top: Key | None = None) -> Key | None:
    """The key of the run at `position` (0: the newest) of the `total` that match, or None
    past the end. Reads keys only, from the nearer end."""
    if position < 0 or position >= total:
        return None
    keys = _bounded(filters, select(Task.scheduled_for, Task.id), top)
    from_end = total - 1 - position
    if position <= from_end:
        query = keys.order_by(Task.scheduled_for.desc(), Task.id.desc()).offset(position)
    else:
        query = keys.order_by(Task.scheduled_for.asc(), Task.id.asc()).offset(from_end)
    row = session.execute(query.limit(1)).first()
    return None if row is None else (row[0], row[1])


def rows_from(session, filters: task_service.TaskFilter, key: Key, limit: int) -> list[task_service.TaskRow]:
    """`limit` runs from `key` down, with their flow names."""
    query = task_service.rows_query(filters).where(at_or_below(key)).limit(limit)
    return [task_service.TaskRow(*row) for row in session.execute(query)]


def count(session, filters: task_service.TaskFilter, top: Key | None = None) -> int:
    return session.scalar(_bounded(filters, select(func.count()).select_from(Task), top)) or 0


def rows_at(session, filters: task_service.TaskFilter, offset: int, limit: int) -> list[task_service.TaskRow]:
    """What `LIMIT limit OFFSET offset` on the list gives, by keyset (the CLI's --offset)."""
    if offset == 0:
        return [task_service.TaskRow(*row) for row in session.execute(task_service.rows_query(filters).limit(limit))]
    key = key_at(session, filters, offset, count(session, filters))
    return [] if key is None else rows_from(session, filters, key, limit)


@contextmanager
def snapshot_read(db: Database) -> Iterator[Session]:
    """A read session whose statements all see one snapshot, as SQLite's read transactions do.
    A page is several statements (the count, the seek, the rows, the top): under PostgreSQL's
    READ COMMITTED each would see the runs pruned or added since the one before, and the seek
    from the oldest end would land on a run of another page."""
    with db.read() as session:
        if db.dialect == "postgresql":
            session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        yield session


def task_page(
    db: Database, filters: task_service.TaskFilter, number: int, size: int, top: Key | None = None
) -> TaskPage:
    """Page `number` (1-based) of `size` runs. With `top`, pages past the first hold only the
    runs at or below it, so runs arriving meanwhile do not push the rows of page 3 along;
    without it, and always on page 1, the pages start at the newest run, and the TaskPage's
    `top` is that run's key."""
    size = task_service.checked_page_size(size)
    with snapshot_read(db) as session:
        filters = task_service.full_ids(session, filters)
        total = count(session, filters, top)
        newer = (
            0
            if top is None
            else session.scalar(filters.apply(select(func.count()).select_from(Task).where(above(top)))) or 0
        )
        pages = max(1, math.ceil(total / size))
        number = min(max(1, number), pages)
        if number == 1 and top is not None:
            # Page 1 follows the newest runs, also when a page past it falls back to page 1
            # (a larger page size, a list shrunk under the top): held under the old top, it
            # would hide the newer runs it is the place to see.
            top, newer = None, 0
            total = count(session, filters)
            pages = max(1, math.ceil(total / size))
        first = key_at(session, filters, (number - 1) * size, total, top)
        rows = [] if first is None else rows_from(session, filters, first, size)
        if top is None and total:
            top = (rows[0].task.scheduled_for, rows[0].task.id) if number == 1 else key_at(session, filters, 0, total)
        return TaskPage(rows, number, pages, total, newer, top)
