"""A try's outcome recorded: what it comes to by the retry rule, written by the daemon that
still holds the task's lease.

Workers never write: they describe an `Attempt` (the answer, or the error and whether it may
pass), and `record_outcomes` decides, by the retry rule, whether it completes the task, retries
it later or fails it, writing the log lines that say so. It runs in the caller's transaction
(runs/leases.record_and_claim, which claims the next tasks in the same one); every write
repeats `claimed_by = me`, so a daemon whose lease was taken over records nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, func, select, update

from automagik.costs.prices import RunCost
from automagik.db.models import Flow, LogLevel, Task, TaskStatus
from automagik.runs.chains import Ended, output_of, start_chains
from automagik.runs.states import LogLine, RetryPolicy, Transition, log_row, sole_source, sources, target, write_logs


@dataclass(frozen=True)
class Attempt:
    """What one try of a task came to, as its worker saw it; recorded later, in a batch."""

    task_id: str
    logs: list[LogLine]
    result: dict | None = None  # LangFlow's answer: the try succeeded
    error: str | None = None  # why it failed, in plain words
    transient: bool = False  # the failure may pass (unreachable, timeout, 5xx, 429)
    retry_after: float | None = None  # seconds LangFlow asked to wait (429 Retry-After)
    started_at: datetime | None = None  # when the try really began (claims may come ahead of it)
    finished_at: datetime | None = None
    cost: RunCost | None = None  # the tokens LangFlow reported, priced (None: it reported none)
    flow_updated_at: datetime | None = None  # the version of the flow the try ran against


@dataclass(frozen=True)
class Recorded:
    """A task's new state after a transition of a try's end, or of recovery (runs/recovery.py),
    for logs and alerts."""

    task_id: str
    status: TaskStatus
    flow_id: str
    flow_name: str
    schedule_id: str | None
    tries: int
    error: str | None = None
    next_retry_at: datetime | None = None
    owner: str | None = None  # for a recovered task: the daemon that had held it


def outcome_of(
    attempt: Attempt, tries: int, max_retries: int, now: datetime, retry: RetryPolicy
) -> tuple[Transition, datetime | None, list[LogLine]]:
    """The retry rule applied to one attempt: the transition it makes, the retry's time if
    any, and the log lines that say so."""
    if attempt.error is None:
        return Transition.COMPLETE, None, []
    ended = attempt.finished_at or now
    if not attempt.transient:
        return Transition.FAIL, None, []
    if RetryPolicy.may_retry(tries, max_retries):
        when = retry.retry_at(ended, tries, attempt.retry_after)
        line = f"will retry at {when:%Y-%m-%d %H:%M:%S} UTC (retry {tries} of {max_retries})"
        return Transition.RETRY_LATER, when, [(LogLevel.WARNING, line, ended)]
    return Transition.FAIL, None, [(LogLevel.ERROR, f"no retries left after {tries} tries", ended)]


def record_outcomes(
    session, dialect: str, daemon_id: str, attempts: list[Attempt], now: datetime, retry: RetryPolicy
) -> list[Recorded]:
    """Record finished attempts in the caller's write transaction, only those of tasks this
    daemon still owns, and start the chains the tasks ended for good start, in the same."""
    if not attempts:
        return []
    owned_query = (
        select(Task.id, Task.tries, Task.max_retries, Task.flow_id, Flow.name, Task.schedule_id)
        .join(Flow, Flow.id == Task.flow_id)
        .where(
            Task.id.in_([a.task_id for a in attempts]),
            Task.claimed_by == daemon_id,
            Task.status.in_(sources(Transition.COMPLETE)),
        )
    )
    if dialect == "postgresql":
        owned_query = owned_query.with_for_update(of=Task)
    owned = {row[0]: row[1:] for row in session.execute(owned_query)}
    rows, logs, recorded, ended = [], [], [], []
    for attempt in attempts:
        if attempt.task_id not in owned:
            continue
        tries, max_retries, flow_id, flow_name, schedule_id = owned[attempt.task_id]
        transition, retry_time, rule_lines = outcome_of(attempt, tries, max_retries, now, retry)
        status = TaskStatus(target(transition))
        rows.append(
            {
                "task_id": attempt.task_id,
                "new_status": status.value,
                "new_error": attempt.error,
                "new_result": attempt.result if transition is Transition.COMPLETE else None,
                "new_finished_at": None if retry_time else attempt.finished_at or now,
                "new_next_retry_at": retry_time,
                "new_started_at": attempt.started_at,
                "new_flow_updated_at": attempt.flow_updated_at,
                **_cost_columns(attempt.cost if transition is Transition.COMPLETE else None),
            }
        )
        logs += [log_row(attempt.task_id, *line) for line in attempt.logs + rule_lines]
        recorded.append(
            Recorded(attempt.task_id, status, flow_id, flow_name, schedule_id, tries, attempt.error, retry_time)
        )
        if retry_time is None:
            ended.append(
                Ended(
                    attempt.task_id,
                    flow_id,
                    flow_name,
                    status,
                    output_of(attempt.result if transition is Transition.COMPLETE else None, attempt.error),
                )
            )
    if rows:
        table = Task.__table__
        # One statement for the batch; the rows were just checked (and locked) as ours. Every
        # outcome (complete, retry later, fail) starts from the same status.
        session.execute(
            update(table)
            .where(
                table.c.id == bindparam("task_id"),
                table.c.claimed_by == daemon_id,
                table.c.status == sole_source(Transition.COMPLETE),
            )
            .values(
                status=bindparam("new_status"),
                error=bindparam("new_error"),
                result=bindparam("new_result"),
                started_at=func.coalesce(bindparam("new_started_at"), table.c.started_at),
                finished_at=bindparam("new_finished_at"),
                next_retry_at=bindparam("new_next_retry_at"),
                claimed_by=None,
                lease_until=None,
                updated_at=now,
                flow_updated_at=func.coalesce(bindparam("new_flow_updated_at"), table.c.flow_updated_at),
                **{name: bindparam(f"new_{name}") for name in COST_COLUMNS},
            ),
            rows,
        )
    write_logs(session, logs)
    # In this same transaction: a chain's run commits with the end that starts it, or neither does.
    start_chains(session, dialect, ended, now)
    return recorded


COST_COLUMNS = ("input_tokens", "output_tokens", "total_tokens", "model", "cost_usd")


MODEL_CHARS = 255  # tasks.model
MAX_TOKENS = 2**31 - 1  # tasks.*_tokens are 32-bit integers


def _cost_columns(cost: RunCost | None) -> dict:
    """The run's usage as the columns can hold it: whatever LangFlow reports (a model name of
    any length, any count) must never make the batch's write fail, or no later outcome of the
    daemon could be recorded either."""
    if cost is None:
        return {f"new_{name}": None for name in COST_COLUMNS}
    model = cost.model if cost.model is None or len(cost.model) <= MODEL_CHARS else cost.model[: MODEL_CHARS - 1] + "…"
    return {
        "new_input_tokens": min(cost.input_tokens, MAX_TOKENS),
        "new_output_tokens": min(cost.output_tokens, MAX_TOKENS),
        "new_total_tokens": min(cost.total_tokens, MAX_TOKENS),
        "new_model": model,
        "new_cost_usd": cost.cost_usd,
    }
