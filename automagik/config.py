"""Settings, read once from the environment and an optional .env file.

Environment variables win over the .env file, so a deployment can override a developer's
file without editing it. Every value is checked here, at start-up, so a typo stops the
program with a message naming the variable instead of failing later in the middle of a run.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from dotenv import dotenv_values

from automagik.langflow.urls import display_url, login_after_host, proxy_for, proxy_problem
from automagik.scheduling import InvalidTimezone, load_zone

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _default_data_dir() -> Path:
    """data/ in a checkout (app.py beside the package); installed by pip, PROJECT_ROOT is
    site-packages, so the database goes to the user's data folder instead."""
    if (PROJECT_ROOT / "app.py").is_file():
        return PROJECT_ROOT / "data"
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "automagik"


DEFAULT_SQLITE_PATH = _default_data_dir() / "automagik.db"
DEFAULT_LANGFLOW_URL = "http://localhost:7860"
# The database drivers requirements.txt installs, per backend.
SUPPORTED_DRIVERS = {"sqlite": "pysqlite", "postgresql": "psycopg2"}


class ConfigError(Exception):
    """A setting has a value the program cannot use; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    langflow_api_url: str = DEFAULT_LANGFLOW_URL
    # repr=False keeps the key out of any log line or traceback that prints the settings.
    langflow_api_key: str | None = field(default=None, repr=False)
    database_url: str = f"sqlite:///{DEFAULT_SQLITE_PATH}"
    timezone: str = "UTC"
    langflow_connect_timeout: float = 5.0
    langflow_read_timeout: float = 300.0


def read_environment(environ: Mapping[str, str] | None = None, env_file: str | Path | None = ".env") -> dict[str, str]:
    """The variables of `env_file` (if it exists) overlaid by `environ` (default os.environ)."""
    values: dict[str, str] = {}
    if env_file is not None and Path(env_file).is_file():
        values.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    values.update(os.environ if environ is None else environ)
    return values


def non_blank(values: Mapping[str, str], name: str) -> str | None:
    """A variable's value without surrounding spaces; None when unset or blank."""
    value = values.get(name)
    return value.strip() if value is not None and value.strip() else None


def load_settings(environ: Mapping[str, str] | None = None, env_file: str | Path | None = ".env") -> Settings:
    """Build Settings from `environ` (default os.environ) over the values of `env_file`."""
    values = read_environment(environ, env_file)

    def get(name: str) -> str | None:
        return non_blank(values, name)

    langflow_api_url = _check_url(get("LANGFLOW_API_URL") or DEFAULT_LANGFLOW_URL)
    # The client takes its proxy from the process environment (not .env), as requests does.
    _check_proxy(langflow_api_url, os.environ if environ is None else environ)
    return Settings(
        langflow_api_url=langflow_api_url,
        langflow_api_key=_check_api_key(get("LANGFLOW_API_KEY")),
        database_url=_check_database_url(get("DATABASE_URL")),
        # Empty or blank counts as unset, as for every variable here (see non_blank): in an
        # environment that is how a variable is usually cleared. A --timezone "" is refused.
        timezone=_check_timezone(get("TIMEZONE") or "UTC"),
        langflow_connect_timeout=_check_seconds("LANGFLOW_CONNECT_TIMEOUT", get("LANGFLOW_CONNECT_TIMEOUT"), 5.0),
        langflow_read_timeout=_check_seconds("LANGFLOW_READ_TIMEOUT", get("LANGFLOW_READ_TIMEOUT"), 300.0),
    )


def _check_url(url: str) -> str:
    # The URL may carry a user:password (for a proxy in front of LangFlow): shown without it.
    shown = display_url(url)
    try:
        parts = urlsplit(url)
    except ValueError:  # an unbalanced [ or ] around an IPv6 address
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"LANGFLOW_API_URL={shown!r} is not a usable address: expected http(s)://host[:port], "
            "like http://localhost:7860."
        )
    if login_after_host(url):
        raise ConfigError(
            f"LANGFLOW_API_URL={shown!r} has an '@' after the host: percent-encode the user and password "
            "(/ as %2F, ? as %3F, # as %23, @ as %40)."
        )
    if parts.path.rstrip("/").lower().endswith("/api/v1"):
        raise ConfigError(
            f"LANGFLOW_API_URL={shown!r} ends in /api/v1: set it to LangFlow's address without the API path "
            f"(like {shown[: shown.lower().rstrip('/').rfind('/api/v1')] or DEFAULT_LANGFLOW_URL}); the API path is added "
            "to it."
        )
    try:
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError:
        raise ConfigError(f"LANGFLOW_API_URL={shown!r} has an invalid port: expected 1-65535.") from None
    return url.rstrip("/")


def _check_proxy(langflow_url: str, environ: Mapping[str, str]) -> None:
    """Refuse a proxy for LangFlow the client cannot use (SOCKS), naming its variable."""
    proxy = proxy_for(langflow_url, environ)
    problem = proxy and proxy_problem(proxy, urlsplit(langflow_url).hostname or "")
    if problem:
        raise ConfigError(problem)


def _check_api_key(key: str | None) -> str | None:
    # Sent as an HTTP header, so only printable ASCII can travel; the key itself is never echoed.
    if key is not None and not (key.isascii() and key.isprintable()):
        raise ConfigError(
            "LANGFLOW_API_KEY contains characters an HTTP header cannot carry: copy the key again from LangFlow."
        )
    return key


def _check_database_url(url: str | None) -> str:
    if url is None:
        return f"sqlite:///{DEFAULT_SQLITE_PATH}"
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(
            "DATABASE_URL is not a database address: expected sqlite:///path/to/file.db "
            "or postgresql://user:password@host:5432/dbname."
        ) from None
    backend, driver = parsed.get_backend_name(), parsed.get_driver_name()
    if backend not in SUPPORTED_DRIVERS:
        raise ConfigError(f"DATABASE_URL uses {backend!r}: only sqlite:/// and postgresql:// are supported.")
    if "+" in parsed.drivername and driver != SUPPORTED_DRIVERS[backend]:
        raise ConfigError(
            f"DATABASE_URL names the driver {driver!r}: use {backend}:// (the {SUPPORTED_DRIVERS[backend]} driver is installed)."
        )
    return url


def _check_timezone(name: str) -> str:
    """TIMEZONE goes through the same zone validator as every --timezone and schedule zone."""
    try:
        load_zone(name)
    except InvalidTimezone:
        raise ConfigError(
            f"TIMEZONE={name!r} is not a known time zone: expected an IANA name like Europe/Berlin or UTC."
        ) from None
    return name


def _check_seconds(name: str, raw: str | None, default: float) -> float:
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 < value <= 86400:
        raise ConfigError(f"{name}={raw!r} is not a duration: expected a number of seconds between 0 and 86400.")
    return value
