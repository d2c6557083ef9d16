"""LangFlowClient against the LangFlow-compatible test server, over real HTTP on 127.0.0.1."""

from __future__ import annotations

import dataclasses
import json
import logging
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from automagik.langflow import (
    LangFlowAuthError,
    LangFlowBadRequest,
    LangFlowBadResponse,
    LangFlowClient,
    LangFlowError,
    LangFlowNoOutput,
    LangFlowNotFound,
    LangFlowRateLimited,
    LangFlowServerError,
    LangFlowTimeout,
    LangFlowUnreachable,
)
from tests.langflow_server import ECHO_FLOW_ID, FIXTURES_DIR, NO_KEY_DETAIL, TWO_OUT_FLOW_ID, FakeLangFlow

API_KEY = "sk-Zq7-very-secret-key-0042"
ECHO = {"input_component": "ChatInput-acc01", "output_component": "ChatOutput-acc02"}


@pytest.fixture
def fake():
    with FakeLangFlow(api_key=API_KEY) as server:
        yield server


@pytest.fixture
def client(fake):
    with LangFlowClient(fake.url, API_KEY, connect_timeout=2, read_timeout=5) as langflow:
        yield langflow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _raw_run(fake, flow_id, body, key=API_KEY):
    """POST a run body as is, to check the server's own behaviour."""
    headers = {"x-api-key": key} if key else {}
    return requests.post(f"{fake.url}/api/v1/run/{flow_id}?stream=false", json=body, headers=headers, timeout=5)


# -- health -----------------------------------------------------------------------------


def test_health_reports_ready_and_version(client):
    health = client.health()
    assert (health.reachable, health.ready, health.version) == (True, True, "1.13.0")
    assert "ready" in health.detail


def test_health_reports_up_but_not_ready(fake, client):
    fake.ready = False
    health = client.health()
    assert (health.reachable, health.ready, health.version) == (True, False, "1.13.0")
    assert "HTTP 500" in health.detail and "db: error" in health.detail


def test_health_of_a_closed_port_is_unreachable_without_raising():
    with LangFlowClient(f"http://127.0.0.1:{_free_port()}", API_KEY, connect_timeout=1) as langflow:
        health = langflow.health()
    assert (health.reachable, health.ready, health.version) == (False, False, None)
    assert "connection refused" in health.detail and "LANGFLOW_API_URL" in health.detail


# -- flows ------------------------------------------------------------------------------


def test_list_flows_returns_runnable_flows_over_gzip(fake, client):
    fake.add_flow("Saved component", is_component=True)
    fake.add_flow("Starter example", example=True)
    flows = client.list_flows()
    assert [(flow["id"], flow["name"]) for flow in flows] == [
        (ECHO_FLOW_ID, "Echo 30f7"),
        (TWO_OUT_FLOW_ID, "TwoOut 1a87"),
    ]
    served = [r for r in fake.served if r.path == "/api/v1/flows/"][-1]
    assert served.status == 200
    assert served.content_encoding == "gzip"
    assert served.body_bytes < 10_000  # the JSON itself is over 45 KB
    assert "get_all=true" in served.query and "remove_example_flows=true" in served.query
    assert "components_only=false" in served.query


def test_list_flows_accepts_the_paginated_shape(fake, client):
    fake.force_paginated = True
    assert [flow["id"] for flow in client.list_flows()] == [ECHO_FLOW_ID, TWO_OUT_FLOW_ID]


def test_get_flow_and_unknown_flow(client):
    flow = client.get_flow(TWO_OUT_FLOW_ID)
    assert flow["name"] == "TwoOut 1a87" and len(flow["data"]["nodes"]) == 3
    with pytest.raises(LangFlowNotFound) as caught:
        client.get_flow("00000000-0000-0000-0000-000000000000")
    assert caught.value.status == 404 and "Flow not found" in caught.value.message
    assert not caught.value.transient


# -- runs -------------------------------------------------------------------------------


