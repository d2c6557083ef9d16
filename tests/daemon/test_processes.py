"""The daemon as real processes: several at once, kill -9, SIGTERM, heartbeat, --once, refusals,
and a LangFlow outage. Each test runs on SQLite and on PostgreSQL (the `database_url` fixture).

Daemons are started with `python scheduler_daemon.py` (see process_helpers.py) against the
LangFlow test server; the tests wait on the database with deadlines, never with long sleeps
(the only sleeps are the ~2 s LangFlow outage and the 2 s windows that measure a daemon's load).
"""

from __future__ import annotations

import re
import socket
import time
import uuid
from collections import Counter, defaultdict
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from automagik.db.models import TaskStatus
from automagik.services import schedules as schedule_service
from automagik.services.schedules import ScheduleSpec, create_schedule
from automagik.services.tasks import run_flow_now
from tests.daemon.process_helpers import (
    SENT_BY,
    DaemonLauncher,
    all_log_lines,
    all_tasks,
    database_commits,
    get_task,
    heartbeat_row,
    heartbeat_rows,
    run_inputs,
    task_log_lines,
    unfinished,
    wait_registered,
    wait_settled,
    wait_status,
    wait_until,
)
from tests.services.helpers import ECHO_ID, synced

pytestmark = pytest.mark.slow

ONE_SECOND = timedelta(seconds=1)
TERMINAL = (TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.SKIPPED)


def is_postgres(database_url: str) -> bool:
    return database_url.startswith("postgresql")


@pytest.fixture
def launcher(tmp_path, database_url, langflow):
    launcher = DaemonLauncher(tmp_path, database_url, langflow.url)
    yield launcher
    launcher.cleanup()


def assert_no_traceback(launcher: DaemonLauncher) -> None:
    for daemon in launcher.started:
        assert "Traceback" not in daemon.log(), daemon.log_tail(200)


# -- 1. several daemons ------------------------------------------------------------------------


def test_several_daemons_share_the_work_and_never_run_a_fire_twice(db, langflow, launcher, database_url):
    daemon_count = 3 if is_postgres(database_url) else 2  # 3 processes on PostgreSQL, 2 sharing one SQLite file
    synced(db, langflow)
    # Runs of 0.1 s: a daemon claims ahead only what its 4 workers can start within 200 ms,
    # so the 20 fires of each second are more than one daemon takes (runs of a few
    # milliseconds would all fit in the first daemon's workers, and it would take them all).
    langflow.latency = 0.1
    schedules = [
        create_schedule(db, ScheduleSpec(ECHO_ID, "interval", "1s", flow_input={"input": f"schedule-{n}"}))
        for n in range(20)
    ]
    by_input = {f"schedule-{n}": s.id for n, s in enumerate(schedules)}
    daemons = [launcher.start(workers=4, poll_seconds=0.5) for _ in range(daemon_count)]
    for daemon in daemons:
        wait_registered(db, daemon)

    def fires_each() -> bool:
        counts = Counter(t.schedule_id for t in all_tasks(db))
        return all(counts[s.id] >= 6 for s in schedules)

    wait_until(fires_each, 25, "every schedule has fired 6 times", interval=0.2, details=launcher.logs)
    assert all(d.alive for d in daemons), launcher.logs()
    # Stop new fires, let the daemons finish what they hold, then SIGTERM them all.
    schedule_service.pause_all(db)
    wait_settled(db, 15, details=launcher.logs)
    assert [d.terminate() for d in daemons] == [0] * daemon_count, launcher.logs()

    tasks = all_tasks(db)
    assert not [t for t in tasks if t.status not in (TaskStatus.COMPLETED, TaskStatus.SKIPPED)], launcher.logs()
    completed = [t for t in tasks if t.status is TaskStatus.COMPLETED]
    assert all(t.tries == 1 and t.error is None and t.result for t in completed)
    # One task per fire (the unique key), and one LangFlow run per completed task: a fire run
    # twice would show as an extra run of that schedule's input.
    keys = Counter((t.schedule_id, t.scheduled_for) for t in tasks)
    assert max(keys.values()) == 1
    assert langflow.run_count == len(completed)
    runs_per_schedule = Counter(by_input.get(text) for text in run_inputs(langflow))
    assert runs_per_schedule == Counter(t.schedule_id for t in completed)

    # Each schedule's fires are its exact 1-second grid from the anchor, without gaps.
    fires = defaultdict(list)
    for task in tasks:
        fires[task.schedule_id].append(task.scheduled_for)
    for schedule in schedules:
        times = sorted(fires[schedule.id])
        assert len(times) >= 6, (schedule.id, times)
        offset = times[0] - schedule.anchor_at
        assert offset > timedelta(0) and offset % ONE_SECOND == timedelta(0), (schedule.anchor_at, times[0])
        gaps = [
            later - earlier for earlier, later in zip(times, times[1:], strict=False) if later - earlier != ONE_SECOND
        ]
        assert gaps == [], (schedule.id, times)

    # The work was spread over the daemons; every completed run says which daemon sent it.
    senders = defaultdict(list)
    for task_id, message in all_log_lines(db):
        match = SENT_BY.search(message)
        if match:
            senders[task_id].append(match.group(1))
    assert all(len(senders[t.id]) == 1 for t in completed)
    per_daemon = Counter(ids[0] for ids in senders.values())
    rows = heartbeat_rows(db)
    assert len(rows) == daemon_count and all(row.stopped_at is not None for row in rows)
    assert set(per_daemon) <= {row.id for row in rows}
    assert len(per_daemon) > 1, per_daemon
    assert_no_traceback(launcher)


