"""Reading a run's answer: the chosen output component's entry, its text, a trimmed message.

LangFlow's run response nests one entry per output component, any of which may be null;
only the chosen component's entry matters, and only a few of its message fields are kept.
"""

from __future__ import annotations

import json
from typing import Any

#: The message fields worth keeping with a task (plus ``component_display_name``); LangFlow's
#: full message carries much more. Every key is always present, None when LangFlow left it out.
KEPT_MESSAGE_FIELDS = ("text", "sender", "sender_name", "session_id", "timestamp")


def _dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def find_output_entry(run_body: dict, component_id: str) -> dict | None:
    """The entry of ``outputs[*].outputs[*]`` produced by ``component_id``, if any.

    Any list or entry may be null: LangFlow answers an empty or null list when the chosen
    output sits on a branch the run did not reach.
    """
    for run_output in run_body.get("outputs") or []:
        for entry in _dict(run_output).get("outputs") or []:
            if isinstance(entry, dict) and entry.get("component_id") == component_id:
                return entry
    return None


def output_text(entry: dict) -> str | None:
    """The answer text, from the first of the places LangFlow versions have put it."""
    results_message = _dict(_dict(entry.get("results")).get("message"))
    candidates = (
        results_message.get("text"),
        _dict(results_message.get("data")).get("text"),
        _dict(_dict(entry.get("outputs")).get("message")).get("message"),
        _dict(entry.get("artifacts")).get("message"),
    )
    for value in candidates:
        if isinstance(value, str):
            return value
        if value is not None:
            # Data outputs answer structured values; keep them readable as JSON text.
            return json.dumps(value, default=str, ensure_ascii=False)
    return None


def trim_message(entry: dict, text: str | None) -> dict:
    """A small copy of the output component's message: who said what, in which session, when."""
    results_message = _dict(_dict(entry.get("results")).get("message"))
    sources = (
        results_message,
        _dict(results_message.get("data")),
        next((m for m in entry.get("messages") or [] if isinstance(m, dict)), {}),
    )
    message: dict[str, Any] = {"text": text}
    for field in KEPT_MESSAGE_FIELDS[1:]:
        value = next((source[field] for source in sources if source.get(field) is not None), None)
        message[field] = value if value is None or isinstance(value, (str, int, float, bool)) else str(value)
    display_name = entry.get("component_display_name")
    message["component_display_name"] = display_name if isinstance(display_name, str) else None
    return message
