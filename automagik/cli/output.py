"""Printing for the CLI: aligned tables, key/value blocks, JSON, one-line errors."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from typing import Any

MAX_CELL = 60


def fail(message: str) -> None:
    print(f"error: {' '.join(str(message).split())}", file=sys.stderr)


def warn(message: str) -> None:
    """A warning about something done anyway: one line on stderr, the exit code unchanged."""
    print(f"warning: {' '.join(str(message).split())}", file=sys.stderr)


def info(message: str) -> None:
    print(message)


def print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False, default=str))


def _cell(value: Any) -> str:
    text = "-" if value is None or value == "" else " ".join(str(value).split())
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 1] + "…"


def print_table(headers: Sequence[str], rows: Iterable[Sequence[Any]], empty: str = "(none)") -> None:
    cells = [[_cell(v) for v in row] for row in rows]
    if not cells:
        print(empty)
        return
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=False)).rstrip())
    for row in cells:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=False)).rstrip())


def print_fields(pairs: Iterable[tuple[str, Any]]) -> None:
    pairs = list(pairs)
    width = max(len(k) for k, _ in pairs)
    for key, value in pairs:
        text = "-" if value is None or value == "" else str(value)
        print(f"{key.ljust(width)}  {text}")
