"""`tasks list | show | retry | export`: filters, limit, newest first, log lines, retrying only
failed runs, and the CSV export with the same filters.

Runs are made both ways: queued with `flows run` (pending) and inserted through the ORM in the
states only a daemon produces (completed, failed, skipped), at fixed times in January 2025
(CET, UTC+1), so the --since/--until cases are exact.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from automagik.db.models import Task
from automagik.services import tasks as task_service
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
)
from tests.langflow_server import LLMUsage
from tests.services.helpers import run_due_tasks

UTC = UTC
TASK_KEYS = {
    "id",
    "flow_id",
    "schedule_id",
    "status",
    "input_data",
    "result",
    "error",
    "tries",
    "max_retries",
    "timeout_seconds",
    "scheduled_for",
    "next_retry_at",
    "claimed_by",
    "lease_until",
    "created_at",
    "started_at",
    "finished_at",
    "updated_at",
    "duration_seconds",
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "model",
    "cost_usd",
}
TASK_TIMES = ("scheduled_for", "next_retry_at", "lease_until", "created_at", "started_at", "finished_at", "updated_at")
CSV_COLUMNS = [
    "id",
    "flow_id",
    "flow_name",
    "schedule_id",
    "status",
    "scheduled_for",
    "started_at",
    "finished_at",
    "duration_seconds",
    "tries",
    "input",
    "output",
    "error",
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "model",
    "cost_usd",
    "trigger",
    "flow_updated_at",
    "backfill_id",
    "upstream_task_id",
    "started_by",
]
FAILURE = "LangFlow at http://127.0.0.1:1 failed while running flow (HTTP 500): boom."


def at(day: int, hour: int = 8) -> datetime:
    return datetime(2025, 1, day, hour, tzinfo=UTC)


@dataclass
class History:
    schedule: str
    skipped: str
    done: str
    failed: str
    two: str
    names: dict[str, str]


@pytest.fixture
def history(db, settings, langflow) -> History:
    sync_now(db, settings)
    choose_two_out_output(db)
    schedule = create_schedule(db, ECHO, "interval", "1h").id
    return History(
        schedule=schedule,
        skipped=insert_task(
            db,
            ECHO,
            "skipped",
            at(9),
            schedule_id=schedule,
            logs=[("warning", "skipped: the previous run was still going")],
        ),
        done=insert_task(
            db,
            ECHO,
            "completed",
            at(10),
            schedule_id=schedule,
            input_text="hello",
            output="hello back",
            tries=1,
            seconds=2.5,
            logs=[("info", "claimed by daemon-1"), ("info", "answered in 2.5 s")],
        ),
        failed=insert_task(
            db,
            ECHO,
            "failed",
            at(11),
            schedule_id=schedule,
            error=FAILURE,
            tries=4,
            seconds=1,
            logs=[("warning", "try 1 failed: HTTP 500"), ("error", "failed for good after 4 tries")],
        ),
        # A manual run of TwoOut whose input and output look like spreadsheet formulas.
        two=insert_task(db, TWO_OUT, "completed", at(12), input_text="-x", output="=1+1", tries=1, seconds=0.5),
        names=flow_names(langflow),
    )


def ids(result) -> list[str]:
    return [task["id"] for task in ok_json(result)]


def test_list_filters_limit_and_newest_first(cli, history):
    h = history
    queued = ok_json(cli("flows", "run", ECHO, "--input", '{"input": "now please"}', "--json"))["id"]

    everything, table, completed_or_skipped, of_two_out, of_schedule, since, until, first_page = run_all(
        cli,
        ("tasks", "list", "--json"),
        ("tasks", "list"),
        ("tasks", "list", "--status", "completed,skipped", "--json"),
        ("tasks", "list", "--flow-id", TWO_OUT, "--json"),
        ("tasks", "list", "--schedule-id", h.schedule, "--json"),
        ("tasks", "list", "--since", "2025-01-10T09:00+01:00", "--json"),  # = 08:00Z, inclusive
        ("tasks", "list", "--until", "2025-01-11", "--json"),  # midnight in TIMEZONE = 10 Jan 23:00Z
        ("tasks", "list", "--limit", "2", "--json"),
    )
    rows = ok_json(everything)
    assert [t["id"] for t in rows] == [queued, h.two, h.failed, h.done, h.skipped]  # newest planned time first
    for row in rows:
        assert set(row) >= TASK_KEYS and row["flow_name"] == h.names[row["flow_id"]]
        assert_times_are_utc(row, TASK_TIMES)
    now_row, two_row, failed_row, done_row, _ = rows
    assert (now_row["status"], now_row["schedule_id"], now_row["input_data"]) == (
        "pending",
        None,
        {"input": "now please", "tweaks": {}},
    )
    assert (done_row["status"], done_row["schedule_id"], done_row["tries"]) == ("completed", h.schedule, 1)
    assert done_row["scheduled_for"] == "2025-01-10T08:00:00+00:00"
    assert done_row["started_at"] == "2025-01-10T08:00:01+00:00"
    assert done_row["result"]["text"] == "hello back" and done_row["duration_seconds"] == 2.5
    assert (failed_row["status"], failed_row["error"], failed_row["tries"]) == ("failed", FAILURE, 4)
    assert two_row["schedule_id"] is None

    lines = ok_lines(table)
    assert lines[0].split()[:3] == ["ID", "FLOW", "STATUS"] and "PLANNED (Europe/Berlin)" in lines[0]
    assert [line.split()[0] for line in lines[1:]] == [t["id"] for t in rows]
    done_line = next(line for line in lines if line.startswith(h.done))
    assert "2025-01-10 09:00:00 CET" in done_line and "2.5 s" in done_line and done_line.endswith("hello back")
    assert "LangFlow at http://127.0.0.1:1 failed" in next(line for line in lines if line.startswith(h.failed))

    assert ids(completed_or_skipped) == [h.two, h.done, h.skipped]
    assert ids(of_two_out) == [h.two]
    assert ids(of_schedule) == [h.failed, h.done, h.skipped]
    assert ids(since) == [queued, h.two, h.failed, h.done]
    assert ids(until) == [h.done, h.skipped]
    assert ids(first_page) == [queued, h.two]


def test_list_returns_the_50_newest_by_default(cli, db, settings, langflow):
    sync_now(db, settings)
    inserted = [insert_task(db, ECHO, "completed", at(1) + timedelta(minutes=n), output=str(n)) for n in range(60)]
    assert ids(cli("tasks", "list", "--json")) == inserted[::-1][:50]


def test_list_offset_reads_any_page_by_keyset_with_the_filters(cli, db, settings, langflow):
    """--offset reads from any depth (found by keyset from the nearer end); ties in planned
    time keep the id order; past the end is an empty list; a negative offset is refused."""
    sync_now(db, settings)
    choose_two_out_output(db)
    inserted = [
        insert_task(db, TWO_OUT if n % 3 == 0 else ECHO, "completed", at(1) + timedelta(minutes=n // 2), output=str(n))
        for n in range(21)
    ]
    with db.read() as session:
        keys = {t.id: (t.scheduled_for, t.id) for t in session.scalars(select(Task))}
    newest_first = sorted(inserted, key=lambda i: keys[i], reverse=True)
    of_echo = [i for i in newest_first if inserted.index(i) % 3]
    middle, last, past, echo_deep, negative = run_all(
        cli,
        ("tasks", "list", "--limit", "4", "--offset", "8", "--json"),
        ("tasks", "list", "--limit", "4", "--offset", "19", "--json"),
        ("tasks", "list", "--limit", "4", "--offset", "21", "--json"),
        ("tasks", "list", "--flow-id", ECHO, "--limit", "3", "--offset", "10", "--json"),
        ("tasks", "list", "--offset", "-1"),
    )
    assert ids(middle) == newest_first[8:12]
    assert ids(last) == newest_first[19:21]
    assert ids(past) == []
    assert ids(echo_deep) == of_echo[10:13]
    assert_one_line_error(negative, contains="offset must be from 0")


def test_show_and_retry(cli, db, history):
    h = history
    pending = task_service.run_flow_now(db, ECHO, '{"input": "later"}').id
    done_text, failed_json, retry_done, retry_pending, retry_unknown, show_unknown = run_all(
        cli,
        ("tasks", "show", h.done),
        ("tasks", "show", h.failed, "--json"),
        ("tasks", "retry", h.done),
        ("tasks", "retry", pending, "--json"),
        ("tasks", "retry", "no-such-task"),
        ("tasks", "show", "no-such-task", "--json"),
    )
    lines = ok_lines(done_text)
    shown = fields(lines[: lines.index("log:")])
    assert shown["id"] == h.done and shown["status"] == "completed" and shown["schedule"] == h.schedule
    assert shown["flow"] == f"{h.names[ECHO]} ({ECHO})"
    assert (shown["planned"], shown["finished"]) == ("2025-01-10 09:00:00 CET", "2025-01-10 09:00:03 CET")
    assert shown["tries"] == "1 (retries allowed: 3)" and shown["next retry"] == "-"
    assert (shown["input"], shown["output"], shown["error"]) == ("hello", "hello back", "-")
    assert lines[lines.index("log:") + 1 :] == [
        "  2025-01-10 09:00:01 CET  info     claimed by daemon-1",
        "  2025-01-10 09:00:02 CET  info     answered in 2.5 s",
    ]

    failed = ok_json(failed_json)
    assert set(failed) >= TASK_KEYS and (failed["status"], failed["error"]) == ("failed", FAILURE)
    assert_times_are_utc(failed, TASK_TIMES)
    assert [(line["level"], line["message"]) for line in failed["logs"]] == [
        ("warning", "try 1 failed: HTTP 500"),
        ("error", "failed for good after 4 tries"),
    ]
    assert [parse_utc(line["created_at"]) for line in failed["logs"]] == [
        at(11) + timedelta(seconds=1 + n) for n in range(2)
    ]

    assert_one_line_error(retry_done, 2, contains=f"Task {h.done} is completed: only a failed task can be retried.")
    assert_one_line_error(retry_pending, 2, contains=f"Task {pending} is pending: only a failed task can be retried.")
    assert_one_line_error(retry_unknown, 2, contains='Unknown task id "no-such-task"')
    assert_one_line_error(show_unknown, 2, contains='Unknown task id "no-such-task"')

    retried = ok_json(cli("tasks", "retry", h.failed, "--json"))
    assert (retried["id"], retried["status"], retried["tries"], retried["finished_at"]) == (
        h.failed,
        "pending",
        4,
        None,
    )
    assert retried["max_retries"] >= 4  # room for one more try
    assert task_service.get_task(db, h.failed).logs[-1].message == "retry requested by the user"
    assert_one_line_error(cli("tasks", "retry", h.failed), 2, contains=f"Task {h.failed} is pending")


def read_csv(path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == CSV_COLUMNS
    return [dict(zip(CSV_COLUMNS, row, strict=True)) for row in rows[1:]]


def test_export_csv_with_filters(cli, tmp_path, history):
    h = history
    files = {name: tmp_path / f"{name}.csv" for name in ("all", "completed", "window", "refused")}
    everything, completed, window, bad_status, unwritable = run_all(
        cli,
        ("tasks", "export", "--output", str(files["all"])),
        (
            "tasks",
            "export",
            "--status",
            "completed",
            "--flow-id",
            ECHO,
            "--schedule-id",
            h.schedule,
            "--output",
            str(files["completed"]),
        ),
        # In TIMEZONE (CET): exactly the planned times of the failed run (inclusive) and of TwoOut's (exclusive).
        (
            "tasks",
            "export",
            "--since",
            "2025-01-11T09:00",
            "--until",
            "2025-01-12T09:00",
            "--output",
            str(files["window"]),
        ),
        ("tasks", "export", "--status", "nope", "--output", str(files["refused"])),
        ("tasks", "export", "--output", str(tmp_path / "missing" / "x.csv")),
    )
    assert ok_lines(everything) == [f"Wrote 4 runs to {files['all']}."]
    rows = read_csv(files["all"])
    assert [r["id"] for r in rows] == [h.two, h.failed, h.done, h.skipped]
    by_id = {r["id"]: r for r in rows}
    assert by_id[h.done] == {
        "id": h.done,
        "flow_id": ECHO,
        "flow_name": h.names[ECHO],
        "schedule_id": h.schedule,
        "status": "completed",
        "scheduled_for": "2025-01-10T08:00:00+00:00",
        "started_at": "2025-01-10T08:00:01+00:00",
        "finished_at": "2025-01-10T08:00:03.500000+00:00",
        "duration_seconds": "2.5",
        "tries": "1",
        "input": "hello",
        "output": "hello back",
        "error": "",
        # LangFlow reported no usage: empty cells, not zeros.
        "input_tokens": "",
        "output_tokens": "",
        "total_tokens": "",
        "model": "",
        "cost_usd": "",
        "trigger": "schedule",
        "flow_updated_at": "",
        "backfill_id": "",
        "upstream_task_id": "",
        "started_by": "",
    }
    assert (by_id[h.failed]["status"], by_id[h.failed]["error"], by_id[h.failed]["tries"]) == ("failed", FAILURE, "4")
    assert by_id[h.skipped]["started_at"] == "" and by_id[h.skipped]["duration_seconds"] == ""
    # A manual run has no schedule; cells that a spreadsheet would run as formulas are kept as text.
    assert (by_id[h.two]["schedule_id"], by_id[h.two]["input"], by_id[h.two]["output"]) == ("", "'-x", "'=1+1")
    for row in rows:
        for name in ("scheduled_for", "started_at", "finished_at"):
            if row[name]:
                parse_utc(row[name])

    assert ok_lines(completed) == [f"Wrote 1 run to {files['completed']}."]
    assert [r["id"] for r in read_csv(files["completed"])] == [h.done]
    ok_lines(window)
    assert [r["id"] for r in read_csv(files["window"])] == [h.failed]

    assert_one_line_error(bad_status, 2, contains='Unknown task status "nope"')
    assert not files["refused"].exists()
    assert_one_line_error(unwritable, 2, contains=f"Cannot write {tmp_path / 'missing' / 'x.csv'}")


def test_an_unknown_flow_or_schedule_id_in_the_filters_is_an_error_not_an_empty_list(cli, tmp_path, history):
    refused_csv = tmp_path / "refused.csv"
    unknown_flow, unknown_schedule, unknown_export, known_but_empty = run_all(
        cli,
        ("tasks", "list", "--flow-id", "no-such-flow"),
        ("tasks", "list", "--schedule-id", "no-such-schedule", "--json"),
        ("tasks", "export", "--flow-id", "no-such-flow", "--output", str(refused_csv)),
        ("tasks", "list", "--flow-id", ECHO, "--status", "running", "--json"),
    )
    assert_one_line_error(unknown_flow, 2, contains='Unknown flow id "no-such-flow"')
    assert_one_line_error(unknown_schedule, 2, contains='Unknown schedule id "no-such-schedule"')
    assert_one_line_error(unknown_export, 2, contains='Unknown flow id "no-such-flow"')
    assert not refused_csv.exists()
    assert ok_json(known_but_empty) == []  # a real flow with no such runs is simply empty


def column(lines: list[str], name: str, row_start: str) -> str:
    """The cell of a `tasks list` table's column `name` in the row starting with `row_start`
    (columns are aligned under their headers, which are two spaces apart or more)."""
    starts = [m.start() for m in re.finditer(r"\S+(?: \S+)*", lines[0])] + [None]
    at = starts.index(lines[0].index(name))
    return next(line for line in lines if line.startswith(row_start))[starts[at] : starts[at + 1]].strip()


def test_tokens_and_cost_of_real_runs_in_list_show_json_and_csv(cli, db, settings, langflow, tmp_path):
    """Runs made by the daemon's runner against the test server, whose answers report usage."""
    priced_flow = langflow.add_flow(
        "Summary",
        inputs=["ChatInput-s1"],
        outputs=["ChatOutput-s2"],
        others=["FakeLLM-u2"],
        edges=[("ChatInput-s1", "FakeLLM-u2"), ("FakeLLM-u2", "ChatOutput-s2")],
        llm=LLMUsage(model="gpt-4o-mini", input_tokens=1200, output_tokens=300),
    )
    local_flow = langflow.add_flow("Local", others=["FakeLLM-u2"], llm=LLMUsage(model="llama3:8b"))  # no price known
    sync_now(db, settings)
    no_usage = insert_task(db, ECHO, "completed", at(10), output="hello back", tries=1, seconds=1)
    priced = task_service.run_flow_now(db, priced_flow, '{"input": "the news"}').id
    unpriced = task_service.run_flow_now(db, local_flow, '{"input": "x"}').id
    assert [r.status.value for r in run_due_tasks(db, langflow)] == ["completed", "completed"]

    csv_file = tmp_path / "runs.csv"
    table, listed, shown_priced, shown_unpriced, priced_json, exported = run_all(
        cli,
        ("tasks", "list"),
        ("tasks", "list", "--json"),
        ("tasks", "show", priced),
        ("tasks", "show", unpriced),
        ("tasks", "show", priced, "--json"),
        ("tasks", "export", "--output", str(csv_file)),
    )

    lines = ok_lines(table)
    assert (column(lines, "TOKENS", priced), column(lines, "COST", priced)) == ("1,500", "$0.00036")
    assert (column(lines, "TOKENS", unpriced), column(lines, "COST", unpriced)) == ("42", "-")
    assert (column(lines, "TOKENS", no_usage), column(lines, "COST", no_usage)) == ("-", "-")

    usage = {
        row["id"]: tuple(row[k] for k in ("input_tokens", "output_tokens", "total_tokens", "model", "cost_usd"))
        for row in ok_json(listed)
    }
    assert usage[priced] == (1200, 300, 1500, "gpt-4o-mini", pytest.approx(0.00036))
    assert usage[unpriced] == (12, 30, 42, "llama3:8b", None)
    assert usage[no_usage] == (None, None, None, None, None)
    detail = ok_json(priced_json)
    assert (detail["total_tokens"], detail["model"], detail["cost_usd"]) == (
        1500,
        "gpt-4o-mini",
        pytest.approx(0.00036),
    )

    lines = ok_lines(shown_priced)
    shown = fields(lines[: lines.index("log:")])
    assert [shown[k] for k in ("tokens in", "tokens out", "tokens total", "model", "cost")] == [
        "1,200",
        "300",
        "1,500",
        "gpt-4o-mini",
        "$0.00036",
    ]
    lines = ok_lines(shown_unpriced)
    shown = fields(lines[: lines.index("log:")])
    assert (shown["tokens total"], shown["model"]) == ("42", "llama3:8b")
    assert shown["cost"] == "- (no price for its model: the log says why)"
    assert shown["queued by"] == "manual" and shown["flow version"].startswith("LangFlow's updated_at ")
    assert any('no price known for model "llama3:8b"' in line for line in lines[lines.index("log:") :])

    assert ok_lines(exported) == [f"Wrote 3 runs to {csv_file}."]
    rows = {row["id"]: row for row in read_csv(csv_file)}
    cells = {
        task_id: [row[k] for k in ("input_tokens", "output_tokens", "total_tokens", "model", "cost_usd")]
        for task_id, row in rows.items()
    }
    assert cells[priced][:4] == ["1200", "300", "1500", "gpt-4o-mini"] and float(cells[priced][4]) == pytest.approx(
        0.00036
    )
    assert cells[unpriced] == ["12", "30", "42", "llama3:8b", ""]
    assert cells[no_usage] == ["", "", "", "", ""]
    assert rows[priced]["trigger"] == "manual" and rows[priced]["flow_updated_at"].endswith("+00:00")
