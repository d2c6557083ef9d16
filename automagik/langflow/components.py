"""What the scheduler needs to know about a flow's components, without any HTTP.

A flow as LangFlow serves it can weigh hundreds of KB because every node carries its Python
source. The scheduler only needs the input and output components (to let the user pick where
the scheduled input goes in and where the answer comes out), so :func:`trim_flow` keeps those
and nothing else. Everything here parses loosely: fields come and go between LangFlow versions
and any of them may be missing or null.
"""

from __future__ import annotations

from typing import Any

INPUT_TYPES = frozenset({"ChatInput", "TextInput", "Webhook"})
OUTPUT_TYPES = frozenset({"ChatOutput", "TextOutput", "DataOutput"})

ROLE_INPUT = "input"
ROLE_OUTPUT = "output"


def _as_dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _node_data(node: dict) -> dict:
    """A node's ``data`` dict; a bare ``data`` dict passed in directly is accepted as is."""
    data = node.get("data")
    if isinstance(data, dict):
        return data
    return node if "node" in node else {}


def _node_id(node: dict) -> str | None:
    node_id = node.get("id") or _node_data(node).get("id")
    return node_id if isinstance(node_id, str) and node_id else None


def _node_type(node: dict) -> str | None:
    """The component type: ``data.type``, else the id's prefix (``ChatInput-jFwUm`` -> ``ChatInput``)."""
    node_type = _node_data(node).get("type")
    if isinstance(node_type, str) and node_type:
        return node_type
    node_id = _node_id(node)
    return node_id.split("-", 1)[0] if node_id else None


def component_role(node: dict) -> str | None:
    """``"input"``, ``"output"`` or None for one node of a flow's ``data.nodes``.

    LangFlow itself recognises inputs and outputs by type name (or the id prefix, which is the
    type) and by the ``is_input`` / ``is_output`` flags custom components may set.
    """
    if not isinstance(node, dict):
        return None
    candidates = {_node_type(node)}
    node_id = _node_id(node)
    if node_id:
        candidates.add(node_id.split("-", 1)[0])
    if candidates & INPUT_TYPES:
        return ROLE_INPUT
    if candidates & OUTPUT_TYPES:
        return ROLE_OUTPUT
    inner = _as_dict(_node_data(node).get("node"))
    if inner.get("is_input") is True:
        return ROLE_INPUT
    if inner.get("is_output") is True:
        return ROLE_OUTPUT
    return None


def _optional_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def trim_flow(raw_flow: dict) -> dict:
    """What the scheduler stores about a flow: a few fields and its input/output components.

    Components are sorted by role then id so that the stored JSON is stable between syncs.
    Their code and templates are never kept.
    """
    raw_flow = _as_dict(raw_flow)
    nodes = _as_dict(raw_flow.get("data")).get("nodes")
    components = []
    for node in nodes if isinstance(nodes, list) else []:
        if not isinstance(node, dict):
            continue
        role = component_role(node)
        node_id = _node_id(node)
        if role is None or node_id is None:
            continue
        components.append(
            {
                "id": node_id,
                "type": _node_type(node),
                "display_name": _optional_str(_as_dict(_node_data(node).get("node")).get("display_name")),
                "role": role,
            }
        )
    components.sort(key=lambda component: (component["role"], component["id"]))
    return {
        "description": _optional_str(raw_flow.get("description")),
        "updated_at": _optional_str(raw_flow.get("updated_at")),
        "endpoint_name": _optional_str(raw_flow.get("endpoint_name")),
        "components": components,
    }


def has_schedule_trigger(raw_flow: dict) -> bool:
    """Whether the flow's graph holds LangFlow's own ScheduleTrigger node (see triggers.py)."""
    nodes = _as_dict(_as_dict(raw_flow).get("data")).get("nodes")
    return isinstance(nodes, list) and any(
        isinstance(node, dict) and _node_type(node) == "ScheduleTrigger" for node in nodes
    )


def is_runnable_flow(raw_flow: dict) -> bool:
    """False for saved components (``is_component: true``), which LangFlow lists among flows."""
    return isinstance(raw_flow, dict) and not raw_flow.get("is_component")
