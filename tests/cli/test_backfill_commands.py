"""`schedules backfill` through the real CLI: a dry run prints the fires and writes nothing, a
backfill queues them once (twice adds nothing), the runs show where they came from in `tasks
list | show | export` and `--trigger` finds them; every bad option is one line, exit 2, nothing
written."""

from __future__ import annotations

import csv
from datetime import UTC, datetime

from sqlalchemy import select

from automagik.db.models import Task
from tests.cli.conftest import (
    ECHO,
    assert_one_line_error,
    create_schedule,
    fields,
    insert_task,
    ok_json,
    ok_lines,
    run_all,
    sync_now,
    table_rows,
)

UTC = UTC
# "0 */6 * * *" in Europe/Berlin (CET) on 1 November 2026: 00:00, 06:00, 12:00, 18:00 local.
FIRES = [
    "2026-10-31T23:00:00+00:00",
    "2026-11-01T05:00:00+00:00",
    "2026-11-01T11:00:00+00:00",
    "2026-11-01T17:00:00+00:00",
]
RANGE = ("--from", "2026-11-01", "--to", "2026-11-02")


def test_dry_run_then_backfill_then_the_runs_show_their_origin(cli, db, settings, tmp_path):
    sync_now(db, settings)
    schedule = create_schedule(db, ECHO, "cron", "0 */6 * * *", timezone="Europe/Berlin").id
    failed = insert_task(
        db,
        ECHO,
        "failed",
        datetime(2026, 11, 1, 5, tzinfo=UTC),
        schedule_id=schedule,
        error="boom",
        tries=1,
        max_retries=0,
    )
    before = table_rows(db, "tasks")
    dry, dry_json = run_all(
        cli,
        ("schedules", "backfill", schedule, *RANGE, "--only", "all", "--dry-run"),
        ("schedules", "backfill", schedule, *RANGE, "--only", "all", "--dry-run", "--json"),
    )
    lines = ok_lines(dry)
    assert lines[0].split() == ["FIRE", "(Europe/Berlin)", "TASK", "BACKFILL"]
    assert lines[1].split() == ["2026-11-01", "00:00:00", "CET", "-", "new"]
    assert lines[2].split() == ["2026-11-01", "06:00:00", "CET", "failed", "redo"]
    assert lines[-1].startswith(
        "Dry run: 4 fires from 2026-11-01 00:00:00 CET to 2026-11-02 00:00:00 CET; "
        "would queue 3 and redo 1 (nothing written)."
    )
    planned = ok_json(dry_json)
    assert (planned["dry_run"], planned["backfill_id"], planned["fires"], planned["queued"], planned["redone"]) == (
        True,
        None,
        4,
        3,
        1,
    )
    assert [p["scheduled_for"] for p in planned["planned"]] == FIRES
    assert table_rows(db, "tasks") == before and table_rows(db, "backfills") == []

    done = ok_json(cli("schedules", "backfill", schedule, *RANGE, "--only", "all", "--max-parallel", "2", "--json"))
    assert (done["dry_run"], done["fires"], done["queued"], done["redone"], done["max_parallel"]) == (False, 4, 3, 1, 2)
    assert "planned" not in done
    again, listed, table, shown = run_all(
        cli,
        ("schedules", "backfill", schedule, *RANGE, "--only", "all"),
        ("tasks", "list", "--trigger", "backfill", "--json"),
        ("tasks", "list", "--trigger", "backfill,manual"),
        ("tasks", "show", failed),
    )
    [line] = ok_lines(again)  # twice: nothing more
    assert line.startswith("Backfill ") and line.endswith(
        ": 4 fires from 2026-11-01 00:00:00 CET to 2026-11-02 00:00:00 CET; queued 0, redone 0, at most 1 at "
        "once. A running daemon runs them, oldest first."
    )
    rows = ok_json(listed)
    assert sorted(r["scheduled_for"] for r in rows) == FIRES  # the redone one is among them, the same task
    assert {(r["trigger"], r["backfill_id"]) for r in rows} == {("backfill", done["backfill_id"])}
    table_lines = ok_lines(table)
    assert "QUEUED BY" in table_lines[0] and all(" backfill " in line for line in table_lines[1:])
    detail = ok_lines(shown)
    assert fields(detail[: detail.index("log:")])["queued by"] == f"backfill (backfill {done['backfill_id']})"
    assert f"retried by backfill {done['backfill_id']}: one more try" in detail[-1]

    assert ok_lines(cli("tasks", "export", "--trigger", "backfill", "--output", str(tmp_path / "b.csv")))
    with open(tmp_path / "b.csv", newline="", encoding="utf-8") as handle:
        exported = list(csv.DictReader(handle))
    assert len(exported) == 4 and {(r["trigger"], r["backfill_id"]) for r in exported} == {
        ("backfill", done["backfill_id"])
    }


