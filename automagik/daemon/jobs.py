"""The daemon's timed jobs: what runs every N seconds or hours beside the loop's ticks.

- heartbeat: the daemon's row, and the leases of the tasks it holds (every
  min(--heartbeat-seconds, lease / 4): a lease is renewed several times before it can lapse);
- recovery: tasks whose lease expired (their daemon died) retried or failed, held for a lease
  after the system clock jumps forward (every --recovery-seconds);
- the incident watch (every --recovery-seconds), the database statistics (hourly), the flow
  sync (every --sync-seconds) and retention (hourly), the last two done by one daemon of all;
- once at start, a check that LangFlow answers and takes the key.

Each job is guarded: one that fails (the database is away) is logged and runs again at its
next turn; none ends the loop. `TimedJobs` is a part of `Daemon` (daemon/loop.py), kept in
a module of its own; the attributes it declares are the daemon's, set in its __init__.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from automagik.clock import utcnow
from automagik.config import Settings
from automagik.daemon import heartbeat
from automagik.daemon.alerts import alert_incidents
from automagik.daemon.flow_sync import FlowSync
from automagik.daemon.retention_job import RetentionJob
from automagik.daemon.settings import DaemonSettings
from automagik.daemon.timers import ClockWatch, MonotonicScheduler
from automagik.db import statistics
from automagik.db.engine import Database
from automagik.db.models import TaskStatus
from automagik.langflow import LangFlowAuthError, LangFlowClient, LangFlowError
from automagik.monitoring.watch import watch
from automagik.runs.leases import renew_leases
from automagik.runs.outcomes import Recorded
from automagik.runs.recovery import recover_expired

if TYPE_CHECKING:
    from automagik.daemon.pool import WorkerPool
    from automagik.runs.leases import ClaimedTask

log = logging.getLogger("automagik.daemon")  # the loop's logger: one name for the daemon's lines


class TimedJobs:
    """The timed jobs of a `Daemon`, and the timetable that runs them."""

    # The daemon's own, set by Daemon.__init__.
    id: str
    identity: heartbeat.DaemonIdentity
    settings: Settings
    options: DaemonSettings
    db: Database
    pool: WorkerPool[ClaimedTask]
    flow_sync: FlowSync
    retention: RetentionJob | None
    _client_factory: Callable[[], LangFlowClient]
    _jobs: MonotonicScheduler
    _clock: ClockWatch
    _recovery_held_until: float  # monotonic; see _notice_clock_jumps

    # ...and the loop's, defined in Daemon.
    def wake(self) -> None:
        raise NotImplementedError

    def _held_ids(self) -> list[str]:
        raise NotImplementedError

    def _alert(self, changes: list[Recorded]) -> None:
        raise NotImplementedError

    def _keep_alerts(self, threads: list[threading.Thread]) -> None:
        raise NotImplementedError

    def _start_jobs(self, poll: Callable[[], None], once: bool) -> None:
        """Beat and recover at once, then put every job on the timetable: `poll` (the loop's
        tick) every --poll-seconds, unless `once` (--once runs no poll, watch, sync or
        retention: only what keeps its own runs' leases and the dead daemons' runs)."""
        beat, recover = self._guarded(self.beat), self._guarded(self.recover)
        beat()
        recover()
        if not once:
            self._jobs.every(self.options.poll_seconds).seconds.do(poll)
        self._jobs.every(self._renew_seconds()).seconds.do(beat)
        self._jobs.every(self.options.recovery_seconds).seconds.do(recover)
        if not once:
            self._jobs.every(self.options.recovery_seconds).seconds.do(self._guarded(self.watch))
        self._jobs.every(1).hours.do(self._guarded(self.refresh_statistics))
        if self.options.sync_seconds and not once:
            self._jobs.every(self.options.sync_seconds).seconds.do(self._guarded(self.flow_sync.due))
        if self.retention is not None and not once:
            self._jobs.every(1).hours.do(self._guarded(self.retention.due))

    def beat(self) -> None:
        """The heartbeat row, and the leases of every task this daemon holds."""
        now = utcnow()
        heartbeat.beat(self.db, self.identity, now, in_flight=len(self.pool.busy_ids()))
        renew_leases(self.db, self.id, self._held_ids(), now, self.options.lease_seconds)

    def recover(self) -> None:
        """Retry or fail tasks whose lease expired, never this daemon's own (its leases may have
        lapsed only because its loop was held up or the clock jumped)."""
        self._notice_clock_jumps()  # a jump since this pass began must hold recovery too
        if time.monotonic() < self._recovery_held_until:
            return
        recovered = recover_expired(self.db, utcnow(), exclude=self._held_ids())
        for item in recovered:
            log.warning(
                "task %s: daemon %s stopped while running it; %s",
                item.task_id,
                item.owner,
                "retrying" if item.status is TaskStatus.PENDING else "failed, no retries left",
            )
        self._alert(recovered)
        if recovered:
            self.wake()

    def refresh_statistics(self) -> None:
        statistics.refresh(self.db)

    def _notice_clock_jumps(self) -> None:
        """After the system clock jumps forward, every lease looks expired at once: this daemon
        renews its own before anything else, and holds its recovery for one lease period (the
        time any live daemon has to renew), so that another daemon on this host renews its
        leases before they are taken for dead."""
        step = self._clock.jumped()
        if not step:
            return
        log.warning("daemon %s: the system clock jumped %+.1f s; timers go on unchanged", self.id, step)
        if step > 0:
            self._guarded(self.beat)()
            self._recovery_held_until = time.monotonic() + self.options.lease_seconds

    def _check_langflow(self) -> None:
        """Once at start: say clearly, before any run fails, that LangFlow is away or refuses
        the key (the daemon starts all the same: LangFlow may come later)."""
        if not self.settings.langflow_api_key:
            log.warning(
                "LANGFLOW_API_KEY is not set: LangFlow refuses to run flows without an API key; every run "
                "will fail until it is set"
            )
            return
        try:
            with self._client_factory() as client:
                health = client.health()
                if not health.reachable:
                    log.warning("%s Runs fail (and are retried) until it answers.", health.detail)
                    return
                client.check_key()
        except LangFlowAuthError as exc:
            log.warning(
                "LangFlow refuses the API key: %s Every run will fail until LANGFLOW_API_KEY is fixed.", exc.message
            )
        except LangFlowError as exc:
            log.warning("could not check LangFlow at start: %s", exc.message)
        except Exception:  # a check, never the end of anything
            log.exception("could not check LangFlow at start")

    def _renew_seconds(self) -> float:
        return min(self.options.heartbeat_seconds, self.options.lease_seconds / 4)

    def _guarded(self, job: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                job()
            except Exception:  # a database hiccup must never end the loop
                log.exception("daemon job %s failed; it runs again at its next turn", job.__name__)

        run.__name__ = job.__name__
        return run

    def watch(self) -> None:
        """Incidents opened or cleared as things stand (monitoring.watch), each alerted once."""
        changes = watch(
            self.db,
            self.id,
            utcnow(),
            self.options.heartbeat_seconds,
            self.options.missed_grace_seconds,
            zone=self.settings.timezone,
        )
        for change in changes:
            log.warning("incident %s: %s", "opened" if change.opened else "cleared", change.message)
        self._keep_alerts(alert_incidents(self.options.alert_webhook_url, changes))