def test_run_routes_the_input_through_a_tweak(fake, client):
    result = client.run_flow(ECHO_FLOW_ID, input_text="hello there", **ECHO)
    assert result.text == "hello there"
    assert result.component_id == "ChatOutput-acc02"
    assert result.status_code == 200 and result.latency_ms > 0
    assert result.session_id == ECHO_FLOW_ID  # LangFlow's default session is the flow id
    assert set(result.message) == {"text", "sender", "sender_name", "session_id", "timestamp", "component_display_name"}
    assert result.message["sender_name"] == "AI" and result.message["component_display_name"] == "Chat Output"
    stored = result.to_dict()
    assert json.loads(json.dumps(stored)) == stored and stored["text"] == "hello there"
    # Every field but the usage (stored in the task's own columns) is kept.
    assert set(stored) == {f.name for f in dataclasses.fields(result)} - {"usage"}

    run = fake.runs[-1]
    assert run.status == 200 and run.query == {"stream": "false"}
    assert "input_value" not in run.body
    assert run.body == {
        "input_type": "chat",
        "output_type": "chat",
        "output_component": "ChatOutput-acc02",
        "tweaks": {"ChatInput-acc01": {"input_value": "hello there"}},
    }
    assert run.headers["x-api-key"] == API_KEY and "authorization" not in run.headers


def test_run_passes_the_session_id(fake, client):
    result = client.run_flow(ECHO_FLOW_ID, input_text="hi", session_id="session-7", **ECHO)
    assert result.session_id == "session-7" and result.message["session_id"] == "session-7"
    assert fake.runs[-1].body["session_id"] == "session-7"


def test_run_narrows_to_the_chosen_output(fake, client):
    result = client.run_flow(
        TWO_OUT_FLOW_ID, input_component="ChatInput-tw001", output_component="ChatOutput-tw004", input_text="routed"
    )
    assert (result.text, result.component_id) == ("routed", "ChatOutput-tw004")
    assert fake.runs[-1].body["output_component"] == "ChatOutput-tw004"


def test_user_tweaks_are_merged_and_the_input_text_wins(fake, client):
    tweaks = {
        "ChatInput-acc01": {"input_value": "ignored", "sender_name": "Cron"},
        "ChatOutput-acc02": {"sender_name": "Scheduler"},
    }
    result = client.run_flow(ECHO_FLOW_ID, input_text="scheduled", tweaks=tweaks, **ECHO)
    assert result.text == "scheduled" and result.message["sender_name"] == "Scheduler"
    assert fake.runs[-1].body["tweaks"] == {
        "ChatInput-acc01": {"input_value": "scheduled", "sender_name": "Cron"},
        "ChatOutput-acc02": {"sender_name": "Scheduler"},
    }
    assert tweaks["ChatInput-acc01"]["input_value"] == "ignored"  # the caller's dict is untouched


def test_run_by_endpoint_name(fake, client):
    fake.add_flow("Named", endpoint_name="daily-digest")
    result = client.run_flow(
        "daily-digest", input_component="ChatInput-in001", output_component="ChatOutput-out01", input_text="digest"
    )
    assert result.text == "digest"


def test_output_on_an_unreached_branch_is_no_output(fake, client):
    flow_id = fake.add_flow(
        "Branches",
        inputs=["ChatInput-a0001", "ChatInput-b0001"],
        outputs=["ChatOutput-a0002", "ChatOutput-b0002"],
        edges=[("ChatInput-a0001", "ChatOutput-a0002"), ("ChatInput-b0001", "ChatOutput-b0002")],
    )
    with pytest.raises(LangFlowNoOutput) as caught:
        client.run_flow(
            flow_id, input_component="ChatInput-a0001", output_component="ChatOutput-b0002", input_text="lost"
        )
    assert "no output from component ChatOutput-b0002" in caught.value.message
    assert "connected" in caught.value.message and not caught.value.transient
    assert fake.runs[-1].status == 200


