"""Component roles and flow trimming, on the captured LangFlow 1.13 flows served over HTTP."""

from __future__ import annotations

import json

import pytest

from automagik.langflow import LangFlowClient, component_role, is_runnable_flow, trim_flow
from tests.langflow_server import ECHO_FLOW_ID, TWO_OUT_FLOW_ID, FakeLangFlow

API_KEY = "sk-components-test"


@pytest.fixture
def fake():
    with FakeLangFlow(api_key=API_KEY) as server:
        yield server


@pytest.fixture
def client(fake):
    with LangFlowClient(fake.url, API_KEY, connect_timeout=2, read_timeout=5) as langflow:
        yield langflow


def _node(node_id, node_type=None, **node_fields):
    return {
        "id": node_id,
        "type": "genericNode",
        "data": {"id": node_id, "type": node_type, "node": {"display_name": node_id, **node_fields}},
    }


@pytest.mark.parametrize(
    "node, role",
    [
        (_node("ChatInput-aaaaa", "ChatInput"), "input"),
        (_node("TextInput-aaaaa", "TextInput"), "input"),
        (_node("Webhook-aaaaa", "Webhook"), "input"),
        (_node("ChatOutput-aaaaa", "ChatOutput"), "output"),
        (_node("TextOutput-aaaaa", "TextOutput"), "output"),
        (_node("DataOutput-aaaaa", "DataOutput"), "output"),
        # the type decides even when the id was renamed
        (_node("renamed-aaaaa", "ChatOutput"), "output"),
        # no type: the id's prefix is the type
        ({"id": "ChatInput-bbbbb", "data": None}, "input"),
        ({"id": "TextOutput-bbbbb"}, "output"),
        # custom components flag themselves
        (_node("MyComponent-ccccc", "MyComponent", is_input=True), "input"),
        (_node("MyComponent-ccccc", "MyComponent", is_output=True), "output"),
        (_node("MyComponent-ccccc", "MyComponent", is_output=False), None),
        (_node("OpenAIModel-ddddd", "OpenAIModel"), None),
        ({"id": "note-1", "type": "noteNode", "data": {"type": "note"}}, None),
        ({}, None),
    ],
)
def test_component_role(node, role):
    assert component_role(node) == role


def test_component_role_accepts_a_bare_data_dict():
    assert component_role({"id": "x-1", "type": "ChatInput", "node": {}}) == "input"
    assert component_role(None) is None


def test_trim_flow_keeps_only_inputs_and_outputs_of_served_flows(client):
    echo = trim_flow(client.get_flow(ECHO_FLOW_ID))
    assert echo == {
        "description": "acceptance Echo",
        "updated_at": "2026-11-27T04:42:53+00:00",
        "endpoint_name": None,
        "components": [
            {"id": "ChatInput-acc01", "type": "ChatInput", "display_name": "Chat Input", "role": "input"},
            {"id": "ChatOutput-acc02", "type": "ChatOutput", "display_name": "Chat Output", "role": "output"},
        ],
    }
    two_out = trim_flow(client.get_flow(TWO_OUT_FLOW_ID))
    assert [(c["id"], c["role"]) for c in two_out["components"]] == [
        ("ChatInput-tw001", "input"),
        ("ChatOutput-tw002", "output"),
        ("ChatOutput-tw004", "output"),
    ]


def test_trim_flow_drops_code_and_is_much_smaller(client):
    for raw in client.list_flows():
        raw_json = json.dumps(raw)
        trimmed_json = json.dumps(trim_flow(raw))
        assert "<component source omitted>" in raw_json  # the served flow does carry code
        assert "component source" not in trimmed_json
        assert "template" not in trimmed_json
        assert len(trimmed_json) * 20 < len(raw_json)


def test_trim_flow_sorts_by_role_then_id_and_skips_middle_components(fake, client):
    flow_id = fake.add_flow(
        "RAG",
        inputs=["TextInput-zz001", "ChatInput-bb001"],
        outputs=["ChatOutput-aa001"],
        others=["Prompt-pp001"],
        endpoint_name="rag",
        description="answers questions",
        edges=[
            ("ChatInput-bb001", "Prompt-pp001"),
            ("TextInput-zz001", "Prompt-pp001"),
            ("Prompt-pp001", "ChatOutput-aa001"),
        ],
    )
    trimmed = trim_flow(client.get_flow(flow_id))
    assert [c["id"] for c in trimmed["components"]] == ["ChatInput-bb001", "TextInput-zz001", "ChatOutput-aa001"]
    assert trimmed["endpoint_name"] == "rag"
    assert trimmed["description"] == "answers questions"
    assert trimmed["components"][1] == {
        "id": "TextInput-zz001",
        "type": "TextInput",
        "display_name": "Text Input",
        "role": "input",
    }


@pytest.mark.parametrize(
    "raw",
    [
        {},
        {"data": None, "description": None},
        {"data": {"nodes": None}},
        {"data": {"nodes": [None, "junk", {"data": None}, {"id": "Prompt-x"}]}, "description": 42},
    ],
)
def test_trim_flow_parses_loosely(raw):
    assert trim_flow(raw) == {"description": None, "updated_at": None, "endpoint_name": None, "components": []}


def test_trim_flow_reads_nodes_whose_data_is_missing():
    trimmed = trim_flow({"data": {"nodes": [{"id": "ChatOutput-q1", "data": None}]}})
    assert trimmed["components"] == [
        {"id": "ChatOutput-q1", "type": "ChatOutput", "display_name": None, "role": "output"}
    ]


def test_is_runnable_flow():
    assert is_runnable_flow({"id": "a", "is_component": False})
    assert is_runnable_flow({"id": "a"})
    assert not is_runnable_flow({"id": "a", "is_component": True})
    assert not is_runnable_flow(None)


def test_saved_components_are_listed_by_the_server_but_not_runnable(fake, client):
    fake.add_flow("Saved component", is_component=True)
    assert [is_runnable_flow(flow) for flow in fake.flows] == [True, True, False]
    assert len(client.list_flows()) == 2
