"""Pricing a run's tokens: the user's price table first, then genai-prices' bundled data.

genai-prices (pydantic's price data, shipped inside the package: no network) knows the
models of the common providers and the names LangFlow's components report for them
("gpt-4o-mini", "models/gemini-1.5-pro"...). A self-hosted or new model is added, or a
negotiated price set, in AUTOMAGIK_PRICES_FILE: JSON or TOML, model name -> USD per million
input and output tokens, e.g. {"llama3:8b": {"input": 0.05, "output": 0.08}}.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TypeGuard

from automagik.langflow.usage import ModelUsage

PER_MILLION = 1_000_000


class PriceFileError(ValueError):
    """The price file cannot be used; the message names the file and what is wrong."""


@dataclass(frozen=True)
class Price:
    """USD per million tokens."""

    input: float
    output: float


@dataclass(frozen=True)
class RunCost:
    """A run's tokens summed over its models, and what they cost (None: unknown, see `notes`)."""

    input_tokens: int
    output_tokens: int
    total_tokens: int
    model: str | None  # the model, or the models joined by ", "; None when LangFlow named none
    cost_usd: float | None
    notes: tuple[str, ...] = ()  # why the cost is unknown, for the task's log


class PriceTable:
    """Prices by model name (case-insensitive): the user's table over genai-prices."""

    def __init__(self, user_prices: Mapping[str, Price] | None = None) -> None:
        self._user = {name.strip().lower(): price for name, price in (user_prices or {}).items()}

    def price_of(self, usage: ModelUsage, when: datetime | None = None) -> tuple[float | None, str | None]:
        """The USD cost of one model's usage, or None and the reason."""
        if usage.model is None:
            return None, "LangFlow reported tokens without naming the model"
        if not usage.split:
            return None, f'LangFlow reported only a total for model "{usage.model}", not input and output tokens'

        user = self._user.get(usage.model.lower())
        if user is not None:
            return (usage.input_tokens * user.input + usage.output_tokens * user.output) / PER_MILLION, None
        return _bundled_price(usage, usage.model, when)

    def cost(self, usages: list[ModelUsage], when: datetime | None = None) -> RunCost | None:
        """The run's tokens and cost, or None when LangFlow reported no usage. The cost is
        known only when every model's is: a partial sum would pass for the whole."""
        if not usages:
            return None
        total, notes = 0.0, []
        for usage in usages:
            price, why = self.price_of(usage, when)
            if price is None:
                notes.append(
                    f"cost unknown: {why} ({usage.total_tokens} tokens); " "add its price to AUTOMAGIK_PRICES_FILE"
                )
            else:
                total += price
        models = sorted({u.model for u in usages if u.model is not None})
        return RunCost(
            input_tokens=sum(u.input_tokens for u in usages),
            output_tokens=sum(u.output_tokens for u in usages),
            total_tokens=sum(u.total_tokens for u in usages),
            model=", ".join(models) or None,
            cost_usd=None if notes else round(total, 10),
            notes=tuple(notes),
        )


def _bundled_price(usage: ModelUsage, model: str, when: datetime | None) -> tuple[float | None, str | None]:
    from genai_prices import Usage, calc_price  # imported on first use: it loads its whole price table

    try:
        calculation = calc_price(
            Usage(input_tokens=usage.input_tokens, output_tokens=usage.output_tokens),
            model_ref=model,
            genai_request_timestamp=when,
        )
    except LookupError:
        return None, f'no price known for model "{model}"'
    return float(calculation.total_price), None


def price_table(prices_file: str | Path | None) -> PriceTable:
    """The prices a daemon uses: the user's file (if set) over the bundled data."""
    return load_price_file(prices_file) if prices_file else PriceTable()


def load_price_file(path: str | Path) -> PriceTable:
    """The user's price table from a .json or .toml file; PriceFileError says what is wrong."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PriceFileError(f"AUTOMAGIK_PRICES_FILE={str(path)!r} cannot be read: {exc.strerror or exc}.") from None
    try:
        data = tomllib.loads(text) if path.suffix.lower() == ".toml" else json.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        kind = "TOML" if path.suffix.lower() == ".toml" else "JSON"
        raise PriceFileError(f"AUTOMAGIK_PRICES_FILE={str(path)!r} is not valid {kind}: {exc}.") from None
    if not isinstance(data, dict):
        raise PriceFileError(f"AUTOMAGIK_PRICES_FILE={str(path)!r}: expected model names mapped to prices.")
    prices = {}
    for model, entry in data.items():
        per_input, per_output = (entry.get(key) if isinstance(entry, dict) else None for key in ("input", "output"))
        if not model.strip() or not (_price_number(per_input) and _price_number(per_output)):
            raise PriceFileError(
                f"AUTOMAGIK_PRICES_FILE={str(path)!r}: model {model!r} needs "
                '{"input": USD per million input tokens, "output": USD per million output tokens}, '
                "both numbers of at least 0."
            )
        prices[model] = Price(float(per_input), float(per_output))
    return PriceTable(prices)


def _price_number(value: object) -> TypeGuard[float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value < float("inf")
