"""Chains from the CLI: `schedules create FLOW_B --type after --expr FLOW_A [--on ...]`, how
they are listed and shown, the runs they start in `tasks show` / --json / export, and every
bad input refused with one line, exit 2, nothing written."""

from __future__ import annotations

import csv
import json

import pytest

from automagik.clock import utcnow
from automagik.db.models import LogLevel
from automagik.runs.leases import claim_tasks, record_attempts
from automagik.runs.outcomes import Attempt
from automagik.services import tasks as task_service
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


@pytest.fixture
def flows(db, settings, langflow):
    """Echo and Digest, synced: (digest id, Echo's name, Digest's name)."""
    digest = langflow.add_flow("Digest")
    sync_now(db, settings)
    names = flow_names(langflow)
    return digest, names[ECHO], names[digest]


def test_create_list_show_and_update_an_after_schedule(cli, db, flows):
    digest, echo_name, _ = flows
    created = ok_json(
        cli(
            "schedules",
            "create",
            digest,
            "--type",
            "after",
            "--expr",
            ECHO,
            "--on",
            "failed",
            "--input",
            '{"input": "Echo said: {{ upstream_output }}"}',
            "--json",
        )
    )
    assert (created["schedule_type"], created["schedule_expr"], created["after_outcome"]) == ("after", ECHO, "failed")
    assert created["next_run_at"] is None and created["status"] == "active"
    listed, shown, text_list = run_all(
        cli, ("schedules", "list", "--json"), ("schedules", "show", created["id"]), ("schedules", "list")
    )
    [row] = ok_json(listed)
    assert (row["when"], row["upstream_flow_name"]) == (f"after {echo_name} fails", echo_name)
    shown_fields = fields(ok_lines(shown))
    assert shown_fields["when"] == f"after {echo_name} fails"
    assert shown_fields["next fires"] == "none of its own: started by the runs it follows"
    assert f"after {echo_name} fails" in ok_lines(text_list)[1]
    updated = ok_lines(cli("schedules", "update", created["id"], "--on", "finished"))
    assert updated == [f"Updated schedule {created['id']}: after {echo_name} finishes, active."]
    paused, resumed = run_all(cli, ("schedules", "pause", created["id"]), ("schedules", "resume-all"))
    assert ok_lines(paused) == [f"Schedule {created['id']} paused."]
    text = ok_lines(cli("schedules", "resume", created["id"]))
    assert text == [f"Schedule {created['id']} resumed."]


def test_a_plain_create_defaults_to_completed_and_says_what_follows_what(cli, flows):
    digest, echo_name, _ = flows
    lines = ok_lines(cli("schedules", "create", digest, "--type", "after", "--expr", ECHO))
    assert len(lines) == 1 and lines[0].endswith(f": after {echo_name} completes.")


def _fields(result) -> dict[str, str]:
    lines = ok_lines(result)
    return fields(lines[: lines.index("log:")])


def _finish_echo_run(db, text: str) -> str:
    task = task_service.run_flow_now(db, ECHO, {"input": text})
    claim_tasks(db, "d1", utcnow(), 10, 60)
    record_attempts(db, "d1", [Attempt(task.id, [(LogLevel.INFO, "ran", utcnow())], result={"text": text})], utcnow())
    return task.id


