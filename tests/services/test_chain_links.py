"""The links of chains as the services keep them: an after schedule stores its upstream flow's
whole id (however it was typed), loops are refused even when typed with short ids or made by two
people at once, and one flow starts at most chains.MAX_FOLLOWERS after schedules."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select

from automagik.db.engine import Database
from automagik.db.models import Schedule, Task
from automagik.runs.leases import claim_tasks, record_attempts
from automagik.runs.outcomes import Attempt
from automagik.services import chains
from automagik.services import schedules as schedule_service
from automagik.services import tasks as task_service
from automagik.services.errors import InvalidInput
from automagik.services.schedules import ScheduleSpec
from tests.services.helpers import ECHO_ID, synced


def _after(db, flow_id, upstream, flow_input='{"input": "x"}', paused_reason=None):
    return schedule_service.create_schedule(
        db, ScheduleSpec(flow_id, "after", upstream, flow_input), paused_reason=paused_reason
    )


def _complete_one_echo(db, frozen_clock):
    task = task_service.run_flow_now(db, ECHO_ID, {"input": "hi"}, max_retries=0)
    assert [c.id for c in claim_tasks(db, "d1", frozen_clock.now, 100, 60)] == [task.id]
    record_attempts(db, "d1", [Attempt(task.id, [], result={"text": "out"})], frozen_clock.now)
    return task


def _started_runs(db, flow_id):
    with db.read() as session:
        return list(session.scalars(select(Task).where(Task.flow_id == flow_id, Task.trigger == "chain")))


def test_a_short_upstream_id_is_stored_whole_and_the_chain_starts(db, langflow, frozen_clock):
    digest = langflow.add_flow("Digest")
    synced(db, langflow)
    schedule = _after(db, digest, ECHO_ID[:8])
    assert schedule.schedule_expr == ECHO_ID
    upstream = _complete_one_echo(db, frozen_clock)
    assert [t.upstream_task_id for t in _started_runs(db, digest)] == [upstream.id]


def test_an_update_to_a_short_upstream_id_is_stored_whole(db, langflow, frozen_clock):
    digest, other = langflow.add_flow("Digest"), langflow.add_flow("Other")
    synced(db, langflow)
    schedule = _after(db, digest, other)
    changed = schedule_service.update_schedule(db, schedule.id, schedule_expr=ECHO_ID[:8])
    assert changed.schedule_expr == ECHO_ID
    cron = schedule_service.create_schedule(db, ScheduleSpec(other, "cron", "0 9 * * *"))
    assert (
        schedule_service.update_schedule(db, cron.id, schedule_type="after", schedule_expr=ECHO_ID[:8]).schedule_expr
        == ECHO_ID
    )


def test_a_loop_typed_with_short_ids_is_refused(db, langflow, frozen_clock):
    digest = langflow.add_flow("Digest")
    synced(db, langflow)
    _after(db, digest[:8], ECHO_ID[:8])
    with pytest.raises(InvalidInput, match="loop"):
        _after(db, ECHO_ID[:8], digest[:8])
    with pytest.raises(InvalidInput, match="loop"):
        _after(db, ECHO_ID, digest)


def test_one_flow_starts_at_most_the_limit_of_active_after_schedules(db, langflow, frozen_clock):
    flows = [langflow.add_flow(f"D{n}") for n in range(3)]
    synced(db, langflow)
    made = [_after(db, flows[n % 3], ECHO_ID) for n in range(chains.MAX_FOLLOWERS)]
    with pytest.raises(InvalidInput, match=f"already has {chains.MAX_FOLLOWERS} active after schedules"):
        _after(db, flows[0], ECHO_ID)
    # A paused one does not count and may be created; it cannot resume while the flow is full.
    paused = _after(db, flows[0], ECHO_ID, paused_reason="testing")
    with pytest.raises(InvalidInput, match="Pause or delete one first"):
        schedule_service.resume_schedule(db, paused.id)
    resumed, refused = schedule_service.resume_all(db)
    assert (resumed, len(refused)) == (0, 1)
    # Nor can another schedule be turned into one more.
    cron = schedule_service.create_schedule(db, ScheduleSpec(flows[1], "cron", "0 9 * * *"))
    with pytest.raises(InvalidInput, match="the most one flow may have"):
        schedule_service.update_schedule(db, cron.id, schedule_type="after", schedule_expr=ECHO_ID)
    # One paused frees a place; a schedule already counted may be changed.
    schedule_service.pause_schedule(db, made[0].id)
    schedule_service.resume_schedule(db, paused.id)
    schedule_service.update_schedule(db, paused.id, schedule_expr=ECHO_ID[:8], after_outcome="finished")
    _complete_one_echo(db, frozen_clock)
    assert sum(len(_started_runs(db, f)) for f in flows) == chains.MAX_FOLLOWERS


def test_run_now_of_a_chain_whose_input_needs_the_upstream_output_is_refused(db, langflow, frozen_clock):
    digest = langflow.add_flow("Digest")
    synced(db, langflow)
    schedule = _after(db, digest, ECHO_ID, '{"input": "summarize: {{ upstream_output }}"}')
    with pytest.raises(InvalidInput, match=r"\{\{ upstream_output \}\} has a value only when a run of the flow"):
        task_service.run_flow_now(db, digest, schedule_id=schedule.id)
    with db.read() as session:
        assert session.scalar(select(Task.id).where(Task.flow_id == digest)) is None
    # With an input of its own it runs; a chain with no upstream output in its input runs as is.
    given = task_service.run_flow_now(db, digest, '{"input": "by hand"}', schedule_id=schedule.id)
    assert given.input_data["input"] == "by hand"
    plain = _after(db, digest, ECHO_ID, '{"input": "digest {{ flow_name }}"}')
    assert task_service.run_flow_now(db, digest, schedule_id=plain.id).input_data["input"] == "digest Digest"


def test_two_creates_at_once_cannot_close_a_loop(db, database_url, langflow, frozen_clock, monkeypatch):
    """On PostgreSQL both checks used to pass, each blind to the other's uncommitted link."""
    digest = langflow.add_flow("Digest")
    synced(db, langflow)
    barrier = threading.Barrier(2, timeout=3)
    checked = chains.check_upstream

    def check_then_wait(session, flow_id, upstream_id, schedule_id=None):
        upstream = checked(session, flow_id, upstream_id, schedule_id)
        try:
            barrier.wait()  # both have checked: neither has committed
        except threading.BrokenBarrierError:
            pass
        return upstream

    monkeypatch.setattr(chains, "check_upstream", check_then_wait)
    errors: list[Exception] = []

    def create(flow, upstream):
        own = Database(database_url)
        try:
            _after(own, flow, upstream)
        except Exception as exc:  # noqa: BLE001 - the refused one is asserted below
            errors.append(exc)
        finally:
            own.dispose()

    threads = [
        threading.Thread(target=create, args=(digest, ECHO_ID)),
        threading.Thread(target=create, args=(ECHO_ID, digest)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    with db.read() as session:
        links = session.execute(select(Schedule.flow_id, Schedule.schedule_expr)).all()
    assert len(links) == 1, links
    [error] = errors
    assert isinstance(error, InvalidInput) and "loop" in error.message
