"""The one place the program reads the time, so tests can move it instead of sleeping."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

_source: Callable[[], datetime] = lambda: datetime.now(UTC)  # noqa: E731


def utcnow() -> datetime:
    """The current instant, timezone-aware UTC."""
    return _source()


def set_clock(source: Callable[[], datetime]) -> None:
    """Replace the time source (tests); `source` must return aware datetimes."""
    global _source
    _source = source


def reset_clock() -> None:
    set_clock(lambda: datetime.now(UTC))
