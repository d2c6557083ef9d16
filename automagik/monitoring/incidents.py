"""Incidents: something wrong that lasts (a daemon gone silent, fires overdue, a schedule
failing again and again, a flow's daily budget reached, a schedule paused because its flow
changed), opened once and cleared once, whatever daemon notices first.

At most one incident of a kind and subject is open at a time: a partial unique index on
open ones makes a second opening a no-op (INSERT ... ON CONFLICT DO NOTHING), and a clearing
is an UPDATE of open rows returning what it changed. So with several daemons watching, the
one whose statement changed the row alone posts the alert.
"""

from __future__ import annotations

import enum
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from automagik.db.engine import Database
from automagik.db.models import Incident


class Kind(str, enum.Enum):
    DAEMON_STALE = "daemon_stale"  # subject: the daemon's id
    FIRES_OVERDUE = "fires_overdue"  # subject: "" (all schedules)
    RUNS_OVERDUE = "runs_overdue"  # subject: ""
    FAILURE_STREAK = "failure_streak"  # subject: the schedule's id
    BUDGET_REACHED = "budget_reached"  # subject: the flow's id; cleared when its day's spending is under it
    SCHEDULE_PAUSED = "schedule_paused"  # subject: the schedule's id, paused by a flow sync; cleared by a resume


@dataclass(frozen=True)
class Change:
    """An incident this caller opened or cleared (it is the one to alert)."""

    kind: Kind
    subject: str
    message: str
    opened: bool  # False: cleared
    at: datetime


def open_incident(session, dialect: str, kind: Kind, subject: str, message: str, now: datetime) -> Change | None:
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    opened = session.scalars(
        insert(Incident)
        .values(kind=kind.value, subject=subject, message=message, opened_at=now)
        .on_conflict_do_nothing(index_elements=["kind", "subject"], index_where=text("cleared_at IS NULL"))
        .returning(Incident.id)
    ).all()
    return Change(kind, subject, message, True, now) if opened else None


def clear_incidents(session, kind: Kind, ids: Collection[int], now: datetime) -> list[Change]:
    """Clear those of the incidents `ids` (of `kind`) still open; returns what this call cleared.
    By id, not by subject: an incident of the same subject opened since the caller looked (another
    daemon cleared the old one and a new one began) is not the caller's to end."""
    if not ids:
        return []
    rows = session.execute(
        update(Incident)
        .where(Incident.id.in_(list(ids)), Incident.cleared_at.is_(None))
        .values(cleared_at=now)
        .returning(Incident.subject, Incident.message)
        .execution_options(synchronize_session=False)
    ).all()
    return [Change(kind, subject, message, False, now) for subject, message in rows]


def open_ids(session, kind: Kind) -> dict[str, int]:
    """The open incidents of `kind`: subject -> the incident's id."""
    rows = session.execute(
        select(Incident.subject, Incident.id).where(Incident.kind == kind.value, Incident.cleared_at.is_(None))
    )
    return {subject: incident_id for subject, incident_id in rows}


def list_open(db: Database) -> list[Incident]:
    """The open incidents, oldest first (the Overview shows them at the top, `check` too)."""
    with db.read() as session:
        return list(
            session.scalars(
                select(Incident).where(Incident.cleared_at.is_(None)).order_by(Incident.opened_at, Incident.id)
            )
        )
