"""A fixed set of worker threads running claimed tasks, so a slow flow never delays another.

Jobs may be handed over a little before their time (the daemon claims fires slightly ahead,
so that one tick serves many of them): each waits in a queue ordered by start time and the
first free worker takes it at that instant. `size` jobs run at once. Beyond them the pool
takes only as many jobs as its workers finish within `queue_within` seconds at their recent
pace (at most `queue_depth`): short runs keep the workers fed while the daemon's loop is
busy, and no job waits long behind slow ones (another daemon may have free workers).

Threads are daemonic: on shutdown the daemon waits for them for a grace period, hands back
what is still running and exits, instead of hanging on a LangFlow call that may never return.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

log = logging.getLogger("automagik.daemon")
Job = TypeVar("Job")


class WorkerPool(Generic[Job]):
    def __init__(
        self,
        size: int,
        work: Callable[[Job], object],
        job_id: Callable[[Job], str],
        on_done: Callable[[], None],
        queue_depth: int = 0,
        queue_within: float = 0.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.size, self.queue_depth, self.queue_within = size, queue_depth, queue_within
        # Start times and the pace are read on this clock (tests pass one they move by hand).
        self._monotonic = monotonic
        self._pace: float | None = None  # seconds per job, a moving average
        self._work, self._job_id, self._on_done = work, job_id, on_done
        self._waiting: list[tuple[float, int, Job]] = []  # heap of (start at, on the monotonic clock; order; job)
        self._order = itertools.count()
        self._held: set[str] = set()  # waiting or running
        self._closed = False
        self._leader: int | None = None  # the worker sleeping until the earliest job's time
        self._lock = threading.Lock()
        self._job_ready = threading.Condition(self._lock)  # workers wait here for a job or its time
        self._idle = threading.Condition(self._lock)  # wait_idle waits here
        self._threads = [threading.Thread(target=self._serve, name=f"worker-{n}", daemon=True) for n in range(size)]
        for thread in self._threads:
            thread.start()

    def submit(self, job: Job, delay_seconds: float = 0.0) -> None:
        """Run `job` on the first free worker once `delay_seconds` have passed."""
        with self._lock:
            self._held.add(self._job_id(job))
            item = (self._monotonic() + max(0.0, delay_seconds), next(self._order), job)
            heapq.heappush(self._waiting, item)
            if self._waiting[0] is item:  # a new earliest job: the leader's sleep is too long now
                self._leader = None
                self._job_ready.notify()

    def capacity(self) -> int:
        """How many jobs the pool holds at most now, waiting and running."""
        with self._lock:
            return self._capacity()

    def free_slots(self) -> int:
        with self._lock:
            return self._capacity() - len(self._held)

    def _capacity(self) -> int:
        if not self.queue_depth or self._pace is None:
            return self.size
        return self.size + min(self.queue_depth, int(self.size * self.queue_within / max(self._pace, 1e-6)))

    def busy_ids(self) -> list[str]:
        """Jobs held: waiting for their time or a worker, or running."""
        with self._lock:
            return list(self._held)

    def take_waiting(self) -> list[Job]:
        """Remove and return every job not yet started (on shutdown: they never ran)."""
        with self._lock:
            jobs = [job for _, _, job in sorted(self._waiting, key=lambda item: item[:2])]
            self._waiting.clear()
            for job in jobs:
                self._held.discard(self._job_id(job))
            if not self._held:
                self._idle.notify_all()
            return jobs

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no job is waiting or running; False if `timeout` passed first."""
        with self._lock:
            return self._idle.wait_for(lambda: not self._held, timeout=timeout)

    def _next_job(self) -> Job | None:
        """The next job once its time has come. One worker (the leader) sleeps until the
        earliest start; the others wait to be told, so a queue of jobs timed a few
        milliseconds apart does not wake every worker for each of them."""
        with self._lock:
            try:
                while not self._closed:
                    if not self._waiting:
                        self._job_ready.wait()
                        continue
                    start_in = self._waiting[0][0] - self._monotonic()
                    if start_in <= 0:
                        return heapq.heappop(self._waiting)[2]
                    if self._leader is not None:
                        self._job_ready.wait()
                        continue
                    self._leader = me = threading.get_ident()
                    try:
                        self._job_ready.wait(start_in)
                    finally:
                        if self._leader == me:
                            self._leader = None
                return None
            finally:
                if self._leader is None and self._waiting:
                    self._job_ready.notify()  # someone else watches the next job

    def _serve(self) -> None:
        while True:
            job = self._next_job()
            if job is None:
                return
            began = self._monotonic()
            try:
                self._work(job)
            except Exception:  # the runner records task failures itself; this is a database outage
                log.exception(
                    "task %s: could not record its outcome; its lease will expire and it will be recovered",
                    self._job_id(job),
                )
            finally:
                took = self._monotonic() - began
                with self._lock:
                    self._pace = took if self._pace is None else 0.8 * self._pace + 0.2 * took
                    self._held.discard(self._job_id(job))
                    if not self._held:
                        self._idle.notify_all()
                self._on_done()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._job_ready.notify_all()
