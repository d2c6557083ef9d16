"""A LangFlow-compatible HTTP server for tests, demos and benchmarks.

It answers in the shapes captured from a real LangFlow 1.13 server (tests/fixtures/langflow-1.13)
and follows the behaviours that matter to a scheduler: API-key refusals, 404 for unknown flows
and broken graphs, the 400 input/tweak conflict, one start input per run, ``output_component``
narrowing (empty when that output is not reachable), gzip when asked. Flows "echo" their input.

Faults can be switched on at any time from the test thread: ``latency``, ``error_rate``,
``hang``, ``force_status``, ``malformed_json``, ``huge_response_bytes``, ``trickle_seconds``
and ``down`` (see :class:`FakeLangFlow`). Each run is recorded in ``runs``.

Standalone, for manual demos and browser tests::

    python -m tests.langflow_server --port 7860 [--api-key KEY | --no-auth]
"""

from __future__ import annotations

import argparse
import copy
import gzip
import hmac
import json
import math
import random
import signal
import socket
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

FIXTURES_DIR = Path(__file__).parent / "fixtures" / "langflow-1.13"
ECHO_FLOW_ID = "4ef644de-8b5e-473d-a647-e4622ae4f6ea"  # ChatInput-acc01 -> ChatOutput-acc02
TWO_OUT_FLOW_ID = "45a6305e-b02f-47db-8c1f-a603a8da457d"  # ChatInput-tw001 -> ChatOutput-tw002, -tw004
USER_FOLDER_ID = "c4be2067-7831-4298-8186-7a4c95ba9fe3"
STARTER_FOLDER_ID = "00000000-0000-4000-8000-5ca7e1f01de0"  # flows here count as example flows

_MISC = json.loads((FIXTURES_DIR / "responses_misc.json").read_text())
NO_KEY_DETAIL = _MISC["no_key"]["body"]["detail"]
WRONG_KEY_DETAIL = _MISC["wrong_key"]["body"]["detail"]
LIST_NO_KEY_DETAIL = _MISC["list_no_key"]["body"]["detail"]
CHAT_CONFLICT_DETAIL = _MISC["input_and_tweak_conflict"]["body"]["detail"]
TEXT_CONFLICT_DETAIL = CHAT_CONFLICT_DETAIL.replace("chat input", "text input")
BAD_BEARER_DETAIL = "Could not validate credentials"
#: A trigger row as LangFlow 1.13 lists it right after saving a flow with a ScheduleTrigger node.
TRIGGER_ROW = json.loads((FIXTURES_DIR / "triggers_responses.json").read_text())["list_after_save"]["body"][0]
SERVER_ERROR_TRACEBACK = 'Traceback (most recent call last):\n  File "graph/base.py", line 1\nRuntimeError: boom'

INPUT_TYPES = {"ChatInput", "TextInput", "Webhook"}
OUTPUT_TYPES = {"ChatOutput", "TextOutput", "DataOutput"}
GZIP_MIN_BYTES = 500  # Starlette's GZipMiddleware leaves smaller bodies alone
TRICKLE_CHUNKS = 20
JSON = {"separators": (",", ":"), "ensure_ascii": False}


@dataclass
class RecordedRun:
    """One ``POST /api/v1/run/...`` as received; ``status`` is filled in once answered."""

    flow_id: str
    body: Any
    query: dict
    headers: dict
    received_at: float
    status: int | None = None
    answered_at: float | None = None


@dataclass(frozen=True)
class ServedRequest:
    """One answered request of any kind, to check what went over the wire (e.g. gzip)."""

    method: str
    path: str
    query: str
    status: int
    content_encoding: str | None
    body_bytes: int


def _server_error_detail(source: str) -> str:
    """LangFlow's 500 detail: a JSON-encoded *string*, traceback included."""
    return json.dumps(
        {
            "message": f"Error running graph: simulated failure in {source}",
            "traceback": SERVER_ERROR_TRACEBACK,
            "description": "The flow raised an exception while running.",
            "code": None,
            "suggestion": "Check the component's inputs and try again.",
            "source": source,
        }
    )


def _canned_detail(status: int, flow_ident: str) -> Any:
    """A LangFlow-style ``detail`` for ``force_status``."""
    return {
        400: CHAT_CONFLICT_DETAIL,
        401: BAD_BEARER_DETAIL,
        403: WRONG_KEY_DETAIL,
        404: f"Flow identifier {flow_ident} not found",
        422: [
            {
                "type": "dict_type",
                "loc": ["body", "tweaks"],
                "msg": "Input should be a valid dictionary",
                "input": "not-a-dict",
            }
        ],
        429: "Too many requests, slow down",
        500: _server_error_detail("ChatOutput"),
        503: "Service Unavailable: LangFlow is restarting",
    }.get(status, f"Simulated HTTP {status}")


def _utc_stamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f UTC")


def _node_kind(node_id: str, node_type: str | None, inner: dict) -> str | None:
    names = {node_type, node_id.split("-", 1)[0]}
    if names & INPUT_TYPES or inner.get("is_input") is True:
        return "input"
    if names & OUTPUT_TYPES or inner.get("is_output") is True:
        return "output"
    return None


