"""Showing instants to people: in their zone, with the zone named.

Reading the times they type is automagik.scheduling's `parse_typed_time`, the one parser every
front end uses (through automagik.services.time_input).
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo


def format_local(moment: datetime | None, zone: str, seconds: bool = True) -> str:
    """ "2026-11-27 07:00:00 CET": the instant in `zone`, with the zone's abbreviation."""
    if moment is None:
        return "-"
    local = moment.astimezone(ZoneInfo(zone))
    return local.strftime("%Y-%m-%d %H:%M:%S %Z" if seconds else "%Y-%m-%d %H:%M %Z")
