"""CSV export of the run history, produced lazily in chunks so memory never grows with rows."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import datetime

from automagik.db.engine import Database
from automagik.services.serialize import USAGE_FIELDS, duration_seconds, iso, output_text
from automagik.services.tasks import TaskFilter, TaskRow, check_named_ids, iter_task_rows
from automagik.timefmt import format_local

CSV_COLUMNS = (
    "id",
    "flow_id",
    "flow_name",
    "schedule_id",
    "status",
    "scheduled_for",
    "started_at",
    "finished_at",
    "duration_seconds",
    "tries",
    "input",
    "output",
    "error",
    *USAGE_FIELDS,
    "trigger",
    "flow_updated_at",
    "backfill_id",
    "upstream_task_id",
    "started_by",
)
# Spreadsheets run a cell starting with one of these as a formula: a flow's output could
# otherwise smuggle one into the user's sheet. A leading apostrophe keeps it plain text.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: object) -> object:
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return "" if value is None else value


def csv_row(row: TaskRow) -> list[object]:
    task = row.task
    return [
        task.id,
        task.flow_id,
        _cell(row.flow_name),
        task.schedule_id or "",
        task.status.value,
        iso(task.scheduled_for),
        iso(task.started_at) or "",
        iso(task.finished_at) or "",
        _cell(duration_seconds(task)),
        task.tries,
        _cell((task.input_data or {}).get("input")),
        _cell(output_text(task)),
        _cell(task.error),
        *(_cell(getattr(task, name)) for name in USAGE_FIELDS),
        task.trigger,
        iso(task.flow_updated_at) or "",
        task.backfill_id or "",
        task.upstream_task_id or "",
        _cell(row.started_by),
    ]


def csv_file_name(moment: datetime, zone: str) -> str:
    """ "automagik-tasks-2026-03-28_1334_CET.csv": the minute of `moment` in `zone`, zone named,
    with nothing a file system or a shell would mind."""
    local = format_local(moment, zone, seconds=False).replace(" ", "_").replace(":", "")
    return f"automagik-tasks-{local}.csv"


def export_tasks_csv(db: Database, filters: TaskFilter = TaskFilter(), rows_per_chunk: int = 1000) -> Iterator[str]:
    """Yield the CSV text (header first) of every run matching `filters`, one chunk at a time."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for n, row in enumerate(iter_task_rows(db, filters, chunk_size=rows_per_chunk), start=1):
        writer.writerow(csv_row(row))
        if n % rows_per_chunk == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def write_tasks_csv(db: Database, path: str, filters: TaskFilter = TaskFilter()) -> int:
    """Write the export to `path`; returns the number of runs written."""
    filters = check_named_ids(db, filters)  # before the file is created; a short id made whole
    written = 0
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_COLUMNS)
        for row in iter_task_rows(db, filters):
            writer.writerow(csv_row(row))
            written += 1
    return written
