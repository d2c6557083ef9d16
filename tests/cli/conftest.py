"""Helpers for the CLI tests: a recording `cli`, quick in-process set-up.

`cli` runs a command through the CLI's entry function inside the test process
(tests/support/cli_runner.py: its own environment, folder, stdin/stdout/stderr and exit code
per call), so a command costs milliseconds, not a Python start-up. `cli_process` runs the real
`python -m automagik.cli.cli` (~0.7 s, mostly imports): a handful of tests use it so the
entry point itself stays covered. Set-up that is not itself under test (syncing, creating
schedules, inserting finished runs) is done through the services and the ORM.

Every command run here is recorded in RECORDED so that tests/cli/test_secrets.py can check,
after all the others, that the API key never appeared in any output.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from automagik.db.models import LogLevel, Task, TaskStatus
from automagik.langflow import LangFlowClient
from automagik.runs.states import log_row, write_logs
from automagik.services import flows as flow_service
from automagik.services import schedules as schedule_service
from tests.conftest import CliResult, cli_environment  # noqa: F401 - cli_environment: for pexpect runs
from tests.langflow_server import ECHO_FLOW_ID, TWO_OUT_FLOW_ID

ECHO = ECHO_FLOW_ID  # ChatInput-acc01 -> ChatOutput-acc02: components chosen automatically
TWO_OUT = TWO_OUT_FLOW_ID  # ChatInput-tw001 -> ChatOutput-tw002 and ChatOutput-tw004: needs a choice
PARALLEL_CALLS = 3  # processes' start-up is CPU-bound; more workers than this only queue up


@dataclass(frozen=True)
class Recorded:
    args: tuple[str, ...]
    stdout: str
    stderr: str


#: Every command the CLI tests ran, with what it printed (checked by test_secrets.py).
RECORDED: list[Recorded] = []


def record(args: Iterable[str], stdout: str, stderr: str = "") -> None:
    RECORDED.append(Recorded(tuple(args), stdout, stderr))


def pytest_collection_modifyitems(config, items):
    """Run the API-key check after every other CLI test, whatever order the files sort in."""
    last = [item for item in items if item.nodeid.startswith("tests/cli/test_secrets.py")]
    if last:
        items[:] = [item for item in items if item not in last] + last


def _recorded(run):
    """`run` with stdin a closed pipe by default (never the terminal pytest runs in: from a
    terminal, `flows sync` would wait for an answer), every call recorded."""

    def recorded(*args: str, input: str | None = "", env: dict | None = None, timeout: float = 60) -> CliResult:
        result = run(*args, input=input, env=env, timeout=timeout)
        record(args, result.stdout, result.stderr)
        return result

    return recorded


@pytest.fixture
def cli(cli_in_process):
    """A CLI command run in-process through the entry function, recorded."""
    return _recorded(cli_in_process)


@pytest.fixture
def cli_process(cli_process):
    """A CLI command run as a real `python -m automagik.cli.cli` process, recorded."""
    return _recorded(cli_process)


def run_all(cli, *commands: tuple, env: dict | None = None) -> list[CliResult]:
    """Run independent commands side by side (in-process ones take turns); results in the order given.

    A command is a tuple of arguments, or `(arguments, env)` for its own environment overrides.
    """

    def one(command: tuple) -> CliResult:
        if command and isinstance(command[0], tuple):
            args, own_env = command
            return cli(*args, env={**(env or {}), **own_env})
        return cli(*command, env=env)

    with ThreadPoolExecutor(max_workers=PARALLEL_CALLS) as pool:
        return list(pool.map(one, commands))


# -- assertions -----------------------------------------------------------------------------


def ok_json(result: CliResult) -> Any:
    assert result.returncode == 0, result.output
    assert result.stderr == "", result.stderr
    return json.loads(result.stdout)


def ok_lines(result: CliResult) -> list[str]:
    assert result.returncode == 0, result.output
    assert result.stderr == "", result.stderr
    assert "Traceback" not in result.output
    return result.stdout.splitlines()


def assert_one_line_error(result: CliResult, exit_code: int = 2, *, contains: str = "", stdout: str | None = "") -> str:
    """Exit code, one `error: ...` line on stderr, no traceback; returns the message."""
    assert result.returncode == exit_code, result.output
    assert "Traceback" not in result.output, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and result.stderr.endswith("\n"), result.stderr
    assert lines[0].startswith("error: "), lines[0]
    assert contains in lines[0], lines[0]
    if stdout is not None:
        assert result.stdout == stdout, result.stdout
    return lines[0]


def fields(lines: list[str]) -> dict[str, str]:
    """A `show` block's "key   value" lines as a dict (indented lines left out)."""
    return dict(re.split(r"\s{2,}", line, maxsplit=1) for line in lines if line and not line.startswith(" "))


