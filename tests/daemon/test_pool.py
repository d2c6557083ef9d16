"""The worker pool: jobs handed over ahead of their time start at it, never before; jobs not
started can be taken back; the pool takes work beyond its workers only when runs are short."""

from __future__ import annotations

import threading
import time

from automagik.daemon.pool import WorkerPool


class Recorder:
    def __init__(self) -> None:
        self.started: dict[str, float] = {}
        self.lock = threading.Lock()
        self.release = threading.Event()
        self.release.set()

    def work(self, job: str) -> None:
        with self.lock:
            self.started[job] = time.monotonic()
        self.release.wait(10)


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
    recorder = Recorder()
    pool = make_pool(recorder, 1)
    try:
        pool.submit("in-five-seconds", 5.0)
        time.sleep(0.05)  # the only worker is now sleeping until the first job's time
        pool.submit("now", 0.0)
        deadline = time.monotonic() + 3
        while "now" not in recorder.started and time.monotonic() < deadline:
            time.sleep(0.01)
        assert "now" in recorder.started and "in-five-seconds" not in recorder.started
    finally:
        pool.take_waiting()
        pool.close()


def test_jobs_not_started_are_taken_back_and_their_places_freed():
    recorder = Recorder()
    recorder.release.clear()
    pool = make_pool(recorder, 1)
    try:
        pool.submit("running", 0.0)
        while "running" not in recorder.started:
            time.sleep(0.005)
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
    short = Recorder()
    pool = make_pool(short, 2, queue_depth=8, queue_within=0.2)
    try:
        assert pool.capacity() == 2  # no pace known yet
        for n in range(20):
            pool.submit(f"short-{n}")
        assert pool.wait_idle(timeout=10)
        assert pool.capacity() == 2 + 8 and pool.free_slots() == 10
    finally:
        pool.close()

    slow = Recorder()
    slow.release.clear()
    pool = make_pool(slow, 2, queue_depth=8, queue_within=0.2)
    try:
        pool.submit("slow-1")
        pool.submit("slow-2")
        time.sleep(0.5)  # both workers together finish less than one run within queue_within
        slow.release.set()
        assert pool.wait_idle(timeout=10)
        assert pool.capacity() == 2
    finally:
        pool.close()
