"""What a live daemon watches for, every AUTOMAGIK_RECOVERY_SECONDS: another daemon gone
silent, fires no daemon dispatched and runs no daemon started past the grace, and the end of
incidents opened elsewhere: failure streaks that ended, budgets no longer reached (a new day,
a raised budget), schedules running again after a pause. One read looks; a write happens only
when an incident opens or clears. A schedule's streak of failures opens its incident when a
failure is recorded (streaks), a budget's when a fire is skipped for it (runs.fires), a pause's
when a flow sync pauses the schedule (services.flows)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select

from automagik.costs.budgets import budgets_reached
from automagik.db.engine import Database
from automagik.db.models import DaemonHeartbeat, Flow, Schedule, ScheduleStatus, Task, TaskStatus
from automagik.monitoring.incidents import Change, Kind, clear_incidents, open_ids, open_incident
from automagik.plural import agree, counted

STALE_BEATS = 3


def watch(
    db: Database, me: str, now: datetime, heartbeat_seconds: float, grace_seconds: float, zone: str = "UTC"
) -> list[Change]:
    """Open and clear incidents as things stand; returns what this daemon opened or cleared."""
    since = now - timedelta(seconds=grace_seconds)
    with db.read() as session:
        stale = session.execute(
            select(DaemonHeartbeat.id, DaemonHeartbeat.host, DaemonHeartbeat.pid, DaemonHeartbeat.last_seen).where(
                DaemonHeartbeat.stopped_at.is_(None),
                DaemonHeartbeat.id != me,
                DaemonHeartbeat.last_seen < now - timedelta(seconds=STALE_BEATS * heartbeat_seconds),
            )
        ).all()
        fires, oldest_fire = session.execute(
            select(func.count(), func.min(Schedule.next_run_at)).where(
                Schedule.status == ScheduleStatus.ACTIVE, Schedule.next_run_at < since
            )
        ).one()
        runs, oldest_run = session.execute(
            select(func.count(), func.min(Task.next_retry_at))
            # A backfill's runs waiting for their turn have no time yet (runs/backfill.py).
            .where(Task.status == TaskStatus.PENDING, Task.next_retry_at < since, Task.held_since.is_(None))
        ).one()
        open_now = {kind: open_ids(session, kind) for kind in Kind}
        opened = {kind: set(ids) for kind, ids in open_now.items()}
        over = {
            Kind.FAILURE_STREAK: _streaks_over(session, opened[Kind.FAILURE_STREAK]),
            Kind.BUDGET_REACHED: _budgets_over(session, opened[Kind.BUDGET_REACHED], now, zone),
            Kind.SCHEDULE_PAUSED: _pauses_over(session, opened[Kind.SCHEDULE_PAUSED]),
        }
    wanted = {
        Kind.DAEMON_STALE: {
            row.id: (
                f"daemon {row.id} ({row.host}, pid {row.pid}) has sent no heartbeat since "
                f"{row.last_seen:%Y-%m-%d %H:%M:%S} UTC: it died or hangs; the live daemons "
                "take over its runs"
            )
            for row in stale
        },
        Kind.FIRES_OVERDUE: {
            "": (
                f"{counted(fires, 'schedule')} {agree(fires, 'has', 'have')} a fire overdue by more than {grace_seconds:g} s "
                f"(the oldest due {oldest_fire:%Y-%m-%d %H:%M:%S} UTC): the daemons do not keep up "
                "or cannot reach the database"
            )
        }
        if fires
        else {},
        Kind.RUNS_OVERDUE: {
            "": (
                f"{counted(runs, 'run')} due more than {grace_seconds:g} s ago {agree(runs, 'has', 'have')} not started (the oldest "
                f"due {oldest_run:%Y-%m-%d %H:%M:%S} UTC): the daemons' workers do not keep up"
            )
        }
        if runs
        else {},
    }
    to_open = {kind: {s: m for s, m in subjects.items() if s not in opened[kind]} for kind, subjects in wanted.items()}
    to_clear = {kind: opened[kind] - set(wanted[kind]) for kind in wanted}
    to_clear.update(over)
    if not any(to_open.values()) and not any(to_clear.values()):
        return []
    changes: list[Change] = []
    with db.write() as session:
        # Looked at again in the write transaction: a pause, a budget or a streak back since the
        # read above found its incident still open (the opening a no-op, alerting nothing), so
        # clearing on the read's answer would end an incident whose cause is back; a pause's,
        # for good. SQLite's write lock orders this after any such write; on PostgreSQL the
        # schedules' rows are locked, so a flow sync pausing one waits and then opens its own.
        to_clear[Kind.SCHEDULE_PAUSED] = _pauses_over(session, to_clear[Kind.SCHEDULE_PAUSED], lock=True)
        to_clear[Kind.BUDGET_REACHED] = _budgets_over(session, to_clear[Kind.BUDGET_REACHED], now, zone)
        to_clear[Kind.FAILURE_STREAK] = _streaks_over(session, to_clear[Kind.FAILURE_STREAK])
        for kind, subjects in to_open.items():
            for subject, message in subjects.items():
                change = open_incident(session, db.dialect, kind, subject, message, now)
                if change:
                    changes.append(change)
        for kind, cleared in to_clear.items():
            changes += clear_incidents(session, kind, [open_now[kind][s] for s in cleared], now)
    return changes


def _budgets_over(session, flow_ids: set[str], now: datetime, zone: str) -> set[str]:
    """Flows with an open budget incident whose spending today (in `zone`) is under their budget
    again, whose budget was removed, or that are gone."""
    if not flow_ids:
        return set()
    rows = session.execute(select(Flow.id, Flow.name, Flow.daily_budget_usd).where(Flow.id.in_(list(flow_ids))))
    budgets = {flow_id: (name, budget) for flow_id, name, budget in rows if budget is not None}
    return flow_ids - set(budgets_reached(session, budgets, now, zone))


def _pauses_over(session, schedule_ids: set[str], lock: bool = False) -> set[str]:
    """Schedules with an open pause incident that a person resumed (a resume clears the
    reason), or that are gone. With `lock`, every row read is share-locked (PostgreSQL), the
    resumed ones too: those are the ones a flow sync may pause again."""
    if not schedule_ids:
        return set()
    query = select(Schedule.id, Schedule.status, Schedule.paused_reason).where(Schedule.id.in_(list(schedule_ids)))
    if lock:
        query = query.with_for_update(read=True)
    still = {
        schedule_id
        for schedule_id, status, reason in session.execute(query)
        if status is ScheduleStatus.PAUSED and reason is not None
    }
    return schedule_ids - still


def _streaks_over(session, schedule_ids: set[str]) -> set[str]:
    """Schedules with an open failure streak whose latest finished run completed (or that
    are gone): their streak is over."""
    over = set()
    for schedule_id in schedule_ids:
        latest = session.scalar(
            select(Task.status)
            .where(Task.schedule_id == schedule_id, Task.status.in_([TaskStatus.COMPLETED, TaskStatus.FAILED]))
            .order_by(Task.finished_at.desc())
            .limit(1)
        )
        if latest is not TaskStatus.FAILED:
            over.add(schedule_id)
    return over