def _template_value(inner: dict, name: str, default: Any) -> Any:
    value = ((inner.get("template") or {}).get(name) or {}).get("value")
    return default if value is None else value


@dataclass(frozen=True)
class _Vertex:
    id: str
    display_name: str
    kind: str | None
    default_input: str
    sender: str
    sender_name: str


class _FlowGraph:
    """The parts of a flow's graph a run needs, computed once per stored flow."""

    def __init__(self, raw_flow: dict):
        data = raw_flow.get("data") or {}
        self.vertices: dict[str, _Vertex] = {}
        for node in data.get("nodes") or []:
            node_data = (node or {}).get("data") or {}
            node_id = (node or {}).get("id") or node_data.get("id")
            if not node_id:
                continue
            inner = node_data.get("node") or {}
            self.vertices[node_id] = _Vertex(
                id=node_id,
                display_name=inner.get("display_name") or node_id,
                kind=_node_kind(node_id, node_data.get("type"), inner),
                default_input=str(_template_value(inner, "input_value", "")),
                sender=str(_template_value(inner, "sender", "Machine")),
                sender_name=str(_template_value(inner, "sender_name", "AI")),
            )
        self.inputs = [v.id for v in self.vertices.values() if v.kind == "input"]
        self.targets: dict[str, list[str]] = {}
        self.missing_vertex: str | None = None
        for edge in data.get("edges") or []:
            source, target = (edge or {}).get("source"), (edge or {}).get("target")
            for vertex_id in (target, source):
                if vertex_id not in self.vertices and self.missing_vertex is None:
                    self.missing_vertex = str(vertex_id)
            self.targets.setdefault(source, []).append(target)
        self._reachable: dict[str | None, list[str]] = {}

    def reachable_outputs(self, start: str | None) -> list[str]:
        """Output vertices a run started at ``start`` reaches, in node order (all of them without inputs)."""
        cached = self._reachable.get(start)
        if cached is not None:
            return cached
        if start is None:
            seen = set(self.vertices)
        else:
            seen, todo = {start}, [start]
            while todo:
                for target in self.targets.get(todo.pop(), ()):
                    if target not in seen:
                        seen.add(target)
                        todo.append(target)
        result = [v.id for v in self.vertices.values() if v.kind == "output" and v.id in seen]
        self._reachable[start] = result
        return result


@dataclass(frozen=True)
class LLMUsage:
    """An LLM component inside a flow, as a real 1.13 server reports it on every message it
    feeds (tests/fixtures/langflow-1.13/run_usage_response.json): its id, the model it names, the tokens of one run."""

    component_id: str = "FakeLLM-u2"
    model: str | None = "gpt-4o-mini"
    input_tokens: int = 12
    output_tokens: int = 30

    def properties(self) -> dict:
        return {
            "source": {"id": self.component_id, "display_name": "Fake LLM", "source": self.model or "Fake LLM"},
            "usage": {
                "input_tokens": self.input_tokens,
                "output_tokens": self.output_tokens,
                "total_tokens": self.input_tokens + self.output_tokens,
            },
        }


@dataclass
class _StoredFlow:
    raw: dict
    graph: _FlowGraph
    example: bool = False
    llm: LLMUsage | None = None


def _fixture_nodes() -> dict[str, dict]:
    """The captured nodes (ChatInput, ChatOutput, the Fake LLM custom component, ScheduleTrigger),
    as templates for :meth:`FakeLangFlow.add_flow`."""
    nodes = {}
    for name in ("flows_list.json", "flows_usage_and_trigger.json"):
        for flow in json.loads((FIXTURES_DIR / name).read_text()):
            for node in flow["data"]["nodes"]:
                nodes.setdefault(node["data"]["type"], node)
    return nodes


