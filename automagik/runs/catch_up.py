"""What a due schedule's fires become, by its missed-run policy: the pure part of dispatching.

The fires since a schedule's next_run_at are walked (after downtime, up to MAX_WALK one by
one, then jumped close to now and counted by their period), and the policy decides which run
and which are recorded as skipped, with the reason and the note a task's log keeps:

- coalesce (the default): the latest due fire runs and stands for the ones before it;
- skip: a fire missed by more than the grace is skipped, with why;
- all: every due fire runs, up to the catch-up limit, the older ones counted in the note.

A fire due while the schedule's previous run is going or queued is skipped, under every
policy. Nothing here reads or writes the database (runs/fires.py does).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from automagik.db.models import MissedRunPolicy, Schedule, ScheduleStatus
from automagik.plural import counted
from automagik.scheduling import Trigger

if TYPE_CHECKING:
    from automagik.daemon.settings import DaemonSettings

# Walking a dense trigger through a long downtime one fire at a time would be slow; past
# this many fires we jump close to "now" and only estimate how many were missed.
MAX_WALK = 2_000


@dataclass
class Walk:
    """The fires of one schedule from its next_run_at up to a moment."""

    kept: list[datetime]  # the last `keep` of them
    count: int  # how many there were (an estimate past MAX_WALK)
    following: datetime | None  # the first fire after the moment


@dataclass
class FirePlan:
    """What one due schedule gets now."""

    run: list[datetime] = field(default_factory=list)  # fires that become runnable tasks
    skipped: list[datetime] = field(default_factory=list)  # fires recorded as skipped (with `reason`)
    reason: str = ""  # set whenever `skipped` is not empty
    note: str | None = None  # a remark for the log of the first task (coalesced fires...)
    next_run_at: datetime | None = None
    status: ScheduleStatus = ScheduleStatus.ACTIVE


def walk_fires(trigger: Trigger, first: datetime, until: datetime, keep: int) -> Walk:
    """The fires in [first, until]: the last `keep`, how many, and the first one after."""
    kept: deque[datetime] = deque(maxlen=keep)
    count, previous = 0, None
    fire: datetime | None = first
    while fire is not None and fire <= until:
        if count == MAX_WALK and previous is not None:
            period = fire - previous
            jump_to = trigger.next_fire_after(until - period * (keep + 1))
            if jump_to is not None and jump_to > fire:
                count += max(0, int((jump_to - fire) / period)) if period > timedelta(0) else 0
                fire = jump_to
                continue
        kept.append(fire)
        count += 1
        previous, fire = fire, trigger.next_fire_after(fire)
    return Walk(list(kept), count, fire)


def plan_fires(
    schedule: Schedule, walk: Walk, now: datetime, settings: DaemonSettings, busy_reason: str | None = None
) -> FirePlan:
    """Apply the schedule's missed-run policy to its due fires. `busy_reason` says why the
    schedule cannot run now (its previous run still going or queued), or is None."""
    policy = schedule.missed_policy
    due, count = walk.kept, walk.count
    plan = FirePlan(next_run_at=walk.following)
    plan.status = ScheduleStatus.ACTIVE if walk.following is not None else ScheduleStatus.COMPLETED
    latest = due[-1]
    late = now - latest > timedelta(seconds=settings.missed_grace_seconds)
    earlier = count - len(due)
    if busy_reason:
        # Under "all" every fire gets its own task, a skipped one here; otherwise the latest
        # stands for the fires it would have been coalesced with.
        plan.skipped = due if policy is MissedRunPolicy.ALL else [latest]
        plan.reason = busy_reason
        if count > len(plan.skipped):
            plan.reason += f" ({counted(count - len(plan.skipped), 'earlier fire')} missed as well)"
        return plan
    if policy is MissedRunPolicy.SKIP and late:
        plan.skipped = [latest]
        plan.reason = (
            f"skipped: missed by {_ago(now - latest)} (more than the {settings.missed_grace_seconds:g} s grace: "
            "no daemon could run it in time); policy skip"
        )
        if count > 1:
            plan.reason += f"; {counted(count - 1, 'earlier fire')} missed too"
        return plan
    if policy is MissedRunPolicy.ALL:
        plan.run = due
        if earlier:
            plan.note = f"catch-up after downtime: {counted(earlier, 'older missed fire')} beyond the limit of {len(due):,} not run"
        elif count > 1:
            plan.note = f"catch-up after downtime: running all {count} missed fires"
        return plan
    plan.run = [latest]
    if count > 1:
        since = due[0] if len(due) > 1 else schedule.next_run_at
        plan.note = f"coalesced {counted(count - 1, 'missed fire')} since {since:%Y-%m-%d %H:%M:%S} UTC into this run"
    elif late:
        plan.note = f"running {_ago(now - latest)} late (no daemon could run it at the planned time)"
    return plan


def _ago(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h"
