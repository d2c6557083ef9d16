"""The task state machine: which transitions exist, the retry rule, and the log-line writer.

Every change of a task's status in the program is one of the transitions below, and every
UPDATE that makes one repeats its `sources` in the WHERE clause: a transition from a status
not listed cannot happen, even when two daemons race for the same row.
"""

from __future__ import annotations

import enum
import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import insert
from sqlalchemy.orm import Session

from automagik.db.models import LogLevel, TaskLog, TaskStatus

PENDING, RUNNING, COMPLETED, FAILED, SKIPPED = (
    TaskStatus.PENDING,
    TaskStatus.RUNNING,
    TaskStatus.COMPLETED,
    TaskStatus.FAILED,
    TaskStatus.SKIPPED,
)
NEW: frozenset[TaskStatus] = frozenset()  # the row does not exist yet


class Transition(enum.Enum):
    """One allowed change of a task's status."""

    FIRE = "fire"  # a schedule's fire becomes a task that waits for its instant
    SKIP = "skip"  # a fire that is not run, with the reason
    QUEUE = "queue"  # a manual run, due at once
    CHAIN = "chain"  # another flow's run ended: a run of the "after" schedule following it, due at once
    CLAIM = "claim"  # a daemon takes the task under a lease
    COMPLETE = "complete"  # LangFlow answered with the chosen component's output
    RETRY_LATER = "retry later"  # a transient failure with retries left: pending again, at a backoff
    FAIL = "fail"  # a permanent failure, or the last retry failed
    RECOVER = "recover"  # its daemon died (lease expired): retried now
    RECOVER_FAIL = "recover and fail"  # ... with no retries left: failed
    HAND_BACK = "hand back"  # its daemon shut down before the run ended: pending, the try not counted
    USER_RETRY = "user retry"  # a person asked for one more try of a failed task
    # A queued run not started: its flow's daily budget ran out first (a fire never tried), or its
    # backfill's schedule was deleted (runs/backfill.py).
    SKIP_QUEUED = "skip queued"
    BACKFILL = "backfill"  # a past fire that has no task gets one, due at once (runs/backfill.py)
    BACKFILL_REDO = "backfill redo"  # a backfill asks for one more try of a failed fire's task


@dataclass(frozen=True)
class Rule:
    sources: frozenset[TaskStatus]
    target: TaskStatus


TRANSITIONS: dict[Transition, Rule] = {
    Transition.FIRE: Rule(NEW, PENDING),
    Transition.SKIP: Rule(NEW, SKIPPED),
    Transition.QUEUE: Rule(NEW, PENDING),
    Transition.CHAIN: Rule(NEW, PENDING),
    Transition.CLAIM: Rule(frozenset({PENDING}), RUNNING),
    Transition.COMPLETE: Rule(frozenset({RUNNING}), COMPLETED),
    Transition.RETRY_LATER: Rule(frozenset({RUNNING}), PENDING),
    Transition.FAIL: Rule(frozenset({RUNNING}), FAILED),
    Transition.RECOVER: Rule(frozenset({RUNNING}), PENDING),
    Transition.RECOVER_FAIL: Rule(frozenset({RUNNING}), FAILED),
    Transition.HAND_BACK: Rule(frozenset({RUNNING}), PENDING),
    Transition.USER_RETRY: Rule(frozenset({FAILED}), PENDING),
    Transition.SKIP_QUEUED: Rule(frozenset({PENDING}), SKIPPED),
    Transition.BACKFILL: Rule(NEW, PENDING),
    Transition.BACKFILL_REDO: Rule(frozenset({FAILED}), PENDING),
}


def sources(transition: Transition) -> list[str]:
    """The statuses a transition may start from, as stored (for an UPDATE's WHERE)."""
    return [status.value for status in TRANSITIONS[transition].sources]


def sole_source(transition: Transition) -> str:
    """The one status a transition starts from (for a batched UPDATE, which cannot take IN)."""
    [status] = TRANSITIONS[transition].sources
    return status.value


def target(transition: Transition) -> str:
    return TRANSITIONS[transition].target.value


def allowed(current: TaskStatus | None, transition: Transition) -> bool:
    rule = TRANSITIONS[transition]
    return current in rule.sources if current is not None else not rule.sources


# -- the retry rule ---------------------------------------------------------------------

_jitter = random.Random()


@dataclass(frozen=True)
class RetryPolicy:
    """How failed tries come back: base * 2^(try-1) seconds, capped, ±20 % jitter so that
    many tasks failing together do not retry in lockstep; a 429's Retry-After is honoured
    when it asks for longer."""

    base_seconds: float = 10.0
    max_seconds: float = 3600.0

    @staticmethod
    def may_retry(tries: int, max_retries: int) -> bool:
        """`tries` counts the attempts made so far, this one included."""
        return tries <= max_retries

    def delay(self, tries: int, retry_after: float | None = None) -> float:
        growth: int = 2 ** max(0, tries - 1)  # typeshed gives int ** int as Any (a negative power is a float)
        delay = min(self.max_seconds, self.base_seconds * growth) * _jitter.uniform(0.8, 1.2)
        if retry_after:
            delay = max(delay, min(self.max_seconds, retry_after))
        return delay

    def retry_at(self, now: datetime, tries: int, retry_after: float | None = None) -> datetime:
        return now + timedelta(seconds=self.delay(tries, retry_after))


# -- the task log -------------------------------------------------------------------------

MAX_LOG_CHARS = 10_000

LogLine = tuple[LogLevel, str, datetime]  # level, message, when


def log_row(task_id: str, level: LogLevel, message: str, at: datetime) -> dict[str, object]:
    return {"task_id": task_id, "level": level.value, "message": message[:MAX_LOG_CHARS], "created_at": at}


def write_logs(session: Session, rows: list[dict[str, object]]) -> None:
    """Append task log lines (rows from log_row) in the caller's transaction."""
    if rows:
        session.execute(insert(TaskLog.__table__), rows)
