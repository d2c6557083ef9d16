"""LangFlow's own triggers: read by a sync, warned about, adopted (both steps or neither)."""

from __future__ import annotations

import pytest

from automagik.db.models import MissedRunPolicy, ScheduleStatus
from automagik.langflow import triggers as triggers_api
from automagik.langflow.errors import LangFlowTimeout
from automagik.services import flows as flow_service
from automagik.services import schedules as schedule_service
from automagik.services import triggers as trigger_service
from automagik.services.errors import InvalidInput, NotFound, Unavailable
from tests.services.helpers import ECHO_ID, TWO_OUT_ID, client_for, synced


def test_a_sync_reads_the_triggers_of_flows_holding_a_schedule_trigger_only(db, langflow):
    trigger_id = langflow.add_schedule_trigger(ECHO_ID, cron="0 9 * * 1-5", zone="Europe/Lisbon", catchup_policy="skip")
    report = synced(db, langflow)
    echo = flow_service.get_flow(db, ECHO_ID)
    assert echo.langflow_triggers == [
        {
            "id": trigger_id,
            "name": "Schedule 0 9 * * 1-5",
            "kind": "schedule",
            "state": "active",
            "next_fire_at": None,
            "last_fired_at": None,
            "last_error": None,
            "cron": "0 9 * * 1-5",
            "timezone": "Europe/Lisbon",
            "catchup_policy": "skip",
        }
    ]
    assert flow_service.get_flow(db, TWO_OUT_ID).langflow_triggers == []
    asked = [(r.path, r.query) for r in langflow.served if r.path.startswith("/api/v1/triggers")]
    assert asked == [("/api/v1/triggers", f"flow_id={ECHO_ID}")]  # the flow without the node was not asked about
    assert not report.notices and "Echo 30f7" in report.added
    # A trigger's state changing in LangFlow is not a change of the flow.
    langflow.triggers[trigger_id]["state"] = "paused"
    again = synced(db, langflow)
    assert (
        "Echo 30f7" in again.unchanged and flow_service.get_flow(db, ECHO_ID).langflow_triggers[0]["state"] == "paused"
    )


def test_a_langflow_without_triggers_is_said_once_and_keeps_working(db, langflow):
    langflow.add_schedule_trigger(ECHO_ID)
    langflow.triggers_api = False
    report = synced(db, langflow)
    assert report.notices == ["LangFlow's own triggers: not supported by this LangFlow (no /api/v1/triggers)."]
    assert flow_service.get_flow(db, ECHO_ID).langflow_triggers is None
    assert flow_service.get_flow(db, ECHO_ID).is_ready


def test_scheduling_a_flow_langflow_also_schedules_is_warned_about(db, langflow):
    synced(db, langflow)
    assert trigger_service.double_run_warning(db, ECHO_ID) is None
    trigger_id = langflow.add_schedule_trigger(ECHO_ID, cron="*/15 * * * *", zone="UTC")
    synced(db, langflow)
    warning = trigger_service.double_run_warning(db, ECHO_ID)
    assert warning.startswith(
        'Flow "Echo 30f7" is also scheduled by LangFlow itself (trigger '
        f'{trigger_id} ("*/15 * * * *" in UTC, active)): it would run twice.'
    )
    langflow.triggers[trigger_id]["state"] = "paused"
    synced(db, langflow)
    assert trigger_service.double_run_warning(db, ECHO_ID) is None  # a paused trigger does not fire


def test_adopting_creates_the_same_schedule_and_disables_the_trigger(db, langflow):
    trigger_id = langflow.add_schedule_trigger(
        ECHO_ID, cron="30 7 * * *", zone="America/New_York", catchup_policy="skip"
    )
    synced(db, langflow)
    with client_for(langflow) as client:
        adopted = trigger_service.adopt_trigger(db, client, trigger_id, '{"input": "morning"}')
    schedule = schedule_service.get_schedule(db, adopted.schedule.id)
    assert (schedule.flow_id, schedule.schedule_type.value, schedule.schedule_expr, schedule.timezone) == (
        ECHO_ID,
        "cron",
        "30 7 * * *",
        "America/New_York",
    )
    assert schedule.missed_policy is MissedRunPolicy.SKIP and schedule.flow_params["input"] == "morning"
    assert langflow.triggers[trigger_id]["state"] == "paused" and adopted.trigger["state"] == "paused"
    assert flow_service.get_flow(db, ECHO_ID).langflow_triggers[0]["state"] == "paused"
    assert trigger_service.double_run_warning(db, ECHO_ID) is None


