"""A stored schedule's trigger: what its row says about when it fires."""

from __future__ import annotations

from automagik.db.models import Schedule
from automagik.scheduling import Trigger, build_trigger


def schedule_trigger(schedule: Schedule) -> Trigger:
    """Rebuild the trigger of a stored schedule (its expression was validated when saved)."""
    return build_trigger(
        schedule.schedule_type, schedule.schedule_expr, timezone=schedule.timezone, anchor=schedule.anchor_at
    )
