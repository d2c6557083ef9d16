"""Flows: sync with a progress bar, the table and its flags, component dropdowns, run now."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from automagik.clock import utcnow
from automagik.db.models import Flow, Task, TaskStatus
from automagik.services import flows as flow_service
from automagik.services import schedules as schedule_service
from tests.services.helpers import ECHO_ID, TWO_OUT_ID, synced
from tests.ui.helpers import ECHO_NAME, TWO_OUT_NAME, alerts, page_errors, page_text


def _button(at, label: str):
    return next(b for b in at.button if b.label == label)


def _sync(at):
    _button(at, "Sync from LangFlow").click().run()
    return at


def _state(at) -> dict[str, str]:
    table = at.dataframe[0].value
    return dict(zip(table["name"], table["state"], strict=False))


def _task_count(db) -> int:
    with db.read() as session:
        return session.scalar(select(func.count()).select_from(Task))


def test_sync_fills_the_table_and_preselects_unambiguous_components(open_page, db):
    at = _sync(open_page("flows"))
    assert any(s.startswith("Synced 2 flows: 2 new") for s in alerts(at, "success"))
    assert _state(at) == {ECHO_NAME: "ready", TWO_OUT_NAME: "needs components"}
    # The page opens on the flow that needs a choice; its only input is preselected, its
    # two outputs are not, and they are labelled "display name · id".
    assert at.selectbox(key="flows_selected_flow").value == TWO_OUT_ID
    chosen_input = at.selectbox(key=f"flows_input_{TWO_OUT_ID}")
    chosen_output = at.selectbox(key=f"flows_output_{TWO_OUT_ID}")
    assert chosen_input.value == "ChatInput-tw001"
    assert chosen_output.value is None
    assert chosen_output.options == ["Chat Output · ChatOutput-tw002", "Chat Output · ChatOutput-tw004"]


def test_choosing_and_saving_components(open_page, db, langflow):
    synced(db, langflow)
    at = open_page("flows")
    at.selectbox(key=f"flows_output_{TWO_OUT_ID}").select("ChatOutput-tw004").run()
    _button(at, "Save components").click().run()
    assert not page_errors(at)
    assert any("Saved the components" in s for s in alerts(at, "success"))
    flow = flow_service.get_flow(db, TWO_OUT_ID)
    assert (flow.input_component, flow.output_component) == ("ChatInput-tw001", "ChatOutput-tw004")
    assert _state(at)[TWO_OUT_NAME] == "ready"


def test_saving_without_a_component_is_refused_and_writes_nothing(open_page, db, langflow):
    synced(db, langflow)
    at = open_page("flows")
    _button(at, "Save components").click().run()
    assert page_errors(at) == ["Choose both an input and an output component before saving."]
    flow = flow_service.get_flow(db, TWO_OUT_ID)
    assert flow.output_component is None


def test_changed_and_removed_flows_are_flagged(open_page, db, langflow):
    synced(db, langflow)
    flows = {f["id"]: f for f in langflow.flows}
    changed = dict(flows[TWO_OUT_ID], name="TwoOut renamed")
    langflow.set_flows([changed])  # Echo is gone, TwoOut changed
    synced(db, langflow)
    at = open_page("flows")
    assert _state(at) == {ECHO_NAME: "removed from LangFlow", "TwoOut renamed": "needs components"}
    at.selectbox(key="flows_selected_flow").select(ECHO_ID).run()
    assert any(w.startswith("Removed from LangFlow (noticed") for w in alerts(at, "warning"))
    flow_service.set_components(db, TWO_OUT_ID, "ChatInput-tw001", "ChatOutput-tw002")
    at.selectbox(key="flows_selected_flow").select(TWO_OUT_ID).run()
    assert any(w.startswith("Changed in LangFlow (noticed") for w in alerts(at, "warning"))


def test_run_now_queues_a_task_with_the_typed_input(open_page, db, langflow):
    synced(db, langflow)
    at = open_page("flows")
    at.selectbox(key="flows_selected_flow").select(ECHO_ID).run()
    at.text_area(key=f"flows_run_input_{ECHO_ID}").input("good morning").run()
    _button(at, "Run now").click().run()
    assert any(s.startswith("Queued run") for s in alerts(at, "success"))
    assert any("No daemon is running" in w for w in alerts(at, "warning"))
    with db.read() as session:
        task = session.scalars(select(Task)).one()
    assert (task.flow_id, task.input_data) == (ECHO_ID, {"input": "good morning", "tweaks": {}})


def test_run_now_with_broken_json_is_refused_and_writes_nothing(open_page, db, langflow):
    synced(db, langflow)
    at = open_page("flows")
    at.selectbox(key="flows_selected_flow").select(ECHO_ID).run()
    at.text_area(key=f"flows_run_input_{ECHO_ID}").input('{"input": "unclosed').run()
    _button(at, "Run now").click().run()
    errors = page_errors(at)
    assert len(errors) == 1 and errors[0].startswith("The input is not valid JSON")
    assert _task_count(db) == 0


def test_run_now_fills_placeholders_and_refuses_unknown_ones(open_page, db, langflow, frozen_clock):
    synced(db, langflow)
    at = open_page("flows")
    at.selectbox(key="flows_selected_flow").select(ECHO_ID).run()
    at.text_area(key=f"flows_run_input_{ECHO_ID}").input("report for {{ fire_day }}").run()
    _button(at, "Run now").click().run()
    errors = page_errors(at)
    assert len(errors) == 1 and errors[0].startswith("Unknown placeholder {{ fire_day }}"), errors
    assert _task_count(db) == 0
    # 23:30 UTC on 27 November is the 28th in TIMEZONE (Berlin), the zone a run of no schedule uses.
    frozen_clock.now = frozen_clock.now.replace(hour=23, minute=30)
    at.text_area(key=f"flows_run_input_{ECHO_ID}").input("report for {{ fire_date }} by {{ flow_name }}").run()
    _button(at, "Run now").click().run()
    with db.read() as session:
        task = session.scalars(select(Task)).one()
    assert task.input_data == {"input": f"report for 2026-11-28 by {ECHO_NAME}", "tweaks": {}}


def test_sync_with_langflow_down_is_one_error(open_page, db, langflow):
    langflow.stop()
    at = open_page("flows")
    _sync(at)
    errors = page_errors(at)
    assert len(errors) == 1 and errors[0].startswith("Could not sync flows")
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(Flow)) == 0


def test_flow_names_are_shown_as_typed_never_as_markup(open_page, db, langflow):
    name = "**Bold** [link](http://evil.example) <b>tag</b> :red[x]"
    langflow.add_flow(name)
    synced(db, langflow)
    at = open_page("flows")
    assert name in list(at.dataframe[0].value["name"])
    flow_id = next(f.id for f in flow_service.list_flows(db) if f.name == name)
    at.selectbox(key="flows_selected_flow").select(flow_id).run()
    assert any(t.value == "State: ready" for t in at.text)
    # The flow picker's label is plain text too (selectbox options are never Markdown).
    assert f"{name} · {flow_id}" in at.selectbox(key="flows_selected_flow").options
    assert "<b>tag</b>" in page_text(at)


def test_a_daily_budget_is_saved_shown_and_refuses_runs_unless_forced(open_page, db, langflow):
    synced(db, langflow)
    with db.write() as session:  # a run that finished a minute ago and cost $0.60
        now = utcnow()
        session.add(
            Task(
                flow_id=ECHO_ID,
                status=TaskStatus.COMPLETED,
                input_data={},
                tries=1,
                max_retries=0,
                scheduled_for=now - timedelta(minutes=1),
                created_at=now,
                updated_at=now,
                finished_at=now - timedelta(seconds=59),
                cost_usd=0.6,
            )
        )
    at = open_page("flows")
    at.selectbox(key="flows_selected_flow").select(ECHO_ID).run()
    at.number_input(key=f"flows_budget_{ECHO_ID}").set_value(0.5).run()
    _button(at, "Save budget and limits").click().run()
    assert not page_errors(at) and flow_service.get_flow(db, ECHO_ID).daily_budget_usd == 0.5
    table = at.dataframe[0].value
    row = table[table["name"] == ECHO_NAME].iloc[0]
    assert (row["daily budget"], row["cost today (Europe/Berlin)"]) == ("$0.50", "$0.60")

    _button(at, "Run now").click().run()
    [error] = page_errors(at)
    assert error.startswith(f'Flow "{ECHO_NAME}": daily budget of $0.50 reached ($0.60 spent) today (Europe/Berlin).')
    assert _task_count(db) == 1  # nothing queued

    at.checkbox(key=f"flows_run_force_{ECHO_ID}").check().run()
    _button(at, "Run now").click().run()
    assert any(s.startswith("Queued run") for s in alerts(at, "success")) and _task_count(db) == 2


def test_langflow_triggers_are_shown_and_adopted_with_a_button(open_page, db, langflow):
    trigger_id = langflow.add_schedule_trigger(ECHO_ID, cron="15 6 * * *", zone="Asia/Tokyo")
    synced(db, langflow)
    at = open_page("flows")
    at.selectbox(key="flows_selected_flow").select(ECHO_ID).run()
    assert f'{trigger_id} ("15 6 * * *" in Asia/Tokyo, active)' in page_text(at)
    _button(at, "Adopt").click().run()
    assert not page_errors(at)
    [schedule] = schedule_service.list_schedules(db)
    assert (schedule.schedule.schedule_expr, schedule.schedule.timezone) == ("15 6 * * *", "Asia/Tokyo")
    assert langflow.triggers[trigger_id]["state"] == "paused"
    assert f'{trigger_id} ("15 6 * * *" in Asia/Tokyo, paused)' in page_text(at)
    assert not any(b.label == "Adopt" for b in at.button)  # a paused trigger is not adopted twice
