"""Builders and readers shared by the dashboard tests."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pandas as pd
import pyarrow as pa
from streamlit.testing.v1 import AppTest

from automagik.clock import utcnow
from automagik.daemon import heartbeat
from automagik.db.models import LogLevel, Task, TaskLog, TaskStatus
from automagik.services import flows as flow_service
from tests.services.helpers import ECHO_ID, TWO_OUT_ID, synced

ECHO_NAME, TWO_OUT_NAME = "Echo 30f7", "TwoOut 1a87"  # as the LangFlow test server names them
_ESCAPE = re.compile(r"\\(.)")


def unescape(text: str) -> str:
    """What a Markdown-escaped message reads as on the page (pages.common.plain, undone)."""
    return _ESCAPE.sub(r"\1", text).replace("\u2060", "")


def page_errors(at: AppTest) -> list[str]:
    return [unescape(e.value) for e in at.error]


def alerts(at: AppTest, kind: str) -> list[str]:
    return [unescape(e.value) for e in getattr(at, kind)]


def nodes(block):
    for child in getattr(block, "children", {}).values():
        yield child
        yield from nodes(child)


def page_text(at: AppTest) -> str:
    """Everything the page shows as text, tables and widget labels included (protos, as text)."""
    parts = []
    for node in nodes(at._tree):
        proto = getattr(node, "proto", None)
        if proto is not None:
            parts.append(str(proto))
        if getattr(node, "type", None) == "dataframe":
            parts.append(node.value.to_string())
    return unescape("\n".join(parts))


def vega_charts(at: AppTest) -> list:
    return [node for node in nodes(at._tree) if getattr(node, "type", None) == "vega_lite_chart"]


def chart_data(chart) -> pd.DataFrame:
    """The rows a vega_lite_chart was given (its dataset, sent as Arrow)."""
    return pa.ipc.open_stream(chart.proto.datasets[0].data.data).read_pandas()


def ready_flows(db, langflow) -> None:
    """Sync the test server's two flows and choose TwoOut's components (Echo selects itself)."""
    synced(db, langflow)
    flow_service.set_components(db, TWO_OUT_ID, "ChatInput-tw001", "ChatOutput-tw002")


def add_task(
    db,
    flow_id: str = ECHO_ID,
    status: TaskStatus = TaskStatus.COMPLETED,
    planned: datetime | None = None,
    *,
    seconds: float = 1.5,
    schedule_id: str | None = None,
    text: str = "hello",
    output: str | None = "hello back",
    error: str | None = None,
    tries: int = 1,
    logs: tuple[str, ...] = ("try 1 of 4: sent to LangFlow",),
    tokens: tuple[int, int] | None = None,
    model: str | None = None,
    cost: float | None = None,
) -> str:
    """A run as a daemon leaves it; `tokens` (in, out) with `model` and `cost` is the usage its
    answer reported (cost None: the model's price is unknown)."""
    planned = planned or utcnow() - timedelta(minutes=5)
    finished = status in (TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.SKIPPED)
    with db.write() as session:
        task = Task(
            flow_id=flow_id,
            schedule_id=schedule_id,
            status=status,
            input_data={"input": text, "tweaks": {}},
            result={"text": output} if status is TaskStatus.COMPLETED else None,
            error=error,
            tries=tries,
            max_retries=3,
            scheduled_for=planned,
            created_at=planned,
            started_at=planned if status not in (TaskStatus.PENDING, TaskStatus.SKIPPED) else None,  # never ran
            finished_at=planned + timedelta(seconds=seconds) if finished else None,
            updated_at=planned,
        )
        if tokens is not None:
            task.input_tokens, task.output_tokens, task.total_tokens = tokens[0], tokens[1], sum(tokens)
            task.model, task.cost_usd = model, cost
        session.add(task)
        session.flush()
        for line in logs:
            session.add(TaskLog(task_id=task.id, level=LogLevel.INFO, message=line, created_at=planned))
        return task.id


def beat(db, seen: datetime, *, stopped: bool = False, name: str = "box:1") -> None:
    """A heartbeat row, as a daemon last seen at `seen` leaves it."""
    me = heartbeat.DaemonIdentity(id=name, host="box", pid=4242, version="0.1.0", workers=8, started_at=seen)
    heartbeat.beat(db, me, seen, in_flight=1)
    if stopped:
        heartbeat.mark_stopped(db, me, seen)
