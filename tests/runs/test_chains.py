"""Chains at the state owner: every path that ends a run starts the "after" schedules following
its flow, in the same transaction, exactly once per upstream run (on both backends)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from automagik.daemon.runner import TaskRunner
from automagik.daemon.settings import DaemonSettings
from automagik.db.models import Flow, LogLevel, Task, TaskStatus
from automagik.runs import chains
from automagik.runs.leases import claim_tasks, record_and_claim, record_attempts
from automagik.runs.outcomes import Attempt
from automagik.runs.recovery import recover_expired
from automagik.services import schedules as schedule_service
from automagik.services import tasks as task_service
from automagik.services.schedules import ScheduleSpec
from tests.services.helpers import ECHO_ID, client_for, synced


@pytest.fixture
def chain(db, langflow, frozen_clock):
    """Echo, and a flow Digest with a schedule that runs after Echo's runs complete."""
    digest = langflow.add_flow("Digest")
    synced(db, langflow)
    schedule = schedule_service.create_schedule(
        db, ScheduleSpec(digest, "after", ECHO_ID, '{"input": "digest of: {{ upstream_output }}"}')
    )
    return db, digest, schedule


def _tasks(db, **where):
    with db.read() as session:
        query = select(Task).order_by(Task.scheduled_for, Task.id)
        for name, value in where.items():
            query = query.where(getattr(Task, name) == value)
        return list(session.scalars(query))


def _echo_name(db):
    with db.read() as session:
        return session.get(Flow, ECHO_ID).name


def _run(db, langflow, daemon="d1"):
    """Claim what is due and record one real try of each against the LangFlow test server."""
    runner = TaskRunner(daemon, DaemonSettings(), lambda: client_for(langflow), None)
    from automagik.clock import utcnow

    claimed = claim_tasks(db, daemon, utcnow(), 100, 60)
    return record_attempts(db, daemon, [runner.attempt(task) for task in claimed], utcnow())


def test_a_completed_run_starts_exactly_one_run_of_the_chain_with_its_output(chain, langflow, frozen_clock):
    db, digest, schedule = chain
    upstream = task_service.run_flow_now(db, ECHO_ID, {"input": "hello from echo"})
    _run(db, langflow)
    [started] = _tasks(db, flow_id=digest)
    assert (started.status, started.trigger, started.upstream_task_id, started.schedule_id) == (
        TaskStatus.PENDING,
        "chain",
        upstream.id,
        schedule.id,
    )
    assert started.input_data["input"] == "digest of: hello from echo"  # Echo answers its input
    assert started.scheduled_for == frozen_clock.now == started.next_retry_at
    detail = task_service.get_task(db, started.id)
    assert detail.logs[0].message == f"started by run {upstream.id[:8]} of {_echo_name(db)} (completed)"
    assert schedule_service.get_schedule(db, schedule.id).last_run_at == frozen_clock.now
    # The chain's run runs like any other, and its end starts nothing (no chain follows Digest).
    _run(db, langflow)
    assert [t.status for t in _tasks(db, flow_id=digest)] == [TaskStatus.COMPLETED]
    assert langflow.runs[-1].body["tweaks"]["ChatInput-in001"]["input_value"] == "digest of: hello from echo"


def _claimed_echo(db, frozen_clock, daemon="d1", runs=1, max_retries=0):
    tasks = [
        task_service.run_flow_now(db, ECHO_ID, {"input": f"run {n}"}, max_retries=max_retries) for n in range(runs)
    ]
    claimed = claim_tasks(db, daemon, frozen_clock.now, 100, 60)
    assert {c.id for c in claimed} == {t.id for t in tasks}
    return tasks


def _attempt(task, error=None, transient=False, text="out"):
    if error:
        return Attempt(task.id, [(LogLevel.ERROR, error, task.created_at)], error=error, transient=transient)
    return Attempt(task.id, [], result={"text": text})


