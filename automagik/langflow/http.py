"""One LangFlow server's HTTP exchange: the connection pool, the headers that carry the API key
and a URL's login, one deadline per call, and every failure on the way turned into a typed
error (:mod:`automagik.langflow.errors`) whose message names the address, never the key. The
endpoints, and what their answers mean, are in :mod:`automagik.langflow.client`.

Requests go through urllib3's connection pool directly rather than through ``requests``: a
call costs about half the CPU (bench/throughput.py: 0.55 ms per run through the client, 0.97
ms through a plain requests.Session loop), and the daemon's pace is bound by its CPU. Proxies
from the environment (HTTP_PROXY, HTTPS_PROXY, ALL_PROXY, NO_PROXY) are honoured as
``requests`` would; a SOCKS proxy is refused when the pool is made (see
:mod:`automagik.langflow.urls`). See :mod:`automagik.langflow.transport` for how a trickling
server is held to a call's deadline.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

import urllib3
from urllib3 import exceptions as urllib3_errors

from automagik import __version__
from automagik.langflow.errors import (
    LangFlowBadRequest,
    LangFlowBadResponse,
    LangFlowError,
    LangFlowTimeout,
    LangFlowUnreachable,
    error_for_status,
)
from automagik.langflow.transport import Deadline, deadline_pool_manager
from automagik.langflow.urls import basic_auth, display_url, proxy_for, proxy_problem, split_login

logger = logging.getLogger("automagik.langflow")

#: The end of the message of a call that ran out of time, unless the caller gives its own.
READ_SLOW_HINT = "If LangFlow is just slow, raise LANGFLOW_READ_TIMEOUT."


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


class LangFlowHttp:
    """Requests to one LangFlow server through one urllib3 connection pool.

    ``read_timeout`` bounds each call as a whole, connect included (a call may give its own
    limit); ``connect_timeout`` bounds the connection alone. ``pool_size`` is how many
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

    def close(self) -> None:
        """Close pooled connections."""
        self._pool.clear()

    def request(
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
        raise self.status_error(response, action)

    def status_error(self, response: HttpAnswer, action: str) -> LangFlowError:
        body_json = json_or_none(response)
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

    def json(self, response: HttpAnswer, *, action: str) -> Any:
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

    def bad_shape(self, action: str, expected: str) -> LangFlowBadResponse:
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


def json_or_none(response: HttpAnswer) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _retry_after(response: HttpAnswer) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None  # an HTTP date; rare enough to ignore
