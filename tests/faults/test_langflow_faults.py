"""LangFlow faults (issue 6, item 3): a real daemon against a misbehaving LangFlow test server.

30 % of runs answering 500, runs that time out (slow or hanging), the server gone for a
while, malformed JSON, a huge response, a slow trickle. For each: every task ends completed
or failed as its policy (max retries, timeout) says, the daemon stays up (and exits 0 on
SIGTERM, no traceback in its log), LangFlow received exactly one run per attempt, and the
reason is readable, one line, in the task's error and its log lines. The dashboard part is
tested elsewhere.

Sizes (CI / AUTOMAGIK_FAULTS_FULL=1): the 500s test queues 60 / 400 runs with retries and
30 / 100 without; LangFlow is gone for 4 s / 30 s, with retries configured to span it
(backoff 0.5 s doubling to 2 s and 8 retries / 1 s doubling to 8 s and 10 retries). The 500s
test runs on SQLite and PostgreSQL, the others on SQLite (the faults are LangFlow's).
"""

from __future__ import annotations

import re
import time
from collections import Counter

import pytest

from automagik.db.models import TaskStatus
from automagik.runs.fires import QUEUED_REASON, RUNNING_REASON
from automagik.services import schedules as schedule_service
from automagik.services.errors import ServiceError
from automagik.services.schedules import ScheduleSpec, create_schedule
from automagik.services.tasks import run_flow_now
from tests.daemon.process_helpers import (
    all_tasks,
    get_task,
    run_inputs,
    task_log_lines,
    unfinished,
    wait_registered,
    wait_until,
)
from tests.faults.conftest import FAST_RECOVERY, size
from tests.services.helpers import ECHO_ID, synced

pytestmark = pytest.mark.slow
sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

TERMINAL = (TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.SKIPPED)
FAILED_ATTEMPT = re.compile(r"^LangFlow failed after \d+ ms \((.+?)\): (.+)$")


def wait_terminal(db, task_ids, timeout: float, daemon) -> dict:
    def done():
        tasks = {task_id: get_task(db, task_id) for task_id in task_ids}
        return tasks if all(t.status in TERMINAL for t in tasks.values()) else None

    return wait_until(
        done,
        timeout,
        f"{len(task_ids)} task(s) end",
        interval=0.1,
        details=lambda: daemon.log_tail()
        + f"\nunfinished: {[(t.id, t.status.value, t.tries) for t in unfinished(db)]}",
    )


def assert_readable(text: str) -> None:
    assert text and "\n" not in text and "Traceback" not in text and len(text) <= 500, text


def assert_daemon_fine(daemon) -> None:
    assert daemon.alive, daemon.log_tail()
    assert daemon.terminate() == 0, daemon.log_tail()
    assert "Traceback" not in daemon.log(), daemon.log_tail(200)


def runs_per_input(langflow) -> Counter:
    return Counter(run_inputs(langflow))


def check_failed(task, lines: list[str], says: str) -> None:
    """A task that failed for good: every try used, the reason in its error and its log."""
    assert task.status is TaskStatus.FAILED and task.tries == task.max_retries + 1, (
        task.status,
        task.tries,
        task.error,
    )
    assert_readable(task.error)
    assert says in task.error, task.error
    failures = [FAILED_ATTEMPT.match(line) for line in lines if line.startswith("LangFlow failed")]
    assert len(failures) == task.tries and all(f and says in f.group(2) for f in failures), lines
    if task.max_retries:
        assert f"no retries left after {task.tries} tries" in lines[-1], lines
    assert task.claimed_by is None and task.lease_until is None and task.finished_at is not None


def check_completed(task, lines: list[str], text: str) -> None:
    assert task.status is TaskStatus.COMPLETED and task.error is None, (task.status, task.error)
    assert task.result["text"] == text
    assert len([line for line in lines if line.startswith("LangFlow failed")]) == task.tries - 1, lines
    assert len([line for line in lines if line.startswith("will retry at")]) == task.tries - 1, lines
    assert lines[-1].startswith("LangFlow answered HTTP 200"), lines


