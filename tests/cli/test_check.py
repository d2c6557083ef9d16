"""`check`: exit 0 when all is well, else 1 with one line per problem; what monitors call."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import update

from automagik.clock import utcnow
from automagik.daemon import heartbeat
from automagik.db.models import Schedule
from tests.cli.conftest import create_schedule, run_all, sync_now
from tests.conftest import API_KEY


def _alive(db):
    now = utcnow()
    heartbeat.beat(db, heartbeat.DaemonIdentity("host:1:abc", "host", 1, "test", 8, now), now, 0)


def test_all_well_is_exit_0_and_one_line(cli, db, langflow):
    _alive(db)
    result = cli("check")
    assert result.returncode == 0 and result.stderr == "", result.output
    assert (
        result.stdout.startswith("ok: database schema current; 1 daemon alive") and len(result.stdout.splitlines()) == 1
    )
    assert "API key accepted" in result.stdout and "no fire or run overdue" in result.stdout


def test_each_problem_is_one_line_and_exit_1(cli, db, langflow, settings):
    sync_now(db, settings)
    schedule_id = create_schedule(db).id
    with db.write() as session:  # a fire 10 minutes overdue: no daemon dispatched it
        session.execute(
            update(Schedule).where(Schedule.id == schedule_id).values(next_run_at=utcnow() - timedelta(minutes=10))
        )
    wrong_key = "sk-wrong-Zq81"
    plain, as_json, refused = run_all(
        cli, ("check",), ("check", "--json"), (("check",), {"LANGFLOW_API_KEY": wrong_key})
    )
    lines = plain.stdout.splitlines()
    assert plain.returncode == 1 and len(lines) == 2, plain.output
    assert lines[0].startswith("No daemon has ever run against this database")
    assert lines[1].startswith("1 schedule overdue: a fire due at ") and "was not dispatched within 60 s" in lines[1]
    report = json.loads(as_json.stdout)
    assert as_json.returncode == 1 and report["ok"] is False and report["problems"] == lines
    assert refused.returncode == 1 and any("refused access" in line for line in refused.stdout.splitlines())
    assert wrong_key not in refused.output and API_KEY not in plain.output + as_json.output


def test_langflow_down_and_a_database_not_initialized_are_problems_too(cli, tmp_path, langflow, db):
    _alive(db)
    langflow.down = True
    try:
        down, empty = run_all(cli, ("check",), (("check",), {"DATABASE_URL": f"sqlite:///{tmp_path / 'new.db'}"}))
    finally:
        langflow.down = False
    assert down.returncode == 1 and down.stdout.splitlines() == [
        f"LangFlow at {langflow.url} is unreachable while checking health: connection refused. Check that LangFlow "
        "is running and LANGFLOW_API_URL is right."
    ]
    assert empty.returncode == 1 and "is not initialized: run `python -m automagik.cli.cli db init`" in empty.stdout


def test_an_open_incident_is_a_problem_line(cli, db, langflow):
    from automagik.monitoring.incidents import Kind, open_incident

    _alive(db)
    with db.write() as session:
        open_incident(session, db.dialect, Kind.DAEMON_STALE, "far:7", "daemon far:7 has sent no heartbeat", utcnow())
    result = cli("check")
    assert result.returncode == 1
    [line] = result.stdout.splitlines()
    assert line.startswith("incident open since ") and line.endswith(": daemon far:7 has sent no heartbeat")
