"""Schedules of type "after" (chains): a flow runs when a run of another flow ends.

Such a schedule has no time of its own: its expression is the upstream flow's id, its
`next_run_at` stays empty, and its runs are started by the state owner in the same write
transaction that records the upstream run's end (automagik.runs.chains). Everything this kind
means for timing (no fires, no preview, nothing to catch up) is answered here, so the callers
that ask "when does this schedule fire?" need no case of their own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from .errors import InvalidSchedule, quoted

#: Which ends of an upstream run start one, with the verb that describes each.
OUTCOMES: dict[str, str] = {"completed": "completes", "failed": "fails", "finished": "finishes"}
DEFAULT_OUTCOME = "completed"
#: The statuses of an upstream run each outcome follows.
STATUSES_OF: dict[str, frozenset[str]] = {
    "completed": frozenset({"completed"}),
    "failed": frozenset({"failed"}),
    "finished": frozenset({"completed", "failed"}),
}


@dataclass(frozen=True)
class AfterTrigger:
    """Never fires on time: another flow's run ends start it (automagik.runs.chains)."""

    upstream_flow_id: str

    def next_fire_after(self, after: datetime) -> datetime | None:
        return None


def normalize_after(expr: str) -> str:
    """The upstream flow's id as stored; whether such a flow exists is the services' check."""
    flow_id = str(expr).strip()
    if not flow_id:
        raise InvalidSchedule("A schedule of type after needs --expr: the id of the flow whose runs it follows.")
    return flow_id


def check_outcome(value: str | None) -> str:
    """ "completed" (when left out), "failed" or "finished"; anything else is refused."""
    if value is None:
        return DEFAULT_OUTCOME
    outcome = str(value).strip().lower()
    if outcome not in OUTCOMES:
        raise InvalidSchedule(f"Unknown outcome {quoted(value)} for --on: use completed, failed or finished.")
    return outcome


def describe_after(upstream_name: str, outcome: str | None) -> str:
    """ "after Echo completes" (or "fails", "finishes")."""
    return f"after {upstream_name} {OUTCOMES.get(outcome or DEFAULT_OUTCOME, 'ends')}"
