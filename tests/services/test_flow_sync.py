"""Flow sync against the LangFlow test server: trimming, auto-selection, re-sync rules."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from automagik.db.models import Flow, Schedule, ScheduleStatus
from automagik.services import flows as flow_service
from automagik.services import schedules as schedule_service
from automagik.services.errors import InvalidInput, NotFound, Unavailable
from tests.services.helpers import ECHO_ID, TWO_OUT_ID, client_for, synced


def test_first_sync_stores_trimmed_flows_and_selects_unambiguous_components(db, langflow):
    report = synced(db, langflow)

    assert sorted(report.added) == ["Echo 30f7", "TwoOut 1a87"]
    assert report.needs_choice == [TWO_OUT_ID]
    echo = flow_service.get_flow(db, ECHO_ID)
    assert (echo.input_component, echo.output_component) == ("ChatInput-acc01", "ChatOutput-acc02")
    two_out = flow_service.get_flow(db, TWO_OUT_ID)
    assert two_out.input_component == "ChatInput-tw001"  # the only input is still chosen
    assert two_out.output_component is None
    assert [c["id"] for c in two_out.components_with_role("output")] == ["ChatOutput-tw002", "ChatOutput-tw004"]
    stored = json.dumps(echo.data)
    assert "code" not in echo.data and "template" not in stored and "nodes" not in stored
    assert len(stored) < 1000  # only what the scheduler needs, not LangFlow's hundreds of KB
    assert echo.data["updated_at"] == "2026-11-27T04:42:53+00:00"


def test_resync_of_unchanged_flows_changes_nothing(db, langflow):
    synced(db, langflow)
    flow_service.set_components(db, TWO_OUT_ID, "ChatInput-tw001", "ChatOutput-tw004")
    report = synced(db, langflow)
    assert sorted(report.unchanged) == ["Echo 30f7", "TwoOut 1a87"]
    assert report.added == report.updated == report.removed == [] and report.needs_choice == []
    assert flow_service.get_flow(db, TWO_OUT_ID).output_component == "ChatOutput-tw004"
    assert flow_service.get_flow(db, ECHO_ID).changed_at is None


def test_resync_keeps_valid_selection_clears_vanished_one_and_pauses_its_schedules(db, langflow):
    synced(db, langflow)
    flow_service.set_components(db, TWO_OUT_ID, "ChatInput-tw001", "ChatOutput-tw004")
    schedule = schedule_service.create_schedule(db, schedule_service.ScheduleSpec(TWO_OUT_ID, "interval", "5m"))
    raw = next(f for f in langflow.flows if f["id"] == TWO_OUT_ID)
    raw = json.loads(json.dumps(raw))
    raw["data"]["nodes"] = [n for n in raw["data"]["nodes"] if n["id"] != "ChatOutput-tw004"]
    raw["updated_at"] = "2026-11-28T00:00:00+00:00"
    langflow.set_flows([f for f in langflow.flows if f["id"] != TWO_OUT_ID] + [raw])

    report = synced(db, langflow)

    flow = flow_service.get_flow(db, TWO_OUT_ID)
    assert report.updated == ["TwoOut 1a87"]
    assert flow.input_component == "ChatInput-tw001"  # still valid, kept
    # The vanished output was cleared; the one output left is now unambiguous, so it is chosen.
    assert flow.output_component == "ChatOutput-tw002"
    assert flow.changed_at is not None
    assert any("ChatOutput-tw004" in n and "no longer exists" in n for n in report.notices)
    assert schedule_service.get_schedule(db, schedule.id).status is ScheduleStatus.PAUSED


def test_flow_gone_from_langflow_is_marked_and_its_schedules_paused_nothing_deleted(db, langflow):
    synced(db, langflow)
    schedule = schedule_service.create_schedule(db, schedule_service.ScheduleSpec(ECHO_ID, "interval", "5m"))
    langflow.remove_flow(ECHO_ID)

    report = synced(db, langflow)

    assert report.removed == ["Echo 30f7"]
    assert any("2 schedule" not in n and "1 schedule paused" in n for n in report.notices)
    flow = flow_service.get_flow(db, ECHO_ID)
    assert flow.removed_at is not None and not flow.is_ready
    assert schedule_service.get_schedule(db, schedule.id).status is ScheduleStatus.PAUSED
    with pytest.raises(InvalidInput, match="no longer in LangFlow"):
        schedule_service.resume_schedule(db, schedule.id)

    langflow.set_flows(langflow.flows + [_fixture_flow(ECHO_ID)])
    assert synced(db, langflow).restored == ["Echo 30f7"]
    assert flow_service.get_flow(db, ECHO_ID).removed_at is None
    assert schedule_service.resume_schedule(db, schedule.id).status is ScheduleStatus.ACTIVE


def _fixture_flow(flow_id):
    from tests.langflow_server import FIXTURES_DIR

    return next(f for f in json.loads((FIXTURES_DIR / "flows_list.json").read_text()) if f["id"] == flow_id)


def test_saved_components_are_not_synced(db, langflow):
    langflow.add_flow("A saved component", is_component=True)
    report = synced(db, langflow)
    assert "A saved component" not in report.added
    with db.read() as session:
        assert session.scalar(select(Flow).where(Flow.name == "A saved component")) is None


def test_flow_with_two_inputs_needs_a_choice_and_validates_roles(db, langflow):
    flow_id = langflow.add_flow("Two in", inputs=("ChatInput-aaaa1", "TextInput-bbbb2"), outputs=("ChatOutput-cccc3",))
    report = synced(db, langflow)
    assert flow_id in report.needs_choice
    flow = flow_service.get_flow(db, flow_id)
    assert flow.input_component is None and flow.output_component == "ChatOutput-cccc3"

    with pytest.raises(InvalidInput, match="not in flow"):
        flow_service.set_components(db, flow_id, "ChatInput-nope0", "ChatOutput-cccc3")
    with pytest.raises(InvalidInput, match="not an input component"):
        flow_service.set_components(db, flow_id, "ChatOutput-cccc3", "ChatOutput-cccc3")
    with pytest.raises(NotFound):
        flow_service.set_components(db, "no-such-flow", "ChatInput-aaaa1", "ChatOutput-cccc3")
    assert flow_service.get_flow(db, flow_id).input_component is None  # nothing written

    flow = flow_service.set_components(db, flow_id, "TextInput-bbbb2", "ChatOutput-cccc3")
    assert flow.input_component == "TextInput-bbbb2" and flow.is_ready


def test_sync_failure_is_a_plain_message_and_writes_nothing(db, langflow):
    langflow.down = True
    with client_for(langflow) as client, pytest.raises(Unavailable, match="unreachable"):
        flow_service.sync_flows(db, client)
    langflow.down = False
    with client_for(langflow, api_key="sk-wrong") as client, pytest.raises(Unavailable) as refused:
        flow_service.sync_flows(db, client)
    assert "Invalid or missing API key" in refused.value.message and "sk-wrong" not in refused.value.message
    assert flow_service.list_flows(db) == []


def test_sync_reports_progress_for_every_flow(db, langflow):
    seen = []
    with client_for(langflow) as client:
        flow_service.sync_flows(db, client, progress=lambda done, total: seen.append((done, total)))
    assert seen == [(1, 2), (2, 2)]


def test_schedule_rows_survive_resync(db, langflow):
    synced(db, langflow)
    schedule_service.create_schedule(db, schedule_service.ScheduleSpec(ECHO_ID, "cron", "0 9 * * *"))
    synced(db, langflow)
    with db.read() as session:
        assert session.scalar(select(Schedule).where(Schedule.flow_id == ECHO_ID)).status is ScheduleStatus.ACTIVE


def test_a_choice_made_with_the_sync_is_all_or_nothing(db, langflow):
    bad = flow_service.ComponentChoice(TWO_OUT_ID, "ChatInput-tw001", "ChatOutput-nope")
    with client_for(langflow) as client, pytest.raises(InvalidInput, match="not in flow"):
        flow_service.sync_flows(db, client, choice=bad)
    assert flow_service.list_flows(db) == []  # the refused choice rolled the whole sync back

    good = flow_service.ComponentChoice(TWO_OUT_ID, "ChatInput-tw001", "ChatOutput-tw004")
    with client_for(langflow) as client:
        report = flow_service.sync_flows(db, client, choice=good)
    assert report.needs_choice == []
    assert flow_service.get_flow(db, TWO_OUT_ID).output_component == "ChatOutput-tw004"
