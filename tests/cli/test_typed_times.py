"""Times and zones a user types on the command line: one parser, one rule, one zone validator.

Every command that takes a time (`tasks list|export --since/--until`, `schedules create|update
--expr` of a oneshot, `schedules preview --after`) reads it the same way, so a local time that
does not exist is refused the same way by all of them; every command that takes a zone refuses
an empty one instead of reading it as "the default". TIMEZONE is Europe/Berlin here.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.cli.conftest import (
    ECHO,
    assert_one_line_error,
    create_schedule,
    insert_task,
    ok_json,
    run_all,
    sync_now,
    table_rows,
)

UTC = UTC
# Berlin's clocks jump from 02:00 CET to 03:00 CEST on 2026-03-29: 02:30 never happens there.
GAP = "2026-03-29T02:30"
GAP_REFUSED = f'Invalid time "{GAP}": it does not exist in Europe/Berlin (the clocks jump from 02:00 to 03:00)'


def test_a_local_time_in_the_dst_gap_is_refused_by_every_command(cli, db, settings, tmp_path, subtests):
    sync_now(db, settings)
    existing = create_schedule(db, ECHO, "interval", "5m")
    before = {table: table_rows(db, table) for table in ("schedules", "tasks")}
    never = tmp_path / "never.csv"

    commands = {
        "tasks list --since": (("tasks", "list", "--since", GAP), "--since: "),
        "tasks list --until": (("tasks", "list", "--until", GAP), "--until: "),
        "tasks export --since": (("tasks", "export", "--since", GAP, "--output", str(never)), "--since: "),
        "schedules create oneshot": (("schedules", "create", "--type", "oneshot", "--expr", GAP, ECHO), ""),
        "schedules update oneshot": (("schedules", "update", existing.id, "--type", "oneshot", "--expr", GAP), ""),
        "schedules preview --after": (
            ("schedules", "preview", "--type", "interval", "--expr", "1h", "--after", GAP),
            "--after: ",
        ),
    }
    results = run_all(cli, *(args for args, _ in commands.values()))
    for (name, (_, prefix)), result in zip(commands.items(), results, strict=False):
        with subtests.test(command=name):
            line = assert_one_line_error(result, 2, contains=GAP_REFUSED)
            assert line.startswith(f"error: {prefix}Invalid time"), line

    assert {table: table_rows(db, table) for table in before} == before
    assert not never.exists()


def test_a_repeated_local_time_means_its_first_occurrence_in_the_filters_too(cli, db, settings):
    """Berlin's 02:30 happens twice on 2026-10-25 (00:30Z in CEST, 01:30Z in CET): the filters read
    it as the first one, like a oneshot at that time; an offset picks the second."""
    sync_now(db, settings)
    first = insert_task(db, ECHO, "completed", datetime(2026, 10, 25, 0, 30, tzinfo=UTC))
    second = insert_task(db, ECHO, "completed", datetime(2026, 10, 25, 1, 30, tzinfo=UTC))
    naive, with_offset, oneshot = run_all(
        cli,
        ("tasks", "list", "--since", "2026-10-25T02:30", "--until", "2026-10-25T02:31", "--json"),
        ("tasks", "list", "--since", "2026-10-25T02:30+01:00", "--until", "2026-10-25T02:31+01:00", "--json"),
        (
            "schedules",
            "preview",
            "--type",
            "oneshot",
            "--expr",
            "2026-10-25T02:30",
            "--after",
            "2026-10-01T00:00Z",
            "--json",
        ),
    )
    assert [task["id"] for task in ok_json(naive)] == [first]
    assert [task["id"] for task in ok_json(with_offset)] == [second]
    assert ok_json(oneshot) == ["2026-10-25T00:30:00+00:00"]


def test_an_empty_time_is_refused_not_read_as_no_bound(cli, db, settings, tmp_path, subtests):
    """`--since "$SINCE"` with SINCE unset must not quietly list or export everything."""
    sync_now(db, settings)
    never = tmp_path / "never.csv"
    commands = {
        "tasks list --since ''": ("tasks", "list", "--since", ""),
        "tasks list --until ' '": ("tasks", "list", "--until", "  "),
        "tasks export --since ''": ("tasks", "export", "--since", "", "--output", str(never)),
        "schedules preview --after ''": ("schedules", "preview", "--type", "interval", "--expr", "1h", "--after", ""),
    }
    for name, result in zip(commands, run_all(cli, *commands.values()), strict=False):
        with subtests.test(command=name):
            assert_one_line_error(result, 2, contains='Invalid time "": it is empty')
    assert not never.exists()


def test_an_empty_timezone_is_refused_and_writes_nothing(cli, db, settings, subtests):
    """`--timezone "$TZ_NAME"` with TZ_NAME unset is a mistake, not a request for TIMEZONE."""
    sync_now(db, settings)
    existing = create_schedule(db, ECHO, "cron", "0 9 * * *", timezone="America/New_York")
    before = {table: table_rows(db, table) for table in ("schedules", "tasks")}

    commands = {}
    for shown, zone in (("empty", ""), ("blank", "   ")):
        commands[f"create, {shown}"] = (
            "schedules",
            "create",
            "--type",
            "cron",
            "--expr",
            "@daily",
            "--timezone",
            zone,
            ECHO,
        )
        commands[f"create oneshot, {shown}"] = (
            "schedules",
            "create",
            "--type",
            "oneshot",
            "--expr",
            "2031-06-01T09:00",
            "--timezone",
            zone,
            ECHO,
        )
        commands[f"update, {shown}"] = ("schedules", "update", existing.id, "--timezone", zone)
        commands[f"update with expr, {shown}"] = (
            "schedules",
            "update",
            existing.id,
            "--expr",
            "0 10 * * *",
            "--timezone",
            zone,
        )
        commands[f"preview, {shown}"] = (
            "schedules",
            "preview",
            "--type",
            "cron",
            "--expr",
            "@daily",
            "--timezone",
            zone,
        )
    for name, result in zip(commands, run_all(cli, *commands.values()), strict=False):
        with subtests.test(command=name):
            assert_one_line_error(result, 2, contains='Unknown timezone "": it is empty')

    assert {table: table_rows(db, table) for table in before} == before


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # preview never opens the database
def test_an_unknown_zone_beside_a_typed_time_is_one_line_not_a_traceback(cli, subtests):
    """`preview --after` was read in --timezone before the zone was checked: zoneinfo's own
    exceptions escaped as a traceback (exit 1)."""
    commands = {
        zone: (
            "schedules",
            "preview",
            "--type",
            "cron",
            "--expr",
            "@daily",
            "--timezone",
            zone,
            "--after",
            "2031-01-01T00:00",
        )
        for zone in ("Mars/Base", "Europe/", "../../etc/passwd")
    }
    for zone, result in zip(commands, run_all(cli, *commands.values()), strict=False):
        with subtests.test(zone=zone):
            assert_one_line_error(result, 2, contains=f'Unknown timezone "{zone}"')
