"""Which scheduler daemons are running, read from the heartbeat rows they keep (`daemons`).

A daemon refreshes its row every AUTOMAGIK_HEARTBEAT_SECONDS and marks it stopped on a clean
shutdown. A row that is neither recent nor stopped belongs to a daemon that died (kill -9,
a crash, a lost machine) or hangs: it is "stale", and its runs are recovered by the others.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from automagik.clock import utcnow
from automagik.db.engine import Database
from automagik.db.models import DaemonHeartbeat
from automagik.plural import counted

# A beat may be late by a slow transaction or a busy SQLite lock; three missed beats in a row
# is not lateness any more.
STALE_AFTER_BEATS = 3
DEFAULT_HEARTBEAT_SECONDS = 5.0
# Stopped and long-dead daemons leave rows behind; only the newest are worth showing.
LIST_LIMIT = 20
START_HINT = "start one with `python scheduler_daemon.py` (or `bash scripts/run.sh`)"


class DaemonState(str, enum.Enum):
    ALIVE = "alive"  # its heartbeat is recent
    STALE = "stale"  # no heartbeat for STALE_AFTER_BEATS intervals and no clean stop: dead or hung
    STOPPED = "stopped"  # shut down cleanly


@dataclass(frozen=True)
class DaemonStatus:
    id: str
    host: str
    pid: int
    version: str
    workers: int
    in_flight: int
    started_at: datetime
    last_seen: datetime
    stopped_at: datetime | None
    state: DaemonState


@dataclass(frozen=True)
class DaemonsSummary:
    """The daemons shown on the overview, and one sentence about them."""

    daemons: list[DaemonStatus]
    alive: int
    message: str


def state_of(row: DaemonHeartbeat, now: datetime, heartbeat_seconds: float = DEFAULT_HEARTBEAT_SECONDS) -> DaemonState:
    if row.stopped_at is not None:
        return DaemonState.STOPPED
    if row.last_seen < now - timedelta(seconds=STALE_AFTER_BEATS * heartbeat_seconds):
        return DaemonState.STALE
    return DaemonState.ALIVE


def list_daemons(
    db: Database,
    now: datetime | None = None,
    heartbeat_seconds: float = DEFAULT_HEARTBEAT_SECONDS,
    limit: int = LIST_LIMIT,
) -> list[DaemonStatus]:
    """The most recently seen daemons (newest first), each judged alive, stale or stopped."""
    now = now or utcnow()
    with db.read() as session:
        rows = session.scalars(
            select(DaemonHeartbeat).order_by(DaemonHeartbeat.last_seen.desc(), DaemonHeartbeat.id).limit(limit)
        ).all()
    return [
        DaemonStatus(
            id=row.id,
            host=row.host,
            pid=row.pid,
            version=row.version,
            workers=row.workers,
            in_flight=row.in_flight,
            started_at=row.started_at,
            last_seen=row.last_seen,
            stopped_at=row.stopped_at,
            state=state_of(row, now, heartbeat_seconds),
        )
        for row in rows
    ]


def summarize_daemons(
    db: Database,
    now: datetime | None = None,
    heartbeat_seconds: float = DEFAULT_HEARTBEAT_SECONDS,
    describe_time=lambda moment: moment.isoformat(),
) -> DaemonsSummary:
    """The daemons and a sentence: how many are alive, or since when none is, and how to start one.

    `describe_time` turns an instant into words (the dashboard passes its zone-aware formatter).
    """
    daemons = list_daemons(db, now, heartbeat_seconds)
    alive = [d for d in daemons if d.state is DaemonState.ALIVE]
    if alive:
        running = sum(d.in_flight for d in alive)
        message = f"{counted(len(alive), 'daemon')} alive, {counted(running, 'run')} in flight."
    elif not daemons:
        message = f"No daemon has ever run against this database: {START_HINT}."
    else:
        latest = daemons[0]
        if latest.state is DaemonState.STALE:
            message = (
                f"No daemon is alive: the last one ({latest.host}, pid {latest.pid}) stopped sending "
                f"heartbeats at {describe_time(latest.last_seen)}. Scheduled runs wait; {START_HINT}."
            )
        else:
            message = (
                f"No daemon is running: the last one stopped at {describe_time(latest.stopped_at)}. "
                f"Scheduled runs wait; {START_HINT}."
            )
    return DaemonsSummary(daemons=daemons, alive=len(alive), message=message)
