"""Chains on the dashboard: the Schedules form's "after another flow", its refusals, the edit form
turning a timed schedule into a chain, and the Tasks page's links between a run and its chain."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from automagik.clock import utcnow
from automagik.db.models import LogLevel, Schedule, Task
from automagik.runs.leases import claim_tasks, record_attempts
from automagik.runs.outcomes import Attempt
from automagik.services import schedules as schedule_service
from automagik.services import tasks as task_service
from tests.services.helpers import ECHO_ID, TWO_OUT_ID
from tests.ui.helpers import ECHO_NAME, TWO_OUT_NAME, alerts, page_errors, ready_flows


@pytest.fixture
def flows_ready(db, langflow):
    ready_flows(db, langflow)


def _button(at, label: str):
    return next(b for b in at.button if b.label == label)


def _schedules(db) -> list[Schedule]:
    with db.read() as session:
        return list(session.scalars(select(Schedule).order_by(Schedule.created_at)))


def _after_form(at, outcome="completed", flow_input=None):
    """The New form, its flow left at the first (Echo), as "after another flow"."""
    at.selectbox(key="new_type").select("after").run()
    at.selectbox(key="new_outcome").select(outcome).run()
    if flow_input is not None:
        at.text_area(key="new_input").input(flow_input).run()
    return at


def test_the_new_form_creates_a_schedule_after_another_flow(open_page, db, flows_ready):
    at = _after_form(open_page("schedules"), "failed", '{"input": "TwoOut said: {{ upstream_output }}"}')
    upstream = at.selectbox(key="new_upstream")
    assert upstream.options == [f"{TWO_OUT_NAME} · {TWO_OUT_ID}"]  # Echo cannot follow itself
    assert f"after {TWO_OUT_NAME} fails" in [t.value for t in at.text]
    _button(at, "Create schedule").click().run()
    assert not page_errors(at)
    [schedule] = _schedules(db)
    assert (schedule.flow_id, schedule.schedule_type.value, schedule.schedule_expr, schedule.after_outcome) == (
        ECHO_ID,
        "after",
        TWO_OUT_ID,
        "failed",
    )
    assert schedule.next_run_at is None
    assert any(s == f"Created schedule {schedule.id}: after {TWO_OUT_NAME} fails." for s in alerts(at, "success"))
    table = at.dataframe[0].value
    assert list(table["when"]) == [f"after {TWO_OUT_NAME} fails"]
    assert list(table["type"]) == ["after"] and table.iloc[0, 6] == "-"  # no next run of its own


def test_a_loop_of_chains_is_refused_on_the_form(open_page, db, flows_ready):
    schedule_service.create_schedule(db, schedule_service.ScheduleSpec(TWO_OUT_ID, "after", ECHO_ID))
    at = _after_form(open_page("schedules"))
    _button(at, "Create schedule").click().run()
    errors = page_errors(at)
    assert errors == [
        f"That would make a loop of chains ({TWO_OUT_NAME} -> {ECHO_NAME} -> {TWO_OUT_NAME}): "
        "every run would start another."
    ]
    assert len(_schedules(db)) == 1


def test_the_edit_form_turns_a_timed_schedule_into_a_chain(open_page, db, flows_ready):
    schedule = schedule_service.create_schedule(db, schedule_service.ScheduleSpec(ECHO_ID, "interval", "5m"))
    at = open_page("schedules")
    at.selectbox(key=f"edit_type_{schedule.id}").select("after").run()
    at.selectbox(key=f"edit_{schedule.id}_outcome").select("finished").run()
    _button(at, "Save changes").click().run()
    assert not page_errors(at)
    saved = schedule_service.get_schedule(db, schedule.id)
    assert (saved.schedule_type.value, saved.schedule_expr, saved.after_outcome, saved.next_run_at) == (
        "after",
        TWO_OUT_ID,
        "finished",
        None,
    )
    assert list(at.dataframe[0].value["when"]) == [f"after {TWO_OUT_NAME} finishes"]


def test_a_run_and_the_runs_its_end_started_link_to_each_other(open_page, db, flows_ready):
    schedule_service.create_schedule(
        db, schedule_service.ScheduleSpec(TWO_OUT_ID, "after", ECHO_ID, {"input": "{{ upstream_output }}"})
    )
    upstream = task_service.run_flow_now(db, ECHO_ID, {"input": "ping"})
    claim_tasks(db, "d1", utcnow(), 10, 60)
    record_attempts(
        db, "d1", [Attempt(upstream.id, [(LogLevel.INFO, "ran", utcnow())], result={"text": "pong"})], utcnow()
    )
    with db.read() as session:
        chained = session.scalars(select(Task).where(Task.upstream_task_id == upstream.id)).one()
    at = open_page("tasks")
    at.session_state["tasks_selected_id"] = upstream.id
    at.run()
    _button(at, f"Open run {chained.id[:8]} of {TWO_OUT_NAME} (pending)").click().run()
    summary = at.text[0].value
    assert f"Run {chained.id}" in summary and f"Chain: started by run {upstream.id[:8]} of {ECHO_NAME}" in summary
    assert [c.value for c in at.code][0] == "pong"  # its input: the upstream's output, through the template
    _button(at, f"Open the run that started it ({upstream.id[:8]})").click().run()
    assert f"Run {upstream.id}" in at.text[0].value
