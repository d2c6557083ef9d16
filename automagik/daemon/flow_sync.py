"""Flows kept current without a manual sync: every AUTOMAGIK_SYNC_SECONDS one daemon re-syncs
flow metadata from LangFlow, exactly as `flows sync` does.

The longest-running live daemon syncs (leader.py). Two syncing at once is harmless: a sync is
one write transaction, and a schedule it pauses is paused (and alerted about) by whichever
sync paused it, once. LangFlow unreachable means the flows stay as they were.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from automagik.daemon.alerts import alert_paused_schedules
from automagik.daemon.leader import LeaderJob
from automagik.db.engine import Database
from automagik.langflow import LangFlowClient
from automagik.services.errors import ServiceError
from automagik.services.flows import sync_flows

log = logging.getLogger("automagik.daemon")


class FlowSync(LeaderJob):
    name = "flow-sync"

    def __init__(
        self,
        daemon_id: str,
        db: Database,
        client_factory: Callable[[], LangFlowClient],
        heartbeat_seconds: float,
        alert_url: str | None,
        keep_alerts: Callable[[list[threading.Thread]], None],
        stopping: threading.Event | None = None,
    ) -> None:
        super().__init__(daemon_id, db, heartbeat_seconds, stopping)  # stopping set: a sync writes nothing more
        self.client_factory, self.alert_url, self.keep_alerts = client_factory, alert_url, keep_alerts

    def work(self) -> None:
        self.sync()

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
