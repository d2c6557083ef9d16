"""Flows kept current without a manual sync: every AUTOMAGIK_SYNC_SECONDS one daemon re-syncs
flow metadata from LangFlow, exactly as `flows sync` does.

The daemon that syncs is the longest-running live one (by its heartbeat row): no lock to
take or lose. Two daemons that briefly both think they are it sync twice, which is harmless:
a sync is one write transaction, and a schedule it pauses is paused (and alerted about) by
whichever sync paused it, once. The sync runs in a thread of its own, so a slow LangFlow
never holds up the loop; LangFlow unreachable means the flows stay as they were.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta
from typing import Callable

from sqlalchemy import select

from automagik.clock import utcnow
from automagik.daemon.alerts import alert_paused_schedules
from automagik.db.engine import Database
from automagik.db.models import DaemonHeartbeat
from automagik.langflow import LangFlowClient
from automagik.services.errors import ServiceError
from automagik.services.flows import sync_flows

log = logging.getLogger("automagik.daemon")
STALE_BEATS = 3  # a daemon silent for this many heartbeats is not counted as live


def syncing_daemon(db: Database, heartbeat_seconds: float) -> str | None:
    """The id of the daemon that keeps flows current: the live one that started first."""
    live_since = utcnow() - timedelta(seconds=STALE_BEATS * heartbeat_seconds)
    with db.read() as session:
        return session.scalar(
            select(DaemonHeartbeat.id)
            .where(DaemonHeartbeat.stopped_at.is_(None), DaemonHeartbeat.last_seen >= live_since)
            .order_by(DaemonHeartbeat.started_at, DaemonHeartbeat.id)
            .limit(1)
        )


class FlowSync:
    def __init__(self, daemon_id: str, db: Database, client_factory: Callable[[], LangFlowClient],
                 heartbeat_seconds: float, alert_url: str | None,
                 keep_alerts: Callable[[list[threading.Thread]], None], stopping: threading.Event | None = None) -> None:
        self.daemon_id, self.db, self.client_factory = daemon_id, db, client_factory
        self.stopping = stopping or threading.Event()  # set: a sync writes nothing more (its alerts would be lost)
        self.heartbeat_seconds, self.alert_url, self.keep_alerts = heartbeat_seconds, alert_url, keep_alerts
        self._thread: threading.Thread | None = None

    def due(self) -> None:
        """The timer's turn: start a sync if this daemon is the one to, and none is going."""
        if self._thread is not None and self._thread.is_alive():
            return
        if syncing_daemon(self.db, self.heartbeat_seconds) != self.daemon_id:
            return
        self._thread = threading.Thread(target=self.sync, name="flow-sync", daemon=True)
        self._thread.start()

    def sync(self) -> None:
        try:
            with self.client_factory() as client:
                report = sync_flows(self.db, client, go_on=lambda: not self.stopping.is_set(), remove_all=False)
        except ServiceError as exc:  # LangFlow away or refusing: the flows stay as they were
            log.warning("flow sync skipped: %s", exc.message)
            return
        except Exception:  # never the end of the daemon
            log.exception("flow sync failed; it is tried again at its next turn")
            return
        for notice in report.notices:
            log.warning("flow sync: %s", notice)
        self.keep_alerts(alert_paused_schedules(self.alert_url, report.paused))

    def join(self, timeout: float) -> None:
        if self._thread is not None:
            self._thread.join(timeout)
