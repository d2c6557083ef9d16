"""A row per daemon, refreshed while it lives, so the dashboard can tell alive from stale."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, update

from automagik.db.engine import Database, rows_matched
from automagik.db.models import DaemonHeartbeat


@dataclass(frozen=True)
class DaemonIdentity:
    id: str
    host: str
    pid: int
    version: str
    workers: int
    started_at: datetime


def beat(db: Database, me: DaemonIdentity, now: datetime, in_flight: int) -> None:
    with db.write() as session:
        updated = rows_matched(
            session.execute(
                update(DaemonHeartbeat)
                .where(DaemonHeartbeat.id == me.id)
                .values(last_seen=now, in_flight=in_flight, stopped_at=None)
                .execution_options(synchronize_session=False)
            )
        )
        if not updated:
            session.execute(
                insert(DaemonHeartbeat).values(
                    id=me.id,
                    host=me.host,
                    pid=me.pid,
                    version=me.version,
                    workers=me.workers,
                    in_flight=in_flight,
                    started_at=me.started_at,
                    last_seen=now,
                )
            )


def mark_stopped(db: Database, me: DaemonIdentity, now: datetime) -> None:
    with db.write() as session:
        session.execute(
            update(DaemonHeartbeat)
            .where(DaemonHeartbeat.id == me.id)
            .values(last_seen=now, in_flight=0, stopped_at=now)
            .execution_options(synchronize_session=False)
        )