# -- 30 % of runs answer 500 ----------------------------------------------------------------------


def test_thirty_percent_of_runs_answer_500(db, langflow, launcher):
    synced(db, langflow)
    langflow.error_rate, langflow.seed = 0.3, 6
    with_retries, without = size(60, 400), size(30, 100)
    daemon = launcher.start(workers=4, env=FAST_RECOVERY)
    wait_registered(db, daemon)
    ids = {
        run_flow_now(db, ECHO_ID, {"input": f"retry-{n}"}, max_retries=3).id: f"retry-{n}" for n in range(with_retries)
    }
    ids |= {run_flow_now(db, ECHO_ID, {"input": f"once-{n}"}, max_retries=0).id: f"once-{n}" for n in range(without)}
    tasks = wait_terminal(db, list(ids), size(60, 300), daemon)
    assert_daemon_fine(daemon)

    received = runs_per_input(langflow)
    for task_id, text in ids.items():
        task, lines = tasks[task_id], task_log_lines(db, task_id)
        assert received[text] == task.tries, (text, received[text], task.tries)  # one run per attempt, no more
        if task.status is TaskStatus.FAILED:
            check_failed(task, lines, "HTTP 500")
            assert "simulated failure in ChatOutput" in task.error  # LangFlow's own message, its traceback dropped
        else:
            check_completed(task, lines, text)
    statuses = Counter((t.max_retries, t.status) for t in tasks.values())
    answered_500 = sum(run.status == 500 for run in langflow.runs)
    assert 0.15 < answered_500 / langflow.run_count < 0.45, (answered_500, langflow.run_count)
    # With 3 retries nearly every run gets through; without, about 30 % fail at once.
    assert statuses[(3, TaskStatus.COMPLETED)] >= with_retries * 0.9, statuses
    assert statuses[(0, TaskStatus.FAILED)] >= 1 and statuses[(0, TaskStatus.COMPLETED)] >= 1, statuses
    assert any(t.tries > 1 and t.status is TaskStatus.COMPLETED for t in tasks.values())


# -- time-outs -----------------------------------------------------------------------------------------


@sqlite_only
def test_runs_that_time_out(db, langflow, launcher):
    synced(db, langflow)
    daemon = launcher.start(workers=4, env=FAST_RECOVERY)
    wait_registered(db, daemon)
    langflow.latency = 2.5
    slow = run_flow_now(db, ECHO_ID, {"input": "too slow"}, max_retries=1, timeout_seconds=1).id
    patient = run_flow_now(db, ECHO_ID, {"input": "patient"}, max_retries=0, timeout_seconds=10).id
    tasks = wait_terminal(db, [slow, patient], 30, daemon)
    langflow.latency = 0.0
    check_failed(tasks[slow], task_log_lines(db, slow), "sent nothing for 1 s")
    check_completed(tasks[patient], task_log_lines(db, patient), "patient")

    langflow.hang = True  # a run that never answers at all
    try:
        hung = run_flow_now(db, ECHO_ID, {"input": "hung"}, max_retries=0, timeout_seconds=1).id
        tasks = wait_terminal(db, [hung], 20, daemon)
    finally:
        langflow.hang = False
    check_failed(tasks[hung], task_log_lines(db, hung), "sent nothing for 1 s")
    assert "raise the timeout" in tasks[hung].error
    received = runs_per_input(langflow)
    assert (received["too slow"], received["patient"], received["hung"]) == (2, 1, 1)
    assert_daemon_fine(daemon)


# -- LangFlow gone ----------------------------------------------------------------------------------------

OUTAGE_SECONDS = size(4.0, 30.0)
SPANNING_RETRIES = size(
    {"AUTOMAGIK_RETRY_BASE_SECONDS": "0.5", "AUTOMAGIK_RETRY_MAX_SECONDS": "2"},
    {"AUTOMAGIK_RETRY_BASE_SECONDS": "1", "AUTOMAGIK_RETRY_MAX_SECONDS": "8"},
)
MAX_RETRIES_FOR_OUTAGE = size(8, 10)


