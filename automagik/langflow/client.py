"""LangFlow's REST API as the scheduler uses it: health, list flows, get a flow, run a flow.

Every failure comes out as one of the typed errors in :mod:`automagik.langflow.errors`, so
callers never see a transport exception. The API key travels only in the ``x-api-key``
header (LangFlow reads an ``Authorization: Bearer`` value as a JWT and refuses an API key
there) and never appears in a message, a log line or ``repr``. A ``user:password@`` in the URL
(for a proxy in front of LangFlow) is sent as ``Authorization: Basic`` and is not shown either:
messages name the address through :func:`automagik.langflow.urls.display_url`. The requests
themselves, their pool, proxies and deadlines are :mod:`automagik.langflow.http`'s.

Every call has one limit for the whole exchange (connect, TLS, headers, body): ``run_flow``'s
``timeout``, else the read timeout (for ``health``, at most HEALTH_READ_TIMEOUT).
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from automagik.langflow.answers import find_output_entry, output_text, trim_message
from automagik.langflow.errors import (
    LangFlowBadResponse,
    LangFlowError,
    LangFlowNoOutput,
    LangFlowRouteMissing,
    one_line,
)
from automagik.langflow.http import LangFlowHttp, json_or_none
from automagik.langflow.transport import Deadline
from automagik.langflow.usage import ModelUsage, read_usage

#: Health checks are quick by nature; a long read timeout would only delay a "down" verdict.
HEALTH_READ_TIMEOUT = 10.0

# What to do about a call that ran out of time, by kind of call (the end of its message).
RUN_SLOW_HINT = "If the flow is just slow, raise the timeout."
HEALTH_SLOW_HINT = "Check that LangFlow is not overloaded or stuck."


@dataclass(frozen=True)
class LangFlowHealth:
    """What :meth:`LangFlowClient.health` found out."""

    reachable: bool
    ready: bool
    version: str | None
    detail: str


@dataclass(frozen=True)
class RunResult:
    """The answer of one flow run, small enough to store with the task."""

    text: str | None
    session_id: str | None
    component_id: str
    message: dict
    latency_ms: float
    status_code: int
    usage: tuple[ModelUsage, ...] = ()  # tokens the run's messages reported, per model

    def to_dict(self) -> dict:
        """A JSON-serialisable copy, for storing in the task's result column (the usage is
        stored in the task's own columns)."""
        # Built by hand: dataclasses.asdict deep-copies the message (its own fresh dict, see
        # answers.trim_message), which cost more CPU per run than the rest of recording it.
        return {
            "text": self.text,
            "session_id": self.session_id,
            "component_id": self.component_id,
            "message": self.message,
            "latency_ms": self.latency_ms,
            "status_code": self.status_code,
        }


