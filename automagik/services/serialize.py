"""Plain dicts of the models, keyed by column name, times as ISO 8601 UTC (for --json and CSV)."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import Enum
from typing import Any

from automagik.db.models import Flow, Schedule, Task, TaskLog


def iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat()


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, Enum):
        return value.value
    return value


def _columns(row, names: tuple[str, ...]) -> dict[str, Any]:
    return {name: _plain(getattr(row, name)) for name in names}


FLOW_FIELDS = (
    "id",
    "name",
    "input_component",
    "output_component",
    "daily_budget_usd",
    "max_concurrency",
    "langflow_triggers",
    "synced_at",
    "changed_at",
    "removed_at",
    "created_at",
    "updated_at",
)
SCHEDULE_FIELDS = (
    "id",
    "flow_id",
    "schedule_type",
    "schedule_expr",
    "timezone",
    "flow_params",
    "next_run_at",
    "status",
    "max_retries",
    "timeout_seconds",
    "missed_policy",
    "anchor_at",
    "last_run_at",
    "created_at",
    "updated_at",
    "paused_reason",
    "alert_after_failures",
    "after_outcome",
)
# What a run's messages reported using, and its price: NULL (None, an empty CSV cell) when
# LangFlow reported no usage; cost_usd also when a model's price is unknown.
USAGE_FIELDS = ("input_tokens", "output_tokens", "total_tokens", "model", "cost_usd")
TASK_FIELDS = (
    "id",
    "flow_id",
    "schedule_id",
    "status",
    "input_data",
    "result",
    "error",
    "tries",
    "max_retries",
    "timeout_seconds",
    "scheduled_for",
    "next_retry_at",
    "claimed_by",
    "lease_until",
    "created_at",
    "started_at",
    "finished_at",
    "updated_at",
    "flow_updated_at",
    "trigger",
    "backfill_id",
    *USAGE_FIELDS,
    "upstream_task_id",
)


def flow_to_dict(flow: Flow, **extra: Any) -> dict[str, Any]:
    data = _columns(flow, FLOW_FIELDS)
    data.update(
        description=(flow.data or {}).get("description"),
        langflow_updated_at=(flow.data or {}).get("updated_at"),
        components=flow.components,
        **extra,
    )
    return data


def schedule_to_dict(schedule: Schedule, **extra: Any) -> dict[str, Any]:
    return {**_columns(schedule, SCHEDULE_FIELDS), **extra}


def task_to_dict(task: Task, **extra: Any) -> dict[str, Any]:
    return {**_columns(task, TASK_FIELDS), "duration_seconds": duration_seconds(task), **extra}


def log_to_dict(line: TaskLog) -> dict[str, Any]:
    return {"created_at": iso(line.created_at), "level": line.level.value, "message": line.message}


def duration_seconds(task: Task) -> float | None:
    if task.started_at is None or task.finished_at is None:
        return None
    return round((task.finished_at - task.started_at).total_seconds(), 3)


def output_text(task: Task) -> str | None:
    return (task.result or {}).get("text")


def backfill_to_dict(result) -> dict[str, Any]:
    """A services.backfill.BackfillResult; the fires are listed for a dry run (what it would do)."""
    data = {
        "backfill_id": result.backfill_id,
        "schedule_id": result.schedule_id,
        "range_from": iso(result.range_from),
        "range_to": iso(result.range_to),
        "only": result.only,
        "max_parallel": result.max_parallel,
        "dry_run": result.dry_run,
        "fires": len(result.fires),
        "queued": result.queued,
        "redone": result.redone,
    }
    if result.dry_run:
        data["planned"] = [
            {"scheduled_for": iso(f.at), "task_status": f.status, "action": f.action} for f in result.fires
        ]
    return data
