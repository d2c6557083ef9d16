"""Typed LangFlow errors, each carrying one plain-English line for the user.

The scheduler decides what to do from the *type* (``transient`` errors are retried with
backoff, permanent ones fail the task at once) and shows ``message`` as is: one line, no
traceback, no secret, and a next step.
"""

from __future__ import annotations

import json
from typing import Any

MAX_MESSAGE_CHARS = 500
REDACTED = "***"


def one_line(text: str, secret: str | None = None, limit: int = MAX_MESSAGE_CHARS) -> str:
    """Collapse ``text`` to one line, hide ``secret`` and cap the length.

    The secret is replaced before collapsing and before cutting, so that neither a line
    break nor the length cap can leave part of it visible.
    """
    if secret:
        text = text.replace(secret, REDACTED)
    text = " ".join(str(text).split())
    if secret:
        text = text.replace(secret, REDACTED)
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text


class LangFlowError(Exception):
    """Base of every error the LangFlow client raises."""

    #: True when trying again later may succeed (network trouble, overload, server bug).
    transient: bool = False

    def __init__(self, message: str, *, status: int | None = None, secret: str | None = None):
        self.message = one_line(message, secret)
        self.status = status
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message


class LangFlowUnreachable(LangFlowError):
    """No connection could be made (refused, unknown host, reset)."""

    transient = True


class LangFlowTimeout(LangFlowError):
    """LangFlow did not accept the connection or did not answer in time."""

    transient = True


class LangFlowAuthError(LangFlowError):
    """LangFlow refused the API key (HTTP 401/403)."""


class LangFlowNotFound(LangFlowError):
    """The flow, or a component inside its graph, does not exist (HTTP 404)."""


class LangFlowRouteMissing(LangFlowNotFound):
    """This LangFlow has no such API route (a version older than the feature)."""


class LangFlowBadRequest(LangFlowError):
    """LangFlow rejected what we sent (HTTP 400, 422 and other 4xx)."""


class LangFlowRateLimited(LangFlowError):
    """Too many requests (HTTP 429)."""

    transient = True

    def __init__(
        self, message: str, *, status: int | None = 429, secret: str | None = None, retry_after: float | None = None
    ):
        super().__init__(message, status=status, secret=secret)
        #: Seconds the server asked us to wait (``Retry-After``), when it said so.
        self.retry_after = retry_after


class LangFlowServerError(LangFlowError):
    """LangFlow failed while handling the request (HTTP 5xx), often the flow itself failing."""

    transient = True


class LangFlowBadResponse(LangFlowError):
    """A success status whose body is not the JSON LangFlow sends (proxy page, cut-off body)."""

    transient = True


class LangFlowNoOutput(LangFlowError):
    """The run succeeded but the chosen output component produced no entry."""


def render_detail(detail: Any) -> str | None:
    """Render FastAPI's ``detail`` (a string, or a list of pydantic errors) as one short line."""
    if detail is None:
        return None
    if isinstance(detail, str):
        return detail.strip() or None
    if isinstance(detail, list):
        parts = [_render_validation_item(item) for item in detail]
        return "; ".join(part for part in parts if part) or None
    if isinstance(detail, dict):
        message = detail.get("message") or detail.get("msg") or detail.get("detail")
        if isinstance(message, str) and message.strip():
            return message.strip()
    return json.dumps(detail, default=str, separators=(",", ":"))


def _render_validation_item(item: Any) -> str:
    """``{"loc": ["body", "tweaks"], "msg": "Input should be ..."}`` -> ``body.tweaks: Input should be ...``."""
    if not isinstance(item, dict):
        return str(item)
    location = ".".join(str(part) for part in item.get("loc") or [])
    message = str(item.get("msg") or item.get("type") or "invalid")
    return f"{location}: {message}" if location else message


