"""HTTP client for LangFlow's REST API: health, list flows, get a flow, run a flow.

Every failure comes out as one of the typed errors in :mod:`automagik.langflow.errors`, so
callers never see a transport exception. The API key travels only in the ``x-api-key``
header (LangFlow reads an ``Authorization: Bearer`` value as a JWT and refuses an API key
there) and never appears in a message, a log line or ``repr``. A ``user:password@`` in the URL
(for a proxy in front of LangFlow) is sent as ``Authorization: Basic`` and is not shown either:
messages name the address through :func:`automagik.langflow.urls.display_url`.

Requests go through urllib3's connection pool directly rather than through ``requests``: a
call costs about half the CPU (bench/throughput.py: 0.55 ms per run through this client, 0.97
ms through a plain requests.Session loop), and the daemon's pace is bound by its CPU. Proxies from the
environment (HTTP_PROXY, HTTPS_PROXY, ALL_PROXY, NO_PROXY) are honoured as ``requests`` would; a
SOCKS proxy is refused when the client is made (see :mod:`automagik.langflow.urls`).

Every call has one limit for the whole exchange (connect, TLS, headers, body): ``run_flow``'s
``timeout``, else the read timeout (for ``health``, at most HEALTH_READ_TIMEOUT). See
:mod:`automagik.langflow.transport` for how a trickling server is held to it.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import urllib3
from urllib3 import exceptions as urllib3_errors

from automagik import __version__
from automagik.langflow.answers import find_output_entry, output_text, trim_message
from automagik.langflow.errors import (
    LangFlowBadRequest,
    LangFlowBadResponse,
    LangFlowError,
    LangFlowNoOutput,
    LangFlowRouteMissing,
    LangFlowTimeout,
    LangFlowUnreachable,
    error_for_status,
    one_line,
)
from automagik.langflow.transport import Deadline, deadline_pool_manager
from automagik.langflow.urls import basic_auth, display_url, proxy_for, proxy_problem, split_login
from automagik.langflow.usage import ModelUsage, read_usage

logger = logging.getLogger("automagik.langflow")

#: Health checks are quick by nature; a long read timeout would only delay a "down" verdict.
HEALTH_READ_TIMEOUT = 10.0

# What to do about a call that ran out of time, by kind of call (the end of its message).
RUN_SLOW_HINT = "If the flow is just slow, raise the timeout."
READ_SLOW_HINT = "If LangFlow is just slow, raise LANGFLOW_READ_TIMEOUT."
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


@dataclass(frozen=True)
class HttpAnswer:
    """One HTTP answer, its body read whole (within the deadline and size cap)."""

    status_code: int
    reason: str
    headers: urllib3.HTTPHeaderDict
    content: bytes

    @property
    def is_redirect(self) -> bool:
        return self.status_code in (301, 302, 303, 307, 308) and "location" in self.headers

    def json(self) -> Any:
        """The body as JSON; ValueError if it is not (bytes in any UTF encoding, as JSON allows)."""
        return json.loads(self.content)


class LangFlowClient:
    """One LangFlow server, reached through one urllib3 connection pool.

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
        parts = urlsplit(base_url.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(
                f"LangFlow URL {display_url(base_url)!r} is not valid: expected something like "
                "http://127.0.0.1:7860."
            )
        address, login = split_login(base_url.strip())
        #: Where requests go: the URL without its login. ``shown_url`` is what messages name.
        self.base_url = address.rstrip("/")
        self.shown_url = display_url(self.base_url)
        self._host = parts.hostname
        self._api_key = api_key or None
        self.connect_timeout = float(connect_timeout)
        self.read_timeout = float(read_timeout)
        self._headers = {
            "Accept": "application/json",
            "Accept-Encoding": "gzip, deflate",
            "User-Agent": f"automagik/{__version__}",
        }
        if self._api_key:
            self._headers["x-api-key"] = self._api_key
        self._has_login = login is not None
        if login is not None:
            self._headers["Authorization"] = basic_auth(login)
        # No automatic retries (a run is not idempotent, and the scheduler owns the retry
        # policy) and no redirects (they would carry the x-api-key and Authorization headers
        # wherever they point).
        options: dict[str, Any] = dict(maxsize=pool_size, retries=False)
        self._proxy = proxy_for(self.base_url, os.environ)
        self._pool = deadline_pool_manager(*self._proxy_address(), **options)

    def _proxy_address(self) -> tuple[str | None, dict[str, str] | None]:
        """The proxy's URL without its login, and the header carrying that login; ValueError for SOCKS."""
        if self._proxy is None:
            return None, None
        problem = proxy_problem(self._proxy, self._host)
        if problem:
            raise ValueError(problem)  # config.py refuses it first; this guards other callers
        address, login = split_login(self._proxy.url)
        return address, ({"Proxy-Authorization": basic_auth(login)} if login else None)

    def __repr__(self) -> str:
        key_state = "set" if self._api_key else "not set"
        return (
            f"LangFlowClient(base_url={self.shown_url!r}, api_key={key_state}, "
            f"timeouts=({self.connect_timeout:g}, {self.read_timeout:g}))"
        )

    def close(self) -> None:
        """Close pooled connections."""
        self._pool.clear()

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
            response = self._request(
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
        status_body = _json_or_none(response)
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
        body = self._json(
            self._request("GET", "/api/v1/flows/", params=params, action="listing flows"), action="listing flows"
        )
        if isinstance(body, dict) and isinstance(body.get("items"), list):
            body = body["items"]  # the paginated shape, answered when get_all is ignored
        if not isinstance(body, list):
            raise self._bad_shape("listing flows", "a list of flows")
        return [flow for flow in body if isinstance(flow, dict) and not flow.get("is_component")]

    def check_key(self) -> None:
        """Raise LangFlowAuthError if LangFlow refuses the API key (one flow header is asked
        for: cheap, and only an accepted key gets it); other failures raise as usual."""
        params = {"get_all": "false", "header_flows": "true", "page": "1", "size": "1"}
        self._request(
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
        response = self._request(method, path, params=params, action=action, raise_for_status=False)
        if response.status_code == 404 and _json_or_none(response) == {"detail": "Not Found"}:
            raise LangFlowRouteMissing(
                f"LangFlow at {self.shown_url} has no {path.split('?')[0]} (an older " "version)",
                status=404,
                secret=self._api_key,
            )
        if response.status_code >= 400:
            raise self._status_error(response, action)
        return self._json(response, action=action)

    def get_flow(self, flow_id: str) -> dict:
        """One flow with its whole graph."""
        action = f"getting flow {flow_id}"
        body = self._json(self._request("GET", f"/api/v1/flows/{_path_part(flow_id)}", action=action), action=action)
        if not isinstance(body, dict):
            raise self._bad_shape(action, "a flow object")
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
        response = self._request(
            "POST",
            f"/api/v1/run/{_path_part(flow_id)}",
            params={"stream": "false"},
            json_body=payload,
            action=action,
            limit=limit,
            slow_hint=RUN_SLOW_HINT,
        )
        body = self._json(response, action=action)
        latency_ms = (time.perf_counter() - started) * 1000.0
        if not isinstance(body, dict):
            raise self._bad_shape(action, "a run result object")
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

    # -- plumbing ------------------------------------------------------------------------

    def _version(self, limit: float) -> str | None:
        if limit <= 0:
            return None
        try:
            body = _json_or_none(self._request("GET", "/api/v1/version", action="reading the version", limit=limit))
        except LangFlowError:
            return None
        version = body.get("version") if isinstance(body, dict) else None
        return version if isinstance(version, str) else None

    def _request(
        self,
        method: str,
        path: str,
        *,
        action: str,
        params: dict | None = None,
        json_body: Any = None,
        limit: float | None = None,
        slow_hint: str = READ_SLOW_HINT,
        raise_for_status: bool = True,
    ) -> HttpAnswer:
        """Send one request; network failures (and HTTP errors, unless told not to) become typed errors.

        ``limit`` (seconds, default the read timeout) bounds the whole exchange: connect, TLS,
        status line, headers and body. ``slow_hint`` ends the message of a call that ran out of it.
        """
        deadline = Deadline(self.read_timeout if limit is None else limit)
        timeout = urllib3.Timeout(connect=min(self.connect_timeout, deadline.seconds), read=deadline.seconds)
        url = self.base_url + path + (f"?{urlencode(params)}" if params else "")
        headers, body = self._headers, None
        if json_body is not None:
            body = json.dumps(json_body, allow_nan=False).encode()
            headers = {**headers, "Content-Type": "application/json"}
        started = time.perf_counter()
        with deadline:
            try:
                raw = self._pool.urlopen(
                    method,
                    url,
                    body=body,
                    headers=headers,
                    retries=False,
                    redirect=False,
                    timeout=timeout,
                    preload_content=False,
                    decode_content=True,
                )
            except (urllib3_errors.HTTPError, OSError) as exc:
                logger.debug(
                    "%s %s failed after %.1f ms: %s",
                    method,
                    path,
                    (time.perf_counter() - started) * 1000.0,
                    type(exc).__name__,
                )
                raise self._network_error(exc, action, timeout, deadline, slow_hint, ran=method == "POST") from exc
            response = self._read_body(raw, deadline, action, slow_hint)
        logger.debug(
            "%s %s -> %s in %.1f ms", method, path, response.status_code, (time.perf_counter() - started) * 1000.0
        )
        if response.is_redirect:
            raise LangFlowBadRequest(
                f"LangFlow at {self.shown_url} redirected to {display_url(response.headers.get('Location', ''))} "
                f"while {action} (HTTP {response.status_code}). Set LANGFLOW_API_URL to the address LangFlow "
                "answers on; redirects are not followed so the API key stays with LangFlow.",
                status=response.status_code,
                secret=self._api_key,
            )
        if not raise_for_status or response.status_code < 400:
            return response
        raise self._status_error(response, action)

    def _status_error(self, response: HttpAnswer, action: str) -> LangFlowError:
        body_json = _json_or_none(response)
        return error_for_status(
            response.status_code,
            detail=body_json.get("detail") if isinstance(body_json, dict) else None,
            reason=response.reason,
            action=action,
            base_url=self.shown_url,
            has_key=self._api_key is not None,
            has_login=self._has_login,
            secret=self._api_key,
            retry_after=_retry_after(response),
        )

    def _read_body(self, raw: urllib3.BaseHTTPResponse, deadline: Deadline, action: str, slow_hint: str) -> HttpAnswer:
        """Read the body in chunks, enforcing the deadline and a size cap.

        The transport already ends every wait at the deadline; the check here also catches
        bytes that were buffered before it passed.
        """
        chunks, size, whole = [], 0, False
        try:
            # read1 returns whatever bytes have arrived (decoded), so the deadline is checked
            # as the answer trickles in, not only after a large chunk has filled up.
            while chunk := raw.read1(64 * 1024):
                size += len(chunk)
                if size > MAX_RESPONSE_BYTES:
                    raise LangFlowBadResponse(
                        f"LangFlow at {self.shown_url} sent more than {MAX_RESPONSE_BYTES // 2**20} MB while {action}; "
                        "the answer was dropped. Narrow the flow's output.",
                        secret=self._api_key,
                    )
                if deadline.remaining() < 0:
                    raise self._late(action, deadline, slow_hint, body_started=True)
                chunks.append(chunk)
            whole = True
        except urllib3_errors.ReadTimeoutError as exc:
            raise self._late(action, deadline, slow_hint, body_started=True) from exc
        except (urllib3_errors.HTTPError, OSError) as exc:
            raise LangFlowBadResponse(
                f"LangFlow at {self.shown_url} sent a response that was cut off or could not be decoded while "
                f"{action}. The run can be retried.",
                secret=self._api_key,
            ) from exc
        finally:
            if not whole:
                raw.close()  # a half-read connection cannot be reused
            raw.release_conn()
        return HttpAnswer(raw.status, raw.reason or "", raw.headers, b"".join(chunks))

    def _json(self, response: HttpAnswer, *, action: str) -> Any:
        try:
            return response.json()
        except ValueError as exc:
            raise LangFlowBadResponse(
                f"LangFlow at {self.shown_url} answered HTTP {response.status_code} with a body that is not "
                f"valid JSON while {action}. Try again; if it persists, check that LANGFLOW_API_URL points "
                "at LangFlow and not at a proxy page.",
                status=response.status_code,
                secret=self._api_key,
            ) from exc

    def _bad_shape(self, action: str, expected: str) -> LangFlowBadResponse:
        return LangFlowBadResponse(
            f"LangFlow at {self.shown_url} answered with JSON that is not {expected} while {action}. "
            "Check that LANGFLOW_API_URL points at LangFlow.",
            secret=self._api_key,
        )

    def _network_error(
        self, exc: Exception, action: str, timeout: urllib3.Timeout, deadline: Deadline, slow_hint: str, *, ran: bool
    ) -> LangFlowError:
        where = f"LangFlow at {self.shown_url}"
        # NewConnectionError is a ConnectTimeoutError in urllib3 2: a refusal is not a timeout.
        if isinstance(exc, urllib3_errors.ConnectTimeoutError) and not isinstance(
            exc, urllib3_errors.NewConnectionError
        ):
            return LangFlowTimeout(
                f"{where} did not accept a connection within {timeout.connect_timeout:g} s while {action}. "
                "Check that LangFlow is running and LANGFLOW_API_URL is right.",
                secret=self._api_key,
            )
        if isinstance(exc, urllib3_errors.TimeoutError) and not isinstance(exc, urllib3_errors.NewConnectionError):
            return self._late(action, deadline, slow_hint, body_started=False, ran=ran)
        if isinstance(exc, urllib3_errors.ProxyError) and self._proxy is not None:
            return LangFlowUnreachable(
                f"{where} is unreachable while {action}: the proxy {self._proxy.shown} (from {self._proxy.variable}) "
                f"failed: {_describe_connection_failure(exc)}. Check {self._proxy.variable}, or set "
                f"NO_PROXY={self._host} to reach LangFlow directly.",
                secret=self._api_key,
            )
        return LangFlowUnreachable(
            f"{where} is unreachable while {action}: {_describe_connection_failure(exc)}. "
            "Check that LangFlow is running and LANGFLOW_API_URL is right.",
            secret=self._api_key,
        )

    def _late(
        self, action: str, deadline: Deadline, slow_hint: str, *, body_started: bool, ran: bool = False
    ) -> LangFlowTimeout:
        """The timeout of a call that got (part of) a connection but not its whole answer in time."""
        limit = deadline.seconds
        if body_started:
            what = f"did not finish its answer within {limit:g} s while {action}."
        elif not deadline.awaiting_answer:  # only a TLS handshake waits for bytes before the request
            what = f"did not complete the TLS handshake within {limit:g} s while {action}."
            slow_hint = "Check that LangFlow is running and LANGFLOW_API_URL is right."
        elif deadline.received:
            what = (
                f"sent only part of its response headers within {limit:g} s while {action}; "
                "something on the way (a proxy?) may be stalling."
            )
        else:
            still = " The flow may still be running in LangFlow." if ran else ""
            what = f"sent nothing for {limit:g} s while {action}.{still}"
        return LangFlowTimeout(f"LangFlow at {self.shown_url} {what} {slow_hint}", secret=self._api_key)


#: The largest answer read from LangFlow; beyond it a run fails instead of filling memory.
MAX_RESPONSE_BYTES = 64 * 2**20


def _describe_connection_failure(exc: Exception) -> str:
    """A few words for the usual causes hidden in urllib3's long exception text."""
    text = str(exc).lower()
    known = (
        ("connection refused", "connection refused"),
        ("name or service not known", "host name not found"),
        ("nodename nor servname", "host name not found"),
        ("getaddrinfo failed", "host name not found"),
        ("temporary failure in name resolution", "host name not found"),
        ("connection reset", "connection reset by the server"),
        ("remote end closed", "the server closed the connection"),
        ("connection aborted", "the server closed the connection"),
        ("network is unreachable", "network unreachable"),
        ("no route to host", "no route to host"),
        ("certificate verify failed", "TLS certificate not trusted"),
        ("ssl", "TLS handshake failed"),
    )
    for needle, description in known:
        if needle in text:
            return description
    return f"connection failed ({type(exc).__name__})"


def _json_or_none(response: HttpAnswer) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _health_problems(body: Any) -> str:
    """``: db: error ...`` from a not-ready /health_check body, for the health detail line."""
    if not isinstance(body, dict):
        return ""
    problems = [
        f"{key}: {value}" for key, value in body.items() if key != "status" and isinstance(value, str) and value != "ok"
    ]
    return ": " + ", ".join(problems) if problems else ""


def _retry_after(response: HttpAnswer) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None  # an HTTP date; rare enough to ignore


def _path_part(identifier: str) -> str:
    """Quote a flow id or endpoint name so it stays one path segment."""
    return quote(str(identifier), safe="")
