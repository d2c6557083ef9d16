"""`schedules create | update | list | show | pause | resume | delete | pause-all | resume-all | preview`,
the --json shapes (ISO 8601 UTC times), previews across Europe/Berlin's DST changes, and the
table of refused input: exit 2, one line on stderr, no traceback, nothing written."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from automagik.db.models import Flow, ScheduleStatus
from automagik.services import schedules as schedule_service
from tests.cli.conftest import (
    ECHO,
    TWO_OUT,
    assert_one_line_error,
    assert_times_are_utc,
    choose_two_out_output,
    create_schedule,
    fields,
    flow_names,
    insert_task,
    ok_json,
    ok_lines,
    parse_utc,
    run_all,
    sync_now,
    table_rows,
)

UTC = UTC
BERLIN = ZoneInfo("Europe/Berlin")
SCHEDULE_KEYS = {
    "id",
    "flow_id",
    "schedule_type",
    "schedule_expr",
    "timezone",
    "flow_params",
    "next_run_at",
    "status",
    "max_retries",
    "timeout_seconds",
    "missed_policy",
    "anchor_at",
    "last_run_at",
    "created_at",
    "updated_at",
}
SCHEDULE_TIMES = ("next_run_at", "anchor_at", "last_run_at", "created_at", "updated_at")
LOCAL_TIME = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d CES?T"


def test_create_each_type_with_every_option(cli, langflow, db, settings):
    sync_now(db, settings)
    choose_two_out_output(db)
    names = flow_names(langflow)
    day = (datetime.now(BERLIN) + timedelta(days=40)).date()
    oneshot_at = datetime.combine(day, time(9, 15), tzinfo=BERLIN).astimezone(UTC)
    tweaks = {"ChatOutput-acc02": {"sender_name": "Bot"}}

    started = datetime.now(UTC)
    interval, cron, oneshot, defaults = (
        ok_json(r)
        for r in run_all(
            cli,
            (
                "schedules",
                "create",
                "--type",
                "interval",
                "--expr",
                "90m",
                "--timezone",
                "Asia/Tokyo",
                "--max-retries",
                "5",
                "--timeout",
                "120",
                "--missed",
                "skip",
                "--input",
                json.dumps({"input_value": "hi", "tweaks": tweaks}),
                "--json",
                ECHO,
            ),
            (
                "schedules",
                "create",
                "--type",
                "cron",
                "--expr",
                "0 9 * * 1-5",
                "--timezone",
                "America/New_York",
                "--max-retries",
                "0",
                "--timeout",
                "3600",
                "--missed",
                "all",
                "--input",
                '"just text"',
                "--json",
                ECHO,
            ),
            (
                "schedules",
                "create",
                "--type",
                "oneshot",
                "--expr",
                f"{day}T09:15",
                "--timezone",
                "Europe/Berlin",
                "--max-retries",
                "20",
                "--timeout",
                "86400",
                "--missed",
                "coalesce",
                "--json",
                ECHO,
            ),
            ("schedules", "create", "--type", "cron", "--expr", "@DAILY", "--json", TWO_OUT),
        )
    )
    finished = datetime.now(UTC)

    for created in (interval, cron, oneshot, defaults):
        assert set(created) >= SCHEDULE_KEYS
        assert_times_are_utc(created, SCHEDULE_TIMES)
        assert created["status"] == "active" and created["last_run_at"] is None
        assert started - timedelta(seconds=1) <= parse_utc(created["created_at"]) <= finished
        assert parse_utc(created["next_run_at"]) > started

    assert {
        k: interval[k]
        for k in (
            "flow_id",
            "schedule_type",
            "schedule_expr",
            "timezone",
            "max_retries",
            "timeout_seconds",
            "missed_policy",
            "flow_params",
        )
    } == {
        "flow_id": ECHO,
        "schedule_type": "interval",
        "schedule_expr": "1h30m",
        "timezone": "Asia/Tokyo",
        "max_retries": 5,
        "timeout_seconds": 120,
        "missed_policy": "skip",
        "flow_params": {"input": "hi", "tweaks": tweaks},
    }
    assert parse_utc(interval["next_run_at"]) - parse_utc(interval["anchor_at"]) == timedelta(minutes=90)

    assert (cron["schedule_type"], cron["schedule_expr"], cron["timezone"]) == (
        "cron",
        "0 9 * * 1-5",
        "America/New_York",
    )
    assert (cron["max_retries"], cron["timeout_seconds"], cron["missed_policy"]) == (0, 3600, "all")
    assert cron["flow_params"] == {"input": "just text", "tweaks": {}}
    in_new_york = parse_utc(cron["next_run_at"]).astimezone(ZoneInfo("America/New_York"))
    assert (in_new_york.hour, in_new_york.minute) == (9, 0) and in_new_york.isoweekday() <= 5
    assert parse_utc(cron["next_run_at"]) - started < timedelta(days=4)

    assert (oneshot["schedule_type"], oneshot["timezone"]) == ("oneshot", "Europe/Berlin")
    assert oneshot["schedule_expr"] == oneshot_at.isoformat()  # stored as the UTC instant
    assert parse_utc(oneshot["next_run_at"]) == oneshot_at
    assert (oneshot["max_retries"], oneshot["timeout_seconds"], oneshot["missed_policy"]) == (20, 86400, "coalesce")

    # Defaults: the zone from TIMEZONE, 3 retries, the daemon's timeout, coalesce, empty input.
    assert {
        k: defaults[k]
        for k in (
            "flow_id",
            "schedule_expr",
            "timezone",
            "max_retries",
            "timeout_seconds",
            "missed_policy",
            "flow_params",
        )
    } == {
        "flow_id": TWO_OUT,
        "schedule_expr": "@daily",
        "timezone": "Europe/Berlin",
        "max_retries": 3,
        "timeout_seconds": None,
        "missed_policy": "coalesce",
        "flow_params": {"input": "", "tweaks": {}},
    }
    assert parse_utc(defaults["next_run_at"]).astimezone(BERLIN).time() == time(0, 0)

    listing, table = run_all(cli, ("schedules", "list", "--json"), ("schedules", "list"))
    listed = ok_json(listing)
    assert {s["id"] for s in listed} == {s["id"] for s in (interval, cron, oneshot, defaults)}
    assert [s["next_run_at"] for s in listed] == sorted(
        (s["next_run_at"] for s in listed), key=parse_utc
    )  # soonest first
    for row in listed:
        assert set(row) >= SCHEDULE_KEYS and row["flow_name"] == names[row["flow_id"]] and row["last_status"] is None
        assert_times_are_utc(row, SCHEDULE_TIMES)

    lines = ok_lines(table)
    assert lines[0].split()[:6] == ["ID", "FLOW", "TYPE", "EXPRESSION", "ZONE", "STATUS"]
    assert "NEXT RUN (Europe/Berlin)" in lines[0] and len(lines) == 5
    for created in (interval, cron, oneshot, defaults):
        row = next(line for line in lines if line.startswith(created["id"]))
        assert f"{created['schedule_type']}  " in row and created["schedule_expr"] in row and "active" in row
        assert re.search(LOCAL_TIME, row), row  # next run shown in TIMEZONE


def test_show_pause_resume_delete(cli, langflow, db, settings):
    sync_now(db, settings)
    schedule = create_schedule(db, ECHO, "interval", "10m", flow_input='{"input": "ping"}')
    ran = insert_task(
        db,
        ECHO,
        "completed",
        schedule.anchor_at - timedelta(hours=1),
        schedule_id=schedule.id,
        output="pong",
        tries=1,
        seconds=2,
    )
    to_pause = create_schedule(db, ECHO, "cron", "*/5 * * * *").id
    to_delete = create_schedule(db, ECHO, "interval", "1h").id
    ran_before_delete = insert_task(db, ECHO, "failed", at_hour_ago(), schedule_id=to_delete, error="boom", tries=4)

    # Independent commands on three schedules, side by side; then what follows from them.
    shown_json, shown, paused, deleted = run_all(
        cli,
        ("schedules", "show", schedule.id, "--json"),
        ("schedules", "show", schedule.id),
        ("schedules", "pause", to_pause, "--json"),
        ("schedules", "delete", to_delete, "--json"),
    )
    resumed, gone, history = run_all(
        cli,
        ("schedules", "resume", to_pause),
        ("schedules", "show", to_delete),
        ("tasks", "show", ran_before_delete, "--json"),
    )

    data = ok_json(shown_json)
    assert set(data) >= SCHEDULE_KEYS and data["id"] == schedule.id and data["flow_params"]["input"] == "ping"
    assert_times_are_utc(data, SCHEDULE_TIMES)
    fires = [parse_utc(t) for t in data["next_fires"]]
    assert len(fires) == 5 and fires[0] == parse_utc(data["next_run_at"])
    assert [b - a for a, b in zip(fires, fires[1:], strict=False)] == [timedelta(minutes=10)] * 4
    assert data["recent_task_ids"] == [ran]

    lines = ok_lines(shown)
    shown_fields = fields(lines)
    assert shown_fields["id"] == schedule.id and shown_fields["flow"] == ECHO
    assert shown_fields["when"] == "every 10m" and shown_fields["status"] == "active"
    assert (shown_fields["max retries"], shown_fields["timeout"], shown_fields["missed runs"]) == (
        "3",
        "daemon default",
        "coalesce",
    )
    assert len(shown_fields["next fires"].split(", ")) == 5
    assert any(line.startswith("  ") and line.endswith(f"completed  task {ran}") for line in lines), lines

    paused = ok_json(paused)
    assert set(paused) >= SCHEDULE_KEYS and (paused["id"], paused["status"]) == (to_pause, "paused")
    resumed = ok_lines(resumed)
    assert len(resumed) == 1 and re.fullmatch(rf"Schedule {to_pause} resumed; next run {LOCAL_TIME}\.", resumed[0])
    after_resume = schedule_service.get_schedule(db, to_pause)
    assert after_resume.status is ScheduleStatus.ACTIVE and after_resume.next_run_at > datetime.now(UTC)

    assert ok_json(deleted) == {"id": to_delete, "deleted": True}
    assert_one_line_error(gone, 2, contains=f'Unknown schedule id "{to_delete}"')
    kept = ok_json(history)  # its run history stays, without the schedule
    assert (kept["id"], kept["status"], kept["schedule_id"]) == (ran_before_delete, "failed", None)
    assert {row[0] for row in table_rows(db, "schedules")} == {schedule.id, to_pause}


def test_update_changes_what_is_given_and_nothing_else(cli, langflow, db, settings):
    sync_now(db, settings)
    schedule = create_schedule(db, ECHO, "interval", "5m", flow_input='{"input": "ping"}', max_retries=2)
    other = create_schedule(db, ECHO, "interval", "1h")

    def other_row() -> list[tuple]:
        return [row for row in table_rows(db, "schedules") if row[0] == other.id]

    untouched = other_row()

    retimed = ok_json(
        cli(
            "schedules",
            "update",
            schedule.id,
            "--type",
            "cron",
            "--expr",
            "0 9 * * 1-5",
            "--timezone",
            "America/New_York",
            "--max-retries",
            "5",
            "--json",
        )
    )
    assert (retimed["schedule_type"], retimed["schedule_expr"], retimed["timezone"]) == (
        "cron",
        "0 9 * * 1-5",
        "America/New_York",
    )
    in_new_york = parse_utc(retimed["next_run_at"]).astimezone(ZoneInfo("America/New_York"))
    assert (in_new_york.hour, in_new_york.minute) == (9, 0) and in_new_york.isoweekday() <= 5
    assert retimed["max_retries"] == 5 and retimed["flow_params"]["input"] == "ping"  # input left as it was

    lines = ok_lines(cli("schedules", "update", schedule.id, "--missed", "skip", "--input", '{"input": "pong"}'))
    assert (
        len(lines) == 1
        and lines[0].startswith(f"Updated schedule {schedule.id}: ")
        and ", active; next run " in lines[0]
    )
    stored = schedule_service.get_schedule(db, schedule.id)
    assert (stored.missed_policy.value, stored.flow_params["input"], stored.max_retries) == ("skip", "pong", 5)
    assert stored.next_run_at == parse_utc(retimed["next_run_at"])  # timing unchanged: not restarted

    nothing = cli("schedules", "update", schedule.id)
    assert_one_line_error(nothing, 2, contains="Nothing to change: give at least one of --type")
    assert other_row() == untouched


def test_pause_all_and_resume_all(cli, langflow, db, settings):
    sync_now(db, settings)
    choose_two_out_output(db)
    echo_ids = [create_schedule(db, ECHO, "interval", "5m").id, create_schedule(db, ECHO, "cron", "*/15 * * * *").id]
    two_out_id = create_schedule(db, TWO_OUT, "interval", "1h").id

    assert ok_lines(cli("schedules", "pause-all")) == ["Paused 3 schedules."]
    assert {schedule_service.get_schedule(db, s).status for s in echo_ids + [two_out_id]} == {ScheduleStatus.PAUSED}

    with db.write() as session:  # TwoOut has gone from LangFlow since: its schedule cannot resume
        session.get(Flow, TWO_OUT).removed_at = datetime.now(UTC)
    resumed = ok_lines(cli("schedules", "resume-all"))
    assert resumed == [
        "Resumed 2 schedules.",
        f'- not resumed: Flow "{flow_names(langflow)[TWO_OUT]}" is no longer in LangFlow: sync flows, or schedule another flow.',
    ]
    still_paused = ok_json(cli("schedules", "list", "--status", "paused", "--json"))
    assert [s["id"] for s in still_paused] == [two_out_id]
    for schedule_id in echo_ids:
        schedule = schedule_service.get_schedule(db, schedule_id)
        assert schedule.status is ScheduleStatus.ACTIVE and schedule.next_run_at > datetime.now(UTC)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # preview never opens the database
def test_preview_across_berlin_dst_creates_nothing(cli, db, settings, tmp_path):
    create_schedule_rows = table_rows(db, "schedules")
    unused_db = tmp_path / "never" / "created.db"

    def preview(*args):
        return ("schedules", "preview", *args)

    spring, autumn, hourly, interval, text, oneshot, passed, new_york, no_database = run_all(
        cli,
        preview(
            "--type",
            "cron",
            "--expr",
            "30 2 * * *",
            "--timezone",
            "Europe/Berlin",
            "--after",
            "2026-03-27T12:00",
            "--count",
            "4",
            "--json",
        ),
        preview("--type", "cron", "--expr", "30 2 * * *", "--after", "2026-10-24T12:00", "--count", "3", "--json"),
        preview("--type", "cron", "--expr", "0 * * * *", "--after", "2026-10-25T01:30+02:00", "--count", "3", "--json"),
        preview("--type", "interval", "--expr", "1h", "--after", "2026-03-29T01:00", "--count", "3", "--json"),
        preview("--type", "cron", "--expr", "30 2 * * *", "--after", "2026-03-28T12:00", "--count", "2"),
        preview(
            "--type", "oneshot", "--expr", "2026-10-25T02:30", "--after", "2026-10-01T00:00Z", "--count", "3", "--json"
        ),
        preview("--type", "oneshot", "--expr", "2026-01-01T00:00", "--after", "2026-06-01T00:00", "--count", "2"),
        preview(
            "--type",
            "cron",
            "--expr",
            "0 12 * * *",
            "--timezone",
            "America/New_York",
            "--after",
            "2026-03-07T13:00",
            "--count",
            "2",
            "--json",
        ),
        (
            preview("--type", "interval", "--expr", "5m", "--after", "2026-01-01T00:00Z", "--count", "2", "--json"),
            {"DATABASE_URL": f"sqlite:///{unused_db}"},
        ),
    )
    # 02:30 does not exist on 29 March: that day fires when the clocks jump (03:00 CEST = 01:00Z).
    assert ok_json(spring) == [
        "2026-03-28T01:30:00+00:00",
        "2026-03-29T01:00:00+00:00",
        "2026-03-30T00:30:00+00:00",
        "2026-03-31T00:30:00+00:00",
    ]
    # 02:30 happens twice on 25 October: a daily job runs once, at the first (CEST) one. Zone from TIMEZONE.
    assert ok_json(autumn) == ["2026-10-25T00:30:00+00:00", "2026-10-26T01:30:00+00:00", "2026-10-27T01:30:00+00:00"]
    # An hourly job runs in both 02:00s of the repeated hour.
    assert ok_json(hourly) == ["2026-10-25T00:00:00+00:00", "2026-10-25T01:00:00+00:00", "2026-10-25T02:00:00+00:00"]
    # An interval is elapsed time: 1h apart in UTC across the jump (--after read in TIMEZONE: 01:00 CET).
    assert ok_json(interval) == ["2026-03-29T01:00:00+00:00", "2026-03-29T02:00:00+00:00", "2026-03-29T03:00:00+00:00"]
    lines = ok_lines(text)
    assert "(Europe/Berlin)" in lines[0]
    assert lines[1:] == [
        "  2026-03-29 03:00:00 CEST   (2026-03-29T01:00:00+00:00)",
        "  2026-03-30 02:30:00 CEST   (2026-03-30T00:30:00+00:00)",
    ]
    assert ok_json(oneshot) == ["2026-10-25T00:30:00+00:00"]  # a repeated wall time means its first occurrence
    assert ok_lines(passed)[-1] == "  (no fire after that time)"
    # --after without offset is read in --timezone; New York moves to EDT on 8 March.
    assert ok_json(new_york) == ["2026-03-08T16:00:00+00:00", "2026-03-09T16:00:00+00:00"]
    assert ok_json(no_database) == ["2026-01-01T00:05:00+00:00", "2026-01-01T00:10:00+00:00"]

    assert not unused_db.exists() and not unused_db.parent.exists()
    assert table_rows(db, "schedules") == create_schedule_rows == []


def at_hour_ago() -> datetime:
    return datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)


def _create(*options: str, flow_id: str = ECHO) -> tuple[str, ...]:
    return ("schedules", "create", *options, flow_id)


#: Refused while parsing, before any database session is opened: (command, words of the message).
PARSE_ERRORS = {
    "invalid interval": (_create("--type", "interval", "--expr", "5x"), 'Invalid interval "5x"'),
    "invalid cron": (_create("--type", "cron", "--expr", "61 * * * *"), 'Invalid cron expression "61 * * * *"'),
    "backward cron range": (
        _create("--type", "cron", "--expr", "0 0 * * FRI-MON"),
        'the day of week range "FRI-MON" runs backwards',
    ),
    "invalid date": (_create("--type", "oneshot", "--expr", "2026-13-45"), 'Invalid time "2026-13-45"'),
    "time the clocks skip": (
        _create("--type", "oneshot", "--expr", "2027-03-28T02:30"),
        "does not exist in Europe/Berlin",
    ),
    "oneshot in the past": (_create("--type", "oneshot", "--expr", "2020-01-01T00:00"), "is in the past"),
    "malformed JSON": (_create("--type", "interval", "--expr", "5m", "--input", '{"input": '), "not valid JSON"),
    "unknown input key": (
        _create("--type", "interval", "--expr", "5m", "--input", '{"text": "hi"}'),
        'Unknown key "text" in the input',
    ),
    "unknown timezone": (
        _create("--type", "cron", "--expr", "@daily", "--timezone", "Mars/Olympus"),
        'Unknown timezone "Mars/Olympus"',
    ),
    "unknown type": (_create("--type", "weekly", "--expr", "5m"), 'Unknown schedule type "weekly"'),
    "unknown missed policy": (
        _create("--type", "interval", "--expr", "5m", "--missed", "sometimes"),
        'Unknown missed-run policy "sometimes": use coalesce, skip or all.',
    ),
    "retries not a number": (
        _create("--type", "interval", "--expr", "5m", "--max-retries", "abc"),
        "argument --max-retries: invalid int value: 'abc'",
    ),
    "zero timeout": (
        _create("--type", "interval", "--expr", "5m", "--timeout", "0"),
        "timeout must be from 1 to 86400, not 0.",
    ),
    "preview: bad --after": (
        ("schedules", "preview", "--type", "cron", "--expr", "@daily", "--after", "tomorrow"),
        '--after: Invalid time "tomorrow": it is not an ISO 8601 time',
    ),
}

#: Refused by what the database holds (an id naming nothing, a flow not ready).
LOOKUP_ERRORS = {
    "unknown flow id": (
        _create("--type", "interval", "--expr", "5m", flow_id="no-such-flow"),
        'Unknown flow id "no-such-flow"',
    ),
    "flow without chosen components": (
        _create("--type", "interval", "--expr", "5m", flow_id=TWO_OUT),
        "has no output component chosen yet",
    ),
    "show unknown schedule": (("schedules", "show", "no-such-schedule"), 'Unknown schedule id "no-such-schedule"'),
    "pause unknown schedule": (
        ("schedules", "pause", "no-such-schedule", "--json"),
        'Unknown schedule id "no-such-schedule"',
    ),
    "delete unknown schedule": (("schedules", "delete", "no-such-schedule"), 'Unknown schedule id "no-such-schedule"'),
    "update unknown schedule": (
        ("schedules", "update", "no-such-schedule", "--max-retries", "1"),
        'Unknown schedule id "no-such-schedule"',
    ),
}


def check_refusals(cli, db, settings, subtests, cases: dict, extra: dict | None = None) -> None:
    """Run every case side by side; each must be refused with exit 2 and leave the tables as they were."""
    sync_now(db, settings)
    existing = create_schedule(db, ECHO, "interval", "5m")  # so "unchanged" is not just "still empty"
    insert_task(db, ECHO, "failed", existing.anchor_at, schedule_id=existing.id, error="boom", tries=4)
    before = {table: table_rows(db, table) for table in ("schedules", "tasks", "flows")}

    commands = [args for args, _ in cases.values()] + [(args, env) for args, _, env in (extra or {}).values()]
    messages = [message for _, message in cases.values()] + [message for _, message, _ in (extra or {}).values()]
    for name, result, message in zip([*cases, *(extra or {})], run_all(cli, *commands), messages, strict=False):
        with subtests.test(case=name):
            assert_one_line_error(result, 2, contains=message)

    assert {table: table_rows(db, table) for table in before} == before


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # refused before any session: backend-free
def test_refused_input_while_parsing(cli, db, settings, subtests):
    bad_zone = (
        _create("--type", "interval", "--expr", "5m"),
        "TIMEZONE='Mars/Olympus' is not a known time zone",
        {"TIMEZONE": "Mars/Olympus"},
    )
    check_refusals(cli, db, settings, subtests, PARSE_ERRORS, {"unknown TIMEZONE setting": bad_zone})


def test_refused_ids_and_flows_not_ready(cli, db, settings, subtests):
    check_refusals(cli, db, settings, subtests, LOOKUP_ERRORS)
