"""Short ids: wherever the CLI takes a flow, schedule or task id, a unique start of it (8
characters or more) names the same row; a start shared by several ids is one error line
naming them (exit 2, nothing written); a shorter one is the usual "unknown id" line.

Ids that share their first characters are made on purpose: a flow row beside Echo's id, and
a schedule and a task each renamed to share the first 9 characters of another.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pytest
from sqlalchemy import text

from automagik.clock import utcnow
from automagik.db.models import Flow
from tests.cli.conftest import (
    ECHO,
    TWO_OUT,
    UTC,
    assert_one_line_error,
    choose_two_out_output,
    create_schedule,
    insert_task,
    ok_json,
    run_all,
    sync_now,
    table_rows,
)

LOOKALIKE = ECHO[:15] + "000-8000-000000000000"  # shares "4ef644de-8b5e-4" with Echo


@dataclass
class Rows:
    schedule: str
    twin_schedule: str  # its first 9 characters are the schedule's
    failed: str
    twin_task: str  # its first 9 characters are the failed task's


def _rename(db, table: str, old: str, new: str) -> None:
    with db.engine.begin() as connection:
        connection.execute(text(f"UPDATE {table} SET id = :new WHERE id = :old"), {"new": new, "old": old})


@pytest.fixture
def rows(db, settings) -> Rows:
    sync_now(db, settings)
    choose_two_out_output(db)
    now = utcnow()
    with db.write() as session:
        session.add(Flow(id=LOOKALIKE, name="Lookalike", data={}, created_at=now, updated_at=now))
    schedule, other = create_schedule(db, ECHO).id, create_schedule(db, ECHO, expr="7m").id
    twin_schedule = schedule[:9] + other[9:]
    _rename(db, "schedules", other, twin_schedule)
    planned = datetime(2025, 1, 10, 8, tzinfo=UTC)
    failed = insert_task(db, ECHO, "failed", planned, schedule_id=schedule, error="boom", tries=4, seconds=1)
    other_task = insert_task(db, TWO_OUT, "completed", planned.replace(hour=9), output="ok", tries=1, seconds=1)
    twin_task = failed[:9] + other_task[9:]
    _rename(db, "tasks", other_task, twin_task)
    return Rows(schedule, twin_schedule, failed, twin_task)


def _ambiguous(result, noun: str, prefix: str, *matches: str) -> None:
    line = assert_one_line_error(
        result, 2, contains=f'The {noun} id "{prefix}" is the start of {len(matches)} {noun} ids'
    )
    assert all(match in line for match in matches), line


def test_flow_ids(cli, db, rows):
    show, show_two, ambiguous, short, run, budget, create, listed, create_ambiguous = run_all(
        cli,
        ("flows", "show", ECHO[:16], "--json"),
        ("flows", "show", TWO_OUT[:8], "--json"),
        ("flows", "show", ECHO[:8]),
        ("flows", "show", ECHO[:7]),
        ("flows", "run", TWO_OUT[:8], "--json"),
        ("flows", "update", TWO_OUT[:8], "--daily-budget-usd", "5", "--json"),
        ("schedules", "create", TWO_OUT[:8], "--type", "interval", "--expr", "5m", "--json"),
        ("schedules", "list", "--flow-id", ECHO[:16], "--json"),
        ("schedules", "create", ECHO[:8], "--type", "interval", "--expr", "5m"),
    )
    assert ok_json(show)["id"] == ECHO and ok_json(show_two)["id"] == TWO_OUT
    _ambiguous(ambiguous, "flow", ECHO[:8], ECHO, LOOKALIKE)
    assert_one_line_error(short, 2, contains=f'Unknown flow id "{ECHO[:7]}"')
    assert ok_json(run)["flow_id"] == TWO_OUT
    assert ok_json(budget)["id"] == TWO_OUT
    assert ok_json(create)["flow_id"] == TWO_OUT
    assert {s["id"] for s in ok_json(listed)} == {rows.schedule, rows.twin_schedule}
    _ambiguous(create_ambiguous, "flow", ECHO[:8], ECHO, LOOKALIKE)
    # The ambiguous create wrote nothing: the schedules are the two of the fixture and TwoOut's.
    assert len(table_rows(db, "schedules")) == 3


def test_schedule_ids(cli, db, rows):
    unique = rows.schedule[:14]
    before = table_rows(db, "schedules")
    ambiguous_show, ambiguous_pause, short = run_all(
        cli,
        ("schedules", "show", rows.schedule[:8]),
        ("schedules", "pause", rows.schedule[:9], "--json"),
        ("schedules", "delete", rows.schedule[:7]),
    )
    _ambiguous(ambiguous_show, "schedule", rows.schedule[:8], rows.schedule, rows.twin_schedule)
    _ambiguous(ambiguous_pause, "schedule", rows.schedule[:9], rows.schedule, rows.twin_schedule)
    assert_one_line_error(short, 2, contains=f'Unknown schedule id "{rows.schedule[:7]}"')
    assert table_rows(db, "schedules") == before

    assert ok_json(cli("schedules", "show", unique, "--json"))["id"] == rows.schedule
    paused = ok_json(cli("schedules", "pause", unique, "--json"))
    assert (paused["id"], paused["status"]) == (rows.schedule, "paused")
    assert ok_json(cli("schedules", "resume", unique, "--json"))["status"] == "active"
    assert ok_json(cli("schedules", "update", unique, "--max-retries", "1", "--json"))["max_retries"] == 1
    twin = rows.twin_schedule[:14]
    assert ok_json(cli("schedules", "delete", twin, "--json")) == {"id": rows.twin_schedule, "deleted": True}
    # With its twin gone, the 8 characters the dashboard shows name the schedule alone.
    assert ok_json(cli("schedules", "show", rows.schedule[:8], "--json"))["id"] == rows.schedule


def test_task_ids(cli, db, rows, tmp_path):
    unique = rows.failed[:14]
    target = tmp_path / "runs.csv"
    ambiguous_show, ambiguous_retry, short, shown, by_schedule, by_flow, ambiguous_flow, ambiguous_export = run_all(
        cli,
        ("tasks", "show", rows.failed[:8]),
        ("tasks", "retry", rows.failed[:8]),
        ("tasks", "show", rows.failed[:7]),
        ("tasks", "show", unique, "--json"),
        ("tasks", "list", "--schedule-id", rows.schedule[:14], "--json"),
        ("tasks", "list", "--flow-id", TWO_OUT[:8], "--json"),
        ("tasks", "list", "--flow-id", ECHO[:8]),
        ("tasks", "export", "--schedule-id", rows.schedule[:8], "--output", str(target)),
    )
    _ambiguous(ambiguous_show, "task", rows.failed[:8], rows.failed, rows.twin_task)
    _ambiguous(ambiguous_retry, "task", rows.failed[:8], rows.failed, rows.twin_task)
    assert_one_line_error(short, 2, contains=f'Unknown task id "{rows.failed[:7]}"')
    assert ok_json(shown)["id"] == rows.failed
    assert [t["id"] for t in ok_json(by_schedule)] == [rows.failed]
    assert [t["id"] for t in ok_json(by_flow)] == [rows.twin_task]
    _ambiguous(ambiguous_flow, "flow", ECHO[:8], ECHO, LOOKALIKE)
    _ambiguous(ambiguous_export, "schedule", rows.schedule[:8], rows.schedule, rows.twin_schedule)
    assert not target.exists()
    assert [r[0] for r in table_rows(db, "tasks") if "failed" in r] == [rows.failed]  # the retry wrote nothing

    retried = ok_json(cli("tasks", "retry", unique, "--json"))
    assert (retried["id"], retried["status"]) == (rows.failed, "pending")