# -- 2. kill -9 ----------------------------------------------------------------------------------

SHORT_LEASE = {
    "AUTOMAGIK_LEASE_SECONDS": "2",
    "AUTOMAGIK_HEARTBEAT_SECONDS": "0.5",
    "AUTOMAGIK_RECOVERY_SECONDS": "0.5",
}


def test_a_run_cut_short_by_kill_9_is_recovered_by_another_daemon(db, langflow, launcher):
    synced(db, langflow)
    langflow.latency = 3.0
    first = launcher.start(workers=2, env=SHORT_LEASE)
    wait_registered(db, first)
    task_id = run_flow_now(db, ECHO_ID, {"input": "survive kill -9"}).id
    running = wait_status(db, task_id, [TaskStatus.RUNNING], 10, details=launcher.logs)
    wait_until(lambda: langflow.run_count == 1, 5, "the run reached LangFlow")
    first_id = running.claimed_by
    assert first_id == heartbeat_row(db, first.pid).id

    first.kill()
    assert first.returncode == -9
    langflow.latency = 0.0
    second = launcher.start(workers=2, env=SHORT_LEASE)
    done = wait_status(db, task_id, TERMINAL, 20, details=launcher.logs)

    assert done.status is TaskStatus.COMPLETED, launcher.logs()
    assert done.tries == 2 and done.claimed_by is None and done.lease_until is None
    lines = task_log_lines(db, task_id)
    recovery = [line for line in lines if line.startswith(f"daemon {first_id} stopped while running this task")]
    assert len(recovery) == 1 and "lease expired" in recovery[0] and recovery[0].endswith("retrying now"), lines
    second_id = heartbeat_row(db, second.pid).id
    # The killed attempt's own lines died with it (lines are written with the outcome); the
    # recovery line stands for it, and the second attempt was sent by the second daemon.
    assert [SENT_BY.search(line).group(1) for line in lines if SENT_BY.search(line)] == [second_id]
    assert "try 2 of 4" in " ".join(lines)
    assert unfinished(db) == []
    assert langflow.run_count == 2
    # The killed daemon never marked itself stopped: its row is what a dead daemon looks like.
    assert heartbeat_row(db, first.pid).stopped_at is None
    assert second.terminate() == 0
    assert_no_traceback(launcher)


# -- 3. graceful shutdown --------------------------------------------------------------------------


