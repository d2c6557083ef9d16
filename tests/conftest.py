"""Fixtures shared by the suite: a database on each backend, the LangFlow test server, the CLI.

Every test that takes `db` runs twice, on SQLite and on PostgreSQL. PostgreSQL is a
throwaway server started here (or the one named by AUTOMAGIK_TEST_POSTGRES_URL); set
AUTOMAGIK_TEST_BACKENDS=sqlite to run on SQLite alone while iterating.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from automagik import clock
from automagik.config import Settings
from automagik.db import migrate
from automagik.db.engine import Database
from automagik.db.models import Base
from tests.langflow_server import FakeLangFlow
from tests.support.cli_runner import CliResult, run_cli
from tests.support.postgres import ThrowawayPostgres

PROJECT_ROOT = Path(__file__).resolve().parent.parent
API_KEY = "sk-test-Zq8XvN3w0secret"
BACKENDS = [b.strip() for b in os.environ.get("AUTOMAGIK_TEST_BACKENDS", "sqlite,postgresql").split(",") if b.strip()]


@pytest.fixture(scope="session")
def postgres_url():
    url = os.environ.get("AUTOMAGIK_TEST_POSTGRES_URL")
    if url:
        yield url
        return
    server = ThrowawayPostgres().start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    """A migrated SQLite file, copied for each test (faster than migrating every time)."""
    path = tmp_path_factory.mktemp("template") / "automagik.db"
    database = Database(f"sqlite:///{path}")
    migrate.upgrade(database)
    database.dispose()
    return path


@pytest.fixture(scope="session")
def postgres_migrated(postgres_url) -> str:
    database = Database(postgres_url)
    migrate.upgrade(database)
    database.dispose()
    return postgres_url


def _empty_postgres(url: str) -> None:
    database = Database(url)
    tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
    with database.engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    database.dispose()


@pytest.fixture(params=BACKENDS)
def database_url(request, tmp_path) -> str:
    """The URL of an empty, migrated database: one SQLite file per test, or the emptied PostgreSQL."""
    if request.param == "sqlite":
        path = tmp_path / "automagik.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    url = request.getfixturevalue("postgres_migrated")
    _empty_postgres(url)
    return url


@pytest.fixture
def db(database_url):
    database = Database(database_url)
    yield database
    database.dispose()


@pytest.fixture
def langflow():
    server = FakeLangFlow(api_key=API_KEY).start()
    yield server
    server.stop()


@pytest.fixture
def settings(database_url, langflow) -> Settings:
    return Settings(
        langflow_api_url=langflow.url,
        langflow_api_key=API_KEY,
        database_url=database_url,
        timezone="Europe/Berlin",
        langflow_connect_timeout=2.0,
        langflow_read_timeout=10.0,
    )


class FrozenClock:
    """A clock the test moves by hand; installed in automagik.clock for the test's duration."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta) -> datetime:
        from datetime import timedelta

        self.now += timedelta(**delta)
        return self.now


@pytest.fixture
def frozen_clock():
    fake = FrozenClock(datetime(2026, 11, 27, 9, 0, 0, tzinfo=UTC))
    clock.set_clock(fake)
    yield fake
    clock.reset_clock()


def cli_environment(settings: Settings, extra: dict | None = None) -> dict[str, str]:
    """The environment a CLI command gets in the suite: this process's, with the test's settings."""
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(("LANGFLOW_", "DATABASE_URL", "TIMEZONE"))},
        "PYTHONPATH": str(PROJECT_ROOT),
        "DATABASE_URL": settings.database_url,
        "LANGFLOW_API_URL": settings.langflow_api_url,
        "LANGFLOW_API_KEY": settings.langflow_api_key,
        "TIMEZONE": settings.timezone,
        **(extra or {}),
    }


@pytest.fixture
def cli_process(settings, tmp_path):
    """Run `python -m automagik.cli.cli ARGS` for real, configured by environment variables."""

    def run(*args: str, input: str | None = None, env: dict | None = None, timeout: float = 60) -> CliResult:
        completed = subprocess.run(
            [sys.executable, "-m", "automagik.cli.cli", *args],
            cwd=tmp_path,  # no stray .env is read
            env=cli_environment(settings, env),
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        return CliResult(completed.returncode, completed.stdout, completed.stderr)

    return run


@pytest.fixture
def cli_in_process(settings, tmp_path):
    """The same as `cli_process`, through the same entry function inside this process (see
    tests/support/cli_runner.py): a command costs milliseconds instead of a Python start-up.
    `timeout` is accepted for the same signature and not enforced."""

    def run(*args: str, input: str | None = None, env: dict | None = None, timeout: float = 60) -> CliResult:
        return run_cli(args, env=cli_environment(settings, env), cwd=tmp_path, input=input)

    return run


@pytest.fixture
def cli(cli_process):
    """The CLI as a real process (tests/cli/ replaces it with `cli_in_process`)."""
    return cli_process
