"""A fixed set of worker threads running claimed tasks, so a slow flow never delays another.

Threads are daemonic: on shutdown the daemon waits for them for a grace period, hands back
what is still running and exits, instead of hanging on a LangFlow call that may never return.
"""

from __future__ import annotations

import logging
import queue
import threading
from typing import Callable, Generic, TypeVar

log = logging.getLogger("automagik.daemon")
Job = TypeVar("Job")


class WorkerPool(Generic[Job]):
    def __init__(self, size: int, work: Callable[[Job], object], job_id: Callable[[Job], str], on_done: Callable[[], None]) -> None:
        self.size = size
        self._work, self._job_id, self._on_done = work, job_id, on_done
        self._queue: queue.Queue[Job | None] = queue.Queue()
        self._busy: set[str] = set()
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._threads = [threading.Thread(target=self._serve, name=f"worker-{n}", daemon=True) for n in range(size)]
        for thread in self._threads:
            thread.start()

    def submit(self, job: Job) -> None:
        with self._lock:
            self._busy.add(self._job_id(job))
        self._queue.put(job)

    def free_slots(self) -> int:
        with self._lock:
            return self.size - len(self._busy)

    def busy_ids(self) -> list[str]:
        with self._lock:
            return list(self._busy)

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no job is queued or running; False if `timeout` passed first."""
        with self._idle:
            return self._idle.wait_for(lambda: not self._busy, timeout=timeout)

    def _serve(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            try:
                self._work(job)
            except Exception:  # the runner records task failures itself; this is a database outage
                log.exception("task %s: could not record its outcome; its lease will expire and it will be recovered", self._job_id(job))
            finally:
                with self._idle:
                    self._busy.discard(self._job_id(job))
                    self._idle.notify_all()
                self._on_done()

    def close(self) -> None:
        for _ in self._threads:
            self._queue.put(None)