def test_sigterm_lets_the_run_in_flight_finish(db, langflow, launcher):
    synced(db, langflow)
    langflow.latency = 1.5
    daemon = launcher.start(workers=2)
    wait_registered(db, daemon)
    task_id = run_flow_now(db, ECHO_ID, {"input": "finish me"}).id
    wait_status(db, task_id, [TaskStatus.RUNNING], 10, details=launcher.logs)
    wait_until(lambda: langflow.run_count == 1, 5, "the run reached LangFlow")

    began = time.monotonic()
    assert daemon.terminate(timeout=15) == 0, daemon.log_tail()
    assert time.monotonic() - began < 6

    task = get_task(db, task_id)
    assert task.status is TaskStatus.COMPLETED and task.tries == 1, daemon.log_tail()
    assert task.result and task.result.get("text") == "finish me"
    assert heartbeat_row(db, daemon.pid).stopped_at is not None
    assert "waiting up to" in daemon.log()
    assert_no_traceback(launcher)


def test_sigterm_hands_back_a_run_that_outlives_the_grace_period(db, langflow, launcher):
    synced(db, langflow)
    langflow.hang = True
    try:
        daemon = launcher.start(workers=2, env={"AUTOMAGIK_SHUTDOWN_GRACE_SECONDS": "1"})
        wait_registered(db, daemon)
        task_id = run_flow_now(db, ECHO_ID, {"input": "hang"}).id
        wait_status(db, task_id, [TaskStatus.RUNNING], 10, details=launcher.logs)
        wait_until(lambda: langflow.run_count == 1, 5, "the run reached LangFlow")

        began = time.monotonic()
        assert daemon.terminate(timeout=10) == 0, daemon.log_tail()
        assert time.monotonic() - began < 5
    finally:
        langflow.hang = False

    task = get_task(db, task_id)
    assert task.status is TaskStatus.PENDING, daemon.log_tail()
    assert task.tries == 0 and task.claimed_by is None and task.lease_until is None
    lines = task_log_lines(db, task_id)
    assert any("handed back" in line and heartbeat_row(db, daemon.pid).id in line for line in lines), lines
    assert heartbeat_row(db, daemon.pid).stopped_at is not None
    assert_no_traceback(launcher)


# -- 4. heartbeat ----------------------------------------------------------------------------------


def test_heartbeat_row_is_refreshed_while_the_daemon_runs(db, langflow, launcher):
    daemon = launcher.start(workers=3, env={"AUTOMAGIK_HEARTBEAT_SECONDS": "0.3"})
    row = wait_registered(db, daemon)
    host = socket.gethostname()
    assert (row.host, row.pid, row.workers, row.in_flight) == (host, daemon.pid, 3, 0)
    assert row.id.startswith(f"{host}:{daemon.pid}:") and row.stopped_at is None
    assert row.started_at <= row.last_seen

    seen = [row.last_seen]
    for _ in range(2):
        seen.append(
            wait_until(
                lambda: (r := heartbeat_row(db, daemon.pid)).last_seen > seen[-1] and r.last_seen,
                5,
                "last_seen advances",
                details=daemon.log_tail,
            )
        )
    assert seen == sorted(seen) and len(set(seen)) == 3
    assert daemon.alive

    assert daemon.terminate() == 0
    stopped = heartbeat_row(db, daemon.pid)
    assert stopped.stopped_at is not None and stopped.last_seen >= seen[-1]
    assert len(heartbeat_rows(db)) == 1
    assert_no_traceback(launcher)


# -- 5. --once ---------------------------------------------------------------------------------------


def test_once_runs_what_is_due_and_exits(db, langflow, launcher):
    synced(db, langflow)
    task_id = run_flow_now(db, ECHO_ID, {"input": "just once"}).id
    result = launcher.run(args=["--once"], timeout=30)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    task = get_task(db, task_id)
    assert task.status is TaskStatus.COMPLETED and task.tries == 1, result.stderr
    assert task.result.get("text") == "just once"
    assert langflow.run_count == 1
    rows = heartbeat_rows(db)
    assert len(rows) == 1 and rows[0].stopped_at is not None