def test_every_bad_option_is_one_line_exit_2_and_nothing_written(cli, db, settings):
    sync_now(db, settings)
    schedule = create_schedule(db, ECHO, "cron", "0 */6 * * *", timezone="Europe/Berlin").id
    hourly = create_schedule(db, ECHO, "cron", "0 * * * *", timezone="Europe/Berlin").id
    before = (table_rows(db, "tasks"), table_rows(db, "backfills"))
    cases = [
        (("--only", "some"), 'Unknown --only "some": use missing, failed or all.'),
        (("--max-parallel", "0"), "--max-parallel must be from 1 to 100, not 0."),
        (("--max-parallel", "x"), "argument --max-parallel: invalid int value: 'x'"),
        (("--from", "last week", "--to", "2026-11-02"), '--from: Invalid time "last week"'),
        (("--from", "2026-11-01", "--to", "2026-13-01"), '--to: Invalid time "2026-13-01"'),
        (("--from", "2026-11-02", "--to", "2026-11-01"), "The range is empty: --from must be before --to."),
        (
            ("--from", "2026-03-29 02:30", "--to", "2026-03-30"),
            '--from: Invalid time "2026-03-29 02:30": it does ' "not exist in Europe/Berlin",
        ),
        (("--timezone", "Mars/Base"), 'Unknown timezone "Mars/Base"'),
        (("--from", "2026-11-01", "--to", "2099-01-01"), "--to is in the future"),
        (("--from", "2026-11-01"), "the following arguments are required: --to"),
    ]
    commands = [
        ("schedules", "backfill", schedule, *(option if "--from" in option else (*RANGE, *option)))
        for option, _ in cases
    ]
    commands += [
        ("schedules", "backfill", "no-such-schedule", *RANGE),
        ("schedules", "backfill", hourly, "--from", "2025-06-01", "--to", "2026-11-01"),
    ]
    messages = [message for _, message in cases] + [
        'Unknown schedule id "no-such-schedule"',
        "fires (more than 10,000): pass --yes to backfill them all.",
    ]
    for result, message in zip(run_all(cli, *commands), messages, strict=True):
        assert_one_line_error(result, 2, contains=message)
    assert (table_rows(db, "tasks"), table_rows(db, "backfills")) == before


def test_a_short_schedule_id_is_backfilled_like_the_whole_one(cli, db, settings):
    sync_now(db, settings)
    schedule = create_schedule(db, ECHO, "cron", "0 */6 * * *", timezone="Europe/Berlin").id
    insert_task(db, ECHO, "completed", datetime(2026, 11, 1, 5, tzinfo=UTC), schedule_id=schedule)
    planned = ok_json(cli("schedules", "backfill", schedule[:8], *RANGE, "--dry-run", "--json"))
    assert (planned["schedule_id"], planned["queued"]) == (schedule, 3)  # the completed fire is left alone
    done = ok_json(cli("schedules", "backfill", schedule[:8], *RANGE, "--json"))
    assert (done["schedule_id"], done["queued"]) == (schedule, 3)
    with db.read() as session:
        assert session.scalars(select(Task.schedule_id)).all() == [schedule] * 4


def test_a_range_outside_the_years_1970_to_9998_is_one_line_for_every_kind_of_schedule(cli, db, settings):
    """Year 1 walked an interval's fires out of the calendar (OverflowError, a traceback)."""
    sync_now(db, settings)
    schedules = [
        create_schedule(db, ECHO, kind, expr, timezone="Europe/Berlin").id
        for kind, expr in (("interval", "1h"), ("cron", "0 * * * *"))
    ]
    ranges = [
        ("0001-01-01T00:00Z", "0001-01-02T00:00Z"),
        ("0001-01-01", "0001-01-02"),
        ("1900-01-01", "1900-01-02"),
        ("9999-12-31", "9999-12-31T12:00"),
    ]
    commands = [
        ("schedules", "backfill", schedule, "--from", start, "--to", end, *dry)
        for schedule in schedules
        for start, end in ranges
        for dry in ((), ("--dry-run",))
    ]
    for result in run_all(cli, *commands):
        assert_one_line_error(result, 2, contains="--from: Invalid time")
        assert "the year must be from 1970 to 9998" in result.stderr
    assert table_rows(db, "tasks") == [] and table_rows(db, "backfills") == []