class FakeLangFlow:
    """A LangFlow-compatible server on 127.0.0.1 and a free (or given) port.

    Fault knobs (plain attributes unless noted; safe to change from any thread at any time):
    ``latency`` seconds added to each run; ``error_rate`` fraction of runs answering 500
    (drawn from a ``random.Random`` seeded with ``seed``); ``hang`` (property) makes runs block
    until it is cleared or the server stops; ``force_status`` makes every run answer that status;
    ``force_detail``, when set, replaces the LangFlow-style detail of ``force_status``;
    ``malformed_json`` answers 200 with a body that is not JSON; ``huge_response_bytes`` pads
    successful run answers to about that size; ``trickle_seconds`` spreads the body of run
    answers over that many seconds; ``down`` (property, or ``pause()``/``resume()``) closes
    the port and every open connection, then re-binds the same port; ``ready`` False makes
    ``/health_check`` answer 500; ``force_paginated`` answers the flow list in the paginated
    ``{"items": ...}`` shape even for ``get_all=true``; ``triggers_api`` False answers
    ``/api/v1/triggers`` 404 "Not Found" (a LangFlow before 1.13); ``trigger_disable_status``
    makes disabling a trigger answer that status.
    """

    def __init__(
        self,
        api_key: str | None = "sk-test-key",
        port: int = 0,
        *,
        host: str = "127.0.0.1",
        flows: Iterable[dict] | None = None,
        seed: int = 0,
        record_limit: int = 100_000,
        verbose: bool = False,
    ):
        self.api_key = api_key
        self.host = host
        self.port = port
        self.verbose = verbose
        self.latency = 0.0
        self.error_rate = 0.0
        self.force_status: int | None = None
        self.force_detail: Any = None
        self.force_paginated = False
        self.triggers_api = True
        self.trigger_disable_status: int | None = None
        self.triggers: dict[str, dict] = {}  # LangFlow's own trigger rows by id (see add_schedule_trigger)
        self.malformed_json = False
        self.huge_response_bytes = 0
        self.trickle_seconds = 0.0
        self.ready = True
        self._lock = threading.Lock()
        self._random = random.Random(seed)
        self._seed = seed
        self._released = threading.Event()  # set = runs may proceed; cleared while hang is on
        self._released.set()
        self._stopping = False
        self._runs: deque[RecordedRun] = deque(maxlen=record_limit)
        self._run_count = 0
        self._served: deque[ServedRequest] = deque(maxlen=1000)
        self._connections: set[socket.socket] = set()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._node_templates = _fixture_nodes()
        self._flows: dict[str, _StoredFlow] = {}
        if flows is None:
            flows = json.loads((FIXTURES_DIR / "flows_list.json").read_text())
        self.set_flows(flows)

    # -- lifecycle ------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> FakeLangFlow:
        self._stopping = False
        self._bind()
        return self

    def stop(self) -> None:
        self._stopping = True
        self._released.set()  # wake hung runs so their threads end
        self._unbind()

    def __enter__(self) -> FakeLangFlow:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def pause(self) -> None:
        """Stop listening and drop open connections: clients now get 'connection refused'."""
        self._unbind()

    def resume(self) -> None:
        """Listen again on the same port."""
        if self._server is None:
            self._bind()

    @property
    def down(self) -> bool:
        return self._server is None

    @down.setter
    def down(self, value: bool) -> None:
        if value:
            self.pause()
        else:
            self.resume()

    def _bind(self) -> None:
        for attempt in range(50):
            try:
                server = _Server((self.host, self.port), _Handler)
                break
            except OSError:
                if self.port == 0 or attempt == 49:
                    raise
                time.sleep(0.02)  # re-binding the same port right after closing it can race the kernel
        server.fake = self
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name=f"fake-langflow-{self.port}", daemon=True
        )
        self._thread.start()

    def _unbind(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    # -- flows ---------------------------------------------------------------------------

    def set_flows(self, flows: Iterable[dict]) -> None:
        """Replace every flow with these raw LangFlow flow objects (each needs an ``id``)."""
        stored = {
            flow["id"]: _StoredFlow(copy.deepcopy(flow), _FlowGraph(flow), flow.get("folder_id") == STARTER_FOLDER_ID)
            for flow in flows
        }
        with self._lock:
            self._flows = stored

    def clear_flows(self) -> None:
        self.set_flows([])

    @property
    def flows(self) -> list[dict]:
        """Copies of the stored flows, in listing order."""
        return [copy.deepcopy(stored.raw) for stored in self._flows.values()]

    def add_flow(
        self,
        name: str,
        *,
        inputs: Iterable[str] = ("ChatInput-in001",),
        outputs: Iterable[str] = ("ChatOutput-out01",),
        others: Iterable[str] = (),
        edges: Iterable[tuple[str, str]] | None = None,
        flow_id: str | None = None,
        is_component: bool = False,
        description: str | None = None,
        endpoint_name: str | None = None,
        example: bool = False,
        llm: LLMUsage | None = None,
    ) -> str:
        """Add a flow in LangFlow's JSON shape and return its id.

        Node types come from the ids' prefix (``ChatInput-in001`` is a ChatInput); ``others`` are
        components that are neither (``Prompt-p0001``). ``edges`` are ``(source, target)`` pairs,
        by default every input to every output; an edge may name a vertex that does not exist, to
        build a broken flow. With ``llm`` every answer carries that component's token usage and
        model, as a Chat Output fed by an LLM does.
        """
        inputs, outputs, others = list(inputs), list(outputs), list(others)
        flow_id = flow_id or str(uuid.uuid4())
        if edges is None:
            edges = [(source, target) for source in inputs for target in outputs]
        flow = {
            "name": name,
            "description": description,
            "icon": None,
            "icon_bg_color": None,
            "gradient": None,
            "data": {
                "nodes": [self._node(node_id) for node_id in inputs + others + outputs],
                "edges": [_edge(source, target) for source, target in edges],
            },
            "is_component": is_component,
            "updated_at": datetime.now(UTC).replace(microsecond=0).isoformat(),
            "webhook": False,
            "endpoint_name": endpoint_name,
            "tags": None,
            "locked": False,
            "mcp_enabled": False,
            "action_name": None,
            "action_description": None,
            "access_type": "PRIVATE",
            "flow_type": "workflow",
            "a2a_enabled": False,
            "a2a_card_overrides": None,
            "id": flow_id,
            "user_id": "a44faf67-f1af-4d22-9a37-25e7dfd90562",
            "folder_id": STARTER_FOLDER_ID if example else USER_FOLDER_ID,
            "workspace_id": None,
            "name_key": None,
            "version_token": str(uuid.uuid4()),
        }
        with self._lock:
            if flow_id in self._flows:
                raise ValueError(f"flow {flow_id} already exists")
            self._flows = {**self._flows, flow_id: _StoredFlow(flow, _FlowGraph(flow), example, llm)}
        return flow_id

    def add_schedule_trigger(
        self,
        flow_id: str,
        cron: str = "0 9 * * *",
        zone: str = "Europe/Lisbon",
        catchup_policy: str = "coalesce",
        state: str = "active",
    ) -> str:
        """Put a ScheduleTrigger node in a stored flow and the trigger row LangFlow 1.13 makes of
        it when the flow is saved (shape as served: see tests/fixtures/langflow-1.13); returns its id."""
        node_id = f"ScheduleTrigger-{uuid.uuid4().hex[:5]}"
        trigger_id = str(uuid.uuid4())
        stamp = datetime.now(UTC).replace(tzinfo=None).isoformat(timespec="seconds")  # UTC, no offset
        with self._lock:
            stored = self._flows[flow_id]
            raw = copy.deepcopy(stored.raw)
            raw["data"]["nodes"].append(self._node(node_id))
            self._flows = {**self._flows, flow_id: _StoredFlow(raw, _FlowGraph(raw), stored.example, stored.llm)}
            self.triggers[trigger_id] = {
                **copy.deepcopy(TRIGGER_ROW),
                "id": trigger_id,
                "flow_id": flow_id,
                "user_id": raw.get("user_id"),
                "name": f"Schedule {cron}",
                "node_id": node_id,
                "config": {"cron": cron, "timezone": zone, "catchup_policy": catchup_policy, "share_session": False},
                "state": state,
                "next_fire_at": None,
                "created_at": stamp,
                "updated_at": stamp,
            }
        return trigger_id

    def remove_flow(self, flow_id: str) -> None:
        with self._lock:
            self._flows = {key: value for key, value in self._flows.items() if key != flow_id}

    def _node(self, node_id: str) -> dict:
        node_type = node_id.split("-", 1)[0]
        template = self._node_templates.get(node_type)
        if template is not None:
            node = copy.deepcopy(template)
        else:
            display = "".join(f" {c}" if c.isupper() and i else c for i, c in enumerate(node_type))
            node = {
                "id": node_id,
                "type": "genericNode",
                "position": {"x": 0, "y": 0},
                "data": {
                    "id": node_id,
                    "type": node_type,
                    "node": {
                        "display_name": display,
                        "description": "",
                        "base_classes": ["Message"],
                        "template": {
                            "_type": "Component",
                            "code": {"type": "code", "value": "<component source omitted>"},
                            "input_value": {"type": "str", "value": ""},
                        },
                        "outputs": [{"name": "message", "types": ["Message"]}],
                    },
                },
            }
        node["id"] = node["data"]["id"] = node_id
        return node

    def _find_flow(self, ident: str) -> _StoredFlow | None:
        flows = self._flows
        stored = flows.get(ident)
        if stored is None:
            stored = next((f for f in flows.values() if f.raw.get("endpoint_name") == ident), None)
        return stored

    # -- fault knobs with state ----------------------------------------------------------

    @property
    def hang(self) -> bool:
        return not self._released.is_set()

    @hang.setter
    def hang(self, value: bool) -> None:
        if value:
            self._released.clear()
        else:
            self._released.set()

    @property
    def seed(self) -> int:
        return self._seed

    @seed.setter
    def seed(self, value: int) -> None:
        with self._lock:
            self._seed = value
            self._random = random.Random(value)

    # -- records -------------------------------------------------------------------------

    @property
    def runs(self) -> list[RecordedRun]:
        with self._lock:
            return list(self._runs)

    @property
    def run_count(self) -> int:
        return self._run_count

    @property
    def served(self) -> list[ServedRequest]:
        with self._lock:
            return list(self._served)

    def reset_records(self) -> None:
        with self._lock:
            self._runs.clear()
            self._served.clear()
            self._run_count = 0

    # -- request handling (runs on the server's threads) -------------------------------

    def _handle(self, handler: _Handler, method: str) -> None:
        split = urlsplit(handler.path)
        path, query = split.path, parse_qs(split.query)
        length = int(handler.headers.get("Content-Length") or 0)
        raw_body = handler.rfile.read(length) if length else b""
        if path.startswith("/api/v1/triggers"):
            return self._triggers(handler, method, path, query)
        if path.startswith("/api/v1/run/") and not path.startswith("/api/v1/run/advanced/"):
            if method != "POST":
                return self._reply(handler, method, path, 405, {"detail": "Method Not Allowed"})
            return self._run(handler, path, query, raw_body)
        if method != "GET":
            return self._reply(
                handler,
                method,
                path,
                405 if path in _GET_ROUTES else 404,
                {"detail": "Method Not Allowed" if path in _GET_ROUTES else "Not Found"},
            )
        if path == "/health":
            return self._reply(handler, method, path, 200, {"status": "ok"})
        if path == "/health_check":
            if self.ready:
                return self._reply(handler, method, path, 200, _MISC["health_check"]["body"])
            return self._reply(
                handler, method, path, 500, {"status": "nok", "chat": "ok", "db": "error check the server logs"}
            )
        if path == "/api/v1/version":
            return self._reply(handler, method, path, 200, _MISC["version"]["body"])
        if path in ("/api/v1/flows", "/api/v1/flows/"):
            return self._list_flows(handler, path, query)
        if path.startswith("/api/v1/flows/"):
            return self._get_flow(handler, path, query)
        return self._reply(handler, method, path, 404, {"detail": "Not Found"})

    def _triggers(self, handler: _Handler, method: str, path: str, query: dict) -> None:
        """GET /api/v1/triggers?flow_id=, POST /api/v1/triggers/{id}/disable and /enable, as 1.13."""
        if not self.triggers_api:
            return self._reply(handler, method, path, 404, {"detail": "Not Found"})
        refusal = self._auth_refusal(handler, query, run=False)
        if refusal:
            return self._reply(handler, method, path, refusal[0], {"detail": refusal[1]})
        parts = path.rstrip("/").split("/")[4:]  # after /api/v1/triggers
        if method == "GET" and not parts:
            flow_id = (query.get("flow_id") or [None])[0]
            if flow_id is None:
                return self._reply(
                    handler,
                    method,
                    path,
                    422,
                    {
                        "detail": [
                            {"type": "missing", "loc": ["query", "flow_id"], "msg": "Field required", "input": None}
                        ]
                    },
                )
            with self._lock:
                rows = [copy.deepcopy(t) for t in self.triggers.values() if t["flow_id"] == flow_id]
            return self._reply(handler, method, path, 200, rows)
        if method == "POST" and len(parts) == 2 and parts[1] in ("disable", "enable"):
            if parts[1] == "disable" and self.trigger_disable_status:
                return self._reply(
                    handler,
                    method,
                    path,
                    self.trigger_disable_status,
                    {"detail": "Trigger in state 'dead' cannot be disabled."},
                )
            with self._lock:  # not held while replying: _reply takes it too
                row = self.triggers.get(parts[0])
                if row is not None:
                    row["state"] = "paused" if parts[1] == "disable" else "active"
                    answer = copy.deepcopy(row)
            if row is None:
                return self._reply(handler, method, path, 404, {"detail": "Trigger not found"})
            return self._reply(handler, method, path, 200, answer)
        return self._reply(handler, method, path, 404 if method == "GET" else 405, {"detail": "Not Found"})

    def _auth_refusal(self, handler: _Handler, query: dict, *, run: bool) -> tuple[int, str] | None:
        if self.api_key is None:
            return None
        key = handler.headers.get("x-api-key") or (query.get("x-api-key") or [None])[0]
        if key is None:
            if run:
                return 403, NO_KEY_DETAIL
            if (handler.headers.get("Authorization") or "").lower().startswith("bearer "):
                return 401, BAD_BEARER_DETAIL
            return 403, LIST_NO_KEY_DETAIL
        if not hmac.compare_digest(key.encode(), self.api_key.encode()):
            return 403, WRONG_KEY_DETAIL
        return None

    def _list_flows(self, handler: _Handler, path: str, query: dict) -> None:
        refusal = self._auth_refusal(handler, query, run=False)
        if refusal:
            return self._reply(handler, "GET", path, refusal[0], {"detail": refusal[1]})
        try:
            get_all = _query_bool(query, "get_all", True)
            header_flows = _query_bool(query, "header_flows", False)
            components_only = _query_bool(query, "components_only", False)
            remove_examples = _query_bool(query, "remove_example_flows", False)
            page = _query_int(query, "page", 1, minimum=1)
            size = _query_int(query, "size", 50, minimum=1, maximum=100)
        except _InvalidQuery as invalid:
            return self._reply(handler, "GET", path, 422, {"detail": [invalid.item]})
        flows = [
            stored.raw
            for stored in self._flows.values()
            if not (remove_examples and stored.example) and (not components_only or stored.raw.get("is_component"))
        ]
        if header_flows:
            flows = [{key: flow.get(key) for key in _HEADER_FIELDS} for flow in flows]
        if get_all and not self.force_paginated:
            return self._reply(handler, "GET", path, 200, flows)
        total = len(flows)
        items = flows[(page - 1) * size : page * size]
        return self._reply(
            handler,
            "GET",
            path,
            200,
            {"items": items, "total": total, "page": page, "size": size, "pages": math.ceil(total / size)},
        )

    def _get_flow(self, handler: _Handler, path: str, query: dict) -> None:
        refusal = self._auth_refusal(handler, query, run=False)
        if refusal:
            return self._reply(handler, "GET", path, refusal[0], {"detail": refusal[1]})
        stored = self._flows.get(unquote(path[len("/api/v1/flows/") :].rstrip("/")))
        if stored is None:
            return self._reply(handler, "GET", path, 404, {"detail": "Flow not found"})
        return self._reply(handler, "GET", path, 200, stored.raw)

    def _run(self, handler: _Handler, path: str, query: dict, raw_body: bytes) -> None:
        ident = unquote(path[len("/api/v1/run/") :].rstrip("/"))
        try:
            body = json.loads(raw_body) if raw_body.strip() else {}
        except ValueError:
            body = None
        record = RecordedRun(
            flow_id=ident,
            body=body,
            query={k: v[-1] for k, v in query.items()},
            headers={k.lower(): v for k, v in handler.headers.items()},
            received_at=time.time(),
        )
        with self._lock:
            self._runs.append(record)
            self._run_count += 1

        status, payload, raw, extra = self._run_outcome(handler, ident, query, body)
        if status is None:  # the server stopped while this run hung: answer nothing
            handler.close_connection = True
            return
        record.status, record.answered_at = status, time.time()
        self._reply(
            handler,
            "POST",
            path,
            status,
            payload,
            raw=raw,
            extra_headers=extra,
            trickle=self.trickle_seconds if status == 200 else 0.0,
        )

    def _run_outcome(self, handler: _Handler, ident: str, query: dict, body: Any):
        """(status, payload, raw body, extra headers) for one run, faults first."""
        if not self._released.is_set():
            self._released.wait()
            if self._stopping:
                return None, None, None, ()
        if self.latency > 0:
            time.sleep(self.latency)
        forced = self.force_status
        if forced is not None:
            extra = (("Retry-After", "1"),) if forced == 429 else ()
            detail = self.force_detail if self.force_detail is not None else _canned_detail(forced, ident)
            return forced, {"detail": detail}, None, extra
        refusal = self._auth_refusal(handler, query, run=True)
        if refusal:
            return refusal[0], {"detail": refusal[1]}, None, ()
        if self.error_rate > 0:
            with self._lock:
                failed = self._random.random() < self.error_rate
            if failed:
                return 500, {"detail": _server_error_detail("ChatOutput")}, None, ()
        stored = self._find_flow(ident)
        if stored is None:
            return 404, {"detail": f"Flow identifier {ident} not found"}, None, ()
        problems = _validate_run_body(body)
        if problems:
            return 422, {"detail": problems}, None, ()
        conflict = _input_conflict(body)
        if conflict:
            return 400, {"detail": conflict}, None, ()
        if stored.graph.missing_vertex is not None:
            return 404, {"detail": f"Vertex {stored.graph.missing_vertex} not found"}, None, ()
        if self.malformed_json:
            return 200, None, b'{"session_id": "' + ident.encode() + b'", "outputs": [{"inputs": ', ()
        response = _run_response(stored, body)
        if self.huge_response_bytes > 0:
            unpadded = len(json.dumps(response, **JSON)) + len(',"padding":""')
            response["padding"] = "x" * max(0, self.huge_response_bytes - unpadded)
        return 200, response, None, ()

    def _reply(
        self,
        handler: _Handler,
        method: str,
        path: str,
        status: int,
        payload: Any,
        *,
        raw: bytes | None = None,
        extra_headers: Iterable[tuple[str, str]] = (),
        trickle: float = 0.0,
    ) -> None:
        body = raw if raw is not None else json.dumps(payload, **JSON).encode()
        encoding = None
        if len(body) >= GZIP_MIN_BYTES and "gzip" in (handler.headers.get("Accept-Encoding") or ""):
            body, encoding = gzip.compress(body, compresslevel=6, mtime=0), "gzip"
        with self._lock:  # recorded before sending, so a client that got the answer also sees the record
            self._served.append(ServedRequest(method, path, urlsplit(handler.path).query, status, encoding, len(body)))
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(body)))
            if encoding:
                handler.send_header("Content-Encoding", encoding)
                handler.send_header("Vary", "Accept-Encoding")
            for name, value in extra_headers:
                handler.send_header(name, value)
            handler.end_headers()
            if trickle > 0 and body:
                step = max(1, math.ceil(len(body) / TRICKLE_CHUNKS))
                for start in range(0, len(body), step):
                    handler.wfile.write(body[start : start + step])
                    time.sleep(trickle / TRICKLE_CHUNKS)
            else:
                handler.wfile.write(body)
        except OSError:
            handler.close_connection = True  # the client went away (timeout, pause): nothing to do

    def _track(self, connection: socket.socket, opened: bool) -> None:
        with self._lock:
            if opened:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)


