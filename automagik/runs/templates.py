"""Placeholders in a run's input that are filled in for each fire: `{{ fire_date }}` and friends.

A daily digest has to say which day it is about, and a backfilled fire must say the day it
stood for, not the day it ran: the values come from the fire, never from the clock. The input
text and every string value inside the tweaks may hold placeholders; keys are left alone.
Nothing is evaluated: a placeholder is a name from PLACEHOLDERS between `{{` and `}}`, spaces
allowed inside. `\\{{` stands for a literal `{{` (and is sent without the backslash).

The rendered input is what the task stores and what LangFlow receives, so a run's history shows
exactly what was sent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

#: Every placeholder, with what it becomes (for help texts and error messages).
PLACEHOLDERS: dict[str, str] = {
    "fire_time": "the fire's planned time, ISO 8601 in the schedule's zone (2026-12-01T09:00:00+01:00)",
    "fire_date": "the fire's date in the schedule's zone (2026-12-01)",
    "schedule_id": "the schedule's id (empty for a run of no schedule)",
    "task_id": "the run's task id",
    "flow_name": "the flow's name",
    "upstream_output": "for a schedule of type after: the output text of the run it follows",
}
#: Only a run started by another run has an upstream output.
CHAIN_ONLY = frozenset({"upstream_output"})

# An escaped opening (\{{), or a placeholder, or a stray opening that never closes on its line.
_TOKEN = re.compile(r"\\\{\{|\{\{\s*([^{}]*?)\s*\}\}|\{\{")


class TemplateError(ValueError):
    """An input whose placeholders cannot be filled: the message says which and what to write."""


@dataclass(frozen=True)
class FireValues:
    """What a fire's placeholders stand for."""

    fire_time: datetime  # aware; shown in `zone`
    zone: str
    task_id: str
    flow_name: str
    schedule_id: str | None = None
    upstream_output: str | None = None

    def value_of(self, name: str) -> str:
        if name in ("fire_time", "fire_date"):
            local = self.fire_time.astimezone(ZoneInfo(self.zone))
            return local.date().isoformat() if name == "fire_date" else local.isoformat(timespec="seconds")
        if name == "schedule_id":
            return self.schedule_id or ""
        if name == "task_id":
            return self.task_id
        if name == "flow_name":
            return self.flow_name
        return self.upstream_output or ""


def check_input(input_data: dict[str, Any], *, chained: bool = False) -> None:
    """Refuse (TemplateError) an input with an unknown, unclosed or (off a chain) chain-only
    placeholder. Called wherever a person gives an input, before anything is written."""
    allowed = set(PLACEHOLDERS) - (set() if chained else CHAIN_ONLY)
    for text in _strings(input_data):
        for match in _TOKEN.finditer(text):
            token = match.group(0)
            if token == "\\{{":
                continue
            if token == "{{":
                raise TemplateError(
                    "The input has a '{{' that is not a placeholder: close it like {{ fire_date }}, "
                    "or write \\{{ for literal braces."
                )
            name = match.group(1)
            if name in allowed:
                continue
            if name in CHAIN_ONLY:
                raise TemplateError(
                    f"{{{{ {name} }}}} is filled only for a schedule of type after (a chain): "
                    "it has no upstream run here."
                )
            raise TemplateError(
                f"Unknown placeholder {{{{ {name} }}}} in the input: use one of "
                f"{', '.join(sorted(allowed))} (write \\{{{{ for literal braces)."
            )


def uses_chain_only(input_data: dict[str, Any]) -> bool:
    """Whether the input has a placeholder only a chain's run can fill ({{ upstream_output }})."""
    return any(match.group(1) in CHAIN_ONLY for text in _strings(input_data) for match in _TOKEN.finditer(text))


def has_placeholders(input_data: dict[str, Any]) -> bool:
    """Whether rendering could change anything (the common input has no braces at all)."""
    return any("{{" in text for text in _strings(input_data))


def render_input(input_data: dict[str, Any], values: FireValues) -> dict[str, Any]:
    """The input with every placeholder filled in and every escape undone; a new dict.

    Inputs were checked when given; a name unknown here (an input stored by an older version)
    is sent as written rather than failing the run.
    """
    if not has_placeholders(input_data):
        return input_data
    return _map_strings(input_data, lambda text: _render_text(text, values))


def _render_text(text: str, values: FireValues) -> str:
    def replace(match: re.Match[str]) -> str:
        token = match.group(0)
        if token == "\\{{":
            return "{{"
        name = match.group(1)
        if name is None or name not in PLACEHOLDERS:
            return token
        return values.value_of(name)

    return _TOKEN.sub(replace, text)


def _strings(value: Any):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _map_strings(value: Any, change) -> Any:
    if isinstance(value, str):
        return change(value)
    if isinstance(value, dict):
        return {key: _map_strings(item, change) for key, item in value.items()}
    if isinstance(value, list):
        return [_map_strings(item, change) for item in value]
    return value
