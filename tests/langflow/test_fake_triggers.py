"""The LangFlow test server's triggers answer as the real LangFlow 1.13 did
(tests/fixtures/langflow-1.13/triggers_responses.json, captured by tests/real_langflow/capture.py)."""

from __future__ import annotations

import json

import pytest
import requests

from tests.conftest import API_KEY
from tests.langflow_server import ECHO_FLOW_ID, FIXTURES_DIR, FakeLangFlow

REAL = json.loads((FIXTURES_DIR / "triggers_responses.json").read_text())


@pytest.fixture
def fake():
    with FakeLangFlow(api_key=API_KEY) as server:
        yield server


def call(fake, method: str, path: str, **params) -> requests.Response:
    return requests.request(method, fake.url + path, params=params or None, headers={"x-api-key": API_KEY}, timeout=10)


def shape(value):
    """Keys and value types, recursively: what a client reading the answer relies on."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    return type(value).__name__


def test_a_trigger_row_has_the_real_shape(fake):
    fake.add_schedule_trigger(ECHO_FLOW_ID, cron="17 3 1 1 *", zone="America/New_York", state="pending")
    listed = call(fake, "GET", "/api/v1/triggers", flow_id=ECHO_FLOW_ID)
    assert listed.status_code == REAL["list_after_save"]["status"]
    [row], [real] = listed.json(), REAL["list_after_save"]["body"]
    assert shape(row) == shape(real)
    same = ("kind", "name", "config", "state", "next_fire_at", "last_fired_at", "last_error")
    assert {key: row[key] for key in same} == {key: real[key] for key in same}
    assert "+" not in row["created_at"] and "+" not in real["created_at"]  # UTC without an offset


@pytest.mark.parametrize("action, state", [("enable", "active"), ("disable", "paused")])
def test_enable_and_disable_answer_the_trigger_in_its_new_state(fake, action, state):
    trigger_id = fake.add_schedule_trigger(ECHO_FLOW_ID, state="pending")
    answer = call(fake, "POST", f"/api/v1/triggers/{trigger_id}/{action}")
    assert answer.status_code == REAL[action]["status"] == 200
    assert answer.json()["state"] == REAL[action]["body"]["state"] == state
    assert shape(answer.json()) == shape(REAL["list_after_save"]["body"][0])


def test_refusals_match(fake):
    missing = call(fake, "GET", "/api/v1/triggers")
    assert missing.status_code == REAL["list_without_flow_id"]["status"] == 422
    assert [(d["type"], d["loc"]) for d in missing.json()["detail"]] == [
        (d["type"], d["loc"]) for d in REAL["list_without_flow_id"]["body"]["detail"]
    ]
    unknown = call(fake, "POST", "/api/v1/triggers/00000000-0000-0000-0000-000000000000/disable")
    assert (unknown.status_code, unknown.json()) == (REAL["disable_unknown"]["status"], REAL["disable_unknown"]["body"])
