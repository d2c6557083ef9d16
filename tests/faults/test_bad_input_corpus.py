"""Bad input (issue 6, item 4): a corpus of refused input through the CLI and the services.

Expressions, JSON, ids, zones, dates, sizes and odd characters. Through the CLI (a real process
per case, forked side by side from tests/faults/cli_forkserver.py after a single import, and a
sample re-run through `python -m automagik.cli.cli` to prove the two agree; SQLite): exit code 2, one
`error: ...` line on stderr naming the problem, nothing on stdout, no traceback, and every row
of every table unchanged (each case runs against its own copy of one prepared database, so a
case that writes is caught and named). Through the services (SQLite and PostgreSQL):
`InvalidInput` (or its subclass `NotFound`) with a one-line message, nothing written.

The dashboard forms are tested elsewhere. The corpus is fixed (no size knob): CLI_CASES and
SERVICE_CASES below, well over 60 distinct cases in all.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest

from automagik.db.engine import Database
from automagik.services import flows as flow_service
from automagik.services import schedules as schedule_service
from automagik.services import tasks as task_service
from automagik.services.errors import InvalidInput
from automagik.services.flow_input import parse_typed_input
from automagik.services.schedules import ScheduleSpec
from tests.cli.conftest import insert_task
from tests.conftest import API_KEY, PROJECT_ROOT
from tests.faults.conftest import dump_tables
from tests.langflow_server import ECHO_FLOW_ID as ECHO
from tests.langflow_server import TWO_OUT_FLOW_ID as TWO_OUT
from tests.langflow_server import FakeLangFlow
from tests.services.helpers import client_for

UTC = UTC
PARALLEL = 3  # CLI start-up is CPU-bound (imports); more only queue up on two cores
NOT_A_UUID = "00000000-0000-4000-8000-000000000000"
DEEP_JSON = "[" * 50_000 + "]" * 50_000  # fits one argv string (< 128 KiB)


# -- the CLI corpus ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CliCase:
    args: tuple[str, ...]
    says: str  # a word or phrase the one-line message must contain (case-insensitive)
    env: dict = field(default_factory=dict)
    no_file: str | None = None  # a file the command must not have created


def cli_case(id: str, *args: str, says: str, env: dict | None = None, marks=(), no_file: str | None = None):
    return pytest.param(CliCase(tuple(args), says, env or {}, no_file), id=id, marks=marks)


def create(*options: str) -> tuple[str, ...]:
    return ("schedules", "create", "{echo}", *options)


def interval(expr: str) -> tuple[str, ...]:
    return create("--type", "interval", f"--expr={expr}")


def cron(expr: str) -> tuple[str, ...]:
    return create("--type", "cron", f"--expr={expr}")


def oneshot(expr: str) -> tuple[str, ...]:
    return create("--type", "oneshot", f"--expr={expr}")


def with_input(raw: str) -> tuple[str, ...]:
    return create("--type", "interval", "--expr", "5m", f"--input={raw}")


CLI_CASES = [
    # schedule types and interval expressions
    cli_case("type-unknown", *create("--type", "weekly", "--expr", "5m"), says="Unknown schedule type"),
    cli_case("interval-empty", *interval(""), says="empty"),
    cli_case("interval-no-unit", *interval("5"), says="Invalid interval"),
    cli_case("interval-bad-unit", *interval("5x"), says="Invalid interval"),
    cli_case("interval-zero", *interval("0s"), says="at least 1 second"),
    cli_case("interval-over-366-days", *interval("367d"), says="at most 366 days"),
    cli_case("interval-units-out-of-order", *interval("1m1h"), says="largest first"),
    cli_case("interval-negative", *interval("-5m"), says="Invalid interval"),
    cli_case("interval-twenty-digits", *interval("99999999999999999999s"), says="at most 366 days"),
    cli_case("interval-decimal", *interval("1.5h"), says="Invalid interval"),
    cli_case("interval-zero-width-space", *interval("5\u200bm"), says="Invalid interval"),
    cli_case("interval-newline-between-units", *interval("5m\n1h"), says="largest first"),
    # cron expressions
    cli_case("cron-4-fields", *cron("* * * *"), says="4 fields, not 5"),
    cli_case("cron-6-fields-seconds", *cron("0 */5 * * * *"), says="6 fields, not 5"),
    cli_case("cron-minute-61", *cron("61 * * * *"), says="Invalid cron expression"),
    cli_case("cron-hour-25", *cron("0 25 * * *"), says="Invalid cron expression"),
    cli_case("cron-feb-31-never", *cron("0 0 31 2 *"), says="never matches"),
    cli_case("cron-reboot", *cron("@reboot"), says="unknown shortcut"),
    cli_case("cron-hashed", *cron("H * * * *"), says="random/hashed"),
    cli_case("cron-step-zero", *cron("*/0 * * * *"), says="Invalid cron expression"),
    cli_case("cron-words", *cron("a b c d e"), says="Invalid cron expression"),
    cli_case("cron-10k-characters", *cron("0 0 * * *" + "x" * 10_000), says="Invalid cron expression"),
    cli_case("cron-control-character", *cron("*/5 * * * *\x01"), says="Invalid cron expression"),
    # one-shot dates
    cli_case("oneshot-words", *oneshot("next tuesday"), says="ISO 8601"),
    cli_case("oneshot-in-the-past", *oneshot("2020-01-01T00:00:00Z"), says="in the past"),
    cli_case("oneshot-month-13", *oneshot("2031-13-01"), says="ISO 8601"),
    cli_case("oneshot-feb-30", *oneshot("2031-02-30 10:00"), says="ISO 8601"),
    cli_case("oneshot-in-dst-gap", *oneshot("2031-03-30 02:30"), says="does not exist in Europe/Berlin"),
    cli_case(
        "oneshot-past-year-9999", *oneshot("9999-12-31T23:59:59-10:00"), says="the year must be from 1970 to 9998"
    ),
    cli_case("oneshot-year-0", *oneshot("0000-01-01"), says="ISO 8601"),
    # zones
    cli_case(
        "zone-unknown",
        *create("--type", "cron", "--expr", "@daily", "--timezone", "Mars/Olympus_Mons"),
        says="Unknown timezone",
    ),
    cli_case(
        "zone-path-traversal",
        *create("--type", "cron", "--expr", "@daily", "--timezone", "../../etc/passwd"),
        says="Unknown timezone",
    ),
    cli_case(
        "zone-directory",
        *create("--type", "oneshot", "--expr", "2031-06-01", "--timezone", "Europe/"),
        says="Unknown timezone",
    ),
    cli_case(
        "zone-trailing-space",
        *create("--type", "interval", "--expr", "5m", "--timezone", "UTC "),
        says="Unknown timezone",
    ),
    cli_case(
        "zone-lower-case",
        *create("--type", "cron", "--expr", "@daily", "--timezone", "europe/berlin"),
        says="Unknown timezone",
    ),
    cli_case(
        "zone-offset", *create("--type", "cron", "--expr", "@daily", "--timezone=+02:00"), says="Unknown timezone"
    ),
    # An empty zone is what a script passes for an unset variable: refused, never "the default".
    cli_case("zone-empty", *create("--type", "cron", "--expr", "@daily", "--timezone="), says="it is empty"),
    cli_case(
        "zone-blank", *create("--type", "oneshot", "--expr", "2031-06-01", "--timezone", "  "), says="it is empty"
    ),
    cli_case("update-zone-empty", "schedules", "update", "{schedule}", "--timezone", "", says="it is empty"),
    cli_case("update-nothing", "schedules", "update", "{schedule}", says="Nothing to change"),
    cli_case(
        "update-oneshot-in-dst-gap",
        "schedules",
        "update",
        "{schedule}",
        "--type",
        "oneshot",  # (a UTC schedule)
        "--expr",
        "2031-03-30 02:30",
        "--timezone",
        "Europe/Berlin",
        says="does not exist in Europe/Berlin",
    ),
    # JSON input
    cli_case("input-cut-off", *with_input('{"input": '), says="not valid JSON"),
    cli_case("input-array", *with_input("[1, 2]"), says="JSON object"),
    cli_case("input-number", *with_input("42"), says="JSON object"),
    cli_case("input-unknown-key", *with_input('{"message": "hi"}'), says='Unknown key "message"'),
    cli_case("input-text-not-string", *with_input('{"input": 5}'), says="must be a string"),
    cli_case("input-text-twice", *with_input('{"input": "a", "input_value": "b"}'), says="Give the text once"),
    cli_case("input-tweaks-list", *with_input('{"tweaks": []}'), says='"tweaks" must be an object'),
    cli_case(
        "input-tweak-not-object", *with_input('{"tweaks": {"ChatInput-acc01": 1}}'), says='"tweaks" must be an object'
    ),
    cli_case("input-nul-in-object", *with_input('{"input": "a\\u0000b"}'), says="NUL"),
    cli_case("input-deeply-nested", "flows", "run", "{echo}", f"--input={DEEP_JSON}", says="JSON"),
    cli_case("input-nul-in-json-string", "flows", "run", "{echo}", '--input="a\\u0000b"', says="NUL"),
    cli_case(
        "input-nan-in-tweaks", *with_input('{"input": "x", "tweaks": {"ChatInput-acc01": {"t": NaN}}}'), says="NaN"
    ),
    # numbers
    cli_case(
        "max-retries-negative", *create("--type", "interval", "--expr", "5m", "--max-retries=-1"), says="from 0 to 20"
    ),
    cli_case(
        "max-retries-21", *create("--type", "interval", "--expr", "5m", "--max-retries", "21"), says="from 0 to 20"
    ),
    cli_case(
        "max-retries-word",
        *create("--type", "interval", "--expr", "5m", "--max-retries", "three"),
        says="invalid int value",
    ),
    cli_case(
        "timeout-zero", *create("--type", "interval", "--expr", "5m", "--timeout", "0"), says="timeout must be from 1"
    ),
    cli_case(
        "timeout-over-a-day",
        *create("--type", "interval", "--expr", "5m", "--timeout", "86401"),
        says="timeout must be from 1",
    ),
    cli_case(
        "missed-policy-unknown",
        *create("--type", "interval", "--expr", "5m", "--missed", "sometimes"),
        says="missed-run policy",
    ),
    # ids
    cli_case(
        "flow-unknown",
        "schedules",
        "create",
        "no-such-flow",
        "--type",
        "interval",
        "--expr",
        "5m",
        says="Unknown flow id",
    ),
    cli_case(
        "flow-needs-components",
        "schedules",
        "create",
        "{two_out}",
        "--type",
        "interval",
        "--expr",
        "5m",
        says="no output component chosen",
    ),
    cli_case(
        "flow-id-sql-injection",
        "schedules",
        "create",
        "x'; DROP TABLE flows; --",
        "--type",
        "interval",
        "--expr",
        "5m",
        says="Unknown flow id",
    ),
    cli_case("flow-id-emoji", "flows", "run", "flöw-💥", says="Unknown flow id"),
    cli_case("flow-id-5000-chars", "flows", "run", "f" * 5000, says="Unknown flow id"),
    cli_case("schedule-show-unknown", "schedules", "show", "nope", says="Unknown schedule id"),
    cli_case("schedule-pause-unknown-uuid", "schedules", "pause", NOT_A_UUID, says="Unknown schedule id"),
    cli_case("schedule-resume-empty-id", "schedules", "resume", "", says="Unknown schedule id"),
    cli_case("schedule-delete-wildcard", "schedules", "delete", "%", says="Unknown schedule id"),
    cli_case("schedule-list-status", "schedules", "list", "--status", "broken", says="invalid choice"),
    cli_case("task-show-unknown", "tasks", "show", "nope", says="Unknown task id"),
    cli_case("task-retry-completed", "tasks", "retry", "{completed}", says="only a failed task"),
    cli_case("task-retry-pending", "tasks", "retry", "{pending}", says="only a failed task"),
    # preview
    cli_case(
        "preview-count-zero",
        "schedules",
        "preview",
        "--type",
        "interval",
        "--expr",
        "5m",
        "--count",
        "0",
        says="count must be",
    ),
    cli_case(
        "preview-count-1001",
        "schedules",
        "preview",
        "--type",
        "interval",
        "--expr",
        "5m",
        "--count",
        "1001",
        says="count must be",
    ),
    cli_case(
        "preview-after-words",
        "schedules",
        "preview",
        "--type",
        "interval",
        "--expr",
        "5m",
        "--after",
        "yesterday",
        says="not an ISO 8601 time",
    ),
    cli_case(
        "preview-after-past-9999",
        "schedules",
        "preview",
        "--type",
        "interval",
        "--expr",
        "5m",
        "--after",
        "9999-12-31T23:59:59-05:00",
        says="--after",
    ),
    cli_case(
        "preview-after-in-bad-zone",
        "schedules",
        "preview",
        "--type",
        "interval",
        "--expr",
        "5m",
        "--timezone",
        "Mars/Base",
        "--after",
        "2031-01-01T00:00",
        says='Unknown timezone "Mars/Base"',
    ),
    cli_case(
        "preview-zone-empty",
        "schedules",
        "preview",
        "--type",
        "cron",
        "--expr",
        "@daily",
        "--timezone",
        "",
        says="it is empty",
    ),
    # task filters and paging
    cli_case("tasks-status-unknown", "tasks", "list", "--status", "done", says="Unknown task status"),
    cli_case(
        "tasks-status-in-a-list", "tasks", "list", "--status", "pending,,bogus", says='Unknown task status "bogus"'
    ),
    cli_case("tasks-since-feb-30", "tasks", "list", "--since", "2031-02-30", says="not an ISO 8601 time"),
    cli_case(
        "tasks-offset-25-hours", "tasks", "list", "--since", "2031-01-01T00:00:00+25:00", says="not an ISO 8601 time"
    ),
    cli_case(
        "tasks-empty-range", "tasks", "list", "--since", "2031-01-02", "--until", "2031-01-01", says="range is empty"
    ),
    cli_case("tasks-limit-zero", "tasks", "list", "--limit", "0", says="limit must be from 1"),
    cli_case("tasks-limit-1001", "tasks", "list", "--limit", "1001", says="limit must be from 1"),
    cli_case("tasks-offset-negative", "tasks", "list", "--offset=-1", says="offset must be from 0"),
    cli_case("tasks-since-year-1", "tasks", "list", "--since", "0001-01-01T00:00", says="--since"),
    cli_case(
        "tasks-since-in-dst-gap", "tasks", "list", "--since", "2031-03-30T02:30", says="does not exist in Europe/Berlin"
    ),
    cli_case("tasks-since-empty", "tasks", "list", "--since", "", says='--since: Invalid time "": it is empty'),
    cli_case(
        "export-until-in-dst-gap",
        "tasks",
        "export",
        "--until",
        "2031-03-30 02:30",
        "--output",
        "{dir}/never.csv",
        says="--until",
        no_file="{dir}/never.csv",
    ),
    cli_case(
        "export-folder-missing", "tasks", "export", "--output", "/nonexistent-folder/runs.csv", says="Cannot write"
    ),
    cli_case(
        "export-bad-status",
        "tasks",
        "export",
        "--status",
        "bogus",
        "--output",
        "{dir}/never.csv",
        says="Unknown task status",
        no_file="{dir}/never.csv",
    ),
    # flows
    cli_case("run-max-retries-99", "flows", "run", "{echo}", "--max-retries", "99", says="from 0 to 20"),
    cli_case("run-timeout-negative", "flows", "run", "{echo}", "--timeout=-5", says="timeout must be from 1"),
    cli_case(
        "sync-partial-choice",
        "flows",
        "sync",
        "--flow-id",
        "{echo}",
        says="--flow-id goes with --input-component and/or --output-component",
    ),
    cli_case(
        "sync-unknown-component",
        "flows",
        "sync",
        "--flow-id",
        "{two_out}",
        "--input-component",
        "Nope",
        "--output-component",
        "ChatOutput-tw002",
        says='Component "Nope" is not in flow',
    ),
    cli_case(
        "sync-roles-swapped",
        "flows",
        "sync",
        "--flow-id",
        "{two_out}",
        "--input-component",
        "ChatOutput-tw002",
        "--output-component",
        "ChatInput-tw001",
        says="is not an input component",
    ),
    # usage and configuration
    cli_case("usage-unknown-command", "schedules", "frobnicate", says="invalid choice"),
    cli_case("usage-missing-expr", "schedules", "create", "{echo}", "--type", "interval", says="--expr"),
    cli_case("usage-unknown-option", "tasks", "list", "--colour", says="unrecognized arguments"),
    cli_case("config-timezone", "tasks", "list", says="TIMEZONE", env={"TIMEZONE": "Nowhere/Land"}),
    cli_case(
        "config-langflow-url", "flows", "sync", says="LANGFLOW_API_URL", env={"LANGFLOW_API_URL": "ftp://files.example"}
    ),
    cli_case("config-read-timeout", "flows", "sync", says="LANGFLOW_READ_TIMEOUT", env={"LANGFLOW_READ_TIMEOUT": "-1"}),
    cli_case(
        "config-api-key-not-latin-1", "flows", "sync", says="LANGFLOW_API_KEY", env={"LANGFLOW_API_KEY": "sk-ключ"}
    ),
]


def prepare(db: Database, langflow_url: str) -> SimpleNamespace:
    """Two synced flows (one needing a choice), a schedule and runs in three states."""
    with client_for(SimpleNamespace(url=langflow_url)) as client:
        flow_service.sync_flows(db, client)
    schedule = schedule_service.create_schedule(db, ScheduleSpec(ECHO, "interval", "5m", {"input": "corpus"}))
    at = datetime(2026, 11, 1, 8, tzinfo=UTC)
    return SimpleNamespace(
        echo=ECHO,
        two_out=TWO_OUT,
        schedule=schedule.id,
        completed=insert_task(db, ECHO, "completed", at, input_text="done", output="done", tries=1, seconds=1.0),
        failed=insert_task(db, ECHO, "failed", at + timedelta(minutes=1), error="boom", tries=4, seconds=1.0),
        pending=insert_task(db, ECHO, "pending", at + timedelta(minutes=2)),
    )


@dataclass
class CliOutcome:
    returncode: int
    stdout: str
    stderr: str
    before: dict
    after: dict
    args: tuple[str, ...]
    folder: Path


def cli_environment(database_path: Path, langflow_url: str, extra: dict) -> dict[str, str]:
    inherited = {
        k: v for k, v in os.environ.items() if not k.startswith(("LANGFLOW_", "DATABASE_URL", "TIMEZONE", "AUTOMAGIK_"))
    }
    return {
        **inherited,
        "PYTHONPATH": str(PROJECT_ROOT),
        "DATABASE_URL": f"sqlite:///{database_path}",
        "LANGFLOW_API_URL": langflow_url,
        "LANGFLOW_API_KEY": API_KEY,
        "TIMEZONE": "Europe/Berlin",
        **extra,
    }


@dataclass
class CorpusWorld:
    folder: Path
    template: Path
    langflow_url: str
    names: dict[str, str]
    before: dict


@pytest.fixture(scope="module")
def corpus_world(tmp_path_factory, sqlite_template):
    """A prepared SQLite database (copied for each command) and a LangFlow test server."""
    folder = tmp_path_factory.mktemp("bad-input")
    server = FakeLangFlow(api_key=API_KEY).start()
    try:
        template = folder / "template.db"
        shutil.copy(sqlite_template, template)
        db = Database(f"sqlite:///{template}")
        try:
            names = {**vars(prepare(db, server.url)), "dir": str(folder)}
            before = dump_tables(db)
        finally:
            db.dispose()
        yield CorpusWorld(folder, template, server.url, names, before)
    finally:
        server.stop()


def command_for(world: CorpusWorld, name: str, case: CliCase) -> dict:
    """The command of one case, against its own fresh copy of the prepared database."""
    path = world.folder / f"{name}.db"
    shutil.copy(world.template, path)
    return {
        "args": [fill(arg, world.names) for arg in case.args],
        "env": cli_environment(path, world.langflow_url, case.env),
        "cwd": str(world.folder),  # no stray .env is read
        "stdout": str(world.folder / f"{name}.out"),
        "stderr": str(world.folder / f"{name}.err"),
        "database": str(path),
    }


def outcome_of(world: CorpusWorld, command: dict, returncode: int) -> CliOutcome:
    database = Database(f"sqlite:///{command['database']}")
    try:
        after = dump_tables(database)
    finally:
        database.dispose()
    return CliOutcome(
        returncode,
        Path(command["stdout"]).read_text(),
        Path(command["stderr"]).read_text(),
        world.before,
        after,
        tuple(command["args"]),
        world.folder,
    )


@pytest.fixture(scope="module")
def cli_outcomes(corpus_world) -> dict[str, CliOutcome]:
    """Every CLI case run once, side by side, through the fork server (see cli_forkserver.py)."""
    commands = {param.id: command_for(corpus_world, param.id, param.values[0]) for param in CLI_CASES}
    served = subprocess.run(
        [sys.executable, "-m", "tests.faults.cli_forkserver"],
        cwd=PROJECT_ROOT,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
        input=json.dumps(list(commands.values())),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert served.returncode == 0, served.stderr
    codes = json.loads(served.stdout)
    return {
        name: outcome_of(corpus_world, command, code)
        for (name, command), code in zip(commands.items(), codes, strict=False)
    }


def fill(arg: str, names: dict[str, str]) -> str:
    """Put the prepared ids in: "{echo}", "{completed}", "{dir}"... (nothing else is touched)."""
    for name, value in names.items():
        arg = arg.replace("{" + name + "}", value)
    return arg


def assert_one_line_refusal(returncode: int, stdout: str, stderr: str, says: str) -> str:
    shown = f"exit {returncode}\nstdout: {stdout[:2000]!r}\nstderr: {stderr[-3000:]!r}"
    assert "Traceback" not in stdout + stderr, shown
    assert returncode == 2, shown
    lines = stderr.splitlines()
    assert len(lines) == 1 and stderr.endswith("\n") and lines[0].startswith("error: "), shown
    assert says.lower() in lines[0].lower(), shown
    assert stdout == "", shown
    return lines[0]


def test_the_corpus_is_large():
    assert len(CLI_CASES) + len(SERVICE_CASES) >= 60
    assert len({p.id for p in CLI_CASES}) == len(CLI_CASES) and len({p.id for p in SERVICE_CASES}) == len(SERVICE_CASES)


@pytest.mark.parametrize("case", CLI_CASES)
def test_cli_refuses_bad_input(cli_outcomes, request, case: CliCase):
    outcome = cli_outcomes[request.node.callspec.id]
    line = assert_one_line_refusal(outcome.returncode, outcome.stdout, outcome.stderr, case.says)
    if "x" * 1000 in " ".join(outcome.args):
        assert len(line) < 500, "the echo of a long typed value is cut short"
    assert outcome.after == outcome.before, f"{outcome.args[:3]} wrote to the database"
    if case.no_file:
        assert not Path(fill(case.no_file, {"dir": str(outcome.folder)})).exists()


SAMPLE = (
    "interval-zero",
    "input-unknown-key",
    "flow-needs-components",
    "tasks-empty-range",
    "sync-roles-swapped",
    "usage-missing-expr",
    "config-timezone",
    "input-deeply-nested",
)


def test_the_fork_server_answers_exactly_as_the_real_entry_point(corpus_world, cli_outcomes):
    """A sample of the corpus through `python -m automagik.cli.cli` itself: same exit code, same
    stdout, same stderr (tracebacks compared by their last line), same database afterwards."""
    cases = {param.id: param.values[0] for param in CLI_CASES}

    def real(name: str) -> tuple[str, CliOutcome]:
        command = command_for(corpus_world, f"real-{name}", cases[name])
        done = subprocess.run(
            [sys.executable, "-m", "automagik.cli.cli", *command["args"]],
            cwd=command["cwd"],
            env=command["env"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=120,
        )
        Path(command["stdout"]).write_text(done.stdout)
        Path(command["stderr"]).write_text(done.stderr)
        return name, outcome_of(corpus_world, command, done.returncode)

    with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
        for name, expected in pool.map(real, SAMPLE):
            forked = cli_outcomes[name]
            assert (forked.returncode, forked.stdout) == (expected.returncode, expected.stdout), name
            if "Traceback" in expected.stderr:
                assert forked.stderr.splitlines()[-1] == expected.stderr.splitlines()[-1], name
            else:
                assert forked.stderr == expected.stderr, name
            assert forked.after == expected.after, name


# -- the services corpus --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ServiceCase:
    call: Callable
    says: str


def service_case(id: str, call: Callable, says: str, marks=()):
    return pytest.param(ServiceCase(call, says), id=id, marks=marks)


def spec(flow_id=ECHO, kind="interval", expr="5m", **options) -> ScheduleSpec:
    return ScheduleSpec(flow_id, kind, expr, **options)


def new_schedule(s: ScheduleSpec):
    return lambda db, ids: schedule_service.create_schedule(db, s, default_timezone="Europe/Berlin")


SERVICE_CASES = [
    service_case("type-none", new_schedule(spec(kind=None)), "Unknown schedule type"),
    service_case("interval-none", new_schedule(spec(expr=None)), "Invalid interval"),
    service_case("interval-tab-only", new_schedule(spec(expr="\t")), "empty"),
    service_case("interval-1e3s", new_schedule(spec(expr="1e3s")), "Invalid interval"),
    service_case("interval-unit-twice", new_schedule(spec(expr="5m5m")), "largest first"),
    service_case("interval-367d", new_schedule(spec(expr="52w3d")), "at most 366 days"),
    service_case("cron-none", new_schedule(spec(kind="cron", expr=None)), "Invalid cron expression"),
    service_case("cron-7-fields", new_schedule(spec(kind="cron", expr="0 0 * * * * 2030")), "7 fields"),
    service_case("cron-nul", new_schedule(spec(kind="cron", expr="*/5 * * * *\x00")), "Invalid cron expression"),
    service_case("cron-random", new_schedule(spec(kind="cron", expr="R 9 * * *")), "random/hashed"),
    service_case("cron-weekday-8", new_schedule(spec(kind="cron", expr="0 9 * * 8")), "Invalid cron expression"),
    service_case("oneshot-none", new_schedule(spec(kind="oneshot", expr=None)), "Invalid time"),
    service_case(
        "oneshot-now-is-past", new_schedule(spec(kind="oneshot", expr="2000-01-01T00:00:00+00:00")), "in the past"
    ),
    service_case(
        "oneshot-gap-new-york",
        new_schedule(spec(kind="oneshot", expr="2031-03-09 02:30", timezone="America/New_York")),
        "does not exist",
    ),
    service_case(
        "oneshot-gap-lord-howe",
        new_schedule(spec(kind="oneshot", expr="2031-10-05 02:15", timezone="Australia/Lord_Howe")),
        "does not exist",
    ),
    service_case(
        "oneshot-year-1",
        new_schedule(spec(kind="oneshot", expr="0001-01-01T00:00:00+01:00")),
        "the year must be from 1970 to 9998",
    ),
    service_case("zone-nul", new_schedule(spec(timezone="Europe/Berlin\x00")), "Unknown timezone"),
    service_case("zone-not-a-string", new_schedule(spec(timezone=123)), "Unknown timezone"),
    service_case(
        "zone-posix-rule",
        new_schedule(spec(kind="cron", expr="@daily", timezone="EST5EDT,M3.2.0,M11.1.0")),
        "Unknown timezone",
    ),
    service_case("zone-empty", new_schedule(spec(kind="cron", expr="@daily", timezone="")), "it is empty"),
    service_case(
        "update-zone-blank",
        lambda db, ids: schedule_service.update_schedule(db, ids.schedule, timezone=" "),
        "it is empty",
    ),
    service_case("preview-zone-empty", lambda db, ids: schedule_service.preview("cron", "@daily", ""), "it is empty"),
    service_case("input-python-int", new_schedule(spec(flow_input=42)), "JSON object"),
    service_case("input-python-list", new_schedule(spec(flow_input=["a"])), "JSON object"),
    service_case("input-text-list", new_schedule(spec(flow_input={"input": ["a"]})), "must be a string"),
    service_case(
        "input-tweak-list", new_schedule(spec(flow_input={"tweaks": {"C": [1]}})), '"tweaks" must be an object'
    ),
    service_case("input-nul-in-tweak-key", new_schedule(spec(flow_input={"tweaks": {"C": {"\x00": 1}}})), "NUL"),
    service_case(
        "input-over-a-million", new_schedule(spec(flow_input='"' + "x" * 1_000_001 + '"')), "at most 1,000,000"
    ),
    service_case("input-typed-broken-object", lambda db, ids: parse_typed_input('{"input": "hi"'), "not valid JSON"),
    service_case("input-deeply-nested", new_schedule(spec(flow_input=DEEP_JSON)), "JSON"),
    service_case("input-nul-in-json-string", lambda db, ids: task_service.run_flow_now(db, ECHO, '"a\\u0000b"'), "NUL"),
    service_case(
        "input-infinity-in-tweaks", new_schedule(spec(flow_input='{"tweaks": {"C": {"t": Infinity}}}')), "Infinity"
    ),
    service_case("max-retries-bool", new_schedule(spec(max_retries=True)), "max retries"),
    service_case("max-retries-float", new_schedule(spec(max_retries=3.5)), "max retries"),
    service_case("max-retries-text-21", new_schedule(spec(max_retries="21")), "from 0 to 20"),
    service_case("timeout-negative", new_schedule(spec(timeout_seconds=-1)), "timeout must be from 1"),
    service_case("missed-none", new_schedule(spec(missed_policy=None)), "missed-run policy"),
    service_case("flow-unknown", new_schedule(spec(flow_id="nope")), "Unknown flow id"),
    service_case("flow-needs-components", new_schedule(spec(flow_id=TWO_OUT)), "no output component chosen"),
    service_case("flow-id-nul", new_schedule(spec(flow_id="a\x00b")), "Unknown flow id"),
    service_case(
        "update-bad-expression",
        lambda db, ids: schedule_service.update_schedule(db, ids.schedule, schedule_expr="5 parsecs"),
        "Invalid interval",
    ),
    service_case(
        "update-bad-zone",
        lambda db, ids: schedule_service.update_schedule(
            db, ids.schedule, schedule_type="cron", schedule_expr="@daily", timezone="Bad/Zone"
        ),
        "Unknown timezone",
    ),
    service_case(
        "update-good-input-bad-retries-atomic",
        lambda db, ids: schedule_service.update_schedule(
            db, ids.schedule, flow_input={"input": "changed"}, max_retries=-3
        ),
        "from 0 to 20",
    ),
    service_case(
        "update-good-timing-bad-timeout-atomic",
        lambda db, ids: schedule_service.update_schedule(db, ids.schedule, schedule_expr="1m", timeout_seconds="abc"),
        "timeout must be a whole number",
    ),
    service_case(
        "update-unknown",
        lambda db, ids: schedule_service.update_schedule(db, "nope", max_retries=1),
        "Unknown schedule id",
    ),
    service_case(
        "pause-sql-wildcard", lambda db, ids: schedule_service.pause_schedule(db, "%' OR '1'='1"), "Unknown schedule id"
    ),
    service_case(
        "resume-id-nul", lambda db, ids: schedule_service.resume_schedule(db, "a\x00b"), "Unknown schedule id"
    ),
    service_case(
        "delete-unknown", lambda db, ids: schedule_service.delete_schedule(db, NOT_A_UUID), "Unknown schedule id"
    ),
    service_case("get-schedule-empty", lambda db, ids: schedule_service.get_schedule(db, ""), "Unknown schedule id"),
    service_case(
        "list-schedules-status", lambda db, ids: schedule_service.list_schedules(db, status="bogus"), "status"
    ),
    service_case(
        "preview-count-zero", lambda db, ids: schedule_service.preview("interval", "5m", count=0), "count must be"
    ),
    service_case(
        "preview-count-bool", lambda db, ids: schedule_service.preview("interval", "5m", count=True), "count must be"
    ),
    service_case(
        "preview-bad-zone",
        lambda db, ids: schedule_service.preview("cron", "@daily", "Atlantis/Capital"),
        "Unknown timezone",
    ),
    service_case("tasks-limit-zero", lambda db, ids: task_service.list_tasks(db, limit=0), "limit must be from 1"),
    service_case(
        "tasks-offset-negative", lambda db, ids: task_service.list_tasks(db, offset=-1), "offset must be from 0"
    ),
    service_case("filter-status", lambda db, ids: task_service.TaskFilter(statuses=("done",)), "Unknown task status"),
    service_case(
        "filter-naive-since", lambda db, ids: task_service.TaskFilter(since=datetime(2026, 1, 1)), "needs a time zone"
    ),
    service_case(
        "filter-empty-range",
        lambda db, ids: task_service.TaskFilter(
            since=datetime(2026, 1, 2, tzinfo=UTC), until=datetime(2026, 1, 1, tzinfo=UTC)
        ),
        "range is empty",
    ),
    service_case("task-unknown", lambda db, ids: task_service.get_task(db, NOT_A_UUID), "Unknown task id"),
    service_case("task-id-nul", lambda db, ids: task_service.get_task(db, "a\x00b"), "Unknown task id"),
    service_case("retry-completed", lambda db, ids: task_service.retry_task(db, ids.completed), "only a failed task"),
    service_case("retry-unknown", lambda db, ids: task_service.retry_task(db, "nope"), "Unknown task id"),
    service_case("run-unknown-flow", lambda db, ids: task_service.run_flow_now(db, "nope"), "Unknown flow id"),
    service_case(
        "run-flow-needs-components",
        lambda db, ids: task_service.run_flow_now(db, TWO_OUT),
        "no output component chosen",
    ),
    service_case(
        "run-unknown-schedule",
        lambda db, ids: task_service.run_flow_now(db, ECHO, schedule_id="nope"),
        "Unknown schedule id",
    ),
    service_case(
        "run-timeout-too-long", lambda db, ids: task_service.run_flow_now(db, ECHO, timeout_seconds=86_401), "timeout"
    ),
    service_case(
        "components-unknown",
        lambda db, ids: flow_service.set_components(db, TWO_OUT, "Nope", "ChatOutput-tw002"),
        'Component "Nope" is not in flow',
    ),
    service_case(
        "components-roles-swapped",
        lambda db, ids: flow_service.set_components(db, TWO_OUT, "ChatOutput-tw002", "ChatInput-tw001"),
        "is not an input component",
    ),
    service_case(
        "components-unknown-flow", lambda db, ids: flow_service.set_components(db, "nope", "a", "b"), "Unknown flow id"
    ),
]


@pytest.mark.parametrize("case", SERVICE_CASES)
def test_service_refuses_bad_input(db, langflow, database_url, request, case: ServiceCase):
    ids = prepare(db, langflow.url)
    before = dump_tables(db)
    with pytest.raises(InvalidInput) as refused:
        case.call(db, ids)
    message = refused.value.message
    assert "\n" not in message and message == str(refused.value), message
    assert case.says.lower() in message.lower(), message
    assert dump_tables(db) == before