# -- run semantics ------------------------------------------------------------------------


def _validate_run_body(body: Any) -> list[dict]:
    """FastAPI-style 422 items for a run body that does not fit LangFlow's request model."""
    if body is None:
        return [
            {
                "type": "json_invalid",
                "loc": ["body", 0],
                "msg": "JSON decode error",
                "input": {},
                "ctx": {"error": "Expecting value"},
            }
        ]
    if not isinstance(body, dict):
        return [
            {
                "type": "model_attributes_type",
                "loc": ["body"],
                "msg": "Input should be a valid dictionary or object to extract fields from",
                "input": body,
            }
        ]
    problems = []
    for name, allowed in (("input_type", ("chat", "text", "any")), ("output_type", ("chat", "text", "any", "debug"))):
        value = body.get(name, "chat")
        if value not in allowed:
            expected = ", ".join(f"'{a}'" for a in allowed[:-1]) + f" or '{allowed[-1]}'"
            problems.append(
                {
                    "type": "literal_error",
                    "loc": ["body", name],
                    "msg": f"Input should be {expected}",
                    "input": value,
                    "ctx": {"expected": expected},
                }
            )
    for name in ("input_value", "output_component", "session_id"):
        if body.get(name) is not None and not isinstance(body[name], str):
            problems.append(
                {
                    "type": "string_type",
                    "loc": ["body", name],
                    "msg": "Input should be a valid string",
                    "input": body[name],
                }
            )
    if body.get("tweaks") is not None and not isinstance(body["tweaks"], dict):
        problems.append(
            {
                "type": "dict_type",
                "loc": ["body", "tweaks"],
                "msg": "Input should be a valid dictionary",
                "input": body["tweaks"],
            }
        )
    return problems


