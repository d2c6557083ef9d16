"""The daemon's timers: the `schedule` library, on a clock that neither DST nor a stepped
system clock can move.

`schedule` compares naive local wall time (`datetime.datetime.now()`). At a DST change in
the host's zone that time goes back an hour, and so it does when the system clock is
stepped back: every job would then wait up to that long, heartbeats and lease renewal
included, until another daemon took the "dead" daemon's running tasks and ran them twice.
Here the jobs are timed on `time.monotonic()` instead, which only moves forward at the pace
of real time; the library keeps the job list, intervals and ordering.

`ClockWatch` notices when the system clock (which leases and fires are measured on) jumps
against the monotonic clock, so the daemon can renew its leases before anything else.
"""

from __future__ import annotations

import datetime as dt
import time

import schedule

# Naive datetimes from the monotonic clock: the library only compares and adds them.
_ORIGIN = dt.datetime(2000, 1, 1)


def monotonic_now() -> dt.datetime:
    return _ORIGIN + dt.timedelta(seconds=time.monotonic())


class MonotonicJob(schedule.Job):
    """A job of `every(n).seconds/minutes/hours` on the monotonic clock (no `.at()`, `.until()`
    or `.to()`: the daemon uses none)."""

    # The library types next_run, job_func and unit Optional: they are set by `.seconds` and
    # `.do()`, which come before the scheduler holds the job. The asserts say so, as the
    # library's own should_run does.
    @property
    def should_run(self) -> bool:
        assert self.next_run is not None, "must run _schedule_next_run before"
        return monotonic_now() >= self.next_run

    def run(self) -> object:
        assert self.job_func is not None, "a job runs after .do() gave it a function"
        result = self.job_func()
        self.last_run = monotonic_now()
        self._schedule_next_run()
        return result

    def _schedule_next_run(self) -> None:
        assert self.unit is not None, "a job is scheduled after .seconds/.minutes/.hours named its unit"
        self.next_run = monotonic_now() + dt.timedelta(**{self.unit: self.interval})


class MonotonicScheduler(schedule.Scheduler):
    def every(self, interval: float = 1) -> MonotonicJob:
        # schedule types the interval as int; the daemon's are seconds as floats, and this
        # job only adds them to a datetime as a timedelta, which takes a float.
        return MonotonicJob(interval, self)  # type: ignore[arg-type]

    @property
    def idle_seconds(self) -> float | None:
        if not self.next_run:
            return None
        return (self.next_run - monotonic_now()).total_seconds()


class ClockWatch:
    """Tells how far the system clock jumped since the last look, measured against the
    monotonic clock (0.0 when it kept pace within `tolerance` seconds)."""

    def __init__(self, tolerance: float = 2.0) -> None:
        self.tolerance = tolerance
        self._offset = time.time() - time.monotonic()

    def jumped(self) -> float:
        offset = time.time() - time.monotonic()
        step, self._offset = offset - self._offset, offset
        return step if abs(step) > self.tolerance else 0.0