def test_run_refuses_missing_components_before_sending(fake, client):
    with pytest.raises(ValueError):
        client.run_flow(ECHO_FLOW_ID, input_component="", output_component="ChatOutput-acc02", input_text="x")
    assert fake.run_count == 0


def test_client_without_a_key_sends_no_key_header():
    with FakeLangFlow(api_key=None) as open_server, LangFlowClient(open_server.url) as langflow:
        assert langflow.run_flow(ECHO_FLOW_ID, input_text="open", **ECHO).text == "open"
        assert "x-api-key" not in open_server.runs[-1].headers


def test_concurrent_runs_share_one_client(fake, client):
    with ThreadPoolExecutor(max_workers=32) as pool:
        texts = list(pool.map(lambda i: client.run_flow(ECHO_FLOW_ID, input_text=f"n{i}", **ECHO).text, range(160)))
    assert texts == [f"n{i}" for i in range(160)]
    assert fake.run_count == 160


# -- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "status, error_type, transient, shown",
    [
        (401, LangFlowAuthError, False, "Could not validate credentials"),
        (403, LangFlowAuthError, False, "Invalid or missing API key"),
        (404, LangFlowNotFound, False, "Flow identifier"),
        (400, LangFlowBadRequest, False, "cannot pass a tweak with the same name"),
        (422, LangFlowBadRequest, False, "body.tweaks: Input should be a valid dictionary"),
        (429, LangFlowRateLimited, True, "Too many requests"),
        (500, LangFlowServerError, True, "simulated failure"),
        (503, LangFlowServerError, True, "LangFlow is restarting"),
    ],
)
def test_http_errors_are_typed(fake, client, status, error_type, transient, shown):
    fake.force_status = status
    with pytest.raises(error_type) as caught:
        client.run_flow(ECHO_FLOW_ID, input_text="x", **ECHO)
    error = caught.value
    assert isinstance(error, LangFlowError)
    assert (error.status, error.transient, type(error).transient) == (status, transient, transient)
    assert shown in error.message and str(error) == error.message
    assert "\n" not in error.message and len(error.message) <= 500


def test_auth_errors_show_the_detail_and_what_to_set(fake):
    with LangFlowClient(fake.url, "sk-wrong") as wrong, LangFlowClient(fake.url) as keyless:
        with pytest.raises(LangFlowAuthError) as wrong_key:
            wrong.run_flow(ECHO_FLOW_ID, input_text="x", **ECHO)
        with pytest.raises(LangFlowAuthError) as no_key:
            keyless.run_flow(ECHO_FLOW_ID, input_text="x", **ECHO)
        with pytest.raises(LangFlowAuthError) as no_key_list:
            keyless.list_flows()
    assert "Invalid or missing API key" in wrong_key.value.message
    assert "LANGFLOW_API_KEY" in wrong_key.value.message and "sk-wrong" not in wrong_key.value.message
    assert NO_KEY_DETAIL in no_key.value.message and "none is set" in no_key.value.message
    assert "No authentication credentials provided" in no_key_list.value.message
    assert [run.status for run in fake.runs] == [403, 403]


def test_unknown_flow_and_broken_graph_are_not_found(fake, client):
    with pytest.raises(LangFlowNotFound) as unknown:
        client.run_flow("11111111-2222-3333-4444-555555555555", input_text="x", **ECHO)
    assert "Flow identifier 11111111-2222-3333-4444-555555555555 not found" in unknown.value.message
    broken = fake.add_flow("Broken", edges=[("ChatInput-in001", "ChatOutput-missing")])
    with pytest.raises(LangFlowNotFound) as vertex:
        client.run_flow(broken, input_component="ChatInput-in001", output_component="ChatOutput-out01", input_text="x")
    assert "Vertex ChatOutput-missing not found" in vertex.value.message