def test_a_chains_run_says_which_run_started_it_everywhere(cli, db, flows, tmp_path):
    digest, echo_name, digest_name = flows
    create_schedule(db, digest, "after", ECHO, flow_input='{"input": "{{ upstream_output }}!"}')
    upstream = _finish_echo_run(db, "the news")
    [chained] = task_service.list_tasks(db, task_service.TaskFilter(flow_id=digest))
    chained_id = chained.task.id
    export = tmp_path / "runs.csv"
    shown, shown_json, upstream_shown, upstream_json, listed, exported = run_all(
        cli,
        ("tasks", "show", chained_id),
        ("tasks", "show", chained_id, "--json"),
        ("tasks", "show", upstream),
        ("tasks", "show", upstream, "--json"),
        ("tasks", "list", "--json"),
        ("tasks", "export", "--output", str(export)),
    )
    started_by = f"started by run {upstream[:8]} of {echo_name}"
    shown_fields = _fields(shown)
    assert shown_fields["chain"] == f"{started_by} (task {upstream})"
    assert shown_fields["queued by"] == "chain" and shown_fields["input"] == "the news!"
    detail = ok_json(shown_json)
    assert (detail["upstream_task_id"], detail["started_by"], detail["trigger"]) == (upstream, started_by, "chain")
    assert (
        _fields(upstream_shown)["runs started"] == f"run {chained_id[:8]} of {digest_name} (pending): task {chained_id}"
    )
    assert ok_json(upstream_json)["started_runs"] == [{"id": chained_id, "flow_name": digest_name, "status": "pending"}]
    by_id = {row["id"]: row for row in ok_json(listed)}
    assert by_id[chained_id]["started_by"] == started_by and by_id[upstream]["started_by"] is None
    ok_lines(exported)
    rows = {row["id"]: row for row in csv.DictReader(export.open(encoding="utf-8"))}
    assert (rows[chained_id]["upstream_task_id"], rows[chained_id]["started_by"]) == (upstream, started_by)
    assert (rows[upstream]["upstream_task_id"], rows[upstream]["started_by"]) == ("", "")


def test_bad_chain_input_is_refused_with_one_line_and_nothing_written(cli, db, flows):
    digest, echo_name, digest_name = flows
    echo_after_digest = create_schedule(db, ECHO, "after", digest)  # Digest -> Echo
    cron = create_schedule(db, digest, "cron", "0 9 * * *")
    before = table_rows(db, "schedules")
    cases = [
        (
            ("schedules", "create", digest, "--type", "after", "--expr", "no-such-flow"),
            'Unknown upstream flow id "no-such-flow"',
        ),
        (("schedules", "create", digest, "--type", "after", "--expr", " "), "needs --expr"),
        (
            ("schedules", "create", digest, "--type", "interval", "--expr", "5m", "--on", "failed"),
            "--on is only for a schedule of type after",
        ),
        (
            ("schedules", "create", digest, "--type", "after", "--expr", ECHO, "--on", "sometimes"),
            'Unknown outcome "sometimes" for --on',
        ),
        (("schedules", "create", digest, "--type", "after", "--expr", digest), "cannot run after itself"),
        (
            ("schedules", "create", digest, "--type", "after", "--expr", ECHO),
            f"That would make a loop of chains ({echo_name} -> {digest_name} -> {echo_name})",
        ),
        (
            (
                "schedules",
                "create",
                digest,
                "--type",
                "after",
                "--expr",
                ECHO,
                "--input",
                '{"input": "{{ upstream }}"}',
            ),
            "Unknown placeholder {{ upstream }}",
        ),
        (("schedules", "update", cron.id, "--on", "failed"), "--on is only for a schedule of type after"),
        (("schedules", "update", cron.id, "--type", "after", "--expr", ECHO), "That would make a loop of chains"),
        (("schedules", "update", echo_after_digest.id, "--on", "never"), 'Unknown outcome "never"'),
        (("schedules", "update", echo_after_digest.id, "--expr", ECHO), "cannot run after itself"),
        (("schedules", "preview", "--type", "after", "--expr", ECHO), "has no times to preview"),
    ]
    results = run_all(cli, *(args for args, _ in cases))
    for (_args, message), result in zip(cases, results, strict=True):
        assert_one_line_error(result, contains=message)
    assert table_rows(db, "schedules") == before


def test_the_upstream_output_placeholder_is_only_for_chains(cli, db, flows):
    digest, _, _ = flows
    result = cli(
        "schedules",
        "create",
        digest,
        "--type",
        "after",
        "--expr",
        ECHO,
        "--input",
        json.dumps({"input": "{{ upstream_output }} on {{ fire_date }}"}),
        "--json",
    )
    assert ok_json(result)["flow_params"]["input"] == "{{ upstream_output }} on {{ fire_date }}"