@sqlite_only
def test_langflow_gone_for_a_while(db, langflow, launcher):
    """Runs started during the outage retry until LangFlow is back (their retries span it);
    a run allowed no retry fails at once saying LangFlow is unreachable."""
    synced(db, langflow)
    daemon = launcher.start(workers=4, env={**FAST_RECOVERY, **SPANNING_RETRIES, "LANGFLOW_CONNECT_TIMEOUT": "1"})
    wait_registered(db, daemon)
    schedule = create_schedule(
        db, ScheduleSpec(ECHO_ID, "interval", "1s", {"input": "every second"}, max_retries=MAX_RETRIES_FOR_OUTAGE)
    )
    wait_until(
        lambda: any(t.status is TaskStatus.COMPLETED for t in all_tasks(db)),
        15,
        "the schedule ran once",
        details=daemon.log_tail,
    )
    langflow.pause()
    began = time.monotonic()
    try:
        queued = [
            run_flow_now(db, ECHO_ID, {"input": f"during-{n}"}, max_retries=MAX_RETRIES_FOR_OUTAGE).id for n in range(5)
        ]
        no_retry = run_flow_now(db, ECHO_ID, {"input": "no retry"}, max_retries=0).id
        wait_until(
            lambda: get_task(db, no_retry).status is TaskStatus.FAILED,
            10,
            "the run without retries failed",
            details=daemon.log_tail,
        )
        while time.monotonic() - began < OUTAGE_SECONDS:
            assert daemon.alive, daemon.log_tail()
            time.sleep(0.2)
    finally:
        langflow.resume()
    outage = time.monotonic() - began
    wait_terminal(db, queued, OUTAGE_SECONDS + 30, daemon)
    schedule_service.pause_schedule(db, schedule.id)
    tasks = {t.id: t for t in wait_terminal(db, [t.id for t in all_tasks(db)], 40, daemon).values()}
    assert_daemon_fine(daemon)

    check_failed(tasks[no_retry], task_log_lines(db, no_retry), "is unreachable")
    assert "connection refused" in tasks[no_retry].error
    for task_id in queued:
        lines = task_log_lines(db, task_id)
        check_completed(tasks[task_id], lines, get_task(db, task_id).input_data["input"])
        assert tasks[task_id].tries >= 2 and all(
            "is unreachable" in line for line in lines if line.startswith("LangFlow failed")
        )
    hit = [t for t in tasks.values() if t.schedule_id and t.tries > 1]
    assert hit and all(t.status is TaskStatus.COMPLETED for t in hit), [(t.status, t.tries) for t in hit]
    # A run waiting for its retry does not hold its schedule back: the outage's fires ran (and
    # retried) instead of being skipped; a fire is skipped only for a run in progress or queued.
    assert len(hit) >= OUTAGE_SECONDS // 2, [(t.scheduled_for, t.status, t.tries) for t in hit]
    skipped = [t for t in tasks.values() if t.status is TaskStatus.SKIPPED]
    assert all(t.error.startswith((RUNNING_REASON, QUEUED_REASON)) for t in skipped)
    assert not [t for t in tasks.values() if t.status is TaskStatus.FAILED and t.id != no_retry]
    assert outage >= OUTAGE_SECONDS


# -- malformed JSON, huge answers, slow trickles ----------------------------------------------------------