def _input_conflict(body: dict) -> str | None:
    """LangFlow's 400: a top-level input_value plus a tweak of an input component's input_value."""
    if body.get("input_value") is None:
        return None
    input_type = body.get("input_type", "chat")
    for component_id, fields in (body.get("tweaks") or {}).items():
        if not isinstance(fields, dict) or fields.get("input_value") is None:
            continue
        if ("ChatInput" in component_id or "Chat Input" in component_id) and input_type == "chat":
            return CHAT_CONFLICT_DETAIL
        if ("TextInput" in component_id or "Text Input" in component_id) and input_type == "text":
            return TEXT_CONFLICT_DETAIL
    return None


def _run_response(stored: _StoredFlow, body: dict) -> dict:
    """Echo the input to every output reachable from the one input LangFlow starts from."""
    graph, flow_id = stored.graph, stored.raw["id"]
    tweaks = body.get("tweaks") or {}
    start = next((key for key in tweaks if key in graph.inputs), graph.inputs[0] if graph.inputs else None)
    start_tweaks = tweaks.get(start) if isinstance(tweaks.get(start), dict) else {}
    if start_tweaks.get("input_value") is not None:
        text = str(start_tweaks["input_value"])
    elif body.get("input_value") is not None:
        text = body["input_value"]
    else:
        text = graph.vertices[start].default_input if start else ""
    chosen = body.get("output_component") or ""
    reachable = graph.reachable_outputs(start)
    if chosen:
        output_ids = [chosen] if chosen in reachable else []
    else:
        output_type = body.get("output_type", "chat")
        output_ids = [
            vertex_id for vertex_id in reachable if output_type in ("any", "debug") or output_type in vertex_id.lower()
        ]
    session_id = body.get("session_id") or flow_id  # LangFlow 1.13 defaults the session to the flow id
    run_id = str(uuid.uuid4())
    source = graph.vertices.get(start) if start else None
    entries = []
    for vertex_id in output_ids:
        vertex = graph.vertices[vertex_id]
        vertex_tweaks = tweaks.get(vertex_id) if isinstance(tweaks.get(vertex_id), dict) else {}
        entries.append(
            _output_entry(
                vertex,
                text,
                source,
                session_id,
                flow_id,
                run_id,
                stored.llm,
                sender=str(vertex_tweaks.get("sender") or vertex.sender),
                sender_name=str(vertex_tweaks.get("sender_name") or vertex.sender_name),
            )
        )
    inputs = {"input_value": body["input_value"]} if body.get("input_value") is not None else {}
    return {"session_id": session_id, "outputs": [{"inputs": inputs, "outputs": entries}]}