def test_server_error_shows_message_and_suggestion_but_never_the_traceback(fake, client):
    fake.error_rate = 1.0
    with pytest.raises(LangFlowServerError) as caught:
        client.run_flow(ECHO_FLOW_ID, input_text="x", **ECHO)
    message = caught.value.message
    assert "Error running graph: simulated failure in ChatOutput." in message
    assert "Suggestion: Check the component's inputs and try again." in message
    assert "Traceback" not in message and "graph/base.py" not in message and "{" not in message


@pytest.mark.parametrize(
    "detail, expected",
    [
        ("plain text failure", "plain text failure"),
        (json.dumps({"traceback": "Traceback (most recent call last): boom"}), "Internal Server Error"),
        (json.dumps({"message": "", "description": "Graph could not be built"}), "Graph could not be built"),
    ],
)
def test_server_error_detail_fallbacks(fake, client, detail, expected):
    fake.force_status, fake.force_detail = 500, detail
    with pytest.raises(LangFlowServerError) as caught:
        client.run_flow(ECHO_FLOW_ID, input_text="x", **ECHO)
    assert expected in caught.value.message and "Traceback" not in caught.value.message


def test_malformed_json_is_a_transient_bad_response(fake, client):
    fake.malformed_json = True
    with pytest.raises(LangFlowBadResponse) as caught:
        client.run_flow(ECHO_FLOW_ID, input_text="x", **ECHO)
    assert caught.value.transient and "not valid JSON" in caught.value.message


def test_a_hung_run_times_out(fake, client):
    fake.hang = True
    started = time.monotonic()
    with pytest.raises(LangFlowTimeout) as caught:
        client.run_flow(ECHO_FLOW_ID, input_text="x", timeout=0.3, **ECHO)
    assert time.monotonic() - started < 2
    assert caught.value.transient and "0.3 s" in caught.value.message
    fake.hang = False
    assert client.run_flow(ECHO_FLOW_ID, input_text="after", **ECHO).text == "after"


def test_a_hung_run_ends_when_the_server_stops(fake, client):
    fake.hang = True
    outcome = []
    worker = threading.Thread(target=lambda: outcome.append(_capture(client)))
    worker.start()
    deadline = time.monotonic() + 3
    while fake.run_count == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    fake.stop()
    worker.join(timeout=3)
    assert not worker.is_alive()
    assert isinstance(outcome[0], (LangFlowUnreachable, LangFlowBadResponse)) and outcome[0].transient


def _capture(client):
    try:
        return client.run_flow(ECHO_FLOW_ID, input_text="x", **ECHO)
    except LangFlowError as error:
        return error


def test_down_server_is_unreachable_then_back_on_the_same_port(fake, client):
    assert client.run_flow(ECHO_FLOW_ID, input_text="before", **ECHO).text == "before"  # keep-alive open
    port = fake.port
    fake.down = True
    with pytest.raises(LangFlowUnreachable) as caught:
        client.run_flow(ECHO_FLOW_ID, input_text="x", **ECHO)
    assert "connection refused" in caught.value.message and caught.value.transient
    assert not client.health().reachable
    fake.down = False
    assert fake.port == port
    assert client.run_flow(ECHO_FLOW_ID, input_text="back", **ECHO).text == "back"


def test_unused_port_is_unreachable():
    with LangFlowClient(f"http://127.0.0.1:{_free_port()}", API_KEY, connect_timeout=1) as langflow:
        with pytest.raises(LangFlowUnreachable) as caught:
            langflow.list_flows()
    assert caught.value.status is None and "Check that LangFlow is running" in caught.value.message


