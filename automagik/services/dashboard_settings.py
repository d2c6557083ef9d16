"""The dashboard's own options, read like the rest: environment over an optional .env file.

They live here rather than in automagik.config because only the dashboard reads them; the
values are plain (no Streamlit), so they are unit-testable and the password check is shared.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from automagik.config import ConfigError, non_blank, read_environment

REFRESH_VARIABLE = "AUTOMAGIK_DASHBOARD_REFRESH_SECONDS"
PASSWORD_VARIABLE = "AUTOMAGIK_DASHBOARD_PASSWORD"
# The daemons' heartbeat interval, read here too: a daemon is judged stale after three missed beats.
HEARTBEAT_VARIABLE = "AUTOMAGIK_HEARTBEAT_SECONDS"


@dataclass(frozen=True)
class DashboardSettings:
    # How often the Overview and Tasks pages refresh themselves; 0 turns it off.
    refresh_seconds: float = 5.0
    # When set, the dashboard asks for it first. repr=False keeps it out of logs and tracebacks.
    password: str | None = field(default=None, repr=False)
    heartbeat_seconds: float = 5.0


def dashboard_settings(
    environ: Mapping[str, str] | None = None, env_file: str | Path | None = ".env"
) -> DashboardSettings:
    values = read_environment(environ, env_file)

    def get(name: str) -> str | None:
        return non_blank(values, name)

    return DashboardSettings(
        refresh_seconds=_seconds(REFRESH_VARIABLE, get(REFRESH_VARIABLE), 5.0, allow_zero=True),
        # The password is taken as typed: surrounding spaces could be part of it.
        password=values.get(PASSWORD_VARIABLE) or None,
        heartbeat_seconds=_seconds(HEARTBEAT_VARIABLE, get(HEARTBEAT_VARIABLE), 5.0, allow_zero=False),
    )


def _seconds(name: str, raw: str | None, default: float, allow_zero: bool) -> float:
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    low_ok = value >= 0 if allow_zero else value > 0
    if not (low_ok and value <= 3600):
        lowest = "0 (off)" if allow_zero else "more than 0"
        raise ConfigError(f"{name}={raw!r} is not usable: expected a number of seconds from {lowest} to 3600.")
    return value


def password_matches(given: str, expected: str) -> bool:
    """Compare in constant time, so the answer's timing does not reveal how much of it was right."""
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))