@sqlite_only
def test_malformed_json_is_retried_then_fails_with_the_reason(db, langflow, launcher):
    synced(db, langflow)
    daemon = launcher.start(workers=4, env=FAST_RECOVERY)
    wait_registered(db, daemon)
    langflow.malformed_json = True
    doomed = run_flow_now(db, ECHO_ID, {"input": "doomed"}, max_retries=1).id
    recovers = run_flow_now(db, ECHO_ID, {"input": "recovers"}, max_retries=3).id
    try:
        wait_until(
            lambda: any(line.startswith("LangFlow failed") for line in task_log_lines(db, recovers)),
            15,
            "a malformed answer was recorded",
            details=daemon.log_tail,
        )
        wait_terminal(db, [doomed], 15, daemon)
    finally:
        langflow.malformed_json = False
    tasks = wait_terminal(db, [doomed, recovers], 20, daemon)
    check_failed(tasks[doomed], task_log_lines(db, doomed), "not valid JSON")
    check_completed(tasks[recovers], task_log_lines(db, recovers), "recovers")
    assert tasks[recovers].tries >= 2
    failures = [line for line in task_log_lines(db, recovers) if line.startswith("LangFlow failed")]
    assert failures and all("not valid JSON" in line for line in failures)
    received = runs_per_input(langflow)
    assert (received["doomed"], received["recovers"]) == (2, tasks[recovers].tries)
    assert_daemon_fine(daemon)


@sqlite_only
def test_huge_responses(db, langflow, launcher):
    """An 8 MB answer is read and only the chosen output kept; one past the 64 MB cap fails
    (it is a bad answer, so it would be retried; this run allows no retry)."""
    synced(db, langflow)
    daemon = launcher.start(workers=2, env=FAST_RECOVERY)
    wait_registered(db, daemon)
    langflow.huge_response_bytes = 8 * 2**20
    big = run_flow_now(db, ECHO_ID, {"input": "big"}, max_retries=0).id
    wait_terminal(db, [big], 30, daemon)
    langflow.huge_response_bytes = 70 * 2**20
    try:
        too_big = run_flow_now(db, ECHO_ID, {"input": "too big"}, max_retries=0).id
        tasks = wait_terminal(db, [big, too_big], 60, daemon)
    finally:
        langflow.huge_response_bytes = 0
    check_completed(tasks[big], task_log_lines(db, big), "big")
    assert len(repr(tasks[big].result)) < 5_000, "the padding is not stored"
    check_failed(tasks[too_big], task_log_lines(db, too_big), "sent more than 64 MB")
    assert_daemon_fine(daemon)


@sqlite_only
def test_slow_trickle(db, langflow, launcher):
    """An answer trickling in past the run's timeout fails on the whole-answer deadline (not
    the per-read timeout, which every chunk resets); one trickling within it completes."""
    synced(db, langflow)
    daemon = launcher.start(workers=2, env=FAST_RECOVERY)
    wait_registered(db, daemon)
    langflow.trickle_seconds = 3.0
    try:
        late = run_flow_now(db, ECHO_ID, {"input": "late"}, max_retries=0, timeout_seconds=1).id
        in_time = run_flow_now(db, ECHO_ID, {"input": "in time"}, max_retries=0, timeout_seconds=15).id
        tasks = wait_terminal(db, [late, in_time], 30, daemon)
    finally:
        langflow.trickle_seconds = 0.0
    check_failed(tasks[late], task_log_lines(db, late), "did not finish its answer within 1 s")
    check_completed(tasks[in_time], task_log_lines(db, in_time), "in time")
    assert (tasks[in_time].finished_at - tasks[in_time].started_at).total_seconds() >= 2.5
    assert_daemon_fine(daemon)


# -- odd data from LangFlow -----------------------------------------------------------------------------------


def test_a_sync_survives_ids_longer_than_the_columns(db, langflow, request):
    """LangFlow is trusted for ids, not for their length: a flow id past 64 characters (the
    column's size) or a component id past 128 must not break the sync with a database error."""
    langflow.add_flow("Long id", flow_id="f" * 100)
    langflow.add_flow("Long component", inputs=("ChatInput-" + "c" * 200,), outputs=("ChatOutput-o0001",))
    try:
        report = synced(db, langflow)
    except ServiceError as refused:  # refusing the odd flows, with a message, is fine too
        assert "\n" not in refused.message
        return
    assert {"Echo", "TwoOut"} <= {name.rsplit(" ", 1)[0] for name in report.added}
