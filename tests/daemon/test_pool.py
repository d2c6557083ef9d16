"""The worker pool: jobs handed over ahead of their time start at it, never before; jobs not
started can be taken back; the pool takes work beyond its workers only when runs are short."""

from __future__ import annotations

import threading
import time

from automagik.daemon.pool import WorkerPool


class Recorder:
    def __init__(self, run_seconds: float = 0.0, clock: ManualClock | None = None) -> None:
        self.started: dict[str, float] = {}
        self.lock = threading.Lock()
        self.start_seen = threading.Condition(self.lock)
        self.release = threading.Event()
        self.release.set()
        self.run_seconds, self.clock = run_seconds, clock

    def work(self, job: str) -> None:
        with self.lock:
            self.started[job] = time.monotonic()
            self.start_seen.notify_all()
        self.release.wait(10)
        if self.clock is not None:
            self.clock.advance(self.run_seconds)  # how long the run took, on the pool's clock

    def wait_started(self, job: str, timeout: float) -> bool:
        with self.lock:
            return self.start_seen.wait_for(lambda: job in self.started, timeout)


class ManualClock:
    """The pool's monotonic clock, moved by hand. `read_by_worker` is set once a worker thread
    reads it: the worker does so holding the pool's lock, just before it sleeps until the
    earliest job's time."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.lock = threading.Lock()
        self.read_by_worker = threading.Event()

    def __call__(self) -> float:
        if threading.current_thread().name.startswith("worker-"):
            self.read_by_worker.set()
        with self.lock:
            return self.now

    def advance(self, seconds: float) -> None:
        with self.lock:
            self.now += seconds


def make_pool(recorder: Recorder, size: int, **options) -> WorkerPool[str]:
    return WorkerPool(size, recorder.work, lambda job: job, lambda: None, **options)


def test_jobs_handed_over_early_start_at_their_time_in_time_order():
    recorder = Recorder()
    pool = make_pool(recorder, 2)
    try:
        submitted = time.monotonic()
        delays = {"late": 0.3, "early": 0.1, "middle": 0.2, "now": 0.0}
        for job, delay in delays.items():
            pool.submit(job, delay)
        assert pool.wait_idle(timeout=10)
        for job, delay in delays.items():
            assert recorder.started[job] >= submitted + delay, job
        assert sorted(recorder.started, key=recorder.started.get) == ["now", "early", "middle", "late"]
    finally:
        pool.close()


def test_many_jobs_due_at_the_same_instant_all_run_once_none_early():
    recorder = Recorder()
    pool = make_pool(recorder, 4)
    try:
        due = time.monotonic() + 0.1
        for n in range(50):
            pool.submit(f"job-{n}", due - time.monotonic())
        assert pool.wait_idle(timeout=10)
        assert len(recorder.started) == 50
        assert min(recorder.started.values()) >= due
    finally:
        pool.close()


def test_a_new_earliest_job_is_not_held_up_by_a_later_one():
    """The only worker sleeps until a job an hour away; a job due now wakes it and runs."""
    clock = ManualClock()
    recorder = Recorder()
    pool = make_pool(recorder, 1, monotonic=clock)
    try:
        pool.submit("in-an-hour", 3600.0)
        # The worker reads the clock under the pool's lock and keeps it until it sleeps (for an
        # hour of real time: nothing moves this clock), and submit() needs that lock: so the
        # next job is handed over to a sleeping worker, the case under test.
        assert clock.read_by_worker.wait(10)
        pool.submit("now", 0.0)
        assert recorder.wait_started("now", timeout=10), "the sleeping worker was not woken for the earlier job"
        assert "in-an-hour" not in recorder.started
    finally:
        pool.take_waiting()
        pool.close()


def test_jobs_not_started_are_taken_back_and_their_places_freed():
    recorder = Recorder()
    recorder.release.clear()
    pool = make_pool(recorder, 1)
    try:
        pool.submit("running", 0.0)
        assert recorder.wait_started("running", timeout=10)
        pool.submit("behind-the-worker", 0.0)
        pool.submit("in-ten-seconds", 10.0)
        assert sorted(pool.busy_ids()) == ["behind-the-worker", "in-ten-seconds", "running"]

        assert pool.take_waiting() == ["behind-the-worker", "in-ten-seconds"]
        assert pool.busy_ids() == ["running"]
        recorder.release.set()
        assert pool.wait_idle(timeout=10)
        assert list(recorder.started) == ["running"]
    finally:
        recorder.release.set()
        pool.close()


def test_work_beyond_the_workers_is_taken_only_when_runs_are_short():
    """Runs timed on the pool's clock: 10 ms each lets it hold 8 more jobs than its 2 workers
    (they finish 40 within queue_within); 1 s each, none beyond them."""
    for run_seconds, expected in ((0.01, 2 + 8), (1.0, 2)):
        clock = ManualClock()
        recorder = Recorder(run_seconds, clock)
        pool = make_pool(recorder, 2, queue_depth=8, queue_within=0.2, monotonic=clock)
        try:
            assert pool.capacity() == 2  # no pace known yet
            for n in range(6):
                pool.submit(f"first-{n}")
            assert pool.wait_idle(timeout=10)
            assert pool.capacity() == expected, run_seconds

            recorder.release.clear()  # the workers hold their next runs: the rest wait
            for n in range(expected):
                pool.submit(f"held-{n}")
            assert pool.free_slots() == 0 and len(pool.busy_ids()) == expected
        finally:
            recorder.release.set()
            pool.take_waiting()
            pool.close()
