"""The five commands of the issue's seed, exactly as written, in order.

    db init · flows sync · schedules create --type interval --expr "1m" --input '{"input": "message"}' <flow-id>
    schedules list · tasks list

On a fresh database file they run as real `python -m automagik.cli.cli` processes (the entry
point itself, as a user types it); elsewhere in-process, like the rest of tests/cli.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy.engine import make_url

from automagik.db.engine import Database
from automagik.db.models import Schedule
from tests.cli.conftest import (
    ECHO,
    TWO_OUT,
    assert_one_line_error,
    create_schedule,
    flow_names,
    ok_lines,
    run_all,
    sync_now,
)
from tests.conftest import BACKENDS

SEED_INPUT = '{"input": "message"}'


def run_seed(cli, langflow, env=None, *, fresh: bool, init=None):
    """Run the seed's five commands and check what each prints; returns the new schedule's id.

    `init` is the result of `db init` when the caller ran it already (alongside another command).
    """
    names = flow_names(langflow)

    init = ok_lines(init or cli("db", "init", env=env))
    state = r"created \(schema \w+\)" if fresh else r"is up to date \(schema \w+\)"
    assert len(init) == 1 and re.fullmatch(rf"Database \S+ {state}\.", init[0]), init

    sync = ok_lines(cli("flows", "sync", env=env))
    assert sync[0] == f"Synced 2 flows from {langflow.url}: 2 new, 0 changed, 0 back, 0 gone from LangFlow."
    assert f'- {TWO_OUT} "{names[TWO_OUT]}"' in sync  # no terminal: the ambiguous flow is named, not asked

    create = ok_lines(
        cli("schedules", "create", "--type", "interval", "--expr", "1m", "--input", SEED_INPUT, ECHO, env=env)
    )
    assert len(create) == 1
    created = re.fullmatch(
        r"Created schedule ([0-9a-f-]{36}): every 1m; next run \d{4}-\d\d-\d\d \d\d:\d\d:\d\d CES?T\.", create[0]
    )
    assert created, create
    schedule_id = created.group(1)

    listing = ok_lines(cli("schedules", "list", env=env))
    assert listing[0].split() == [
        "ID",
        "FLOW",
        "TYPE",
        "EXPRESSION",
        "ZONE",
        "STATUS",
        "NEXT",
        "RUN",
        "(Europe/Berlin)",
        "LAST",
        "RUN",
        "WHEN",
    ]
    assert len(listing) == 2
    row = listing[1].split()
    assert row[0] == schedule_id
    # ID, FLOW (the name may have spaces), TYPE, EXPRESSION, ZONE, STATUS, NEXT RUN (3 words), LAST RUN, WHEN
    assert row[-10:-6] == ["interval", "1m", "Europe/Berlin", "active"] and row[-3] == "-"
    assert row[-2:] == ["every", "1m"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d CES?T", " ".join(row[-6:-3]))
    assert " ".join(row[1:-10]) == names[ECHO]

    tasks = ok_lines(cli("tasks", "list", env=env))
    assert tasks == ["No runs match."]
    return schedule_id


def check_seed_schedule(database: Database, schedule_id: str) -> None:
    with database.read() as session:
        schedule = session.get(Schedule, schedule_id)
    assert schedule.flow_id == ECHO
    assert schedule.flow_params == {"input": "message", "tweaks": {}}
    assert (schedule.schedule_type.value, schedule.schedule_expr, schedule.status.value) == ("interval", "1m", "active")
    assert schedule.next_run_at - schedule.anchor_at == timedelta(minutes=1)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # the fresh database is a file of its own
def test_seed_commands_on_a_fresh_database_file(cli_process, langflow, tmp_path):
    url = f"sqlite:///{tmp_path / 'fresh' / 'automagik.db'}"

    # Alongside, on another new file: before `db init`, other commands say what to do and fail (exit 1).
    init, never_initialized = run_all(
        cli_process,
        (("db", "init"), {"DATABASE_URL": url}),
        (("tasks", "list"), {"DATABASE_URL": f"sqlite:///{tmp_path / 'other.db'}"}),
    )
    assert_one_line_error(
        never_initialized, 1, contains="is not initialized: run `python -m automagik.cli.cli db init`"
    )

    schedule_id = run_seed(cli_process, langflow, env={"DATABASE_URL": url}, fresh=True, init=init)

    assert (tmp_path / "fresh" / "automagik.db").is_file()
    database = Database(url)
    try:
        check_seed_schedule(database, schedule_id)
    finally:
        database.dispose()


def test_seed_commands_on_the_suite_database(cli, langflow, db):
    """The suite's database is already migrated: `db init` says it is up to date and keeps it so."""
    schedule_id = run_seed(cli, langflow, fresh=False)
    check_seed_schedule(db, schedule_id)


UNREACHABLE_PASSWORD = "hunter2-Pq7secret"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # the database named here is none of the suite's
def test_unreachable_database_is_a_one_line_runtime_failure(cli_process):
    """A PostgreSQL server that is not there: exit 1, one line, the password never printed."""
    url = f"postgresql+psycopg2://bob:{UNREACHABLE_PASSWORD}@127.0.0.1:1/automagik"
    init, listing = run_all(cli_process, ("db", "init"), ("schedules", "list"), env={"DATABASE_URL": url})
    for result in (init, listing):
        assert_one_line_error(result, 1, contains="Could not ")
        assert "127.0.0.1" in result.stderr and UNREACHABLE_PASSWORD not in result.output


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_documented_postgresql_url_form_works(cli_process, langflow, db, settings):
    """README's form, postgresql://user:password@host:port/db with no driver named, reaches the
    server through the installed driver (psycopg2) in a fresh process: the schedule made
    through the suite's own URL is listed, and `db init` finds the schema current."""
    if "postgresql" not in BACKENDS:
        pytest.skip("PostgreSQL is not among AUTOMAGIK_TEST_BACKENDS")
    documented = make_url(db.engine.url).set(drivername="postgresql").render_as_string(hide_password=False)
    assert documented.startswith("postgresql://")
    sync_now(db, settings)
    schedule = create_schedule(db, ECHO)

    init, listing = run_all(cli_process, ("db", "init"), ("schedules", "list"), env={"DATABASE_URL": documented})
    assert re.fullmatch(r"Database \S+ is up to date \(schema \w+\)\.", ok_lines(init)[0]), init.stdout
    rows = ok_lines(listing)[1:]
    assert [row.split()[0] for row in rows] == [schedule.id]
