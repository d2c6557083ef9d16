"""Backfill: run a schedule's past fires in a range (CLI `schedules backfill`, the Schedules page).

Everything is checked before anything is written: the options, the schedule, the range (read by
the one parser of typed times, in the zone given or the schedule's own), and the number of fires
(past WITHOUT_YES a person must confirm; past MAX_FIRES the range is refused). A dry run plans
the same way and writes nothing. The writing itself is automagik.runs.backfill's; a schedule
deleted while it is written is NotFound (the delete skipped whatever it had queued).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from automagik.clock import utcnow
from automagik.db.engine import Database
from automagik.db.models import Schedule, TaskStatus
from automagik.runs.backfill import BackfillRequest, Only, run_backfill, tasks_in_range
from automagik.runs.schedules import schedule_trigger
from automagik.scheduling import InvalidSchedule, ScheduleType, fires_between
from automagik.services.errors import InvalidInput, NotFound
from automagik.services.lookup import find
from automagik.services.schedules import _checked_int, _ready_flow
from automagik.services.time_input import parse_time_input

WITHOUT_YES = 10_000  # fires a backfill may queue without a person confirming (--yes)
MAX_FIRES = 50_000  # fires one backfill may plan at all: past this, narrow the range
MAX_PARALLEL_LIMIT = 100


@dataclass(frozen=True)
class PlannedFire:
    """One fire of the range and what the backfill does with it."""

    at: datetime  # UTC
    status: str | None  # its task's status, None when it has no task
    action: str | None  # "new" (a task is queued), "redo" (its failed task is tried again) or None (left alone)


@dataclass(frozen=True)
class BackfillResult:
    schedule_id: str
    range_from: datetime
    range_to: datetime
    only: str
    max_parallel: int
    dry_run: bool
    fires: list[PlannedFire] = field(default_factory=list)
    backfill_id: str | None = None  # None for a dry run
    queued: int = 0  # tasks written for fires that had none (a dry run: would be)
    redone: int = 0  # failed tasks tried again (a dry run: would be)


def _checked_only(value: str) -> Only:
    try:
        return Only(str(value).strip().lower())
    except ValueError:
        raise InvalidInput(f'Unknown --only "{value}": use missing, failed or all.') from None


def backfill_schedule(
    db: Database,
    schedule_id: str,
    range_from: str,
    range_to: str,
    only: str = "missing",
    max_parallel: int = 1,
    dry_run: bool = False,
    yes: bool = False,
    zone: str | None = None,
) -> BackfillResult:
    """Queue one run per fire of the schedule in [range_from, range_to) that `only` selects,
    oldest first, at most `max_parallel` at once; typed times without an offset are read in
    `zone` (None: the schedule's zone). Raises InvalidInput (nothing written) for bad input."""
    now = utcnow()
    chosen = _checked_only(only)
    parallel = _checked_int("--max-parallel", max_parallel, 1, MAX_PARALLEL_LIMIT)
    with db.read() as session:
        schedule = find(session, Schedule, schedule_id)
        if schedule is None:
            raise NotFound(f'Unknown schedule id "{schedule_id}": see `schedules list` for the ids.')
        if schedule.schedule_type is ScheduleType.AFTER:
            raise InvalidInput(
                f"Schedule {schedule_id} runs after another flow's runs: it has no fires in time " "to backfill."
            )
        if not dry_run:
            _ready_flow(session, schedule.flow_id)
    wall_zone = schedule.timezone if zone is None else zone
    start = parse_time_input(range_from, wall_zone, "--from")
    end = parse_time_input(range_to, wall_zone, "--to")
    if start >= end:
        raise InvalidInput("The range is empty: --from must be before --to.")
    if end > now:
        raise InvalidInput(
            f"--to is in the future (it is now {now:%Y-%m-%d %H:%M:%S} UTC): a backfill runs past "
            "fires; the schedule itself runs the ones to come."
        )
    try:
        fires = fires_between(schedule_trigger(schedule), start, end, MAX_FIRES)
    except InvalidSchedule as exc:
        raise InvalidInput(f"Schedule {schedule_id} cannot be backfilled: {exc}") from None
    if len(fires) > MAX_FIRES:
        raise InvalidInput(
            f"The range holds more than {MAX_FIRES:,} fires of this schedule: backfill a narrower " "range at a time."
        )
    if len(fires) > WITHOUT_YES and not yes and not dry_run:
        raise InvalidInput(
            f"The range holds {len(fires):,} fires (more than {WITHOUT_YES:,}): pass --yes to " "backfill them all."
        )
    # The id typed may be a short one: from here on, the schedule's whole id.
    planned = _plan(db, schedule.id, chosen, fires, start, end)
    request = BackfillRequest(schedule.id, start, end, chosen, parallel)
    if dry_run:
        return BackfillResult(
            schedule.id,
            start,
            end,
            chosen.value,
            parallel,
            True,
            planned,
            queued=sum(p.action == "new" for p in planned),
            redone=sum(p.action == "redo" for p in planned),
        )
    written = run_backfill(db, request, fires, now)
    if written.schedule_deleted:
        # Another person or process deleted the schedule meanwhile; the delete skipped whatever
        # this backfill had queued, so nothing of it will run.
        done = written.queued + written.redone
        raise NotFound(
            f"Schedule {schedule_id} was deleted during the backfill: nothing of it will run"
            + (f" (the {done} runs it had queued were skipped)." if done else ".")
        )
    return BackfillResult(
        schedule.id,
        start,
        end,
        chosen.value,
        parallel,
        False,
        planned,
        written.backfill_id,
        written.queued,
        written.redone,
    )


def _plan(
    db: Database, schedule_id: str, only: Only, fires: list[datetime], start: datetime, end: datetime
) -> list[PlannedFire]:
    existing = tasks_in_range(db, schedule_id, start, end)
    planned = []
    for fire in fires:
        status = existing.get(fire)
        if status is None:
            action = "new" if only.queues_missing else None
        else:
            action = "redo" if status is TaskStatus.FAILED and only.redoes_failed else None
        planned.append(PlannedFire(fire, None if status is None else status.value, action))
    return planned