def test_once_renews_the_lease_of_a_run_longer_than_the_lease(db, langflow, launcher):
    """--once used to skip lease renewal: another daemon took the long run for dead and ran it again."""
    synced(db, langflow)
    langflow.hang = True
    task_id = run_flow_now(db, ECHO_ID, {"input": "a long one"}).id
    once = launcher.start(args=["--once"], env={"AUTOMAGIK_LEASE_SECONDS": "1", "AUTOMAGIK_HEARTBEAT_SECONDS": "0.2"})
    first_lease = wait_status(db, task_id, [TaskStatus.RUNNING], 15, details=launcher.logs).lease_until
    wait_until(lambda: langflow.run_count == 1, 10, "the run reached LangFlow")
    # Renewed while it runs: well past the first lease, it is still held, and a recovering
    # daemon finds nothing to take.
    renewed = wait_until(
        lambda: (lease := get_task(db, task_id).lease_until) and lease > first_lease + ONE_SECOND and lease,
        10,
        "the lease is renewed",
        details=launcher.logs,
    )
    other = launcher.start(env={"AUTOMAGIK_LEASE_SECONDS": "1", "AUTOMAGIK_RECOVERY_SECONDS": "0.2"})
    wait_registered(db, other)
    wait_until(lambda: get_task(db, task_id).lease_until > renewed + ONE_SECOND, 10, "renewed again")
    langflow.hang = False
    wait_until(lambda: not once.alive, 15, "--once exits after its run", details=launcher.logs)
    assert once.returncode == 0
    task = get_task(db, task_id)
    assert (task.status, task.tries) == (TaskStatus.COMPLETED, 1), launcher.logs()
    assert langflow.run_count == 1
    assert other.terminate() == 0
    assert_no_traceback(launcher)


def test_once_is_read_from_the_env_file_too(db, langflow, launcher):
    synced(db, langflow)
    task_id = run_flow_now(db, ECHO_ID, {"input": "from .env"}).id
    (launcher.tmp_path / ".env").write_text("AUTOMAGIK_ONCE=1\n")
    daemon = launcher.start()
    wait_until(lambda: not daemon.alive, 20, "the daemon exits on its own", details=launcher.logs)
    assert daemon.returncode == 0
    assert get_task(db, task_id).status is TaskStatus.COMPLETED


def test_a_bad_once_value_is_refused_naming_the_variable(launcher):
    result = launcher.run(env={"AUTOMAGIK_ONCE": "maybe"})
    assert result.returncode == 2 and "AUTOMAGIK_ONCE" in result.stderr and "Traceback" not in result.stderr


def test_the_start_log_shows_langflow_without_the_login_of_its_url(db, langflow, launcher):
    address = langflow.url.removeprefix("http://")
    daemon = launcher.start(env={"LANGFLOW_API_URL": f"http://ops-7f3a:pw-s3cr3t@{address}"})
    wait_registered(db, daemon)
    assert daemon.terminate() == 0
    log = daemon.log()
    assert f"LangFlow at http://{address}" in log and "ops-7f3a" not in log and "s3cr3t" not in log, log


def test_fires_claimed_ahead_start_at_their_instant_never_before(db, langflow, launcher):
    """The daemon dispatches and claims fires a little before they are due; each must still
    reach LangFlow at or after its planned instant, and its task says when it really began."""
    synced(db, langflow)
    schedule = create_schedule(db, ScheduleSpec(ECHO_ID, "interval", "1s", '{"input": "on time"}'))
    daemon = launcher.start(workers=2)
    wait_registered(db, daemon)
    wait_until(
        lambda: sum(t.status is TaskStatus.COMPLETED for t in all_tasks(db)) >= 4,
        20,
        "four fires completed",
        details=daemon.log_tail,
    )
    schedule_service.pause_schedule(db, schedule.id)
    assert daemon.terminate() == 0, daemon.log_tail()

    completed = sorted((t for t in all_tasks(db) if t.status is TaskStatus.COMPLETED), key=lambda t: t.scheduled_for)
    assert len(completed) >= 4
    for task in completed:
        assert task.started_at >= task.scheduled_for, (task.started_at, task.scheduled_for)
        assert task.finished_at >= task.started_at
    arrivals = sorted(run.received_at for run in langflow.runs)
    for task, arrived in zip(completed, arrivals, strict=False):
        assert arrived >= task.scheduled_for.timestamp(), (arrived, task.scheduled_for)
    assert_no_traceback(launcher)


