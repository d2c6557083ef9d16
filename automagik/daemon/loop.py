"""The daemon: a `schedule`-driven loop of three jobs around a pool of worker threads.

- tick (every --poll-seconds, and whenever a known fire or retry is about to come due,
  finished runs wait to be recorded, or workers run short of claimed work): fires due within
  LOOK_AHEAD become tasks, finished attempts are recorded and runnable tasks claimed in one
  transaction, and each claimed task waits in the pool for its instant;
- heartbeat: the daemon's row, and the leases of its running tasks;
- recovery: tasks whose lease expired (their daemon died) are retried or failed.
Between jobs the loop sleeps until the soonest of: the library's next job, the next known
fire or retry (less half of LOOK_AHEAD), the instant of a fire left undecided because its
schedule's previous run was still going, the time to record finished runs, or a wake-up (a
signal arrived, workers need more work). It never spins.

Dispatching and claiming a little ahead is what lets one tick serve many fires: at 500 fires
a second, a tick per fire would cost more than the fires' HTTP calls. Starts stay on the
planned instant because the claimed task waits for it in the pool.
"""

from __future__ import annotations

import logging
import os
import queue
import signal
import socket
import threading
import time
import uuid
from datetime import datetime, timedelta
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
    extend_leases,
    hand_back,
    record_and_claim,
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

