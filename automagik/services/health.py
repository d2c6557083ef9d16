"""The health check monitors call (`check`): is everything in place for scheduled runs to
happen? Nothing can alert from a daemon that is down, so this asks from outside: the
database's schema, a live daemon, fires and runs overdue, LangFlow reachable and accepting
the key, and the incidents the daemons opened (a daemon gone silent, a failure streak).
Every problem is one line saying what is wrong and what to do."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select

from automagik.clock import utcnow
from automagik.db.migrate import schema_problem
from automagik.db.models import Schedule, ScheduleStatus, Task, TaskStatus
from automagik.langflow import LangFlowAuthError, LangFlowError
from automagik.monitoring.incidents import Kind, list_open
from automagik.plural import counted
from automagik.services.context import AppContext
from automagik.services.daemons import summarize_daemons
from automagik.timefmt import format_local


@dataclass
class Health:
    problems: list[str] = field(default_factory=list)
    fine: list[str] = field(default_factory=list)  # what was checked and is well, in a few words

    @property
    def ok(self) -> bool:
        return not self.problems


def check_health(
    context: AppContext, heartbeat_seconds: float, grace_seconds: float, now: datetime | None = None
) -> Health:
    now = now or utcnow()
    health = Health()
    problem = schema_problem(context.db)
    if problem:
        health.problems.append(problem)
    else:
        health.fine.append("database schema current")
        _check_daemons(context, heartbeat_seconds, health)
        _check_overdue(context, now, grace_seconds, health)
        _check_incidents(context, health)
    _check_langflow(context, health)
    return health


def _check_daemons(context: AppContext, heartbeat_seconds: float, health: Health) -> None:
    zone = context.settings.timezone
    summary = summarize_daemons(
        context.db, heartbeat_seconds=heartbeat_seconds, describe_time=lambda moment: format_local(moment, zone)
    )
    (health.fine if summary.alive else health.problems).append(summary.message)


def _check_overdue(context: AppContext, now: datetime, grace_seconds: float, health: Health) -> None:
    """Fires no daemon dispatched, and runs no daemon started, more than the grace after their
    time. Runs waiting for a limit's slot are not overdue: they wait on purpose; nor are a
    backfill's runs waiting for their turn, which have no time yet (runs/backfill.py)."""
    zone, since = context.settings.timezone, now - timedelta(seconds=grace_seconds)
    with context.db.read() as session:
        fires, oldest_fire = session.execute(
            select(func.count(), func.min(Schedule.next_run_at)).where(
                Schedule.status == ScheduleStatus.ACTIVE, Schedule.next_run_at < since
            )
        ).one()
        runs, oldest_run = session.execute(
            select(func.count(), func.min(Task.next_retry_at)).where(
                Task.status == TaskStatus.PENDING, Task.next_retry_at < since, Task.held_since.is_(None)
            )
        ).one()
    if fires:
        health.problems.append(
            f"{counted(fires, 'schedule')} overdue: a fire due at {format_local(oldest_fire, zone)} was not dispatched "
            f"within {grace_seconds:g} s; check that a daemon is running and can reach the database."
        )
    if runs:
        health.problems.append(
            f"{counted(runs, 'run')} overdue: one due at {format_local(oldest_run, zone)} has not started within "
            f"{grace_seconds:g} s; check the daemons' logs (workers busy, or a daemon stuck)."
        )
    if not fires and not runs:
        health.fine.append("no fire or run overdue")


def _check_incidents(context: AppContext, health: Health) -> None:
    zone = context.settings.timezone
    for incident in list_open(context.db):
        if incident.kind in (Kind.FIRES_OVERDUE.value, Kind.RUNS_OVERDUE.value):
            continue  # said above, as things stand now
        health.problems.append(f"incident open since {format_local(incident.opened_at, zone)}: {incident.message}")


def _check_langflow(context: AppContext, health: Health) -> None:
    with context.langflow() as client:
        status = client.health()
        if not status.reachable or not status.ready:
            health.problems.append(status.detail)
            return
        if not context.settings.langflow_api_key:
            health.problems.append(
                "LANGFLOW_API_KEY is not set: LangFlow refuses to list or run flows without an API key."
            )
            return
        try:
            client.check_key()
        except LangFlowAuthError as exc:
            health.problems.append(exc.message)
            return
        except LangFlowError as exc:
            health.problems.append(f"LangFlow could not be asked about the API key: {exc.message}")
            return
    health.fine.append(status.detail.rstrip(".") + ", API key accepted")
