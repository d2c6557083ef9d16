"""Runs a person asks for: a flow run now, one more try of a failed task."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update

from automagik.db.engine import rows_matched
from automagik.db.models import LogLevel, Task, TaskStatus, new_id
from automagik.runs.states import Transition, log_row, sources, target, write_logs
from automagik.runs.templates import FireValues, has_placeholders, render_input


def queue_run(
    session,
    *,
    flow_id: str,
    schedule_id: str | None,
    input_data: dict,
    max_retries: int,
    timeout_seconds: int | None,
    now: datetime,
    flow_name: str = "",
    zone: str = "UTC",
) -> Task:
    """A task due at once, in the caller's transaction. It is planned for "now" to the
    microsecond, so a run on a schedule never takes the key of one of its fires.

    Its input's placeholders are filled as for a fire at "now" in `zone` (the schedule's zone,
    or TIMEZONE for a run of no schedule); the task stores what is sent."""
    task_id = new_id()
    if has_placeholders(input_data):
        input_data = render_input(
            input_data,
            FireValues(
                fire_time=now,
                zone=zone,
                task_id=task_id,
                flow_name=flow_name,
                schedule_id=schedule_id,
            ),
        )
    task = Task(
        id=task_id,
        flow_id=flow_id,
        schedule_id=schedule_id,
        status=TaskStatus(target(Transition.QUEUE)),
        input_data=input_data,
        tries=0,
        max_retries=max_retries,
        timeout_seconds=timeout_seconds,
        scheduled_for=now,
        next_retry_at=now,
        created_at=now,
        updated_at=now,
        trigger="manual",
    )
    session.add(task)
    session.flush()
    write_logs(session, [log_row(task.id, LogLevel.INFO, "queued by a manual run", now)])
    return task


def retry_by_user(session, task: Task, now: datetime) -> bool:
    """One more try of a failed task, on the same row; False if it is no longer failed."""
    changed = rows_matched(
        session.execute(
            update(Task)
            .where(Task.id == task.id, Task.status.in_(sources(Transition.USER_RETRY)))
            .values(
                status=target(Transition.USER_RETRY),
                next_retry_at=now,
                finished_at=None,
                claimed_by=None,
                lease_until=None,
                # One more attempt: a task is retried while tries <= max_retries.
                max_retries=max(task.max_retries, task.tries),
                updated_at=now,
                trigger="retry",
            )
            .execution_options(synchronize_session=False)
        )
    )
    if changed:
        write_logs(session, [log_row(task.id, LogLevel.INFO, "retry requested by the user", now)])
        session.refresh(task)
    return bool(changed)


def note_forced(session, task: Task, reason: str, now: datetime) -> None:
    """Say in the task's log that a person started it past its flow's reached budget."""
    write_logs(session, [log_row(task.id, LogLevel.WARNING, f"run forced by the user: {reason}", now)])
