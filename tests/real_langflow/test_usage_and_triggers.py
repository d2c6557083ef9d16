"""The flows later work builds on (token usage, LangFlow's own schedule triggers), checked
against what the real LangFlow 1.13 answers for them, and run through the product as it is.

What the product does with usage and triggers is not asserted here yet; these tests pin the
server's side that it will rely on (tests/fixtures/langflow-1.13/ holds the same answers,
captured by tests/real_langflow/capture.py).
"""

from __future__ import annotations

from tests.real_langflow.flows import FAKE_MODEL, FAKE_PREFIX, FAKE_USAGE, TRIGGER_CRON, TRIGGER_TIMEZONE, run_request
from tests.real_langflow.helpers import ok, run_to_end, synced_flows


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
        assert properties["source"] == {"id": usage_flow.others["llm"], "display_name": "Fake LLM", "source": FAKE_MODEL}


def test_the_usage_flow_runs_through_the_product(cli, run_daemon_once, usage_flow):
    synced_flows(cli)
    task = run_to_end(cli, run_daemon_once, usage_flow.id, "hi")
    assert task["status"] == "completed" and task["result"]["text"] == f"{FAKE_PREFIX}hi", task


def test_the_schedule_trigger_flow_has_a_trigger_that_can_be_switched(admin, trigger_flow):
    listed = admin.get("/api/v1/triggers", flow_id=trigger_flow.id)
    assert listed.status_code == 200, listed.text
    [trigger] = listed.json()
    assert (trigger["flow_id"], trigger["kind"], trigger["node_id"]) == (trigger_flow.id, "schedule",
                                                                        trigger_flow.others["trigger"])
    assert trigger["config"] == {"cron": TRIGGER_CRON, "timezone": TRIGGER_TIMEZONE, "catchup_policy": "coalesce",
                                 "share_session": False}
    assert trigger["state"] == "pending" and trigger["last_error"] is None  # saved, never switched on

    enabled = admin.post(f"/api/v1/triggers/{trigger['id']}/enable")
    assert enabled.status_code == 200 and enabled.json()["state"] == "active", enabled.text
    disabled = admin.post(f"/api/v1/triggers/{trigger['id']}/disable")
    assert disabled.status_code == 200 and disabled.json()["state"] == "paused", disabled.text
    [trigger] = admin.get("/api/v1/triggers", flow_id=trigger_flow.id).json()
    assert trigger["state"] == "paused"
    # The route needs the flow: without it LangFlow answers 422.
    assert admin.get("/api/v1/triggers").status_code == 422


def test_the_schedule_trigger_flow_runs_through_the_product(cli, run_daemon_once, trigger_flow):
    # Synced like any other flow; its chat branch is what an adopted schedule will run (the
    # trigger's own branch is not reached from the Chat Input).
    flows = synced_flows(cli)
    roles = {c["id"]: c["role"] for c in flows[trigger_flow.id]["components"]}
    assert roles == {trigger_flow.inputs[0]: "input", **{o: "output" for o in trigger_flow.outputs}}
    ok(cli("flows", "sync", "--flow-id", trigger_flow.id, "--input-component", trigger_flow.inputs[0],
           "--output-component", trigger_flow.outputs[0]))
    task = run_to_end(cli, run_daemon_once, trigger_flow.id, "tick")
    assert task["status"] == "completed" and task["result"]["text"] == "tick", task