def deep_merge(base: dict, override: dict) -> dict:
    """A new dict of ``base`` with ``override`` merged in; nested dicts merge, other values win."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


class LangFlowClient:
    """One LangFlow server's API, its requests sent by :class:`~automagik.langflow.http.LangFlowHttp`.

    ``read_timeout`` bounds each call as a whole, connect included (``run_flow`` may give its
    own); ``connect_timeout`` bounds the connection alone. ``pool_size`` is how many
    connections are kept open for concurrent runs from several threads.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        connect_timeout: float = 5.0,
        read_timeout: float = 120.0,
        *,
        pool_size: int = 32,
    ):
        self._http = LangFlowHttp(base_url, api_key, connect_timeout, read_timeout, pool_size=pool_size)
        #: Where requests go: the URL without its login. ``shown_url`` is what messages name.
        self.base_url, self.shown_url = self._http.base_url, self._http.shown_url
        self.connect_timeout, self.read_timeout = self._http.connect_timeout, self._http.read_timeout
        self._api_key = api_key or None

    def __repr__(self) -> str:
        key_state = "set" if self._api_key else "not set"
        return (
            f"LangFlowClient(base_url={self.shown_url!r}, api_key={key_state}, "
            f"timeouts=({self.connect_timeout:g}, {self.read_timeout:g}))"
        )

    def close(self) -> None:
        """Close pooled connections."""
        self._http.close()

    def __enter__(self) -> LangFlowClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- endpoints -----------------------------------------------------------------------

    def health(self) -> LangFlowHealth:
        """Probe ``/health_check`` (readiness) and ``/api/v1/version``. Never raises for network trouble."""
        limit = min(self.read_timeout, HEALTH_READ_TIMEOUT)
        whole = Deadline(limit)  # both requests together, so a slow version does not double it
        try:
            response = self._http.request(
                "GET",
                "/health_check",
                action="checking health",
                limit=limit,
                slow_hint=HEALTH_SLOW_HINT,
                raise_for_status=False,
            )
        except LangFlowError as err:
            return LangFlowHealth(reachable=False, ready=False, version=None, detail=err.message)
        version = self._version(whole.remaining())
        status_body = json_or_none(response)
        ready = response.status_code == 200 and isinstance(status_body, dict) and status_body.get("status") == "ok"
        named = f"LangFlow {version}" if version else "LangFlow"
        if ready:
            detail = f"{named} at {self.shown_url} is ready."
        elif response.status_code == 200:
            detail = (
                f"{self.shown_url} answered /health_check but not as LangFlow does. "
                "Check that LANGFLOW_API_URL points at LangFlow."
            )
        else:
            detail = (
                f"{named} at {self.shown_url} is up but not ready (/health_check answered HTTP "
                f"{response.status_code}{_health_problems(status_body)}). Wait for it to finish "
                "starting or check its database."
            )
        return LangFlowHealth(reachable=True, ready=ready, version=version, detail=one_line(detail, self._api_key))

    def list_flows(self) -> list[dict]:
        """Every runnable flow of the key's user; saved components and example flows are left out."""
        params = {"get_all": "true", "remove_example_flows": "true", "components_only": "false"}
        body = self._http.json(
            self._http.request("GET", "/api/v1/flows/", params=params, action="listing flows"), action="listing flows"
        )
        if isinstance(body, dict) and isinstance(body.get("items"), list):
            body = body["items"]  # the paginated shape, answered when get_all is ignored
        if not isinstance(body, list):
            raise self.bad_shape("listing flows", "a list of flows")
        return [flow for flow in body if isinstance(flow, dict) and not flow.get("is_component")]

    def check_key(self) -> None:
        """Raise LangFlowAuthError if LangFlow refuses the API key (one flow header is asked
        for: cheap, and only an accepted key gets it); other failures raise as usual."""
        params = {"get_all": "false", "header_flows": "true", "page": "1", "size": "1"}
        self._http.request(
            "GET",
            "/api/v1/flows/",
            params=params,
            action="checking the API key",
            limit=min(self.read_timeout, HEALTH_READ_TIMEOUT),
            slow_hint=HEALTH_SLOW_HINT,
        )

    def api_json(self, method: str, path: str, *, action: str, params: dict | None = None) -> Any:
        """The JSON answer of one API call, for the endpoint modules beside this one (triggers.py).
        A route this LangFlow does not have (an older version: 404 "Not Found") raises
        LangFlowRouteMissing; other failures raise the usual typed errors."""
        response = self._http.request(method, path, params=params, action=action, raise_for_status=False)
        if response.status_code == 404 and json_or_none(response) == {"detail": "Not Found"}:
            raise LangFlowRouteMissing(
                f"LangFlow at {self.shown_url} has no {path.split('?')[0]} (an older " "version)",
                status=404,
                secret=self._api_key,
            )
        if response.status_code >= 400:
            raise self._http.status_error(response, action)
        return self._http.json(response, action=action)

    def get_flow(self, flow_id: str) -> dict:
        """One flow with its whole graph."""
        action = f"getting flow {flow_id}"
        body = self._http.json(
            self._http.request("GET", f"/api/v1/flows/{_path_part(flow_id)}", action=action), action=action
        )
        if not isinstance(body, dict):
            raise self.bad_shape(action, "a flow object")
        return body

    def run_flow(
        self,
        flow_id: str,
        *,
        input_component: str,
        output_component: str,
        input_text: str,
        tweaks: dict | None = None,
        timeout: float | None = None,
        session_id: str | None = None,
    ) -> RunResult:
        """Run a flow with ``input_text`` fed to ``input_component``; return ``output_component``'s answer.

        The text goes in as a tweak of the chosen input component, never as the top-level
        ``input_value``: LangFlow would otherwise feed whichever input it starts from, and it
        refuses (400) a top-level value together with a tweak of the same field.
        ``timeout`` replaces the read timeout for this call (flows with LLM calls are slow).
        """
        if not input_component or not output_component:
            raise ValueError("run_flow needs both input_component and output_component.")
        if tweaks is not None and not isinstance(tweaks, dict):
            raise ValueError("tweaks must be a dict of {component_id: {field: value}}.")
        merged_tweaks = deep_merge(tweaks or {}, {input_component: {"input_value": input_text}})
        payload: dict[str, Any] = {
            "input_type": "chat",
            "output_type": "chat",
            "output_component": output_component,
            "tweaks": merged_tweaks,
        }
        if session_id:
            payload["session_id"] = session_id
        action = f"running flow {flow_id}"
        started = time.perf_counter()
        limit = self.read_timeout if timeout is None else float(timeout)
        response = self._http.request(
            "POST",
            f"/api/v1/run/{_path_part(flow_id)}",
            params={"stream": "false"},
            json_body=payload,
            action=action,
            limit=limit,
            slow_hint=RUN_SLOW_HINT,
        )
        body = self._http.json(response, action=action)
        latency_ms = (time.perf_counter() - started) * 1000.0
        if not isinstance(body, dict):
            raise self.bad_shape(action, "a run result object")
        entry = find_output_entry(body, output_component)
        if entry is None:
            raise LangFlowNoOutput(
                f"LangFlow returned no output from component {output_component} for flow {flow_id}. "
                f"Check that the chosen input component {input_component} is connected to output "
                f"component {output_component} in the flow.",
                secret=self._api_key,
            )
        text = output_text(entry)
        message = trim_message(entry, text)
        body_session = body.get("session_id")
        return RunResult(
            text=text,
            session_id=body_session if isinstance(body_session, str) else message.get("session_id"),
            component_id=output_component,
            message=message,
            latency_ms=round(latency_ms, 3),
            status_code=response.status_code,
            usage=tuple(read_usage(body)),
        )

    def bad_shape(self, action: str, expected: str) -> LangFlowBadResponse:
        """The error for JSON that is not what an endpoint answers (triggers.py uses it too)."""
        return self._http.bad_shape(action, expected)

    # -- plumbing ------------------------------------------------------------------------

    def _version(self, limit: float) -> str | None:
        if limit <= 0:
            return None
        try:
            body = json_or_none(self._http.request("GET", "/api/v1/version", action="reading the version", limit=limit))
        except LangFlowError:
            return None
        version = body.get("version") if isinstance(body, dict) else None
        return version if isinstance(version, str) else None


def _health_problems(body: Any) -> str:
    """``: db: error ...`` from a not-ready /health_check body, for the health detail line."""
    if not isinstance(body, dict):
        return ""
    problems = [
        f"{key}: {value}" for key, value in body.items() if key != "status" and isinstance(value, str) and value != "ok"
    ]
    return ": " + ", ".join(problems) if problems else ""


def _path_part(identifier: str) -> str:
    """Quote a flow id or endpoint name so it stays one path segment."""
    return quote(str(identifier), safe="")
