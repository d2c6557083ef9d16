"""LangFlow's own triggers (1.13): a flow's ScheduleTrigger nodes, as LangFlow schedules them.

Saving a flow that holds a ScheduleTrigger node makes LangFlow create a trigger row, which its
own scheduler fires while the row is "active" (a new one is "pending" until armed; disabling
makes it "paused"). An older LangFlow has no /api/v1/triggers route at all.
"""

from __future__ import annotations

from typing import Any

from automagik.langflow.client import LangFlowClient

# States in which LangFlow fires (or is about to fire) the trigger by itself.
FIRING_STATES = ("active", "pending")
#: What is kept of a trigger (with the `cron`, `timezone` and `catchup_policy` of its config).
KEPT_FIELDS = ("id", "name", "kind", "state", "next_fire_at", "last_fired_at", "last_error")


def trim_trigger(raw: dict) -> dict:
    config = raw.get("config")
    if not isinstance(config, dict):
        config = {}
    trimmed: dict[str, Any] = {name: _text(raw.get(name)) for name in KEPT_FIELDS}
    trimmed.update(
        cron=_text(config.get("cron")),
        timezone=_text(config.get("timezone")) or "UTC",
        catchup_policy=_text(config.get("catchup_policy")) or "coalesce",
    )
    return trimmed


def list_triggers(client: LangFlowClient, flow_id: str) -> list[dict]:
    """The flow's triggers, trimmed; LangFlowRouteMissing from a LangFlow without triggers."""
    action = f"listing the triggers of flow {flow_id}"
    body = client.api_json("GET", "/api/v1/triggers", params={"flow_id": flow_id}, action=action)
    if not isinstance(body, list):
        raise client.bad_shape(action, "a list of triggers")
    return [trim_trigger(item) for item in body if isinstance(item, dict) and item.get("id")]


def disable_trigger(client: LangFlowClient, trigger_id: str) -> dict:
    """Pause one trigger in LangFlow; returns it as LangFlow now has it, trimmed."""
    action = f"disabling LangFlow trigger {trigger_id}"
    body = client.api_json("POST", f"/api/v1/triggers/{trigger_id}/disable", action=action)
    if not isinstance(body, dict):
        raise client.bad_shape(action, "a trigger")
    return trim_trigger(body)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None if value is None else str(value)
