"""The daemon's loop: ticks that dispatch, claim and record, around a pool of worker threads.

A tick runs every --poll-seconds, and whenever a known fire or retry is about to come due,
finished runs wait to be recorded, or workers run short of claimed work: fires due within
LOOK_AHEAD become tasks, finished attempts are recorded and runnable tasks claimed in one
transaction, and each claimed task waits in the pool for its instant. The other timed jobs
(heartbeat, recovery, the watch...) are daemon/jobs.py's; the loop runs them when due.
Between jobs the loop sleeps until the soonest of: the next job, the next known fire or
retry (less half of LOOK_AHEAD), the instant of a fire left undecided because its
schedule's previous run was still going, the time to record finished runs, or a wake-up (a
signal arrived, workers need more work); never longer than --poll-seconds. It never spins:
a tick does bounded work (TICK_BUDGET), re-reads the clock for every batch, and ends when a
batch advanced nothing. Jobs are timed on the monotonic clock (daemon/timers.py), so a DST
change or a stepped system clock delays none of them.

Dispatching and claiming a little ahead is what lets one tick serve many fires: at 500 fires
a second, a tick per fire would cost more than the fires' HTTP calls. Starts stay on the
planned instant because the claimed task waits for it in the pool. The daemon changes no
task's status itself: automagik.runs does, and says what it did.
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
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import func, select

from automagik import __version__
from automagik.clock import utcnow
from automagik.config import Settings
from automagik.costs.prices import price_table
from automagik.daemon import heartbeat
from automagik.daemon.alerts import alert_budgets, alert_failures, alert_incidents, wait_for_alerts
from automagik.daemon.flow_sync import FlowSync
from automagik.daemon.jobs import TimedJobs
from automagik.daemon.pool import WorkerPool
from automagik.daemon.retention_job import RetentionJob
from automagik.daemon.runner import TaskRunner, describe
from automagik.daemon.settings import DaemonSettings
from automagik.daemon.timers import ClockWatch, MonotonicScheduler
from automagik.db.engine import Database
from automagik.db.models import Schedule, ScheduleStatus, Task, TaskStatus
from automagik.langflow import LangFlowClient, display_url
from automagik.monitoring.streaks import sort_failures
from automagik.plural import agree, counted
from automagik.runs.fires import dispatch_due
from automagik.runs.leases import ClaimedTask, record_and_claim
from automagik.runs.limits import ServerLimits
from automagik.runs.outcomes import Attempt, Recorded
from automagik.runs.recovery import hand_back
from automagik.runs.states import RetryPolicy

log = logging.getLogger("automagik.daemon")

LOOK_AHEAD = timedelta(milliseconds=200)  # fires dispatched and claimed this far before their instant
RECORD_WITHIN = 0.1  # seconds: finished attempts are recorded at most about this late, in one batch
TICK_BUDGET = 0.5  # seconds of dispatching per tick; the rest waits for the next tick, after the other jobs


class Daemon(TimedJobs):
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
            id=f"{host}:{os.getpid()}:{uuid.uuid4().hex[:6]}",
            host=host,
            pid=os.getpid(),
            version=__version__,
            workers=options.workers,
            started_at=utcnow(),
        )
        self.id = self.identity.id
        factory = client_factory or (
            lambda: LangFlowClient(
                settings.langflow_api_url,
                api_key=settings.langflow_api_key,
                connect_timeout=settings.langflow_connect_timeout,
                read_timeout=settings.langflow_read_timeout,
            )
        )
        self._client_factory = factory
        self.runner = TaskRunner(self.id, options, factory, price_table(options.prices_file))
        self._stopping = threading.Event()
        self.flow_sync = FlowSync(
            self.id,
            self.db,
            factory,
            options.heartbeat_seconds,
            options.alert_webhook_url,
            self._keep_alerts,
            self._stopping,
        )
        self.retention = (
            RetentionJob(self.id, self.db, options.retention_days, options.heartbeat_seconds, self._stopping)
            if options.retention_days
            else None
        )
        self.retry = RetryPolicy(options.retry_base_seconds, options.retry_max_seconds)
        self.server_limits = ServerLimits(options.langflow_max_concurrency, options.langflow_rate_per_minute)
        # Workers only talk to LangFlow; the loop records their outcomes in batches.
        self._finished: queue.SimpleQueue[tuple[ClaimedTask, Attempt]] = queue.SimpleQueue()
        self._unrecorded: list[tuple[ClaimedTask, Attempt]] = []
        self._first_finished: float | None = None  # monotonic time of the oldest attempt not yet drained
        self._finished_lock = threading.Lock()
        # Short runs are claimed a little beyond the free workers, so none idles while the loop
        # is in a tick (see WorkerPool).
        self.pool: WorkerPool[ClaimedTask] = WorkerPool(
            options.workers,
            self._attempt,
            lambda t: t.id,
            self._worker_done,
            queue_depth=4 * options.workers,
            queue_within=LOOK_AHEAD.total_seconds(),
        )
        self._backlog = False  # the last claim was capped: more tasks are runnable now
        self._held = False  # the last claim left runnable tasks waiting for a limit's slot
        self._wakeup = threading.Event()  # ends the loop's sleep early
        self._tick_wanted = False  # ... and asks for a tick, not only a new look at the timers
        self._next_due: datetime | None = None
        self._recheck_at: datetime | None = None  # a busy schedule's fire, decided at its instant
        self._jobs = MonotonicScheduler()
        self._clock = ClockWatch()
        self._recovery_held_until = 0.0  # monotonic; see _notice_clock_jumps
        self._tick_backoff = 0.0  # seconds before the next tick, after ticks that failed
        self._failing_since = 0.0  # monotonic: when ticks began to fail
        self._retry_tick_at = 0.0  # monotonic: when a failed tick is tried again
        self._once_until: datetime | None = None  # with --once: nothing due later is dispatched or claimed
        self._alerts: list[threading.Thread] = []  # alerts being sent, waited for at shutdown
        self._alerts_lock = threading.Lock()

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
        attempt = self.runner.attempt(task)
        with self._finished_lock:
            self._finished.put((task, attempt))
            first = self._first_finished is None
            if first:
                self._first_finished = time.monotonic()
        if first:
            self._wakeup.set()  # only so the loop sets its timer to record this one

    def _worker_done(self) -> None:
        # With work left to claim, a tick once half the pool's places are free: one per run
        # would cost more than the runs. With runs held back by a limit, at once: the run that
        # just ended freed the slot they wait for, and only its record gives the slot back.
        if self._held or (self._backlog and self.pool.free_slots() >= max(1, self.pool.capacity() // 2)):
            self.wake()

    def _drain_finished(self, recording: bool = False) -> None:
        """Move finished attempts from the workers' queue to the loop's list. When `recording`,
        they are about to be recorded: the timer that asks for it is reset (under the lock the
        workers set it with, so none is lost in between)."""
        with self._finished_lock:
            if recording:
                self._first_finished = None
            while True:
                try:
                    self._unrecorded.append(self._finished.get_nowait())
                except queue.Empty:
                    break

    def _record_due(self) -> bool:
        first = self._first_finished
        return first is not None and (self._held or time.monotonic() - first >= RECORD_WITHIN)

    def record_finished(self) -> None:
        """Record every finished attempt in one transaction (see record_and_claim)."""
        self._record_and_claim(claim=False)

    def _record_and_claim(self, until: datetime | None = None, claim: bool = True) -> None:
        """Record the finished attempts and claim runnable tasks (due by `until`) for the pool's
        free places, in one transaction; then log and alert about what was recorded."""
        now = utcnow()  # not the tick's start: a long dispatch may come first
        self._drain_finished(recording=True)
        limit = self.pool.free_slots() if claim and not self._stopping.is_set() else 0
        if not self._unrecorded and limit <= 0:
            return
        batch, self._unrecorded = self._unrecorded, []
        try:
            recorded, claimed, held = record_and_claim(
                self.db,
                self.id,
                [attempt for _, attempt in batch],
                now,
                limit,
                self.options.lease_seconds,
                until,
                self.retry,
                self.server_limits,
                self.settings.timezone,
            )
        except Exception:
            self._unrecorded = batch + self._unrecorded  # kept (and their leases renewed) until it works
            raise
        if limit > 0:
            self._backlog = len(claimed) == limit
            self._held = held > 0
        submitted_at = utcnow()  # the transaction took time; the start must not slip by it
        for task in claimed:
            self.pool.submit(task, (task.run_at - submitted_at).total_seconds())
        self._report(batch, recorded)

    def _report(self, batch: list[tuple[ClaimedTask, Attempt]], recorded: list[Recorded]) -> None:
        by_id = {change.task_id: change for change in recorded}
        for task, attempt in batch:
            change = by_id.get(attempt.task_id)
            if change is None:
                log.warning(
                    "%s: finished, but another daemon had taken the task over (lease expired); result dropped",
                    describe(task),
                )
            elif change.status is TaskStatus.PENDING:
                log.warning(
                    "%s: try failed, retry at %s UTC: %s",
                    describe(task),
                    f"{change.next_retry_at:%H:%M:%S}",
                    change.error,
                )
                self._expect(change.next_retry_at)
            elif change.error is None:
                log.info("%s: completed", describe(task))
            else:
                log.error("%s: failed for good: %s", describe(task), change.error)
        self._alert(recorded)

    def _alert(self, changes: list[Recorded]) -> None:
        """Failures for good alert one by one, or once per streak (a schedule's alert_after_failures)."""
        failed = [change for change in changes if change.status is TaskStatus.FAILED]
        if not failed:
            return
        url = self.options.alert_webhook_url
        try:
            one_by_one, streaks = sort_failures(self.db, failed, utcnow())
        except Exception:  # the database away: better an alert per failure than none
            log.exception("could not read the failures' schedules; alerting each failure")
            one_by_one, streaks = failed, []
        self._keep_alerts(alert_failures(url, one_by_one) + alert_incidents(url, streaks))

    def _keep_alerts(self, threads: list[threading.Thread]) -> None:
        """Alerts being sent, waited for at shutdown (the loop and the flow sync both add some)."""
        with self._alerts_lock:
            self._alerts = [thread for thread in self._alerts if thread.is_alive()] + threads

    def _expect(self, due: datetime | None) -> None:
        if due is None:  # a change with no time to wait for (a retry always has one)
            return
        if self._once_until is not None and due > self._once_until:
            return  # --once does not wait for it
        if self._next_due is None or due < self._next_due:
            self._next_due = due

    def _held_ids(self) -> list[str]:
        """Tasks this daemon holds: waiting or running in the pool, or finished but not yet recorded."""
        self._drain_finished()
        return self.pool.busy_ids() + [task.id for task, _ in self._unrecorded]

    def _holds_work(self) -> bool:
        with self._finished_lock:
            queued = self._first_finished is not None  # finished, waiting for the loop to record them
        return queued or bool(self._held_ids())

    def _horizon(self, now: datetime) -> datetime:
        """How far ahead this tick dispatches and claims: LOOK_AHEAD, and never past the
        --once cut-off (fires that come due after a --once start are the next run's)."""
        until = now + LOOK_AHEAD
        return min(until, self._once_until) if self._once_until is not None else until

    def tick(self, poll: bool = True) -> None:
        """Dispatch the fires due within LOOK_AHEAD, record finished attempts and claim runnable
        tasks. A poll tick (the periodic one) always looks at the database: schedules or manual
        runs may have been added by the dashboard or the CLI. Other ticks only dispatch when a
        fire they know of is close. A tick works at most about TICK_BUDGET seconds; what is
        left is due at once, so the loop comes straight back after its other jobs."""
        until = self._horizon(utcnow())
        if not (poll or (self._next_due is not None and self._next_due <= until) or self._recheck_due()):
            self._record_and_claim(until)
            return
        self._recheck_at = None
        budget_ends = time.monotonic() + TICK_BUDGET
        deferred: list[str] = []  # busy schedules left for their instant: the next batch reads past them
        while True:
            now = utcnow()
            until = self._horizon(now)
            self._drain_finished()
            finished = [task.id for task, _ in self._unrecorded]  # not busy, though not yet recorded
            fired = dispatch_due(
                self.db, now, self.options, self.id, until, finished, deferred=deferred, zone=self.settings.timezone
            )
            deferred += fired.deferred_ids
            self._keep_alerts(alert_budgets(self.options.alert_webhook_url, fired.budget_alerts))
            for reached in fired.budget_alerts:
                log.warning('flow "%s": %s; its fires are skipped until tomorrow', reached.flow_name, reached.reason)
            if fired.schedules:
                log.info(
                    "dispatched %s of %s; %d skipped, %s completed",
                    counted(fired.fired, "fire"),
                    counted(fired.schedules, "schedule"),
                    fired.skipped,
                    counted(fired.completed, "one-shot"),
                )
            if fired.deferred is not None and (self._recheck_at is None or fired.deferred < self._recheck_at):
                self._recheck_at = fired.deferred
            # Claim between batches: workers start on the first fires while the rest is dispatched.
            self._record_and_claim(until)
            if not fired.more:
                self._next_due = self._soonest_due(until)
                if self._once_until is not None:  # nothing after the cut-off is waited for
                    self._next_due = self._next_due if self._next_due and self._next_due <= self._once_until else None
                    self._recheck_at = (
                        self._recheck_at if self._recheck_at and self._recheck_at <= self._once_until else None
                    )
                return
            if time.monotonic() >= budget_ends:
                self._next_due = now  # more is due: the loop comes back after its other jobs
                return

    def _ticked(self, poll: bool = True) -> None:
        """A tick that never ends the loop. After a failure (the database is away) the next
        tick waits a backoff, doubling up to --poll-seconds: a fire that was close when the
        database went away must not make the loop tick again and again at full speed."""
        try:
            self.tick(poll)
        except Exception:
            if not self._tick_backoff:
                self._failing_since = time.monotonic()
            self._tick_backoff = min(self.options.poll_seconds, max(0.1, 2 * self._tick_backoff))
            log.exception("daemon tick failed; trying again in %.1f s", self._tick_backoff)
            self._retry_tick_at = time.monotonic() + self._tick_backoff
        else:
            self._tick_backoff = 0.0

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
                select(func.min(Task.next_retry_at)).where(
                    Task.status == TaskStatus.PENDING, Task.next_retry_at > after
                )
            )
        return min((t for t in (next_fire, next_retry) if t is not None), default=None)

    # -- the loop ----------------------------------------------------------------------

    def run(self, once: bool = False, install_signals: bool = True) -> int:
        """Run until stopped; with `once`, until what was due at the start has run and been
        recorded (leases are renewed and expired ones recovered meanwhile, as always)."""
        if install_signals:
            signal.signal(signal.SIGTERM, self.stop)
            signal.signal(signal.SIGINT, self.stop)
        log.info(
            "daemon %s starting: %d workers, polling every %g s, LangFlow at %s%s",
            self.id,
            self.options.workers,
            self.options.poll_seconds,
            display_url(self.settings.langflow_api_url),
            "; runs what is due, then exits" if once else "",
        )
        # In a thread: a LangFlow that is away must not hold up the heartbeat and the first tick.
        threading.Thread(target=self._check_langflow, name="langflow-check", daemon=True).start()
        if once:
            self._once_until = utcnow() + LOOK_AHEAD
        self._start_jobs(poll=self._ticked, once=once)
        self._ticked()
        while not self._stopping.is_set():
            if once and self._once_done():
                break
            self._notice_clock_jumps()
            self._jobs.run_pending()
            self._wakeup.wait(self._sleep_seconds())
            if self._stopping.is_set():
                break
            self._wakeup.clear()
            wanted, self._tick_wanted = self._tick_wanted, False
            if self._tick_backoff:  # the last tick failed: only the retry, a whole tick, at its time
                if time.monotonic() >= self._retry_tick_at:
                    self._ticked()
            elif wanted or self._fire_close() or self._recheck_due() or self._record_due():
                self._ticked(poll=False)
        return self._shutdown()

    def _once_done(self) -> bool:
        """--once ends when what it claimed has run and been recorded and nothing due by its
        cut-off is left, or when the database has been failing it for a whole lease."""
        if self._tick_backoff:
            if time.monotonic() - self._failing_since <= self.options.lease_seconds:
                return False
            log.error(
                "daemon %s: --once gives up: the database has failed for %g s", self.id, self.options.lease_seconds
            )
            return True
        # Due by now, and by --once's cut-off (always set when this runs).
        more_due = self._next_due is not None and self._next_due <= (
            utcnow() if self._once_until is None else min(utcnow(), self._once_until)
        )
        return not (self._holds_work() or more_due or self._tick_wanted)

    def _fire_close(self) -> bool:
        return self._next_due is not None and self._next_due - LOOK_AHEAD / 2 <= utcnow()

    def _recheck_due(self) -> bool:
        return self._recheck_at is not None and self._recheck_at <= utcnow()

    def _sleep_seconds(self) -> float:
        idle = self._jobs.idle_seconds
        wait = self.options.poll_seconds if idle is None else min(self.options.poll_seconds, max(0.0, idle))
        if self._tick_backoff:  # what is due waits for the retry of the failed tick
            return min(wait, max(0.0, self._retry_tick_at - time.monotonic()))
        if self._next_due is not None:
            wait = min(wait, max(0.0, (self._next_due - LOOK_AHEAD / 2 - utcnow()).total_seconds()))
        if self._recheck_at is not None:
            wait = min(wait, max(0.0, (self._recheck_at - utcnow()).total_seconds()))
        first = self._first_finished
        if first is not None:
            wait = min(wait, max(0.0, first + RECORD_WITHIN - time.monotonic()))
        return wait

    def _shutdown(self) -> int:
        self._stopping.set()
        grace = self.options.shutdown_grace_seconds
        never_started = [task.id for task in self.pool.take_waiting()]
        if self.pool.busy_ids():
            log.info(
                "daemon %s: waiting up to %g s for %s",
                self.id,
                grace,
                counted(len(self.pool.busy_ids()), "running task"),
            )
        finished_in_time = self._wait_for_runs(grace)
        try:
            self.record_finished()
        except Exception:
            log.exception(
                "daemon %s: could not record the last outcomes; their leases will expire and they will be retried",
                self.id,
            )
        if never_started:
            try:
                hand_back(self.db, self.id, never_started, utcnow(), started=False)
            except Exception:
                log.exception(
                    "daemon %s: could not hand back %s claimed ahead; their leases will expire",
                    self.id,
                    counted(len(never_started), "task"),
                )
        if not finished_in_time:
            handed = hand_back(self.db, self.id, self.pool.busy_ids(), utcnow())
            log.warning(
                "daemon %s: %s still running after %g s %s handed back to the queue",
                self.id,
                counted(handed, "task"),
                grace,
                agree(handed, "was", "were"),
            )
        self.pool.close()
        try:
            heartbeat.mark_stopped(self.db, self.identity, utcnow())
        except Exception:
            log.exception("could not mark daemon %s stopped", self.id)
        self.flow_sync.join(timeout=5.0)  # stopping is set: a sync not yet writing writes nothing
        if self.retention is not None:
            self.retention.join(timeout=5.0)  # stopping is set: it ends after its current batch
        with self._alerts_lock:
            alerts = list(self._alerts)
        wait_for_alerts(alerts)
        log.info("daemon %s stopped", self.id)
        self.db.dispose()
        return 1 if self._once_until is not None and self._tick_backoff else 0

    def _wait_for_runs(self, grace: float) -> bool:
        """Wait up to `grace` seconds for the runs in flight, renewing their leases meanwhile (a
        grace longer than a lease must not let another daemon take them for dead)."""
        deadline = time.monotonic() + grace
        while True:
            remaining = deadline - time.monotonic()
            if self.pool.wait_idle(timeout=max(0.0, min(remaining, self._renew_seconds()))):
                return True
            if remaining <= 0:
                return False
            self._guarded(self.beat)()
