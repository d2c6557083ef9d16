"""The daemon: a `schedule`-driven loop of three jobs around a pool of worker threads.

- dispatch (every --poll-seconds, and at once whenever a known fire or retry comes due or a
  worker frees up): due fires become tasks, runnable tasks are claimed for free workers;
- heartbeat: the daemon's row, and the leases of its running tasks;
- recovery: tasks whose lease expired (their daemon died) are retried or failed.
Between jobs the loop sleeps until the soonest of: the library's next job, the next known
fire or retry, or a wake-up (a worker finished, a signal arrived). It never spins.
"""

from __future__ import annotations

import logging
import os
import queue
import signal
import socket
import threading
import uuid
from datetime import datetime
from typing import Callable

import schedule as schedule_library
from sqlalchemy import func, select

from automagik import __version__
from automagik.clock import utcnow
from automagik.config import Settings
from automagik.daemon import heartbeat
from automagik.db import statistics
from automagik.daemon.claims import (
    AttemptOutcome,
    ClaimedTask,
    claim_tasks,
    extend_leases,
    hand_back,
    record_outcomes,
    recover_expired,
)
from automagik.daemon.dispatch import dispatch_due
from automagik.daemon.pool import WorkerPool
from automagik.daemon.settings import DaemonSettings
from automagik.db.engine import Database
from automagik.db.models import Schedule, ScheduleStatus, Task, TaskStatus
from automagik.langflow import LangFlowClient
from automagik.runner import TaskRunner

log = logging.getLogger("automagik.daemon")