def test_a_run_that_ends_just_before_the_next_fire_does_not_make_it_skip(db, langflow, launcher):
    """Fires are dispatched 200 ms ahead, but whether the previous run still goes is decided
    at the fire's instant: runs of 0.88 s on a 1-second schedule all run. (Decided ahead, half
    the fires were skipped as overlapping.)"""
    synced(db, langflow)
    langflow.latency = 0.88
    daemon = launcher.start(workers=2)
    wait_registered(db, daemon)
    schedule = create_schedule(db, ScheduleSpec(ECHO_ID, "interval", "1s", '{"input": "back to back"}'))
    wait_until(
        lambda: sum(t.status in TERMINAL for t in all_tasks(db)) >= 10, 30, "ten fires decided", details=daemon.log_tail
    )
    schedule_service.pause_schedule(db, schedule.id)
    wait_settled(db, 15, details=daemon.log_tail)
    assert daemon.terminate() == 0, daemon.log_tail()

    statuses = Counter(t.status for t in all_tasks(db))
    # A loaded machine may stretch an odd run past its next fire; skipping half would be the bug.
    assert statuses[TaskStatus.SKIPPED] <= 2, (statuses, daemon.log_tail())
    assert statuses[TaskStatus.COMPLETED] >= 8, statuses
    assert_no_traceback(launcher)


# -- 6. start-up refusals ------------------------------------------------------------------------------