LOOK_AHEAD = timedelta(milliseconds=200)  # fires dispatched and claimed this far before their instant
RECORD_WITHIN = 0.1  # seconds: finished attempts are recorded at most about this late, in one batch


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
        self._first_finished: float | None = None  # monotonic time of the oldest attempt not yet drained
        self._finished_lock = threading.Lock()
        # Short runs are claimed a little beyond the free workers, so none idles while the loop
        # is in a tick (see WorkerPool).
        self.pool: WorkerPool[ClaimedTask] = WorkerPool(
            options.workers, self._attempt, lambda t: t.id, self._worker_done,
            queue_depth=4 * options.workers, queue_within=LOOK_AHEAD.total_seconds(),
        )
        self._backlog = False  # the last claim was capped: more tasks are runnable now
        self._wakeup = threading.Event()  # ends the loop's sleep early
        self._tick_wanted = False  # ... and asks for a tick, not only a new look at the timers
        self._stopping = threading.Event()
        self._next_due: datetime | None = None
        self._recheck_at: datetime | None = None  # a busy schedule's fire, decided at its instant
        self._jobs = schedule_library.Scheduler()

    # -- control -----------------------------------------------------------------------

    def wake(self) -> None:
        """Have the loop tick now (workers need more work, recovered tasks are waiting)."""
        self._tick_wanted = True
        self._wakeup.set()

    def stop(self, *_signal_args) -> None:
        """Stop claiming; running tasks get the grace period to finish (SIGTERM, SIGINT)."""
        if not self._stopping.is_set():
            log.info("daemon %s: stopping; no new work is claimed", self.id)
        self._stopping.set()
        self._wakeup.set()

    # -- jobs --------------------------------------------------------------------------

    def _attempt(self, task: ClaimedTask) -> None:
        outcome = self.runner.attempt(task)
        with self._finished_lock:
            self._finished.put((task, outcome))
            first = self._first_finished is None
            if first:
                self._first_finished = time.monotonic()
        if first:
            self._wakeup.set()  # only so the loop sets its timer to record this one

    def _worker_done(self) -> None:
        # With work left to claim, a tick once half the pool's places are free: one per run
        # would cost more than the runs.
        if self._backlog and self.pool.free_slots() >= max(1, self.pool.capacity() // 2):
            self.wake()

    def _drain_finished(self) -> None:
        with self._finished_lock:
            self._first_finished = None
            while True:
                try:
                    self._unrecorded.append(self._finished.get_nowait())
                except queue.Empty:
                    break

    def _record_due(self) -> bool:
        first = self._first_finished
        return first is not None and time.monotonic() - first >= RECORD_WITHIN

    def record_finished(self) -> None:
        """Record every finished attempt in one transaction (see record_and_claim)."""
        self._record_and_claim(claim=False)

    def _record_and_claim(self, until: datetime | None = None, claim: bool = True) -> None:
        """Record the finished attempts and claim runnable tasks (due by `until`) for the pool's
        free places, in one transaction; then log and alert about each recorded attempt."""
        now = utcnow()  # not the tick's start: a long dispatch may come first
        self._drain_finished()
        limit = self.pool.free_slots() if claim and not self._stopping.is_set() else 0
        if not self._unrecorded and limit <= 0:
            return
        batch, self._unrecorded = self._unrecorded, []
        try:
            recorded, claimed = record_and_claim(
                self.db, self.id, [outcome for _, outcome in batch], now, limit, self.options.lease_seconds, until
            )
        except Exception:
            self._unrecorded = batch + self._unrecorded  # kept (and their leases renewed) until it works
            raise
        if limit > 0:
            self._backlog = len(claimed) == limit
        submitted_at = utcnow()  # the transaction took time; the start must not slip by it
        for task in claimed:
            self.pool.submit(task, (task.run_at - submitted_at).total_seconds())
        for task, outcome in batch:
            self.runner.report(task, outcome, outcome.task_id in recorded)
            if outcome.next_retry_at is not None and outcome.task_id in recorded:
                self._expect(outcome.next_retry_at)

    def _expect(self, due: datetime) -> None:
        if self._next_due is None or due < self._next_due:
            self._next_due = due

    def _held_ids(self) -> list[str]:
        """Tasks this daemon holds: waiting or running in the pool, or finished but not yet recorded."""
        return self.pool.busy_ids() + [task.id for task, _ in self._unrecorded]

    def tick(self, poll: bool = True) -> None:
        """Dispatch the fires due within LOOK_AHEAD, record finished attempts and claim runnable
        tasks. A poll tick (the periodic one) always looks at the database: schedules or manual
        runs may have been added by the dashboard or the CLI. Other ticks only dispatch when a
        fire they know of is close."""
        now = utcnow()
        until = now + LOOK_AHEAD
        if not (poll or (self._next_due is not None and self._next_due <= until) or self._recheck_due()):
            self._record_and_claim(until)
            return
        self._recheck_at = None
        while True:
            self._drain_finished()
            finished = [task.id for task, _ in self._unrecorded]  # not busy, though not yet recorded
            fired = dispatch_due(self.db, now, self.options, self.id, until, finished)
            if fired.schedules:
                log.info("dispatched %d fire(s) of %d schedule(s); %d skipped, %d one-shot(s) completed",
                         fired.fired, fired.schedules, fired.skipped, fired.completed)
            if fired.deferred is not None and (self._recheck_at is None or fired.deferred < self._recheck_at):
                self._recheck_at = fired.deferred
            # Claim between batches: workers start on the first fires while the rest is dispatched.
            self._record_and_claim(until)
            if fired.selected < self.options.dispatch_batch:
                break
        self._next_due = self._soonest_due(until)

    def tick_between_polls(self) -> None:
        self.tick(poll=False)

    def _soonest_due(self, after: datetime) -> datetime | None:
        """The next fire or retry after `after`. Work due by then that this tick could not take
        (the pool full, its schedule's run still going, locked by another daemon) is not
        counted: waking for it would spin; a worker running short or the poll picks it up."""
        with self.db.read() as session:
            next_fire = session.scalar(
                select(func.min(Schedule.next_run_at)).where(
                    Schedule.status == ScheduleStatus.ACTIVE, Schedule.next_run_at > after
                )
            )
            next_retry = session.scalar(
                select(func.min(Task.next_retry_at)).where(Task.status == TaskStatus.PENDING, Task.next_retry_at > after)
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
        between_polls = self._guarded(self.tick_between_polls)
        while not self._stopping.is_set():
            self._jobs.run_pending()
            self._wakeup.wait(self._sleep_seconds())
            if self._stopping.is_set():
                break
            self._wakeup.clear()
            wanted, self._tick_wanted = self._tick_wanted, False
            if wanted or self._fire_close() or self._recheck_due() or self._record_due():
                between_polls()
        return self._shutdown()

    def _fire_close(self) -> bool:
        return self._next_due is not None and self._next_due - LOOK_AHEAD / 2 <= utcnow()

    def _recheck_due(self) -> bool:
        return self._recheck_at is not None and self._recheck_at <= utcnow()

    def _sleep_seconds(self) -> float:
        idle = self._jobs.idle_seconds
        wait = self.options.poll_seconds if idle is None else max(0.0, idle)
        if self._next_due is not None:
            wait = min(wait, max(0.0, (self._next_due - LOOK_AHEAD / 2 - utcnow()).total_seconds()))
        if self._recheck_at is not None:
            wait = min(wait, max(0.0, (self._recheck_at - utcnow()).total_seconds()))
        first = self._first_finished
        if first is not None:
            wait = min(wait, max(0.0, first + RECORD_WITHIN - time.monotonic()))
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
        never_started = [task.id for task in self.pool.take_waiting()]
        if self.pool.busy_ids():
            log.info("daemon %s: waiting up to %g s for %d running task(s)", self.id, grace, len(self.pool.busy_ids()))
        finished_in_time = self.pool.wait_idle(timeout=grace)
        try:
            self.record_finished()
        except Exception:
            log.exception("daemon %s: could not record the last outcomes; their leases will expire and they will be retried", self.id)
        if never_started:
            try:
                hand_back(self.db, self.id, never_started, utcnow(), started=False)
            except Exception:
                log.exception("daemon %s: could not hand back %d task(s) claimed ahead; their leases will expire", self.id, len(never_started))
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
