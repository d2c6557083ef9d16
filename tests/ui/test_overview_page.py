"""Overview: LangFlow and daemon status, counts, the runs chart, next fires, last failures, cost."""

from __future__ import annotations

from datetime import timedelta

from automagik.clock import utcnow
from automagik.db.models import TaskStatus
from automagik.services import charts
from automagik.services import schedules as schedule_service
from tests.services.helpers import ECHO_ID, TWO_OUT_ID
from tests.ui.conftest import ZONE
from tests.ui.helpers import ECHO_NAME, TWO_OUT_NAME, add_task, alerts, beat, ready_flows, vega_charts


def _table(at, column: str):
    """The dataframe that has `column` (the overview shows several)."""
    return next(df.value for df in at.dataframe if any(c.startswith(column) for c in df.value.columns))


def test_populated_overview(open_page, db, langflow):
    ready_flows(db, langflow)
    schedule_service.create_schedule(
        db, schedule_service.ScheduleSpec(flow_id=ECHO_ID, schedule_type="interval", schedule_expr="1m")
    )
    schedule_service.create_schedule(
        db, schedule_service.ScheduleSpec(flow_id=TWO_OUT_ID, schedule_type="cron", schedule_expr="0 9 * * *")
    )
    now = utcnow()
    for minutes in (5, 65, 125):
        add_task(db, planned=now - timedelta(minutes=minutes))
    add_task(
        db,
        flow_id=TWO_OUT_ID,
        status=TaskStatus.FAILED,
        planned=now - timedelta(minutes=30),
        error="HTTP 500: the flow raised",
        output=None,
        tries=4,
    )
    add_task(db, status=TaskStatus.COMPLETED, planned=now - timedelta(days=3))  # outside the 24 h
    beat(db, now)

    at = open_page()
    metrics = {m.label: m.value for m in at.metric}
    assert metrics == {
        "Flows": "2",
        "Active schedules": "2",
        "Runs, last 24 h": "4",
        "Failed, last 24 h": "1",
        # No run reported usage: its cost is unknown, not $0.
        "Today (Europe/Berlin)": "-",
        "Last 30 days": "-",
        "Tokens, last 30 days": "0",
    }
    assert any("1 daemon alive" in s for s in alerts(at, "success"))
    assert any(s == f"LangFlow 1.13.0 at {langflow.url} is ready." for s in alerts(at, "success"))
    fires = _table(at, "when")
    assert len(fires) == 10
    # The interval fires every minute; the daily cron adds at most one fire to the next ten.
    assert (fires["flow"] == ECHO_NAME).sum() >= 9
    assert all(w.endswith(("CET", "CEST")) for w in fires.iloc[:, 0])
    failures = _table(at, "planned")
    assert list(failures["flow"]) == [TWO_OUT_NAME]
    assert list(failures["reason"]) == ["HTTP 500: the flow raised"]
    assert list(failures["tries"]) == [4]
    assert len(vega_charts(at)) == 1


def test_langflow_down_says_why_and_which_variable_to_set(open_page, langflow):
    langflow.stop()
    at = open_page(allow_errors=True)
    errors = alerts(at, "error")
    assert len(errors) == 1 and errors[0].startswith("Not reachable:")
    assert any("LANGFLOW_API_URL" in info for info in alerts(at, "info"))


def test_missing_api_key_is_pointed_out(open_page, monkeypatch):
    monkeypatch.delenv("LANGFLOW_API_KEY")
    at = open_page()
    assert any("LANGFLOW_API_KEY is not set" in info for info in alerts(at, "info"))


def test_a_silent_daemon_is_reported_stale_with_how_to_start_one(open_page, db):
    beat(db, utcnow() - timedelta(minutes=2))
    at = open_page()
    warning = next(w for w in alerts(at, "warning") if "daemon" in w)
    assert "stopped sending heartbeats at" in warning and "scheduler_daemon.py" in warning
    assert list(_table(at, "state")["state"]) == ["stale"]


def test_a_daemon_that_stopped_cleanly_is_reported_stopped(open_page, db):
    beat(db, utcnow() - timedelta(minutes=2), stopped=True)
    at = open_page()
    warning = next(w for w in alerts(at, "warning") if "daemon" in w)
    assert warning.startswith("No daemon is running: the last one stopped at")


def test_the_cost_panel_today_over_30_days_and_by_flow(open_page, db, langflow):
    ready_flows(db, langflow)
    now = utcnow()
    midnight = charts.bucket_start(now, charts.Bucket.DAY, ZONE)  # today began then, whenever the test runs
    add_task(db, planned=midnight, tokens=(1000, 500), model="gpt-4o-mini", cost=0.5)
    add_task(db, flow_id=TWO_OUT_ID, planned=now - timedelta(days=3), tokens=(3000, 1000), model="gpt-4o", cost=2.0)
    add_task(db, flow_id=TWO_OUT_ID, planned=midnight, tokens=(12, 30), model="llama3:8b", cost=None)
    add_task(db, planned=now - timedelta(days=40), tokens=(10, 10), model="gpt-4o-mini", cost=100.0)  # too old
    add_task(db, planned=now - timedelta(minutes=5))  # no usage reported

    at = open_page()
    metrics = {m.label: m.value for m in at.metric}
    assert (metrics[f"Today ({ZONE})"], metrics["Last 30 days"], metrics["Tokens, last 30 days"]) == (
        "$0.50",
        "$2.50",
        "5,542",
    )
    assert any(
        w.startswith("1 run of the last 30 days (1 today) reported tokens of a model without a known price")
        for w in alerts(at, "warning")
    )
    top = _table(at, "cost, last 30 days")
    assert list(top["flow"]) == [TWO_OUT_NAME, ECHO_NAME]
    assert list(top["cost, last 30 days"]) == ["$2.00", "$0.50"]
    assert list(top["tokens"]) == ["4,042", "1,500"]
    assert list(top["cost unknown"]) == [1, 0]


def test_without_usage_the_cost_panel_says_so(open_page, db, langflow):
    ready_flows(db, langflow)
    add_task(db, planned=utcnow() - timedelta(minutes=5))
    at = open_page()
    assert any(i.startswith("No run of the last 30 days reported token usage") for i in alerts(at, "info"))
    assert not any("without a known price" in w for w in alerts(at, "warning"))


def test_open_incidents_are_shown_first(open_page, db):
    from automagik.monitoring.incidents import Kind, clear_incidents, open_ids, open_incident

    with db.write() as session:
        open_incident(session, db.dialect, Kind.DAEMON_STALE, "far:7", "daemon far:7 has sent no heartbeat", utcnow())
        open_incident(
            session, db.dialect, Kind.FAILURE_STREAK, "s1", "schedule s1 has failed 3 times in a row", utcnow()
        )
        clear_incidents(session, Kind.FAILURE_STREAK, [open_ids(session, Kind.FAILURE_STREAK)["s1"]], utcnow())
    at = open_page("overview")
    warnings = alerts(at, "warning")
    assert warnings[0].startswith("Incident since ") and warnings[0].endswith(": daemon far:7 has sent no heartbeat.")
    assert not any("failed 3 times" in w for w in warnings)  # cleared: not shown
