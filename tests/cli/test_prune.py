"""`tasks prune`: finished runs older than an age deleted with their log lines; a dry run
deletes nothing; bad input is one line, exit 2, nothing deleted."""

from __future__ import annotations

from datetime import timedelta

from automagik.clock import utcnow
from tests.cli.conftest import ECHO, assert_one_line_error, insert_task, ok_lines, run_all, sync_now, table_rows


def test_prune_deletes_only_old_finished_runs_and_a_dry_run_nothing(cli, db, settings):
    sync_now(db, settings)
    now = utcnow()
    old = [
        insert_task(db, ECHO, status, now - timedelta(days=100), seconds=1, logs=[("info", "x")])
        for status in ("completed", "failed", "skipped")
    ]
    pending = insert_task(db, ECHO, "pending", now - timedelta(days=100))
    recent = insert_task(db, ECHO, "completed", now - timedelta(days=5), seconds=1)
    dry, *refused = run_all(
        cli,
        ("tasks", "prune", "--older-than", "90d", "--dry-run"),
        ("tasks", "prune", "--older-than", "soon"),
        ("tasks", "prune", "--older-than", "90d", "--status", "pending"),
        ("tasks", "prune"),
    )
    [line] = ok_lines(dry)
    assert line.startswith("Would delete 3 completed/failed/skipped runs planned before ") and "dry run" in line
    assert_one_line_error(refused[0], 2, contains='"soon" is not an age')
    assert_one_line_error(refused[1], 2, contains='Only finished runs are pruned: "pending"')
    assert_one_line_error(refused[2], 2, contains="--older-than")
    assert len(table_rows(db, "tasks")) == 5  # nothing deleted yet

    [failed_only] = ok_lines(cli("tasks", "prune", "--older-than", "90d", "--status", "failed"))
    assert failed_only.startswith("Deleted 1 failed run planned before ")
    [rest] = ok_lines(cli("tasks", "prune", "--older-than", "90d"))
    assert rest.startswith("Deleted 2 completed/failed/skipped runs")
    assert {row[0] for row in table_rows(db, "tasks")} == {pending, recent}
    assert not any(row[1] in old for row in table_rows(db, "task_logs"))
