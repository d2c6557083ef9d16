"""When to try a failed run again: transient errors back off exponentially, with jitter."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from automagik.langflow import LangFlowError, LangFlowRateLimited

_jitter = random.Random()


def is_transient(error: Exception) -> bool:
    """Unreachable, timeout, 5xx, 429 and malformed answers may pass; 4xx and the rest will not."""
    return isinstance(error, LangFlowError) and error.transient


def retry_delay(attempt: int, base: float, cap: float, error: Exception | None = None) -> float:
    """Seconds before the retry after `attempt` (1 = the first try failed): base * 2^(attempt-1),
    capped, ±20 % jitter so that many tasks failing together do not retry in lockstep.
    A 429's Retry-After is honoured when it asks for longer."""
    delay = min(cap, base * 2 ** max(0, attempt - 1)) * _jitter.uniform(0.8, 1.2)
    if isinstance(error, LangFlowRateLimited) and error.retry_after:
        delay = max(delay, min(cap, error.retry_after))
    return delay


def retry_at(now: datetime, attempt: int, base: float, cap: float, error: Exception | None = None) -> datetime:
    return now + timedelta(seconds=retry_delay(attempt, base, cap, error))