def test_redirects_are_not_followed_so_the_key_stays_home(fake):
    class Redirect(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(307)
            self.send_header("Location", fake.url + self.path)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    redirector = ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    threading.Thread(target=redirector.serve_forever, daemon=True).start()
    try:
        with LangFlowClient(f"http://127.0.0.1:{redirector.server_address[1]}", API_KEY) as langflow:
            with pytest.raises(LangFlowBadRequest) as caught:
                langflow.list_flows()
    finally:
        redirector.shutdown()
        redirector.server_close()
    assert caught.value.status == 307 and f"redirected to {fake.url}/api/v1/flows/" in caught.value.message
    assert not any(served.path == "/api/v1/flows/" for served in fake.served)


def test_invalid_base_url_is_refused():
    with pytest.raises(ValueError):
        LangFlowClient("localhost:7860")


# -- secrets ------------------------------------------------------------------------------


def test_the_api_key_never_appears_in_messages_repr_or_logs(fake, client, caplog):
    caplog.set_level(logging.DEBUG)
    assert API_KEY not in repr(client) and "api_key=set" in repr(client)
    messages = []
    fake.force_status, fake.force_detail = 500, f"upstream said: key {API_KEY}\nis bad"
    for status in (500, 403, 422):
        fake.force_status = status
        try:
            client.run_flow(ECHO_FLOW_ID, input_text="x", **ECHO)
        except LangFlowError as error:
            messages.append(error.message)
    fake.force_status = fake.force_detail = None
    client.run_flow(ECHO_FLOW_ID, input_text="ok", **ECHO)
    client.list_flows()
    fake.down = True
    messages.append(client.health().detail)
    assert len(messages) == 4
    assert all(API_KEY not in message for message in messages)
    assert "key *** is bad" in messages[0]
    assert API_KEY not in caplog.text and "x-api-key" not in caplog.text.lower()
    assert "POST /api/v1/run/" in caplog.text  # the client did log its requests


def test_messages_are_one_capped_line(fake, client):
    fake.force_status, fake.force_detail = 400, "line one\nline two " + "x" * 5000
    with pytest.raises(LangFlowBadRequest) as caught:
        client.run_flow(ECHO_FLOW_ID, input_text="x", **ECHO)
    assert "line one line two" in caught.value.message
    assert "\n" not in caught.value.message and len(caught.value.message) <= 500


# -- the test server itself -------------------------------------------------------------------


def test_server_echo_matches_the_captured_response_shape(fake):
    captured = json.loads((FIXTURES_DIR / "run_echo_response.json").read_text())
    answer = _raw_run(fake, ECHO_FLOW_ID, {"input_value": "hello", "input_type": "chat", "output_type": "chat"})
    assert answer.status_code == 200 and answer.headers["Content-Encoding"] == "gzip"
    assert _shape(answer.json()) == _shape(captured)
    entry = answer.json()["outputs"][0]["outputs"][0]
    assert entry["results"]["message"]["text"] == entry["results"]["message"]["data"]["text"] == "hello"
    assert answer.json()["outputs"][0]["inputs"] == {"input_value": "hello"}


def _shape(value):
    """The key tree of a JSON value, ignoring the values themselves."""
    if isinstance(value, dict):
        return {key: _shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_shape(item) for item in value]
    return None


def test_server_answers_every_output_without_output_component(fake):
    answer = _raw_run(fake, TWO_OUT_FLOW_ID, {"input_value": "both", "input_type": "chat", "output_type": "chat"})
    entries = answer.json()["outputs"][0]["outputs"]
    assert [e["component_id"] for e in entries] == ["ChatOutput-tw002", "ChatOutput-tw004"]
    narrowed = _raw_run(
        fake,
        TWO_OUT_FLOW_ID,
        {"tweaks": {"ChatInput-tw001": {"input_value": "routed"}}, "output_component": "ChatOutput-tw004"},
    ).json()
    assert [e["component_id"] for e in narrowed["outputs"][0]["outputs"]] == ["ChatOutput-tw004"]
    assert narrowed["outputs"][0]["inputs"] == {}


def test_server_refuses_input_value_with_a_tweak_and_invalid_bodies(fake):
    conflict = _raw_run(fake, ECHO_FLOW_ID, {"input_value": "a", "tweaks": {"ChatInput-acc01": {"input_value": "b"}}})
    assert conflict.status_code == 400 and "cannot pass a tweak with the same name" in conflict.json()["detail"]
    invalid = _raw_run(fake, ECHO_FLOW_ID, {"input_type": "voice", "tweaks": "nope"})
    assert invalid.status_code == 422
    assert [item["loc"] for item in invalid.json()["detail"]] == [["body", "input_type"], ["body", "tweaks"]]
    assert _raw_run(fake, ECHO_FLOW_ID, {}, key=None).json()["detail"] == NO_KEY_DETAIL


def test_server_routes_auth_pagination_and_unknown_paths(fake):
    base = fake.url
    assert requests.get(f"{base}/api/v1/flows/", timeout=5).status_code == 403
    bearer = requests.get(f"{base}/api/v1/flows/", headers={"Authorization": f"Bearer {API_KEY}"}, timeout=5)
    assert bearer.status_code == 401 and bearer.json() == {"detail": "Could not validate credentials"}
    page = requests.get(
        f"{base}/api/v1/flows/?get_all=false&size=1&page=2", headers={"x-api-key": API_KEY}, timeout=5
    ).json()
    assert (page["total"], page["page"], page["size"], page["pages"]) == (2, 2, 1, 2)
    assert [flow["id"] for flow in page["items"]] == [TWO_OUT_FLOW_ID]
    assert (
        requests.get(
            f"{base}/api/v1/flows/?size=500&get_all=false", headers={"x-api-key": API_KEY}, timeout=5
        ).status_code
        == 422
    )
    assert requests.get(f"{base}/health", timeout=5).json() == {"status": "ok"}
    missing = requests.get(f"{base}/api/v2/nothing", timeout=5)
    assert missing.status_code == 404 and missing.json() == {"detail": "Not Found"}


def test_error_rate_is_roughly_honoured_and_reproducible(fake):
    def statuses():
        fake.seed = 7
        return [_raw_run(fake, ECHO_FLOW_ID, {"input_value": "x"}).status_code for _ in range(200)]

    fake.error_rate = 0.3
    first = statuses()
    assert set(first) == {200, 500}
    assert 0.2 <= first.count(500) / len(first) <= 0.4
    assert statuses() == first


def test_latency_is_added_to_each_run(fake, client):
    fake.latency = 0.2
    assert client.run_flow(ECHO_FLOW_ID, input_text="slow", **ECHO).latency_ms >= 200


def test_huge_response_is_padded_and_still_parsed(fake, client):
    fake.huge_response_bytes = 2_000_000
    answer = _raw_run(fake, ECHO_FLOW_ID, {"input_value": "big"})
    assert len(answer.content) >= 1_990_000
    result = client.run_flow(ECHO_FLOW_ID, input_text="big", **ECHO)
    assert result.text == "big" and len(json.dumps(result.to_dict())) < 1000


def test_trickled_response_arrives_slowly_and_whole(fake, client):
    fake.trickle_seconds = 0.5
    started = time.monotonic()
    result = client.run_flow(ECHO_FLOW_ID, input_text="drip", timeout=3, **ECHO)
    assert time.monotonic() - started >= 0.45
    assert result.text == "drip"


def test_a_trickle_past_the_run_timeout_is_a_timeout(fake, client):
    """Each wait for bytes is short, but the whole answer takes longer than the run may."""
    fake.trickle_seconds = 1.5
    started = time.monotonic()
    with pytest.raises(LangFlowTimeout, match="did not finish its answer within 0.5 s"):
        client.run_flow(ECHO_FLOW_ID, input_text="drip", timeout=0.5, **ECHO)
    assert time.monotonic() - started < 1.4


def test_an_answer_over_the_size_cap_is_refused(fake, client, monkeypatch):
    import automagik.langflow.http as http_module

    monkeypatch.setattr(http_module, "MAX_RESPONSE_BYTES", 100_000)
    fake.huge_response_bytes = 300_000
    with pytest.raises(LangFlowBadResponse, match="sent more than"):
        client.run_flow(ECHO_FLOW_ID, input_text="big", **ECHO)