@pytest.mark.parametrize(
    "outcome, ended, starts",
    [
        ("completed", "completed", True),
        ("completed", "failed", False),
        ("failed", "failed", True),
        ("failed", "completed", False),
        ("finished", "completed", True),
        ("finished", "failed", True),
    ],
)
def test_the_outcome_decides_which_ends_start_a_run(db, langflow, frozen_clock, outcome, ended, starts):
    digest = langflow.add_flow("Digest")
    synced(db, langflow)
    schedule_service.create_schedule(
        db, ScheduleSpec(digest, "after", ECHO_ID, '{"input": "{{ upstream_output }}"}', after_outcome=outcome)
    )
    [task] = _claimed_echo(db, frozen_clock)
    attempt = _attempt(task, "LangFlow refused the input" if ended == "failed" else None)
    [recorded] = record_attempts(db, "d1", [attempt], frozen_clock.now)
    assert recorded.status.value == ended
    started = _tasks(db, flow_id=digest)
    assert len(started) == (1 if starts else 0)
    if starts:  # a failed run's error stands for its output
        assert started[0].input_data["input"] == ("out" if ended == "completed" else "LangFlow refused the input")


def test_a_retry_later_starts_nothing_until_the_run_ends_for_good(chain, frozen_clock):
    db, digest, _ = chain
    [task] = _claimed_echo(db, frozen_clock, max_retries=1)
    record_attempts(db, "d1", [_attempt(task, "LangFlow timed out", transient=True)], frozen_clock.now)
    assert _tasks(db, flow_id=digest) == []


def test_paused_and_deleted_chains_start_nothing_and_a_resumed_one_has_no_time(chain, frozen_clock):
    db, digest, schedule = chain
    schedule_service.pause_schedule(db, schedule.id)
    [task] = _claimed_echo(db, frozen_clock)
    record_attempts(db, "d1", [_attempt(task)], frozen_clock.now)
    assert _tasks(db, flow_id=digest) == []
    resumed = schedule_service.resume_schedule(db, schedule.id)
    assert (resumed.status.value, resumed.next_run_at) == ("active", None)
    assert schedule_service.resume_all(db) == (0, [])
    schedule_service.delete_schedule(db, schedule.id)
    [task] = _claimed_echo(db, frozen_clock)
    record_attempts(db, "d1", [_attempt(task)], frozen_clock.now)
    assert _tasks(db, flow_id=digest) == []


def test_two_runs_ending_in_one_batch_each_start_their_own(chain, frozen_clock):
    db, digest, schedule = chain
    first, second = _claimed_echo(db, frozen_clock, runs=2)
    record_and_claim(db, "d1", [_attempt(first, text="one"), _attempt(second, text="two")], frozen_clock.now, 0, 60)
    started = _tasks(db, flow_id=digest)
    assert sorted(t.upstream_task_id for t in started) == sorted([first.id, second.id])
    assert sorted(t.input_data["input"] for t in started) == ["digest of: one", "digest of: two"]
    assert len({t.scheduled_for for t in started}) == 2  # a microsecond apart: the fire key holds


def test_a_run_whose_planned_instant_is_taken_is_moved_not_dropped(chain, frozen_clock):
    db, digest, schedule = chain
    # A manual run of the chain's schedule queued at this very microsecond holds the fire key.
    manual = task_service.run_flow_now(db, digest, {"input": "by hand"}, schedule_id=schedule.id)
    with db.write() as session:  # not runnable: the Echo run below is the only one claimed
        session.execute(
            update(Task).where(Task.id == manual.id).values(next_retry_at=frozen_clock.now + timedelta(days=1))
        )
    [task] = _claimed_echo(db, frozen_clock)
    record_attempts(db, "d1", [_attempt(task)], frozen_clock.now)
    [started] = _tasks(db, upstream_task_id=task.id)
    assert started.scheduled_for == frozen_clock.now + timedelta(microseconds=1)


def test_an_end_recorded_twice_starts_one_run(chain, frozen_clock):
    db, digest, schedule = chain
    [task] = _claimed_echo(db, frozen_clock)
    ended = chains.Ended(task.id, ECHO_ID, "Echo", TaskStatus.COMPLETED, "out")
    for _ in range(2):  # as a replayed transaction would
        with db.write() as session:
            chains.start_chains(session, db.dialect, [ended], frozen_clock.now)
    assert len(_tasks(db, flow_id=digest)) == 1


