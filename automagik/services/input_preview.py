"""The input a fire would send, shown before anything runs: `schedules preview --input` and the
Schedules page's New and Edit forms fill the template with the next fire's values.

The fire's time, zone, flow and schedule are known ahead; the task's id is not (it is made when
the fire becomes a task), nor a chain's upstream output, so those show as marked stand-ins.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from automagik.runs.templates import FireValues, has_placeholders, render_input
from automagik.services.flow_input import parse_flow_input

NEW_TASK_ID = "(new task id)"
NEW_SCHEDULE_ID = "(new schedule id)"
UNKNOWN_FLOW = "(flow name)"
UPSTREAM_OUTPUT = "(the upstream run's output)"


def preview_input(
    raw_input: str | dict[str, Any] | None,
    *,
    fire_time: datetime,
    zone: str,
    flow_name: str | None = None,
    schedule_id: str | None = None,
    chained: bool = False,
) -> dict[str, Any]:
    """The input a fire at `fire_time` would send: checked as at create (InvalidInput), then
    rendered. `schedule_id` None is a schedule not yet created."""
    params = parse_flow_input(raw_input, chained=chained)
    return render_input(
        params,
        FireValues(
            fire_time=fire_time,
            zone=zone,
            task_id=NEW_TASK_ID,
            flow_name=flow_name or UNKNOWN_FLOW,
            schedule_id=schedule_id or NEW_SCHEDULE_ID,
            upstream_output=UPSTREAM_OUTPUT,
        ),
    )


def is_template(raw_input: str | dict[str, Any] | None) -> bool:
    """Whether an input (as typed: JSON text or a dict) has anything a fire fills in."""
    if isinstance(raw_input, dict):
        return has_placeholders(raw_input)
    return isinstance(raw_input, str) and "{{" in raw_input