def parse_utc(value: str) -> datetime:
    """An ISO 8601 time as the CLI prints it in JSON and CSV: always with a +00:00 offset."""
    assert isinstance(value, str) and value.endswith("+00:00"), value
    moment = datetime.fromisoformat(value)
    assert moment.utcoffset() == timedelta(0)
    return moment


def assert_times_are_utc(row: dict, names: Iterable[str]) -> None:
    for name in names:
        if row[name] is not None:
            parse_utc(row[name])


# -- in-process set-up ------------------------------------------------------------------------


def flow_names(langflow) -> dict[str, str]:
    return {flow["id"]: flow["name"] for flow in langflow.flows}


def sync_now(db, settings):
    with LangFlowClient(settings.langflow_api_url, api_key=settings.langflow_api_key) as client:
        return flow_service.sync_flows(db, client)


def choose_two_out_output(db, output: str = "ChatOutput-tw002") -> None:
    flow_service.set_components(db, TWO_OUT, "ChatInput-tw001", output)


def create_schedule(db, flow_id: str = ECHO, schedule_type: str = "interval", expr: str = "5m", **options):
    spec = schedule_service.ScheduleSpec(flow_id=flow_id, schedule_type=schedule_type, schedule_expr=expr, **options)
    return schedule_service.create_schedule(db, spec, default_timezone="Europe/Berlin")


def insert_task(
    db,
    flow_id: str,
    status: str,
    scheduled_for: datetime,
    *,
    schedule_id: str | None = None,
    input_text: str = "",
    output: str | None = None,
    error: str | None = None,
    tries: int = 0,
    max_retries: int = 3,
    seconds: float | None = None,
    logs: Iterable[tuple[str, str]] = (),
) -> str:
    """A run in any state, as a daemon would have left it; `seconds` is how long it ran."""
    task_id = str(uuid.uuid4())
    started = scheduled_for + timedelta(seconds=1) if seconds is not None else None
    finished = started + timedelta(seconds=seconds) if started is not None else None
    with db.write() as session:
        session.add(
            Task(
                id=task_id,
                flow_id=flow_id,
                schedule_id=schedule_id,
                status=TaskStatus(status),
                input_data={"input": input_text, "tweaks": {}},
                result=None if output is None else {"text": output, "component_id": "ChatOutput-acc02"},
                error=error,
                tries=tries,
                max_retries=max_retries,
                scheduled_for=scheduled_for,
                next_retry_at=None,
                created_at=scheduled_for,
                started_at=started,
                finished_at=finished,
                updated_at=finished or scheduled_for,
            )
        )
        session.flush()
        for n, (level, message) in enumerate(logs):
            write_logs(
                session, [log_row(task_id, LogLevel(level), message, (started or scheduled_for) + timedelta(seconds=n))]
            )
    return task_id


def table_rows(db, table: str) -> list[tuple]:
    """Every row of a table, to prove a refused command wrote nothing."""
    with db.engine.connect() as connection:
        return [tuple(row) for row in connection.execute(text(f"SELECT * FROM {table} ORDER BY id"))]


UTC = UTC