def _output_entry(
    vertex: _Vertex,
    text: str,
    source: _Vertex | None,
    session_id: str,
    flow_id: str,
    run_id: str,
    llm: LLMUsage | None,
    *,
    sender: str,
    sender_name: str,
) -> dict:
    """One ``outputs[0].outputs[i]`` entry, shaped like the captured ChatOutput entry."""
    stamp = _utc_stamp()
    properties = {
        "text_color": None,
        "background_color": None,
        "edited": False,
        "source": {
            "id": source.id if source else None,
            "display_name": source.display_name if source else None,
            "source": source.display_name if source else None,
        },
        "icon": None,
        "allow_markdown": False,
        "positive_feedback": None,
        "state": "complete",
        "targets": [],
        "usage": None,
        "build_duration": None,
    }
    if llm is not None:
        properties.update(llm.properties())
    session_metadata = {"graph_run_id": run_id}
    data = {
        "timestamp": stamp,
        "sender": sender,
        "sender_name": sender_name,
        "session_id": session_id,
        "context_id": "",
        "text": text,
        "files": [],
        "error": False,
        "edit": False,
        "properties": properties,
        "category": "message",
        "content_blocks": [],
        "session_metadata": session_metadata,
        "id": str(uuid.uuid4()),
        "flow_id": flow_id,
        "run_id": run_id,
        "duration": None,
    }
    message = {
        "text_key": "text",
        "data": data,
        "default_value": "",
        "sender": sender,
        "sender_name": sender_name,
        "files": [],
        "session_id": session_id,
        "context_id": "",
        "run_id": run_id,
        "timestamp": stamp,
        "flow_id": flow_id,
        "error": False,
        "edit": False,
        "properties": properties,
        "category": "message",
        "content_blocks": [],
        "duration": None,
        "session_metadata": session_metadata,
        "text": text,
    }
    return {
        "results": {"message": message},
        "artifacts": {"message": text, "sender": sender, "sender_name": sender_name, "files": [], "type": "object"},
        "outputs": {"message": {"message": text, "type": "text"}},
        "logs": {"message": []},
        "messages": [
            {
                "message": text,
                "sender": sender,
                "sender_name": sender_name,
                "session_id": session_id,
                "stream_url": None,
                "component_id": vertex.id,
                "files": [],
                "type": "text",
            }
        ],
        "timedelta": None,
        "duration": None,
        "component_display_name": vertex.display_name,
        "component_id": vertex.id,
        "used_frozen_result": False,
        "token_usage": None,
    }


