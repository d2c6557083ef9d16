"""LangFlow's own triggers beside Automagik's schedules: a warning before a flow is scheduled
twice, and adoption (the same cron schedule made here, then LangFlow's trigger disabled)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from automagik.db.engine import Database
from automagik.db.models import Flow, MissedRunPolicy, Schedule
from automagik.langflow import LangFlowClient, LangFlowError
from automagik.langflow import triggers as triggers_api
from automagik.services.errors import InvalidInput, NotFound, Unavailable
from automagik.services.flows import get_flow
from automagik.services.schedules import ScheduleSpec, create_schedule, delete_schedule, resume_schedule


@dataclass(frozen=True)
class Adopted:
    schedule: Schedule
    trigger: dict  # LangFlow's trigger as it answered the disable (state "paused")


def firing_triggers(flow: Flow) -> list[dict]:
    """The flow's LangFlow triggers that LangFlow fires by itself (as the last sync saw them)."""
    return [t for t in flow.langflow_triggers or [] if t.get("state") in triggers_api.FIRING_STATES]


def describe_trigger(trigger: dict) -> str:
    return f'{trigger["id"]} ("{trigger.get("cron")}" in {trigger.get("timezone")}, {trigger.get("state")})'


def double_run_warning(db: Database, flow_id: str) -> str | None:
    """One line when LangFlow itself also schedules the flow, else None."""
    flow = get_flow(db, flow_id)
    firing = firing_triggers(flow)
    if not firing:
        return None
    return (
        f'Flow "{flow.name}" is also scheduled by LangFlow itself (trigger '
        f'{", ".join(describe_trigger(t) for t in firing)}): it would run twice. '
        "`flows adopt-trigger TRIGGER_ID` moves LangFlow's schedule here and disables it in LangFlow."
    )


def adopt_trigger(
    db: Database, client: LangFlowClient, trigger_id: str, flow_input: str | dict[str, Any] | None = None
) -> Adopted:
    """Create the Automagik cron schedule equal to a LangFlow trigger (expression, zone, catch-up
    policy), then disable the trigger in LangFlow, so the flow is never scheduled twice nor
    nowhere: the schedule is created paused and resumed only once LangFlow says the trigger is
    paused; if LangFlow refuses, the schedule is deleted again. An answer lost on the way (a
    timeout) is settled by asking LangFlow what the trigger's state now is."""
    flow, trigger = _find(db, trigger_id)
    if trigger.get("kind") != "schedule" or not trigger.get("cron"):
        raise InvalidInput(f"LangFlow trigger {trigger_id} is not a schedule trigger: only those can be adopted.")
    live = _live_trigger(client, flow.id, trigger_id)
    if live.get("state") not in triggers_api.FIRING_STATES:
        raise InvalidInput(
            f"LangFlow trigger {trigger_id} is {live.get('state')}: LangFlow does not fire it, so "
            "there is nothing to adopt (was it adopted already? `schedules list` shows the flow's)."
        )
    policy = trigger.get("catchup_policy")
    spec = ScheduleSpec(
        flow.id,
        "cron",
        live.get("cron") or trigger["cron"],
        flow_input,
        timezone=live.get("timezone") or "UTC",
        missed_policy=policy
        if policy in (MissedRunPolicy.COALESCE.value, MissedRunPolicy.SKIP.value)
        else MissedRunPolicy.COALESCE.value,
    )
    schedule = create_schedule(db, spec, paused_reason=f"adopting LangFlow trigger {trigger_id}")
    disabled: dict[str, Any] | None
    try:
        disabled = triggers_api.disable_trigger(client, trigger_id)
    except LangFlowError as exc:
        disabled = _state_after(client, flow.id, trigger_id) if exc.transient else None
        if disabled is None or disabled.get("state") in triggers_api.FIRING_STATES:
            delete_schedule(db, schedule.id)
            raise Unavailable(
                f"Could not disable LangFlow trigger {trigger_id}: {exc.message} The new schedule "
                "was removed again, so nothing changed."
            ) from None
    _store(db, flow.id, disabled)
    return Adopted(resume_schedule(db, schedule.id), disabled)


def _live_trigger(client: LangFlowClient, flow_id: str, trigger_id: str) -> dict:
    try:
        found = [t for t in triggers_api.list_triggers(client, flow_id) if t["id"] == trigger_id]
    except LangFlowError as exc:
        raise Unavailable(f"Could not read LangFlow trigger {trigger_id}: {exc.message}") from None
    if not found:
        raise NotFound(f"LangFlow no longer has trigger {trigger_id}: run `flows sync` to see the flow's triggers.")
    return found[0]


def _state_after(client: LangFlowClient, flow_id: str, trigger_id: str) -> dict | None:
    """The trigger as LangFlow has it now, or None if LangFlow cannot say."""
    try:
        return _live_trigger(client, flow_id, trigger_id)
    except (Unavailable, NotFound):
        return None


def _find(db: Database, trigger_id: str) -> tuple[Flow, dict]:
    with db.read() as session:
        for flow in session.scalars(select(Flow).where(Flow.langflow_triggers.is_not(None))):
            for trigger in flow.langflow_triggers or []:
                if trigger.get("id") == trigger_id:
                    return flow, trigger
    raise NotFound(
        f'Unknown LangFlow trigger id "{trigger_id}": run `flows sync`, then `flows list` '
        "shows each flow's LangFlow triggers."
    )


def _store(db: Database, flow_id: str, changed: dict) -> None:
    with db.write() as session:
        flow = session.get(Flow, flow_id)
        if flow is None:  # no code deletes a flow's row; this only tells the checker so
            raise NotFound(f"Unknown flow id {flow_id!r}.")
        flow.langflow_triggers = [changed if t.get("id") == changed["id"] else t for t in flow.langflow_triggers or []]