class Daemon:
    def __init__(
        self,
        settings: Settings,
        options: DaemonSettings,
        db: Database | None = None,
        client_factory: Callable[[], LangFlowClient] | None = None,
    ) -> None:
        self.settings, self.options = settings, options
        self.db = db or Database(settings.database_url)
        host = socket.gethostname()
        self.identity = heartbeat.DaemonIdentity(
            id=f"{host}:{os.getpid()}:{uuid.uuid4().hex[:6]}", host=host, pid=os.getpid(), version=__version__,
            workers=options.workers, started_at=utcnow(),
        )
        self.id = self.identity.id
        factory = client_factory or (
            lambda: LangFlowClient(
                settings.langflow_api_url, api_key=settings.langflow_api_key,
                connect_timeout=settings.langflow_connect_timeout, read_timeout=settings.langflow_read_timeout,
            )
        )
        self.runner = TaskRunner(self.db, self.id, options, factory)
        # Workers only talk to LangFlow; the loop records their outcomes in batches.
        self._finished: queue.SimpleQueue[tuple[ClaimedTask, AttemptOutcome]] = queue.SimpleQueue()
        self._unrecorded: list[tuple[ClaimedTask, AttemptOutcome]] = []
        self.pool: WorkerPool[ClaimedTask] = WorkerPool(options.workers, self._attempt, lambda t: t.id, self.wake)
        self._wakeup = threading.Event()
        self._stopping = threading.Event()
        self._next_due: datetime | None = None
        self._jobs = schedule_library.Scheduler()

    # -- control -----------------------------------------------------------------------

    def wake(self) -> None:
        self._wakeup.set()

    def stop(self, *_signal_args) -> None:
        """Stop claiming; running tasks get the grace period to finish (SIGTERM, SIGINT)."""
        if not self._stopping.is_set():
            log.info("daemon %s: stopping; no new work is claimed", self.id)
        self._stopping.set()
        self._wakeup.set()

    # -- jobs --------------------------------------------------------------------------

    def _attempt(self, task: ClaimedTask) -> None:
        self._finished.put((task, self.runner.attempt(task)))

    def record_finished(self) -> None:
        """Record every finished attempt in one transaction, then log and alert about each."""
        while True:
            try:
                self._unrecorded.append(self._finished.get_nowait())
            except queue.Empty:
                break
        if not self._unrecorded:
            return
        batch, self._unrecorded = self._unrecorded, []
        try:
            recorded = record_outcomes(self.db, self.id, [outcome for _, outcome in batch], utcnow())
        except Exception:
            self._unrecorded = batch + self._unrecorded  # kept (and their leases renewed) until it works
            raise
        for task, outcome in batch:
            self.runner.report(task, outcome, outcome.task_id in recorded)

    def _held_ids(self) -> list[str]:
        """Tasks this daemon holds: running in a worker, or finished but not yet recorded."""
        return self.pool.busy_ids() + [task.id for task, _ in self._unrecorded]

    def tick(self) -> None:
        """Record finished attempts, dispatch every due fire, claim runnable tasks for free workers."""
        self.record_finished()
        now = utcnow()
        while True:
            fired = dispatch_due(self.db, now, self.options, self.id)
            if fired.schedules:
                log.info("dispatched %d fire(s) of %d schedule(s); %d skipped, %d one-shot(s) completed",
                         fired.fired, fired.schedules, fired.skipped, fired.completed)
            if fired.schedules < self.options.dispatch_batch:
                break
        if not self._stopping.is_set():
            for task in claim_tasks(self.db, self.id, now, self.pool.free_slots(), self.options.lease_seconds):
                self.pool.submit(task)
        self._next_due = self._soonest_due(now)

    def _soonest_due(self, now: datetime) -> datetime | None:
        """The next future fire or retry. Work already due that this tick could not take (all
        workers busy, its schedule's run still going, locked by another daemon) is not
        counted: waking for it would spin; a finishing worker or the poll picks it up."""
        with self.db.read() as session:
            next_fire = session.scalar(
                select(func.min(Schedule.next_run_at)).where(
                    Schedule.status == ScheduleStatus.ACTIVE, Schedule.next_run_at > now
                )
            )
            next_retry = session.scalar(
                select(func.min(Task.next_retry_at)).where(Task.status == TaskStatus.PENDING, Task.next_retry_at > now)
            )
        return min((t for t in (next_fire, next_retry) if t is not None), default=None)

    def beat(self) -> None:
        now = utcnow()
        heartbeat.beat(self.db, self.identity, now, in_flight=len(self.pool.busy_ids()))
        extend_leases(self.db, self.id, self._held_ids(), now, self.options.lease_seconds)

    def recover(self) -> None:
        for item in recover_expired(self.db, utcnow()):
            log.warning("task %s: daemon %s stopped while running it; %s", item.task_id, item.owner,
                        "retrying" if item.retried else "failed, no retries left")
        self.wake()

    def refresh_statistics(self) -> None:
        statistics.refresh(self.db)

    def _guarded(self, job: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                job()
            except Exception:  # a database hiccup must never end the loop
                log.exception("daemon job %s failed; it runs again at its next turn", job.__name__)
        run.__name__ = job.__name__
        return run

    # -- the loop ----------------------------------------------------------------------

    def run(self, once: bool = False, install_signals: bool = True) -> int:
        if install_signals:
            signal.signal(signal.SIGTERM, self.stop)
            signal.signal(signal.SIGINT, self.stop)
        log.info("daemon %s starting: %d workers, polling every %g s, LangFlow at %s", self.id,
                 self.options.workers, self.options.poll_seconds, self.settings.langflow_api_url)
        tick, beat, recover = self._guarded(self.tick), self._guarded(self.beat), self._guarded(self.recover)
        beat()
        recover()
        if once:
            return self._run_once(tick)
        self._jobs.every(self.options.poll_seconds).seconds.do(tick)
        self._jobs.every(min(self.options.heartbeat_seconds, self.options.lease_seconds / 4)).seconds.do(beat)
        self._jobs.every(self.options.recovery_seconds).seconds.do(recover)
        self._jobs.every(1).hours.do(self._guarded(self.refresh_statistics))
        tick()
        while not self._stopping.is_set():
            self._jobs.run_pending()
            self._wakeup.wait(self._sleep_seconds())
            if self._stopping.is_set():
                break
            due = self._next_due is not None and self._next_due <= utcnow()
            if self._wakeup.is_set() or due:
                self._wakeup.clear()
                tick()
        return self._shutdown()

    def _sleep_seconds(self) -> float:
        idle = self._jobs.idle_seconds
        wait = self.options.poll_seconds if idle is None else max(0.0, idle)
        if self._next_due is not None:
            wait = min(wait, max(0.0, (self._next_due - utcnow()).total_seconds()))
        return wait

    def _run_once(self, tick: Callable[[], None]) -> int:
        """Dispatch and run what is due now, wait for it, then stop (for cron-driven setups)."""
        tick()
        while self.pool.busy_ids() and not self._stopping.is_set():
            self.pool.wait_idle(timeout=1.0)
            tick()
        return self._shutdown()

    def _shutdown(self) -> int:
        self._stopping.set()
        grace = self.options.shutdown_grace_seconds
        if self.pool.busy_ids():
            log.info("daemon %s: waiting up to %g s for %d running task(s)", self.id, grace, len(self.pool.busy_ids()))
        finished_in_time = self.pool.wait_idle(timeout=grace)
        try:
            self.record_finished()
        except Exception:
            log.exception("daemon %s: could not record the last outcomes; their leases will expire and they will be retried", self.id)
        if not finished_in_time:
            handed = hand_back(self.db, self.id, self.pool.busy_ids(), utcnow())
            log.warning("daemon %s: %d task(s) still running after %g s were handed back to the queue", self.id, handed, grace)
        self.pool.close()
        try:
            heartbeat.mark_stopped(self.db, self.identity, utcnow())
        except Exception:
            log.exception("could not mark daemon %s stopped", self.id)
        log.info("daemon %s stopped", self.id)
        self.db.dispose()
        return 0