# -- HTTP plumbing --------------------------------------------------------------------------

_GET_ROUTES = {"/health", "/health_check", "/api/v1/version", "/api/v1/flows", "/api/v1/flows/"}
#: What ``header_flows=true`` keeps of each flow (no graph).
_HEADER_FIELDS = (
    "id",
    "name",
    "folder_id",
    "is_component",
    "endpoint_name",
    "description",
    "access_type",
    "tags",
    "mcp_enabled",
    "action_name",
    "action_description",
    "updated_at",
)


class _InvalidQuery(ValueError):
    def __init__(self, item: dict):
        super().__init__(item["msg"])
        self.item = item


def _query_bool(query: dict, name: str, default: bool) -> bool:
    values = query.get(name)
    if not values:
        return default
    value = values[-1].lower()
    if value in ("true", "1", "yes", "on"):
        return True
    if value in ("false", "0", "no", "off"):
        return False
    raise _InvalidQuery(
        {
            "type": "bool_parsing",
            "loc": ["query", name],
            "msg": "Input should be a valid boolean, unable to interpret input",
            "input": values[-1],
        }
    )


def _query_int(query: dict, name: str, default: int, *, minimum: int, maximum: int | None = None) -> int:
    values = query.get(name)
    if not values:
        return default
    try:
        value = int(values[-1])
    except ValueError:
        raise _InvalidQuery(
            {
                "type": "int_parsing",
                "loc": ["query", name],
                "msg": "Input should be a valid integer, unable to parse string as an integer",
                "input": values[-1],
            }
        ) from None
    if value < minimum or (maximum is not None and value > maximum):
        bound = f"greater than or equal to {minimum}" if value < minimum else f"less than or equal to {maximum}"
        raise _InvalidQuery(
            {
                "type": "greater_than_equal" if value < minimum else "less_than_equal",
                "loc": ["query", name],
                "msg": f"Input should be {bound}",
                "input": values[-1],
            }
        )
    return value


