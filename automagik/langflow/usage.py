"""Reading the token usage a run's answer reports, per model.

LangFlow 1.13 puts a message's usage at ``results.message.properties.usage`` (``input_tokens``,
``output_tokens``, ``total_tokens``), again under ``results.message.data.properties``, and the
model that produced it at ``properties.source.source``. A Chat Output fed by an LLM component
carries the upstream message's usage, so two outputs fed by one LLM report the same tokens
twice: usage is counted once per producing component (``properties.source.id``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ModelUsage:
    """Tokens one model used in a run; `model` is None when LangFlow did not name it."""

    model: str | None
    input_tokens: int
    output_tokens: int
    total_tokens: int
    split: bool = True  # False when some message reported only a total (input and output unknown)


def _dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _count(value: Any) -> int | None:
    # bool is an int in Python; a usage field of true/false is not a token count.
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < float("inf"):
        return None  # also nan and infinity (JSON's 1e400)
    return int(value)


def _messages(run_body: dict) -> Iterator[tuple[str | None, dict]]:
    """(output component id, message properties) of every output entry of the run."""
    for run_output in run_body.get("outputs") or []:
        for entry in _dict(run_output).get("outputs") or []:
            message = _dict(_dict(_dict(entry).get("results")).get("message"))
            properties = _dict(message.get("properties")) or _dict(_dict(message.get("data")).get("properties"))
            if properties:
                component = _dict(entry).get("component_id")
                yield (component if isinstance(component, str) else None), properties


def read_usage(run_body: dict) -> list[ModelUsage]:
    """The run's token usage per model, each producing component counted once; an empty list
    when no message reported any. A message reporting only a total counts it as the total, and
    marks its model's usage as not split (it cannot be priced: input and output differ in price)."""
    seen: set[str] = set()
    per_model: dict[str | None, list[int]] = {}  # input, output and total tokens, then the split flag
    for component, properties in _messages(run_body):
        usage = _dict(properties.get("usage"))
        counts = [_count(usage.get(key)) for key in ("input_tokens", "output_tokens", "total_tokens")]
        if all(count is None for count in counts):
            continue
        source = _dict(properties.get("source"))
        producer = source.get("id") if isinstance(source.get("id"), str) else component
        if producer is not None:
            if producer in seen:
                continue
            seen.add(producer)
        model = source.get("source") if isinstance(source.get("source"), str) and source["source"].strip() else None
        input_tokens, output_tokens, total = (count or 0 for count in counts)
        total = max(total, input_tokens + output_tokens)
        summed = per_model.setdefault(model and model.strip(), [0, 0, 0, True])
        summed[0] += input_tokens
        summed[1] += output_tokens
        summed[2] += total
        summed[3] = summed[3] and (counts[0] is not None or counts[1] is not None)
    return [ModelUsage(model, sums[0], sums[1], sums[2], bool(sums[3])) for model, sums in per_model.items()]
