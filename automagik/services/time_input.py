"""A time a user typed into a named field (`--since`, `--after`, the Tasks page's "From").

The reading itself is automagik.scheduling's `parse_typed_time`, the one parser of typed times;
this only turns its refusal into the InvalidInput every front end shows as one line, prefixed
with the field, so a person with two fields knows which one to fix.
"""

from __future__ import annotations

from datetime import datetime

from automagik.scheduling import InvalidSchedule, load_zone, parse_typed_time
from automagik.services.errors import InvalidInput


def parse_time_input(text: str, zone: str, field: str) -> datetime:
    """The UTC instant `text` names, read in `zone` when it has no offset; InvalidInput if none.

    The zone is checked before the text and refused without the field's name: a bad zone is not
    the field's fault.
    """
    try:
        load_zone(zone)
    except InvalidSchedule as exc:
        raise InvalidInput(str(exc)) from None
    try:
        return parse_typed_time(text, zone)
    except InvalidSchedule as exc:
        raise InvalidInput(f"{field}: {exc}") from None