@pytest.fixture
def uninitialized_url(request, database_url, tmp_path):
    """An existing but empty database on the same backend as `database_url`."""
    if not is_postgres(database_url):
        yield f"sqlite:///{tmp_path / 'never-initialized.db'}"
        return
    name = f"automagik_uninit_{uuid.uuid4().hex[:8]}"
    admin = create_engine(request.getfixturevalue("postgres_url"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except DBAPIError as exc:  # e.g. an AUTOMAGIK_TEST_POSTGRES_URL user without CREATEDB
        admin.dispose()
        pytest.skip(f"cannot create a scratch database: {str(exc).splitlines()[0]}")
    try:
        yield make_url(database_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_an_uninitialized_database_is_refused_with_a_hint(launcher, uninitialized_url):
    result = launcher.run(env={"DATABASE_URL": uninitialized_url})
    assert result.returncode == 1, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "db init" in lines[0] and "not initialized" in lines[0]
    assert result.stdout == ""


def test_a_bad_option_is_refused_naming_the_variable(launcher):
    result = launcher.run(env={"AUTOMAGIK_WORKERS": "zero"})
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: AUTOMAGIK_WORKERS="), result.stderr
    assert "'zero'" in lines[0] and "whole number" in lines[0]
    assert result.stdout == ""


# -- 7. LangFlow goes away -------------------------------------------------------------------------------


def test_runs_that_hit_a_langflow_outage_are_retried(db, langflow, launcher):
    synced(db, langflow)
    schedule = create_schedule(
        db, ScheduleSpec(ECHO_ID, "interval", "1s", flow_input={"input": "outage"}, max_retries=3)
    )
    daemon = launcher.start(workers=2, env={"AUTOMAGIK_RETRY_BASE_SECONDS": "0.5", "LANGFLOW_CONNECT_TIMEOUT": "1"})
    wait_registered(db, daemon)

    def completed_count() -> int:
        return sum(t.status is TaskStatus.COMPLETED for t in all_tasks(db))

    wait_until(lambda: completed_count() >= 2, 10, "two runs completed", details=daemon.log_tail)
    langflow.pause()
    outage_began = time.monotonic()
    try:
        wait_until(
            lambda: any("unreachable" in message for _, message in all_log_lines(db)),
            5,
            "a run hit the outage",
            details=daemon.log_tail,
        )
        time.sleep(max(0.0, 2.0 - (time.monotonic() - outage_began)))  # the outage lasts ~2 s
    finally:
        langflow.resume()
    before = completed_count()
    wait_until(
        lambda: completed_count() >= before + 2, 15, "runs complete again after the outage", details=daemon.log_tail
    )
    assert daemon.alive, daemon.log_tail()
    schedule_service.pause_schedule(db, schedule.id)
    wait_settled(db, 15, details=daemon.log_tail)
    assert daemon.alive, daemon.log_tail()

    tasks = all_tasks(db)
    assert all(t.status in TERMINAL for t in tasks)
    failed_attempts = {task_id for task_id, message in all_log_lines(db) if message.startswith("LangFlow failed")}
    hit = [t for t in tasks if t.id in failed_attempts]
    assert hit, daemon.log_tail()
    for task in hit:
        if task.status is TaskStatus.FAILED:
            assert task.tries == task.max_retries + 1 and "unreachable" in task.error, (task.tries, task.error)
        else:
            assert task.status is TaskStatus.COMPLETED and task.tries >= 2 and task.error is None, (
                task.status,
                task.tries,
            )
    assert any(t.status is TaskStatus.COMPLETED for t in hit), [(t.status, t.tries) for t in hit]
    assert all(t.status in (TaskStatus.COMPLETED, TaskStatus.SKIPPED) or t.id in failed_attempts for t in tasks)
    assert re.search(r"retry at \d\d:\d\d:\d\d UTC: LangFlow at \S+ is unreachable", daemon.log()), daemon.log_tail()
    assert daemon.terminate() == 0
    assert_no_traceback(launcher)


# -- 8. no busy loop while due work has to wait -------------------------------------------------------

WINDOW = 2.0  # seconds measured while the due task has to wait


def activity_while_waiting(db, daemon) -> tuple[float, float, str]:
    """(measured, limit, what) over WINDOW: PostgreSQL transactions committed (an idle daemon
    polling every second commits ~10), or on SQLite the daemon's CPU seconds (idle: ~0.05)."""
    if db.dialect == "postgresql":
        before = database_commits(db)
        time.sleep(WINDOW)
        return database_commits(db) - before, 60, "transactions committed"
    return daemon.cpu_used_during(WINDOW), 0.3, "CPU seconds used"


needs_proc = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="measures CPU time through /proc")


@needs_proc
def test_a_daemon_whose_workers_are_all_busy_waits_without_spinning(db, langflow, launcher):
    synced(db, langflow)
    langflow.latency = 3.5
    daemon = launcher.start(workers=1, poll_seconds=1)
    wait_registered(db, daemon)
    first = run_flow_now(db, ECHO_ID, {"input": "first"}).id
    second = run_flow_now(db, ECHO_ID, {"input": "second"}).id
    wait_until(lambda: langflow.run_count == 1, 10, "the first run reached LangFlow", details=daemon.log_tail)

    measured, limit, what = activity_while_waiting(db, daemon)
    assert get_task(db, second).status is TaskStatus.PENDING  # due all along, but the only worker was busy
    langflow.latency = 0.0
    for task_id in (first, second):
        assert wait_status(db, task_id, TERMINAL, 15, details=daemon.log_tail).status is TaskStatus.COMPLETED
    assert daemon.terminate() == 0
    assert measured < limit, f"{measured:g} {what} in {WINDOW} s while the only worker was busy"


@needs_proc
def test_a_daemon_waits_without_spinning_while_a_schedule_run_blocks_the_next(db, langflow, launcher):
    synced(db, langflow)
    schedule = create_schedule(db, ScheduleSpec(ECHO_ID, "interval", "1h"))
    langflow.latency = 3.5
    daemon = launcher.start(workers=4, poll_seconds=1)
    wait_registered(db, daemon)
    first = run_flow_now(db, ECHO_ID, schedule_id=schedule.id).id
    wait_until(lambda: langflow.run_count == 1, 10, "the first run reached LangFlow", details=daemon.log_tail)
    second = run_flow_now(db, ECHO_ID, schedule_id=schedule.id).id  # due, but one run per schedule at a time

    measured, limit, what = activity_while_waiting(db, daemon)
    assert get_task(db, second).status is TaskStatus.PENDING
    langflow.latency = 0.0
    for task_id in (first, second):
        assert wait_status(db, task_id, TERMINAL, 15, details=daemon.log_tail).status is TaskStatus.COMPLETED
    assert daemon.terminate() == 0
    assert measured < limit, f"{measured:g} {what} in {WINDOW} s with 3 free workers and nothing claimable"
