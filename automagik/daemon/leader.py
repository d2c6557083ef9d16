"""Jobs one daemon does for all of them (flows kept current, retention): the longest-running
live daemon, by its heartbeat row, with no lock to take or lose. Two daemons that briefly both
think they lead do the job twice, which each job makes harmless. A job runs in a thread of its
own, so it never holds up the loop, and one at a time per daemon."""

from __future__ import annotations

import threading
from datetime import timedelta

from sqlalchemy import select

from automagik.clock import utcnow
from automagik.db.engine import Database
from automagik.db.models import DaemonHeartbeat

STALE_BEATS = 3  # a daemon silent for this many heartbeats is not counted as live


def leading_daemon(db: Database, heartbeat_seconds: float) -> str | None:
    """The id of the live daemon that started first."""
    live_since = utcnow() - timedelta(seconds=STALE_BEATS * heartbeat_seconds)
    with db.read() as session:
        return session.scalar(
            select(DaemonHeartbeat.id)
            .where(DaemonHeartbeat.stopped_at.is_(None), DaemonHeartbeat.last_seen >= live_since)
            .order_by(DaemonHeartbeat.started_at, DaemonHeartbeat.id)
            .limit(1)
        )


class LeaderJob:
    """Subclasses do their work in `work()`, which must never raise, and stop early once
    `stopping` is set (the daemon is shutting down)."""

    name = "leader-job"

    def __init__(
        self, daemon_id: str, db: Database, heartbeat_seconds: float, stopping: threading.Event | None = None
    ) -> None:
        self.daemon_id, self.db, self.heartbeat_seconds = daemon_id, db, heartbeat_seconds
        self.stopping = stopping or threading.Event()
        self._thread: threading.Thread | None = None

    def due(self) -> None:
        """The timer's turn: start the work if this daemon leads and it is not going already."""
        if self._thread is not None and self._thread.is_alive():
            return
        if leading_daemon(self.db, self.heartbeat_seconds) != self.daemon_id:
            return
        self._thread = threading.Thread(target=self.work, name=self.name, daemon=True)
        self._thread.start()

    def work(self) -> None:
        raise NotImplementedError

    def join(self, timeout: float) -> None:
        if self._thread is not None:
            self._thread.join(timeout)
