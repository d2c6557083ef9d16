"""Token usage and LangFlow's own schedule triggers against a real LangFlow 1.13: what the server
answers for them (tests/fixtures/langflow-1.13/ holds the same answers, captured by
tests/real_langflow/capture.py), and what the product makes of it: a run's tokens and cost
recorded, a trigger seen by a sync and adopted.
"""

from __future__ import annotations

import json

from tests.real_langflow.flows import (
    FAKE_MODEL,
    FAKE_PREFIX,
    FAKE_USAGE,
    TRIGGER_CRON,
    TRIGGER_TIMEZONE,
    create_schedule_trigger_flow,
    run_request,
)
from tests.real_langflow.helpers import log_messages, ok, run_to_end, synced_flows


def run_raw(admin, flow, text: str) -> dict:
    """The flow's run answer, asked as the product asks."""
    answer = admin.post(f"/api/v1/run/{flow.id}?stream=false", run_request(flow, text))
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_the_usage_flow_reports_usage_and_the_model(admin, usage_flow):
    [entry] = run_raw(admin, usage_flow, "hi")["outputs"][0]["outputs"]
    message = entry["results"]["message"]
    assert entry["component_id"] == usage_flow.outputs[0] and message["text"] == f"{FAKE_PREFIX}hi"
    # Where LangFlow puts them (docs: "Token usage"): on the Chat Output's message, twice.
    for properties in (message["properties"], message["data"]["properties"]):
        assert properties["usage"] == FAKE_USAGE
        assert properties["source"] == {
            "id": usage_flow.others["llm"],
            "display_name": "Fake LLM",
            "source": FAKE_MODEL,
        }


def test_a_runs_tokens_model_and_cost_are_recorded(cli, run_daemon_once, usage_flow):
    synced_flows(cli)
    task = run_to_end(cli, run_daemon_once, usage_flow.id, "hi")
    assert task["status"] == "completed" and task["result"]["text"] == f"{FAKE_PREFIX}hi", task
    assert {key: task[key] for key in FAKE_USAGE} == FAKE_USAGE and task["model"] == FAKE_MODEL
    assert task["cost_usd"] is not None and task["cost_usd"] > 0  # gpt-4o-mini is priced by genai-prices
    assert any(m.startswith(f"tokens by {FAKE_MODEL}: 12 in, 30 out, 42 in all; $") for m in log_messages(task))


def test_the_schedule_trigger_flow_has_a_trigger_that_can_be_switched(admin, trigger_flow):
    listed = admin.get("/api/v1/triggers", flow_id=trigger_flow.id)
    assert listed.status_code == 200, listed.text
    [trigger] = listed.json()
    assert (trigger["flow_id"], trigger["kind"], trigger["node_id"]) == (
        trigger_flow.id,
        "schedule",
        trigger_flow.others["trigger"],
    )
    assert trigger["config"] == {
        "cron": TRIGGER_CRON,
        "timezone": TRIGGER_TIMEZONE,
        "catchup_policy": "coalesce",
        "share_session": False,
    }
    assert trigger["state"] == "pending" and trigger["last_error"] is None  # saved, never switched on

    enabled = admin.post(f"/api/v1/triggers/{trigger['id']}/enable")
    assert enabled.status_code == 200 and enabled.json()["state"] == "active", enabled.text
    disabled = admin.post(f"/api/v1/triggers/{trigger['id']}/disable")
    assert disabled.status_code == 200 and disabled.json()["state"] == "paused", disabled.text
    [trigger] = admin.get("/api/v1/triggers", flow_id=trigger_flow.id).json()
    assert trigger["state"] == "paused"
    # The route needs the flow: without it LangFlow answers 422.
    assert admin.get("/api/v1/triggers").status_code == 422


def test_a_trigger_is_seen_by_a_sync_and_adopted(admin, cli, run_daemon_once):
    flow = create_schedule_trigger_flow(admin)  # its own: adopting pauses the trigger in LangFlow
    [trigger] = admin.get("/api/v1/triggers", flow_id=flow.id).json()
    listed = synced_flows(
        cli, "--flow-id", flow.id, "--input-component", flow.inputs[0], "--output-component", flow.outputs[0]
    )[flow.id]
    [seen] = listed["langflow_triggers"]
    assert (seen["id"], seen["kind"], seen["cron"], seen["timezone"], seen["state"]) == (
        trigger["id"],
        "schedule",
        TRIGGER_CRON,
        TRIGGER_TIMEZONE,
        "pending",
    )

    # Scheduling the flow here too is allowed, with a warning that it would run twice.
    scheduled = cli("schedules", "create", "--type", "interval", "--expr", "1h", flow.id)
    ok(scheduled)
    assert "it would run twice" in scheduled.stderr and trigger["id"] in scheduled.stderr, scheduled.output

    adopted = json.loads(ok(cli("flows", "adopt-trigger", trigger["id"], "--input", '{"input": "tick"}', "--json")))
    assert adopted["trigger_id"] == trigger["id"] and adopted["trigger"]["state"] == "paused"
    schedule = adopted["schedule"]
    assert (schedule["id"], schedule["schedule_type"], schedule["schedule_expr"], schedule["timezone"]) == (
        adopted["schedule_id"],
        "cron",
        TRIGGER_CRON,
        TRIGGER_TIMEZONE,
    )
    # LangFlow no longer fires it.
    [after] = admin.get("/api/v1/triggers", flow_id=flow.id).json()
    assert after["state"] == "paused"

    # What the adopted schedule will run: the flow's chat branch, reached from the Chat Input
    # (the trigger's own branch is not).
    task = run_to_end(cli, run_daemon_once, flow.id, "tick")
    assert task["status"] == "completed" and task["result"]["text"] == "tick", task
