"""The daemon's options: command-line flags over AUTOMAGIK_* environment variables over defaults."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from automagik.config import ConfigError, read_environment
from automagik.costs.prices import PriceFileError, load_price_file

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


@dataclass(frozen=True)
class DaemonSettings:
    workers: int = 8  # runs at once; each waits on LangFlow, so threads, not cores, bound this
    poll_seconds: float = 1.0  # how often the database is checked for new schedules and manual runs
    log_level: str = "INFO"
    lease_seconds: float = 60.0  # a running task's claim; extended every lease/4 while it runs
    heartbeat_seconds: float = 5.0
    recovery_seconds: float = 10.0  # how often expired leases (dead daemons) are looked for
    shutdown_grace_seconds: float = 30.0  # on SIGTERM, how long running tasks may finish
    run_timeout_seconds: float = 300.0  # a run's limit when its schedule sets none
    retry_base_seconds: float = 10.0  # first retry after about this, doubling each time
    retry_max_seconds: float = 3600.0
    missed_grace_seconds: float = 60.0  # a fire later than this counts as missed (downtime)
    catch_up_limit: int = 100  # the most runs the "all" policy makes up after downtime
    dispatch_batch: int = 250  # due schedules handled per transaction (bench/soak.py: ~100 ms under a herd)
    alert_webhook_url: str | None = None
    prices_file: str | None = None  # the user's model prices (see automagik.costs.prices)
    langflow_max_concurrency: int | None = None  # runs in flight at once on LangFlow, all daemons together
    langflow_rate_per_minute: int | None = None  # runs started per minute on LangFlow, all daemons together
    retention_days: float | None = None  # finished runs older than this are deleted (unset: kept)
    sync_seconds: float = 300.0  # how often one daemon re-syncs flows from LangFlow; 0 = never
    once: bool = False  # run what is due now, wait for it, exit (for cron-driven setups)


# option name -> environment variable
ENVIRONMENT = {f.name: "AUTOMAGIK_" + f.name.upper() for f in fields(DaemonSettings)}
ENVIRONMENT["alert_webhook_url"] = "AUTOMAGIK_ALERT_WEBHOOK_URL"


def daemon_settings(
    overrides: Mapping[str, object] | None = None,
    environ: Mapping[str, str] | None = None,
    env_file: str | None = ".env",
) -> DaemonSettings:
    """Settings from `environ` (default os.environ) over `env_file`, with non-None `overrides` (flags) on top."""
    environ = read_environment(environ, env_file)
    # Each value has its field's type by _convert, field by field: more than a static type says.
    values: dict[str, Any] = {}
    for f in fields(DaemonSettings):
        raw = (overrides or {}).get(f.name)
        source = f"--{f.name.replace('_', '-')}"
        if raw is None and environ.get(ENVIRONMENT[f.name], "").strip():
            raw, source = environ[ENVIRONMENT[f.name]].strip(), ENVIRONMENT[f.name]
        if raw is None:
            continue
        values[f.name] = _convert(f.name, raw, source)
    return DaemonSettings(**values)


def _convert(name: str, raw: object, source: str) -> object:
    if name == "log_level":
        level = str(raw).upper()
        if level not in LOG_LEVELS:
            raise ConfigError(f"{source}={raw!r}: expected one of {', '.join(LOG_LEVELS)}.")
        return level
    if name == "once":
        return _convert_flag(raw, source)
    if name == "prices_file":
        try:
            load_price_file(str(raw))  # refused at start, not at the first priced run
        except PriceFileError as exc:
            raise ConfigError(str(exc).replace("AUTOMAGIK_PRICES_FILE", source, 1)) from None
        return str(raw)
    if name == "alert_webhook_url":
        url = str(raw)
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"{source}: expected an http(s):// address.")
        return url
    integer = name in (
        "workers",
        "catch_up_limit",
        "dispatch_batch",
        "langflow_max_concurrency",
        "langflow_rate_per_minute",
    )
    if name == "sync_seconds" and str(raw).strip() in ("0", "0.0"):
        return 0.0  # off
    value: float = -1  # what is not a number is refused below, with the range
    if isinstance(raw, (str, int, float)):  # text from the environment, numbers from the flags
        try:
            value = int(raw) if integer else float(raw)
        except ValueError:
            pass
    high = (
        1_000_000
        if name.startswith("langflow_")
        else 1000
        if integer
        else 36_500
        if name == "retention_days"
        else 7 * 86400
    )
    if not 0 < value <= high:
        kind = (
            "a whole number" if integer else "a number of days" if name == "retention_days" else "a number of seconds"
        )
        raise ConfigError(f"{source}={raw!r}: expected {kind} greater than 0 and at most {high}.")
    return value


TRUE_WORDS, FALSE_WORDS = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def _convert_flag(raw: object, source: str) -> bool:
    if isinstance(raw, bool):
        return raw
    word = str(raw).strip().lower()
    if word in TRUE_WORDS or word in FALSE_WORDS:
        return word in TRUE_WORDS
    raise ConfigError(f"{source}={raw!r}: expected 1, true, yes or on (or 0, false, no, off).")
