"""Inputs with placeholders on the CLI: refused when they cannot be filled (exit 2, one line,
nothing written) at create, update and run now; filled for a run now; shown by `schedules
preview --input` as the next fire would send them, and by `schedules show` as stored; listed in
the --input help."""

from __future__ import annotations

import json

from sqlalchemy import select

from automagik.db.models import Task
from tests.cli.conftest import (
    ECHO,
    assert_one_line_error,
    create_schedule,
    fields,
    flow_names,
    ok_json,
    ok_lines,
    run_all,
    sync_now,
    table_rows,
)

DIGEST = '{"input": "Digest of {{ fire_date }} at {{ fire_time }} for {{ flow_name }} ({{ task_id }})"}'
BAD = [
    ('{"input": "{{ fire_day }}"}', "Unknown placeholder {{ fire_day }} in the input: use one of"),
    ('{"input": "x", "tweaks": {"C-1": {"f": "{{ fire_date.year }}"}}}', "Unknown placeholder {{ fire_date.year }}"),
    ('{"input": "{{ fire_date"}', "The input has a '{{' that is not a placeholder"),
    ('{"input": "{{ upstream_output }}"}', "{{ upstream_output }} is filled only for a schedule of type after"),
]


def test_bad_placeholders_are_refused_at_create_update_and_run_now_writing_nothing(cli, db, settings):
    sync_now(db, settings)
    schedule = create_schedule(db, expr="5m", flow_input={"input": "kept {{ fire_date }}"})
    before = {table: table_rows(db, table) for table in ("schedules", "tasks")}
    commands = []
    for raw, _ in BAD:
        commands += [
            ("schedules", "create", "--type", "cron", "--expr", "@daily", "--input", raw, ECHO),
            ("schedules", "update", schedule.id, "--input", raw, "--expr", "10m"),
            ("flows", "run", ECHO, "--input", raw),
        ]
    results = run_all(cli, *commands)
    for index, result in enumerate(results):
        assert_one_line_error(result, 2, contains=BAD[index // 3][1])
    assert {table: table_rows(db, table) for table in ("schedules", "tasks")} == before


def test_run_now_fills_the_input_and_shows_what_was_sent(cli, db, settings, langflow):
    sync_now(db, settings)
    task = ok_json(cli("flows", "run", ECHO, "--input", DIGEST, "--json"))
    sent = task["input_data"]["input"]
    name = flow_names(langflow)[ECHO]
    assert sent.startswith("Digest of 20") and f"for {name} ({task['id']})" in sent
    assert "{{" not in sent and sent.split(" at ")[1][19:25] in ("+01:00", "+02:00")  # TIMEZONE is Berlin
    with db.read() as session:
        assert session.scalars(select(Task.input_data)).one() == task["input_data"]


def test_preview_shows_what_the_next_fire_would_send(cli, db, settings, langflow):
    sync_now(db, settings)
    name = flow_names(langflow)[ECHO]
    # 07:00 in Berlin after the night the clocks go forward (29 March 2026) is 05:00 UTC.
    timing = ("--type", "cron", "--expr", "0 7 * * *", "--timezone", "Europe/Berlin", "--after", "2026-03-28T12:00")
    text, as_json, refused = run_all(
        cli,
        (
            "schedules",
            "preview",
            *timing,
            "--count",
            "2",
            "--flow-id",
            ECHO,
            "--input",
            json.dumps(
                {
                    "input": "Digest of {{ fire_date }}\nschedule {{ schedule_id }}",
                    "tweaks": {"C-1": {"at": "{{ fire_time }}", "n": 3}},
                }
            ),
        ),
        ("schedules", "preview", *timing, "--count", "1", "--input", DIGEST, "--json"),
        ("schedules", "preview", *timing, "--input", '{"input": "{{ nope }}"}'),
    )
    lines = ok_lines(text)
    start = lines.index("The fire at 2026-03-29 07:00:00 CEST would send:")
    assert lines[start + 1 :] == [
        "  Digest of 2026-03-29",
        "  schedule (new schedule id)",
        '  tweaks: {"C-1": {"at": "2026-03-29T07:00:00+02:00", "n": 3}}',
    ]
    assert ok_json(as_json) == {
        "fires": ["2026-03-29T05:00:00+00:00"],
        "next_input": {
            "input": "Digest of 2026-03-29 at 2026-03-29T07:00:00+02:00 for (flow name) ((new task id))",
            "tweaks": {},
        },
    }
    assert name not in as_json.stdout  # no --flow-id: the name is a stand-in
    assert_one_line_error(refused, 2, contains="Unknown placeholder {{ nope }}")


def test_show_prints_the_template_as_stored_and_help_lists_the_placeholders(cli, db, settings):
    sync_now(db, settings)
    schedule = create_schedule(db, flow_input=json.loads(DIGEST))
    shown, create_help, run_help = run_all(
        cli, ("schedules", "show", schedule.id), ("schedules", "create", "--help"), ("flows", "run", "--help")
    )
    assert json.loads(fields(ok_lines(shown))["input"]) == {"input": json.loads(DIGEST)["input"], "tweaks": {}}
    for result in (create_help, run_help):
        flat = " ".join(ok_lines(result))
        flat = " ".join(flat.split())
        for name in ("fire_time", "fire_date", "schedule_id", "task_id", "flow_name"):
            assert f"{{{{ {name} }}}}" in flat, (name, flat)
        assert "\\{{ for literal braces" in flat
    assert "{{ upstream_output }} on a schedule of type after" in " ".join(" ".join(ok_lines(create_help)).split())