def test_a_run_failed_by_lease_recovery_starts_the_failure_chain(db, langflow, frozen_clock):
    digest = langflow.add_flow("Digest")
    synced(db, langflow)
    schedule_service.create_schedule(
        db, ScheduleSpec(digest, "after", ECHO_ID, '{"input": "{{ upstream_output }}"}', after_outcome="failed")
    )
    retried, failed = _claimed_echo(db, frozen_clock, runs=2)
    with db.write() as session:  # one of them had a retry left
        session.execute(update(Task).where(Task.id == retried.id).values(max_retries=1))
    recovered = recover_expired(db, frozen_clock.now + timedelta(seconds=61))
    assert {r.task_id: r.status for r in recovered} == {retried.id: TaskStatus.PENDING, failed.id: TaskStatus.FAILED}
    [started] = _tasks(db, flow_id=digest)
    assert started.upstream_task_id == failed.id
    assert started.input_data["input"].startswith("daemon d1 stopped while running this task")


def test_skipped_runs_start_nothing(db, langflow, frozen_clock):
    """A fire skipped at dispatch or a queued fire skipped for its budget is no end of a run."""
    from automagik.runs.fires import dispatch_due
    from automagik.services import flows as flow_service

    digest = langflow.add_flow("Digest")
    synced(db, langflow)
    schedule_service.create_schedule(db, ScheduleSpec(digest, "after", ECHO_ID, after_outcome="finished"))
    echo = schedule_service.create_schedule(db, ScheduleSpec(ECHO_ID, "interval", "1m"))
    # The first fire is queued; the next finds it still waiting and is skipped.
    dispatch_due(db, echo.next_run_at, DaemonSettings(), "d1")
    dispatch_due(db, echo.next_run_at + timedelta(minutes=1), DaemonSettings(), "d1")
    # Then a budget of nothing: the queued fire is skipped when claimed.
    flow_service.update_flow_settings(db, ECHO_ID, daily_budget_usd=0.001)
    with db.write() as session:  # a known cost today reaches it
        session.add(
            Task(
                flow_id=ECHO_ID,
                status=TaskStatus.COMPLETED,
                input_data={},
                tries=1,
                max_retries=0,
                scheduled_for=frozen_clock.now - timedelta(hours=1),
                created_at=frozen_clock.now,
                updated_at=frozen_clock.now,
                finished_at=frozen_clock.now,
                cost_usd=0.01,
                total_tokens=1,
            )
        )
    claim_tasks(db, "d1", echo.next_run_at + timedelta(minutes=2), 10, 60)
    assert sorted(t.status.value for t in _tasks(db, schedule_id=echo.id)) == ["skipped", "skipped"]
    assert _tasks(db, flow_id=digest) == []


def test_after_schedules_are_left_alone_by_dispatch_the_watch_and_the_overview(chain, frozen_clock):
    from automagik.monitoring.incidents import Kind
    from automagik.monitoring.watch import watch
    from automagik.runs.fires import dispatch_due
    from automagik.services.overview import next_fires

    db, digest, schedule = chain
    later = frozen_clock.now + timedelta(days=2)
    assert dispatch_due(db, later, DaemonSettings(), "d1").selected == 0
    assert not [c for c in watch(db, "d1", later, 1, 60) if c.kind is Kind.FIRES_OVERDUE]
    assert [f for f in next_fires(db, 10, later) if f.schedule_id == schedule.id] == []
    assert schedule_service.pause_all(db) == 1
    assert schedule_service.resume_all(db) == (1, [])
    resumed = schedule_service.get_schedule(db, schedule.id)
    assert (resumed.status.value, resumed.next_run_at) == ("active", None)
    assert _tasks(db) == []


