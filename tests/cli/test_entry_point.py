"""The in-process runner (tests/support/cli_runner.py) answers as the real entry point does.

Most CLI tests run commands in-process; here a sample of them (help, a usage error, bad
input, a refused setting, output in each format, a write) also runs as a real
`python -m automagik.cli.cli` process, and both must agree on exit code, stdout and stderr.
"""

from __future__ import annotations

import json

import pytest

from automagik.db.models import Schedule
from tests.cli.conftest import ECHO, create_schedule, ok_lines, run_all, sync_now

# Each one costs a Python start-up as a process: one command per kind of answer.
READ_ONLY = [
    ("--help",),  # argparse's SystemExit(0)
    ("schedules", "list", "--bogus"),  # a usage error: exit 2
    ("schedules", "show", "not-an-id"),  # bad input after parsing
    ("schedules", "list"),  # a table, times in TIMEZONE
    ("schedules", "list", "--json"),
]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_sample_of_commands_gives_the_same_answer_in_process_and_as_a_process(cli, cli_process, db, settings):
    sync_now(db, settings)
    create_schedule(db, ECHO)
    bad_setting = {"TIMEZONE": "Mars/Olympus"}

    processes = run_all(cli_process, *READ_ONLY, (("schedules", "list"), bad_setting))
    in_process = [cli(*args) for args in READ_ONLY] + [cli("schedules", "list", env=bad_setting)]

    codes = set()
    for args, real, here in zip(
        [*READ_ONLY, ("schedules", "list", "(TIMEZONE=Mars/Olympus)")], processes, in_process, strict=False
    ):
        assert (here.returncode, here.stdout, here.stderr) == (real.returncode, real.stdout, real.stderr), args
        codes.add(real.returncode)
    assert codes == {0, 2}  # both kinds of answer were compared


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_write_in_process_is_seen_by_a_process_and_the_other_way(cli, cli_process, db, settings):
    sync_now(db, settings)
    made_here = ok_lines(cli("schedules", "create", "--type", "interval", "--expr", "2m", ECHO))
    made_there = ok_lines(cli_process("schedules", "create", "--type", "interval", "--expr", "3m", ECHO))
    listed = {row["id"]: row["schedule_expr"] for row in json.loads(cli_process("schedules", "list", "--json").stdout)}
    assert sorted(listed.values()) == ["2m", "3m"]
    assert all(any(schedule_id in line for line in made_here + made_there) for schedule_id in listed)
    with db.read() as session:
        assert session.query(Schedule).count() == 2


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_runner_puts_the_process_state_back(cli, tmp_path):
    """Environment, folder, streams, logging and the clock are as they were after a call."""
    import logging
    import os
    import sys

    from automagik import clock

    before = (
        dict(os.environ),
        os.getcwd(),
        sys.stdin,
        sys.stdout,
        sys.stderr,
        logging.getLogger().handlers[:],
        logging.getLogger().level,
        clock._source,
    )
    assert cli("schedules", "list", env={"AUTOMAGIK_MARKER": "1"}).returncode == 0
    assert cli("--version").returncode == 0
    after = (
        dict(os.environ),
        os.getcwd(),
        sys.stdin,
        sys.stdout,
        sys.stderr,
        logging.getLogger().handlers[:],
        logging.getLogger().level,
        clock._source,
    )
    assert after == before