def _edge(source: str, target: str) -> dict:
    source_handle = {"dataType": source.split("-", 1)[0], "id": source, "name": "message", "output_types": ["Message"]}
    target_handle = {"fieldName": "input_value", "id": target, "inputTypes": ["Message"], "type": "str"}
    return {
        "id": f"e-{source}-{target}",
        "source": source,
        "target": target,
        "sourceHandle": json.dumps(source_handle),
        "targetHandle": json.dumps(target_handle),
        "data": {"sourceHandle": source_handle, "targetHandle": target_handle},
    }


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 1024  # hundreds of clients may connect at once
    fake: FakeLangFlow


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as uvicorn does
    disable_nagle_algorithm = True  # headers and body go out as two writes; don't let Nagle delay the body
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.fake._track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.fake._track(self.connection, False)

    def version_string(self) -> str:
        return "uvicorn"

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.fake.verbose:
            sys.stderr.write(f"{self.address_string()} - {format % args}\n")

    def _dispatch(self) -> None:
        try:
            self.server.fake._handle(self, self.command)
        except Exception as exc:  # a bug in this server: answer like LangFlow would, and keep serving
            self.server.fake._reply(self, self.command, self.path, 500, {"detail": f"Test server error: {exc!r}"})

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _dispatch


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve a LangFlow-compatible fake for demos and tests.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7860)
    parser.add_argument("--api-key", default="sk-test-key")
    parser.add_argument("--no-auth", action="store_true", help="accept requests without an API key")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to each run")
    parser.add_argument("--error-rate", type=float, default=0.0, help="fraction of runs answering 500")
    parser.add_argument("--verbose", action="store_true", help="print every request")
    args = parser.parse_args(argv)
    fake = FakeLangFlow(
        api_key=None if args.no_auth else args.api_key, port=args.port, host=args.host, verbose=args.verbose
    )
    fake.latency, fake.error_rate = args.latency, args.error_rate
    fake.start()
    print(f"Fake LangFlow 1.13 listening on {fake.url}", flush=True)
    print("API key: " + ("none needed" if args.no_auth else args.api_key), flush=True)
    for flow in fake.flows:
        print(f"  flow {flow['id']}  {flow['name']}", flush=True)
    stop_requested = threading.Event()
    for signal_number in (signal.SIGINT, signal.SIGTERM):  # Ctrl-C, or `kill` from a test harness
        signal.signal(signal_number, lambda *_: stop_requested.set())
    try:
        stop_requested.wait()
    finally:
        fake.stop()
        print("Fake LangFlow stopped.", flush=True)


if __name__ == "__main__":
    main()
