"""Chains as people see them: which flow a schedule of type after follows (checked, no cycles),
how it is described ("after Echo completes"), and which run started which ("started by run
1a2b3c4d of Echo")."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select, text

from automagik.db.models import Flow, Schedule, ScheduleStatus, Task, TaskStatus
from automagik.runs.templates import TemplateError, check_input
from automagik.scheduling import InvalidSchedule, ScheduleType, describe
from automagik.scheduling.after import check_outcome
from automagik.services.errors import InvalidInput
from automagik.services.lookup import find

# Any constant of its own (not the claims'): the key of the advisory lock every change to the
# chains' links takes on PostgreSQL, so that two changes at once cannot both pass the loop check
# (or the limit below) each without seeing the other. SQLite runs one writer at a time already.
CHAINS_LOCK_KEY = 0x61_75_74_6F_63_68_6E  # "autochn"
# At most this many active after schedules follow one flow: every end of one of its runs queues
# a run of each, inside the daemon's transaction that records the end.
MAX_FOLLOWERS = 10


def lock_chains(session) -> None:
    """Serialize the changes to chain links until the caller's transaction ends (PostgreSQL)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": CHAINS_LOCK_KEY})


def check_followers(session, upstream: Flow, schedule_id: str | None = None) -> None:
    """Refuse one more active after schedule of `upstream` past MAX_FOLLOWERS (`schedule_id`, the
    schedule being changed or resumed, does not count)."""
    query = (
        select(func.count())
        .select_from(Schedule)
        .where(
            Schedule.schedule_type == ScheduleType.AFTER,
            Schedule.schedule_expr == upstream.id,
            Schedule.status == ScheduleStatus.ACTIVE,
        )
    )
    if schedule_id is not None:
        query = query.where(Schedule.id != schedule_id)
    if (session.scalar(query) or 0) >= MAX_FOLLOWERS:
        raise InvalidInput(
            f'Flow "{upstream.name}" already has {MAX_FOLLOWERS} active after schedules, the most one flow may have: '
            "each end of its runs starts them all at once. Pause or delete one first."
        )


def checked_outcome(kind: ScheduleType, outcome: str | None) -> str | None:
    """The after_outcome to store: only a schedule of type after has one (default completed)."""
    if kind is not ScheduleType.AFTER:
        if outcome is not None:
            raise InvalidInput(
                "--on is only for a schedule of type after (it names which ends of the upstream "
                "flow's runs start one)."
            )
        return None
    try:
        return check_outcome(outcome)
    except InvalidSchedule as exc:
        raise InvalidInput(str(exc)) from None


def check_upstream(session, flow_id: str, upstream_id: str, schedule_id: str | None = None) -> Flow:
    """The upstream flow of a new (or changed) after schedule of `flow_id`: it must be a known
    flow, and following it must not close a loop (A after A, A after B after A), which would run
    forever. `schedule_id` names the schedule being changed: its old link does not count. The
    caller stores the returned flow's whole id (`upstream_id` may be a short one) and holds
    lock_chains."""
    upstream = find(session, Flow, upstream_id)
    if upstream is None:
        raise InvalidInput(f'Unknown upstream flow id "{upstream_id}" for --expr: see `flows list` for the ids.')
    if upstream.removed_at is not None:
        raise InvalidInput(f'Flow "{upstream.name}" is no longer in LangFlow: nothing would start its chain.')
    if upstream.id == flow_id:
        raise InvalidInput(f'Flow "{upstream.name}" cannot run after itself: every run would start another.')
    # Edges upstream -> downstream of every after schedule, paused ones too (they can be resumed).
    links = select(Schedule.schedule_expr, Schedule.flow_id).where(Schedule.schedule_type == ScheduleType.AFTER)
    if schedule_id is not None:
        links = links.where(Schedule.id != schedule_id)
    following: dict[str, set[str]] = {}
    for source, downstream in session.execute(links):
        following.setdefault(source, set()).add(downstream)
    # Does a run of flow_id already start, through the chains, a run of the upstream?
    path: dict[str, str | None] = {flow_id: None}
    queue = [flow_id]
    while queue:
        current = queue.pop(0)
        for downstream in following.get(current, ()):
            if downstream not in path:
                path[downstream] = current
                queue.append(downstream)
    if upstream.id in path:
        names = _names(session, list(path))
        loop, step = [upstream.id], upstream.id
        while path[step] is not None:
            step = path[step]
            loop.append(step)
        shown = " -> ".join(names.get(f, f) for f in [upstream.id, *reversed(loop)])
        raise InvalidInput(f"That would make a loop of chains ({shown}): every run would start another.")
    return upstream


def check_chain_input(params: dict) -> None:
    """An after schedule's input may use {{ upstream_output }} besides the fire's placeholders."""
    try:
        check_input(params, chained=True)
    except TemplateError as exc:
        raise InvalidInput(str(exc)) from None


def _names(session, flow_ids: list[str]) -> dict[str, str]:
    return dict(session.execute(select(Flow.id, Flow.name).where(Flow.id.in_(flow_ids))).all())


def upstream_name(session, schedule: Schedule) -> str | None:
    """The name of the flow an after schedule follows (None for other kinds, or a flow gone)."""
    if schedule.schedule_type is not ScheduleType.AFTER:
        return None
    flow = find(session, Flow, schedule.schedule_expr)
    return flow.name if flow else None


def describe_schedule(schedule: Schedule, upstream: str | None = None) -> str:
    """ "every 5m", "At 09:00 (Europe/Berlin)", "after Echo completes" ...; a stored expression
    a newer version no longer reads is shown as it is."""
    try:
        return describe(
            schedule.schedule_type,
            schedule.schedule_expr,
            schedule.timezone,
            upstream_name=upstream,
            outcome=schedule.after_outcome,
        )
    except InvalidSchedule:
        return schedule.schedule_expr


@dataclass(frozen=True)
class StartedRun:
    """A run a chain started, as its upstream run's detail lists it."""

    task_id: str
    flow_name: str
    status: str

    def __str__(self) -> str:
        return f"run {self.task_id[:8]} of {self.flow_name} ({self.status})"


def started_by_text(upstream_task_id: str | None, upstream_flow: str | None) -> str | None:
    """ "started by run 1a2b3c4d of Echo"; the upstream run may have been pruned since."""
    if upstream_task_id is None:
        return None
    return f"started by run {upstream_task_id[:8]} of {upstream_flow or 'a flow (run pruned)'}"


def upstream_of(session, task: Task) -> str | None:
    """The text saying which run started this one, or None for a run no chain started."""
    if task.upstream_task_id is None:
        return None
    name = session.scalar(select(Flow.name).join(Task, Task.flow_id == Flow.id).where(Task.id == task.upstream_task_id))
    return started_by_text(task.upstream_task_id, name)


def started_runs(session, task_id: str) -> list[StartedRun]:
    """The runs this run's end started (through uq_tasks_chain, which leads with upstream_task_id)."""
    rows = session.execute(
        select(Task.id, Flow.name, Task.status)
        .join(Flow, Flow.id == Task.flow_id)
        .where(Task.upstream_task_id == task_id)
        .order_by(Task.scheduled_for, Task.id)
    ).all()
    return [
        StartedRun(tid, name, status.value if isinstance(status, TaskStatus) else status) for tid, name, status in rows
    ]
