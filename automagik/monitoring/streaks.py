"""Failure streaks: a schedule's `alert_after_failures` (N) decides how its failures alert.
N = 1: every run that fails for good alerts (one alert per task). N > 1: N failures in a row
open one incident and one alert; the streak's end (a run that completes) clears it, and says
so once (monitoring.watch). Manual runs without a schedule alert every failure."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from automagik.db.engine import Database
from automagik.db.models import Schedule, Task, TaskStatus
from automagik.monitoring.incidents import Change, Kind, open_incident
from automagik.runs.outcomes import Recorded


def sort_failures(db: Database, failed: list[Recorded], now: datetime) -> tuple[list[Recorded], list[Change]]:
    """Of tasks just failed for good: those to alert one by one, and the streaks this daemon
    opened (each alerted once)."""
    if not failed:
        return [], []
    scheduled = {change.schedule_id for change in failed if change.schedule_id}
    thresholds: dict[str, int] = {}
    if scheduled:
        with db.read() as session:
            rows = session.execute(
                select(Schedule.id, Schedule.alert_after_failures).where(Schedule.id.in_(list(scheduled)))
            ).all()
        thresholds = {schedule_id: needed for schedule_id, needed in rows}
    # A run with no schedule (run now) alerts on its own, as does a schedule asking for 1 failure.
    one_by_one = [c for c in failed if c.schedule_id is None or thresholds.get(c.schedule_id, 1) <= 1]
    streaks = {c.schedule_id: c for c in failed if c.schedule_id is not None and thresholds.get(c.schedule_id, 1) > 1}
    opened = []
    for schedule_id, change in streaks.items():
        needed = thresholds[schedule_id]
        with db.write() as session:
            latest = session.scalars(
                select(Task.status)
                .where(Task.schedule_id == schedule_id, Task.status.in_([TaskStatus.COMPLETED, TaskStatus.FAILED]))
                .order_by(Task.finished_at.desc())
                .limit(needed)
            ).all()
            if len(latest) == needed and all(status is TaskStatus.FAILED for status in latest):
                message = (
                    f'schedule {schedule_id} of flow "{change.flow_name}" has failed {needed} times in a row '
                    f"(the last: task {change.task_id}: {change.error})"
                )
                incident = open_incident(session, db.dialect, Kind.FAILURE_STREAK, schedule_id, message, now)
                if incident:
                    opened.append(incident)
    return one_by_one, opened