def render_server_detail(detail: Any) -> str | None:
    """Turn a LangFlow 500 ``detail`` into ``message`` (+ ``suggestion``), dropping the traceback.

    LangFlow sends the detail as a JSON-encoded *string* of
    ``{"message", "traceback", "description", "code", "suggestion", "source"}``; older versions
    and proxies send plain text. Anything undecodable is shown as the raw text.
    """
    decoded = detail
    if isinstance(detail, str) and detail.lstrip().startswith("{"):
        try:
            decoded = json.loads(detail)
        except ValueError:
            decoded = detail
    if isinstance(decoded, dict):
        message = decoded.get("message") or decoded.get("description")
        suggestion = decoded.get("suggestion")
        if isinstance(message, str) and message.strip():
            text = message.strip().rstrip(".") + "."
            if isinstance(suggestion, str) and suggestion.strip():
                text += f" Suggestion: {suggestion.strip()}"
            return text
        if "traceback" in decoded:
            # Nothing presentable besides the traceback: say nothing rather than leak it.
            return None
    return render_detail(decoded)


def error_for_status(
    status: int,
    *,
    detail: Any,
    reason: str | None,
    action: str,
    base_url: str,
    has_key: bool,
    secret: str | None = None,
    retry_after: float | None = None,
    has_login: bool = False,
) -> LangFlowError:
    """Build the typed error for an HTTP error status.

    ``action`` completes "while ..." (e.g. ``"running flow 1234"``); ``detail`` is the JSON
    body's ``detail`` when there was one; ``base_url`` is the address as shown (no login).
    ``has_login`` says LANGFLOW_API_URL carries a user:password, which a refusal may be about.
    """
    said = render_detail(detail) or reason or "no detail given"
    where = f"LangFlow at {base_url}"
    if status in (401, 403):
        if has_key:
            hint = "Set LANGFLOW_API_KEY to a valid LangFlow API key"
        else:
            hint = "Set LANGFLOW_API_KEY to a LangFlow API key (none is set)"
        # A proxy in front of LangFlow that wants the URL's login refuses with the same codes.
        hint += ", or check the user and password in LANGFLOW_API_URL." if has_login else "."
        return LangFlowAuthError(
            f"{where} refused access while {action} (HTTP {status}): {_sentence(said)} {hint}",
            status=status,
            secret=secret,
        )
    if status == 404:
        return LangFlowNotFound(
            f"{where} answered 404 while {action}: {_sentence(said)} "
            "Check that the flow still exists and that its components are connected.",
            status=status,
            secret=secret,
        )
    if status == 429:
        wait = f" LangFlow asked to wait {retry_after:g} s." if retry_after is not None else ""
        return LangFlowRateLimited(
            f"{where} is rate limiting requests (HTTP 429) while {action}: {_sentence(said)}{wait} "
            "Retry later or run flows less often.",
            status=status,
            secret=secret,
            retry_after=retry_after,
        )
    if 400 <= status < 500:
        return LangFlowBadRequest(
            f"{where} rejected the request while {action} (HTTP {status}): {_sentence(said)} "
            "Check the flow's input and output components and the tweaks.",
            status=status,
            secret=secret,
        )
    if status >= 500:
        server_said = render_server_detail(detail) or reason or "no detail given"
        if status == 500:
            hint = "The run can be retried; if it keeps failing, open the flow in LangFlow."
        else:
            hint = "LangFlow may be overloaded or restarting; the run can be retried."
        return LangFlowServerError(
            f"{where} failed while {action} (HTTP {status}): {_sentence(server_said)} {hint}",
            status=status,
            secret=secret,
        )
    return LangFlowBadResponse(
        f"{where} answered an unexpected HTTP {status} while {action}: {_sentence(said)} "
        "Check that LANGFLOW_API_URL points at LangFlow.",
        status=status,
        secret=secret,
    )


def _sentence(text: str) -> str:
    """End ``text`` with a full stop so a hint can follow it."""
    text = text.strip()
    return text if text.endswith((".", "!", "?")) else text + "."