def test_when_langflow_refuses_to_disable_the_new_schedule_is_removed(db, langflow):
    trigger_id = langflow.add_schedule_trigger(ECHO_ID)
    synced(db, langflow)
    langflow.trigger_disable_status = 409
    with client_for(langflow) as client, pytest.raises(Unavailable) as refused:
        trigger_service.adopt_trigger(db, client, trigger_id)
    assert f"Could not disable LangFlow trigger {trigger_id}" in str(refused.value)
    assert "cannot be disabled" in str(refused.value) and "nothing changed" in str(refused.value)
    assert schedule_service.list_schedules(db) == [] and langflow.triggers[trigger_id]["state"] == "active"


def test_adopting_an_unknown_trigger_or_one_of_a_flow_not_ready_changes_nothing(db, langflow):
    synced(db, langflow)
    with client_for(langflow) as client, pytest.raises(NotFound, match="Unknown LangFlow trigger id"):
        trigger_service.adopt_trigger(db, client, "no-such-trigger")
    trigger_id = langflow.add_schedule_trigger(TWO_OUT_ID)  # its output is not chosen yet
    synced(db, langflow)
    with client_for(langflow) as client, pytest.raises(InvalidInput, match="no output component chosen"):
        trigger_service.adopt_trigger(db, client, trigger_id)
    assert schedule_service.list_schedules(db) == [] and langflow.triggers[trigger_id]["state"] == "active"


def test_a_disable_whose_answer_is_lost_is_settled_by_asking_langflow(db, langflow, monkeypatch):
    """Found by review: LangFlow paused the trigger but its answer was lost (a timeout), and the
    new schedule was deleted anyway: the flow was then scheduled by neither side."""
    trigger_id = langflow.add_schedule_trigger(ECHO_ID, cron="0 9 * * *", zone="UTC")
    synced(db, langflow)
    real_disable = triggers_api.disable_trigger

    def applied_then_timed_out(client, tid):
        real_disable(client, tid)
        raise LangFlowTimeout("LangFlow did not answer in time")

    monkeypatch.setattr(triggers_api, "disable_trigger", applied_then_timed_out)
    with client_for(langflow) as client:
        adopted = trigger_service.adopt_trigger(db, client, trigger_id)
    [row] = schedule_service.list_schedules(db)
    assert row.schedule.id == adopted.schedule.id and row.schedule.status is ScheduleStatus.ACTIVE
    assert row.schedule.paused_reason is None and langflow.triggers[trigger_id]["state"] == "paused"


def test_adopting_the_same_trigger_twice_is_refused(db, langflow):
    """Found by review: a second adoption made a second active copy, so every fire ran twice."""
    trigger_id = langflow.add_schedule_trigger(ECHO_ID, cron="0 9 * * *", zone="UTC")
    synced(db, langflow)
    with client_for(langflow) as client:
        trigger_service.adopt_trigger(db, client, trigger_id)
        with pytest.raises(InvalidInput, match=f"LangFlow trigger {trigger_id} is paused: LangFlow does not fire it"):
            trigger_service.adopt_trigger(db, client, trigger_id)
    assert len(schedule_service.list_schedules(db)) == 1


def test_a_schedule_being_adopted_does_not_fire_before_langflow_stops(db, langflow, monkeypatch):
    """While LangFlow is asked to disable its trigger, the new schedule exists only paused."""
    trigger_id = langflow.add_schedule_trigger(ECHO_ID, cron="* * * * *", zone="UTC")
    synced(db, langflow)
    seen = []
    real_disable = triggers_api.disable_trigger

    def disable_and_look(client, tid):
        seen.extend((r.schedule.status, r.schedule.paused_reason) for r in schedule_service.list_schedules(db))
        return real_disable(client, tid)

    monkeypatch.setattr(triggers_api, "disable_trigger", disable_and_look)
    with client_for(langflow) as client:
        trigger_service.adopt_trigger(db, client, trigger_id)
    assert seen == [(ScheduleStatus.PAUSED, f"adopting LangFlow trigger {trigger_id}")]
