"""The daemon under the host's clock changes, for real: libfaketime (Debian's `faketime`)
preloaded into daemon processes moves their wall clock while the monotonic clock runs on.

- the autumn DST change of the host's zone (Europe/Berlin): the wall clock in local time
  goes back an hour; heartbeats and lease renewal must go on at their pace;
- the system clock stepped back an hour: likewise;
- the system clock stepped forward an hour under two daemons sharing the clock, one of them
  running a long flow: every lease now looks expired, yet the run must not run twice.
Each used to stall the daemon's timers (they ran on naive local wall time) or let recovery
take a live daemon's run.
"""

from __future__ import annotations

import glob
import time
from datetime import UTC, datetime, timedelta

import pytest

from automagik import clock
from automagik.db.models import TaskStatus
from automagik.services.tasks import run_flow_now
from tests.daemon.process_helpers import (
    get_task,
    heartbeat_row,
    task_log_lines,
    wait_registered,
    wait_status,
    wait_until,
)
from tests.services.helpers import ECHO_ID, synced

pytestmark = pytest.mark.slow

LIBFAKETIME = sorted(glob.glob("/usr/lib/*/faketime/libfaketime.so.1"))
TIMERS = {"AUTOMAGIK_HEARTBEAT_SECONDS": "0.3", "AUTOMAGIK_LEASE_SECONDS": "2", "AUTOMAGIK_RECOVERY_SECONDS": "0.3"}


def faked(**extra) -> dict[str, str]:
    assert LIBFAKETIME, "Debian's faketime package is needed (scripts/test.sh installs it)"
    # The monotonic clock stays real, as it does when a host's clock is stepped.
    return {"LD_PRELOAD": LIBFAKETIME[0], "FAKETIME_DONT_FAKE_MONOTONIC": "1", **TIMERS, **extra}


def beats_after(
    db, daemon, moment: datetime, count: int, timeout: float, within: timedelta = timedelta(minutes=10)
) -> list[datetime]:
    """Wait for `count` distinct heartbeats written in the `within` after `moment` (on the
    daemon's clock)."""
    seen: set[datetime] = set()

    def enough():
        row = heartbeat_row(db, daemon.pid)
        if row is not None and moment < row.last_seen < moment + within:
            seen.add(row.last_seen)
        return len(seen) >= count

    wait_until(
        enough, timeout, f"{count} heartbeats after {moment:%H:%M:%S} UTC", interval=0.05, details=daemon.log_tail
    )
    return sorted(seen)


def test_heartbeats_and_leases_go_on_through_the_hosts_autumn_dst_change(db, langflow, launcher):
    synced(db, langflow)
    change = datetime(2026, 10, 25, 1, 0, tzinfo=UTC)  # 03:00 CEST becomes 02:00 CET
    offset = change - timedelta(seconds=4) - datetime.now(UTC)
    clock.set_clock(lambda: datetime.now(UTC) + offset)  # the test's runs, on the daemon's time
    try:
        task_id = run_flow_now(db, ECHO_ID, {"input": "across the change"}).id
    finally:
        clock.reset_clock()
    langflow.hang = True
    daemon = launcher.start(env=faked(TZ="Europe/Berlin", FAKETIME=f"{offset.total_seconds():+.0f}"))
    wait_registered(db, daemon)
    wait_status(db, task_id, [TaskStatus.RUNNING], 10, details=daemon.log_tail)
    beats = beats_after(db, daemon, change + timedelta(seconds=1), 4, 15)
    assert beats[-1] - beats[0] < timedelta(seconds=4)  # at their pace, not an hour later
    assert get_task(db, task_id).lease_until > beats[0]  # the run's lease renewed with them
    langflow.hang = False
    done = wait_status(db, task_id, [TaskStatus.COMPLETED], 10, details=daemon.log_tail)
    assert done.tries == 1 and langflow.run_count == 1
    assert daemon.terminate() == 0


def test_heartbeats_go_on_after_the_clock_is_stepped_back(db, langflow, launcher, tmp_path):
    synced(db, langflow)
    clock_file = tmp_path / "clock"
    clock_file.write_text("+0\n")
    daemon = launcher.start(env=faked(FAKETIME_TIMESTAMP_FILE=str(clock_file), FAKETIME_NO_CACHE="1"))
    wait_registered(db, daemon)
    beats_after(db, daemon, datetime.now(UTC), 2, 10)
    clock_file.write_text("-3600\n")
    stepped_back = datetime.now(UTC) - timedelta(seconds=3600)
    beats = beats_after(db, daemon, stepped_back, 4, 15, within=timedelta(seconds=60))  # on the stepped-back clock
    assert beats[-1] - beats[0] < timedelta(seconds=4)
    assert "clock jumped -3600" in daemon.log()
    assert daemon.terminate() == 0


def test_a_clock_stepped_forward_does_not_run_a_long_flow_twice(db, langflow, launcher, tmp_path):
    synced(db, langflow)
    clock_file = tmp_path / "clock"
    clock_file.write_text("+0\n")
    shared_clock = faked(FAKETIME_TIMESTAMP_FILE=str(clock_file), FAKETIME_NO_CACHE="1", AUTOMAGIK_LEASE_SECONDS="4")
    langflow.hang = True
    task_id = run_flow_now(db, ECHO_ID, {"input": "long"}).id
    # The runner renews every second and wakes at least that often; the other daemon looks for
    # expired leases every 0.3 s: after the jump it is the first to see the run's lease expired.
    runner = launcher.start(poll_seconds=2, env={**shared_clock, "AUTOMAGIK_HEARTBEAT_SECONDS": "1"})
    running = wait_status(db, task_id, [TaskStatus.RUNNING], 10, details=launcher.logs)
    other = launcher.start(env=shared_clock)
    wait_registered(db, other)
    clock_file.write_text("+3600\n")
    jumped = datetime.now(UTC) + timedelta(seconds=3600)
    # The runner renews its lease on the new clock, and for a whole lease afterwards (the
    # other daemon's recovery runs a dozen times meanwhile) the run stays the runner's.
    wait_until(
        lambda: get_task(db, task_id).lease_until > jumped,
        10,
        "the lease renewed after the jump",
        details=launcher.logs,
    )
    watch_until = time.monotonic() + 4
    while time.monotonic() < watch_until:
        task = get_task(db, task_id)
        assert (task.status, task.claimed_by) == (TaskStatus.RUNNING, running.claimed_by), launcher.logs()
        time.sleep(0.1)
    langflow.hang = False
    done = wait_status(db, task_id, [TaskStatus.COMPLETED], 10, details=launcher.logs)
    assert done.tries == 1 and langflow.run_count == 1, launcher.logs()
    assert not [line for line in task_log_lines(db, task_id) if "stopped while running" in line]
    assert runner.terminate() == 0 and other.terminate() == 0
