"""Run now, history listing with SQL filters and paging, detail with logs, retry, CSV export."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest

from automagik.db.models import LogLevel, Task, TaskStatus
from automagik.runs.states import log_row, write_logs
from automagik.services import tasks as svc
from automagik.services.errors import InvalidInput, NotFound
from automagik.services.export import CSV_COLUMNS, csv_file_name, export_tasks_csv, write_tasks_csv
from tests.services.helpers import ECHO_ID, TWO_OUT_ID, synced
from tests.ui.helpers import add_task

UTC = UTC
T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def history(db, langflow):
    """Synced flows and 30 runs: every 10 minutes from T0, statuses cycling, two flows."""
    synced(db, langflow)
    from automagik.services.flows import set_components

    set_components(db, TWO_OUT_ID, "ChatInput-tw001", "ChatOutput-tw004")
    cycle = [TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.COMPLETED, TaskStatus.SKIPPED, TaskStatus.PENDING]
    with db.write() as session:
        for n in range(30):
            at = T0 + timedelta(minutes=10 * n)
            status = cycle[n % len(cycle)]
            done = status in (TaskStatus.COMPLETED, TaskStatus.FAILED)
            session.add(
                Task(
                    id=f"00000000-0000-0000-0000-{n:012d}",
                    flow_id=ECHO_ID if n % 3 else TWO_OUT_ID,
                    status=status,
                    input_data={"input": f"msg {n}", "tweaks": {}},
                    result={"text": f"=out {n}", "session_id": "s"} if status is TaskStatus.COMPLETED else None,
                    error="LangFlow failed: boom" if status is TaskStatus.FAILED else None,
                    tries=1 if done else 0,
                    max_retries=0,
                    scheduled_for=at,
                    created_at=at,
                    updated_at=at,
                    started_at=at + timedelta(seconds=1) if done else None,
                    finished_at=at + timedelta(seconds=3.5) if done else None,
                )
            )
    return db


def test_run_now_creates_a_pending_task_with_a_log_line(db, langflow, frozen_clock):
    synced(db, langflow)
    task = svc.run_flow_now(db, ECHO_ID, '{"input": "hello", "tweaks": {"ChatOutput-acc02": {"x": 1}}}')
    detail = svc.get_task(db, task.id)
    assert detail.task.status is TaskStatus.PENDING and detail.task.schedule_id is None
    assert detail.task.input_data == {"input": "hello", "tweaks": {"ChatOutput-acc02": {"x": 1}}}
    assert detail.task.scheduled_for == frozen_clock.now == detail.task.next_retry_at
    assert [line.message for line in detail.logs] == ["queued by a manual run"]


def test_run_now_refuses_flows_that_cannot_run(db, langflow):
    synced(db, langflow)
    with pytest.raises(InvalidInput, match="no output component chosen"):
        svc.run_flow_now(db, TWO_OUT_ID, '{"input": "x"}')
    with pytest.raises(NotFound):
        svc.run_flow_now(db, "nope", None)
    assert svc.count_tasks(db) == 0


def test_list_is_newest_first_and_paged_in_sql(history):
    page1 = svc.list_tasks(history, limit=10)
    page2 = svc.list_tasks(history, limit=10, offset=10)
    times = [r.task.scheduled_for for r in page1 + page2]
    assert times == sorted(times, reverse=True) and len(set(times)) == 20
    assert page1[0].task.scheduled_for == T0 + timedelta(minutes=290)
    assert page1[0].flow_name in ("Echo 30f7", "TwoOut 1a87")
    assert svc.count_tasks(history) == 30


def test_filters_combine(history):
    failed = svc.TaskFilter(statuses=("failed",))
    assert svc.count_tasks(history, failed) == 6
    assert all(r.task.status is TaskStatus.FAILED for r in svc.list_tasks(history, failed))
    by_flow = svc.TaskFilter(flow_id=TWO_OUT_ID)
    assert svc.count_tasks(history, by_flow) == 10
    window = svc.TaskFilter(since=T0 + timedelta(minutes=100), until=T0 + timedelta(minutes=150))
    assert [r.task.scheduled_for.minute for r in svc.list_tasks(history, window)] == [20, 10, 0, 50, 40]
    both = svc.TaskFilter(statuses=("completed", "skipped"), flow_id=ECHO_ID)
    assert {r.task.status for r in svc.list_tasks(history, both, limit=100)} <= {
        TaskStatus.COMPLETED,
        TaskStatus.SKIPPED,
    }
    assert svc.count_by_status(history) == {"completed": 12, "failed": 6, "skipped": 6, "pending": 6}


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"statuses": ("done",)}, "Unknown task status"),
        ({"since": datetime(2026, 1, 1)}, "time zone"),
        ({"since": T0, "until": T0}, "empty"),
    ],
)
def test_bad_filters_are_refused(kwargs, message):
    with pytest.raises(InvalidInput, match=message):
        svc.TaskFilter(**kwargs)


def test_retry_puts_only_failed_tasks_back_to_pending(history, frozen_clock):
    failed_id = next(r.task.id for r in svc.list_tasks(history, svc.TaskFilter(statuses=("failed",))))
    task = svc.retry_task(history, failed_id)
    assert task.status is TaskStatus.PENDING and task.next_retry_at == frozen_clock.now
    assert task.max_retries >= task.tries  # the daemon allows one more attempt
    assert svc.get_task(history, failed_id).logs[-1].message == "retry requested by the user"
    completed_id = next(r.task.id for r in svc.list_tasks(history, svc.TaskFilter(statuses=("completed",))))
    with pytest.raises(InvalidInput, match="only a failed task"):
        svc.retry_task(history, completed_id)
    with pytest.raises(NotFound):
        svc.retry_task(history, "nope")


def test_task_detail_has_its_log_lines_in_order(history):
    task_id = svc.list_tasks(history, limit=1)[0].task.id
    with history.write() as session:
        for n in range(3):
            write_logs(session, [log_row(task_id, LogLevel.INFO, f"line {n}", svc.utcnow())])
    assert [line.message for line in svc.get_task(history, task_id).logs] == ["line 0", "line 1", "line 2"]


def test_csv_export_streams_every_matching_row_in_chunks(history, tmp_path):
    chunks = list(export_tasks_csv(history, svc.TaskFilter(flow_id=ECHO_ID), rows_per_chunk=7))
    assert len(chunks) >= 3  # produced lazily, chunk by chunk
    rows = list(csv.DictReader(io.StringIO("".join(chunks))))
    assert tuple(rows[0].keys()) == CSV_COLUMNS
    assert len(rows) == 20 and {r["flow_id"] for r in rows} == {ECHO_ID}
    assert rows[0]["scheduled_for"] > rows[-1]["scheduled_for"]
    completed = next(r for r in rows if r["status"] == "completed")
    assert completed["output"].startswith("'=out")  # a formula-looking output stays text in spreadsheets
    assert completed["duration_seconds"] == "2.5" and completed["started_at"].endswith("+00:00")

    path = tmp_path / "all.csv"
    assert write_tasks_csv(history, str(path)) == 30
    assert len(list(csv.DictReader(path.open(newline="")))) == 30


def test_export_chunks_never_skip_or_repeat_runs_planned_for_the_same_instant(db, langflow):
    synced(db, langflow)
    with db.write() as session:
        for n in range(7):
            session.add(
                Task(
                    id=f"10000000-0000-0000-0000-{n:012d}",
                    flow_id=ECHO_ID,
                    status=TaskStatus.PENDING,
                    input_data={},
                    tries=0,
                    max_retries=0,
                    scheduled_for=T0,
                    created_at=T0,
                    updated_at=T0,
                )
            )
    ids = [row.task.id for row in svc.iter_task_rows(db, svc.TaskFilter(), chunk_size=2)]
    assert sorted(ids) == [f"10000000-0000-0000-0000-{n:012d}" for n in range(7)] and len(ids) == len(set(ids))


def test_the_csv_carries_each_runs_tokens_model_and_cost(db, langflow):
    """The dashboard's download (export_tasks_csv) and the CLI's file share these columns."""
    synced(db, langflow)
    priced = add_task(db, ECHO_ID, planned=T0, tokens=(1200, 300), model="gpt-4o-mini", cost=0.00036)
    # A model name is LangFlow's text: one that looks like a formula stays text in a spreadsheet.
    unpriced = add_task(db, ECHO_ID, planned=T0 + timedelta(minutes=1), tokens=(12, 30), model="=cmd()", cost=None)
    plain = add_task(db, ECHO_ID, planned=T0 + timedelta(minutes=2))
    rows = {r["id"]: r for r in csv.DictReader(io.StringIO("".join(export_tasks_csv(db))))}
    usage = {
        task_id: [row[k] for k in ("input_tokens", "output_tokens", "total_tokens", "model", "cost_usd")]
        for task_id, row in rows.items()
    }
    assert usage == {
        priced: ["1200", "300", "1500", "gpt-4o-mini", "0.00036"],
        unpriced: ["12", "30", "42", "'=cmd()", ""],  # unknown cost: empty, never 0
        plain: ["", "", "", "", ""],
    }


def test_the_csv_file_name_is_the_minute_in_the_display_zone_with_the_zone_named():
    assert csv_file_name(datetime(2026, 3, 28, 13, 34, 56, tzinfo=UTC), "Europe/Berlin") == (
        "automagik-tasks-2026-03-28_1434_CET.csv"
    )
    assert csv_file_name(datetime(2026, 3, 29, 13, 34, 56, tzinfo=UTC), "Europe/Berlin") == (
        "automagik-tasks-2026-03-29_1534_CEST.csv"
    )
    # A zone without a letter abbreviation, on the previous local day.
    assert csv_file_name(datetime(2026, 7, 1, 0, 5, tzinfo=UTC), "America/Sao_Paulo") == (
        "automagik-tasks-2026-06-30_2105_-03.csv"
    )
