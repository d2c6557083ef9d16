"""AUTOMAGIK_RETENTION_DAYS: every hour the leading daemon (leader.py) deletes finished runs planned longer ago than that, with their log lines, in small
batches (automagik.runs.retention), in a thread of its own; and forgets daemons not seen
for a week. At most MAX_PER_RUN runs an hour, so enabling it on a large history spreads the
work instead of holding the database for minutes."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from automagik.clock import utcnow
from automagik.daemon.leader import LeaderJob
from automagik.db.engine import Database
from automagik.plural import counted
from automagik.runs.retention import prune_daemon_rows, prune_tasks

log = logging.getLogger("automagik.daemon")
MAX_PER_RUN = 50_000
DAEMON_ROWS_KEPT = timedelta(days=7)


class RetentionJob(LeaderJob):
    name = "retention"

    def __init__(
        self, daemon_id: str, db: Database, days: float, heartbeat_seconds: float, stopping: threading.Event
    ) -> None:
        super().__init__(daemon_id, db, heartbeat_seconds, stopping)
        self.days = days

    def work(self) -> None:
        self.prune()

    def prune(self) -> None:
        now = utcnow()
        try:
            deleted = prune_tasks(
                self.db, now - timedelta(days=self.days), limit=MAX_PER_RUN, go_on=lambda: not self.stopping.is_set()
            )
            forgotten = prune_daemon_rows(self.db, now - DAEMON_ROWS_KEPT)
        except Exception:  # never the end of the daemon
            log.exception("retention failed; it is tried again in an hour")
            return
        if deleted or forgotten:
            log.info(
                "retention: deleted %s older than %g %s and %s",
                counted(deleted, "run"),
                self.days,
                "day" if self.days == 1 else "days",
                counted(forgotten, "old daemon row"),
            )