def test_a_users_retry_of_an_upstream_run_starts_a_chain_once(db, langflow, frozen_clock):
    """A failed run retried by a person ends again: a chain that follows completions starts its
    run then; one that follows every end started its run at the failure and starts none again."""
    digest = langflow.add_flow("Digest")
    synced(db, langflow)
    on_completed = schedule_service.create_schedule(db, ScheduleSpec(digest, "after", ECHO_ID))
    on_finished = schedule_service.create_schedule(db, ScheduleSpec(digest, "after", ECHO_ID, after_outcome="finished"))
    [task] = _claimed_echo(db, frozen_clock)
    record_attempts(db, "d1", [_attempt(task, "LangFlow refused the input")], frozen_clock.now)
    assert [t.schedule_id for t in _tasks(db, upstream_task_id=task.id)] == [on_finished.id]
    task_service.retry_task(db, task.id)
    assert task.id in [c.id for c in claim_tasks(db, "d1", frozen_clock.now, 10, 60)]
    record_attempts(db, "d1", [_attempt(task)], frozen_clock.now)
    assert sorted(t.schedule_id for t in _tasks(db, upstream_task_id=task.id)) == sorted(
        [on_completed.id, on_finished.id]
    )


def test_a_chain_run_of_a_flow_over_its_budget_is_skipped_and_starts_nothing(chain, langflow, frozen_clock):
    from automagik.services import flows as flow_service

    db, digest, schedule = chain
    third = langflow.add_flow("Archive")
    synced(db, langflow)
    schedule_service.create_schedule(db, ScheduleSpec(third, "after", digest, after_outcome="finished"))
    flow_service.update_flow_settings(db, digest, daily_budget_usd=0.001)
    with db.write() as session:  # Digest already cost more than that today
        session.add(
            Task(
                flow_id=digest,
                status=TaskStatus.COMPLETED,
                input_data={},
                tries=1,
                max_retries=0,
                scheduled_for=frozen_clock.now - timedelta(hours=1),
                created_at=frozen_clock.now,
                updated_at=frozen_clock.now,
                finished_at=frozen_clock.now,
                cost_usd=0.01,
                total_tokens=1,
            )
        )
    [task] = _claimed_echo(db, frozen_clock)
    record_attempts(db, "d1", [_attempt(task)], frozen_clock.now)
    [started] = _tasks(db, upstream_task_id=task.id)
    assert claim_tasks(db, "d1", frozen_clock.now, 10, 60) == []
    with db.read() as session:
        skipped = session.get(Task, started.id)
    assert skipped.status is TaskStatus.SKIPPED and "budget" in skipped.error
    assert _tasks(db, flow_id=third) == []  # a skipped run is no end: the chain after Digest starts nothing


def test_a_chain_runs_fire_date_is_the_upstream_runs_planned_day_not_its_end(db, langflow, frozen_clock):
    """A digest after a backfilled report is about the day that report stood for."""
    from automagik.services import backfill as backfill_service

    digest = langflow.add_flow("Digest")
    synced(db, langflow)
    daily = schedule_service.create_schedule(
        db, ScheduleSpec(ECHO_ID, "cron", "0 9 * * *", '{"input": "report {{ fire_date }}"}', timezone="Europe/Berlin")
    )
    schedule_service.create_schedule(
        db,
        ScheduleSpec(
            digest, "after", ECHO_ID, '{"input": "digest {{ fire_date }} {{ fire_time }}"}', timezone="Europe/Berlin"
        ),
    )
    backfill_service.backfill_schedule(db, daily.id, "2026-11-01", "2026-11-02")
    [upstream] = claim_tasks(db, "d1", frozen_clock.now + timedelta(seconds=1), 10, 60)
    assert upstream.input_data["input"] == "report 2026-11-01"
    frozen_clock.advance(hours=30)  # it ends much later, on another day
    record_attempts(db, "d1", [_attempt(upstream)], frozen_clock.now)
    [started] = _tasks(db, flow_id=digest)
    assert started.input_data["input"] == "digest 2026-11-01 2026-11-01T09:00:00+01:00"
    assert started.scheduled_for == frozen_clock.now  # it is queued to run now all the same
