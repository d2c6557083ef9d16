"""Tokens and cost summed in SQL: per planned day and flow (the Tasks page's charts) and the
overview's cost today, over 30 days and by flow, counting runs when they finished (as daily
budgets do). Days begin at midnight in the display zone; runs that reported no usage are left
out; a cost that is unknown is left out of the sums, counted, and never reads as 0.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from automagik.costs import budgets
from automagik.services import charts, overview
from automagik.services.tasks import TaskFilter
from automagik.services.usage import UsageTotals
from tests.langflow_server import LLMUsage
from tests.services.helpers import ECHO_ID, TWO_OUT_ID
from tests.ui.helpers import ECHO_NAME, TWO_OUT_NAME, add_task, ready_flows

UTC = UTC
NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)  # 10:00 in Berlin
BERLIN = "Europe/Berlin"


def at(day: int, hour: int, minute: int = 0, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


@pytest.fixture
def runs(db, langflow):
    """Runs of three flows: priced, unpriced (a model without a price) and without usage."""
    local = langflow.add_flow("Local LLM", others=["FakeLLM-u2"], llm=LLMUsage(model="llama3:8b"))
    ready_flows(db, langflow)
    add_task(db, ECHO_ID, planned=at(27, 8), tokens=(1000, 200), model="gpt-4o-mini", cost=0.002)
    add_task(db, ECHO_ID, planned=at(26, 23, 30), tokens=(500, 100), model="gpt-4o-mini", cost=0.001)  # 00:30 in Berlin
    add_task(db, ECHO_ID, planned=at(26, 22, 30), tokens=(100, 50), model="gpt-4o-mini", cost=0.0005)  # 23:30 in Berlin
    add_task(db, ECHO_ID, planned=at(27, 8, 30))  # no usage reported: not counted anywhere
    add_task(db, ECHO_ID, planned=at(20, 10, month=10), tokens=(9999, 1), model="gpt-4o-mini", cost=5.0)  # > 30 days
    add_task(db, TWO_OUT_ID, planned=at(20, 12), tokens=(3000, 1000), model="gpt-4o", cost=0.0175)
    add_task(db, TWO_OUT_ID, planned=at(27, 7), tokens=(20, 22), model="llama3:8b", cost=None)
    add_task(db, local, planned=at(25, 10), tokens=(50_000, 50_000), model="llama3:8b", cost=None)
    return local


def _days(rows):
    return [
        (r.start, r.flow_name, r.usage.runs, r.usage.unpriced, r.usage.total_tokens, r.usage.cost_usd) for r in rows
    ]


def test_tokens_and_cost_per_day_and_flow_start_at_midnight_in_the_zone(db, runs):
    rows = charts.usage_per_day(db, TaskFilter(since=at(1, 0)), BERLIN)
    midnight = {day: at(day - 1, 23) for day in (20, 25, 26, 27)}  # CET is UTC+1
    assert _days(rows) == [
        (midnight[20], TWO_OUT_NAME, 1, 0, 4000, pytest.approx(0.0175)),
        (midnight[25], "Local LLM", 1, 1, 100_000, None),  # unknown, not $0
        (midnight[26], ECHO_NAME, 1, 0, 150, pytest.approx(0.0005)),
        (midnight[27], ECHO_NAME, 2, 0, 1800, pytest.approx(0.003)),  # 00:30 and 09:00 in Berlin
        (midnight[27], TWO_OUT_NAME, 1, 1, 42, None),
    ]
    echo_today = rows[3].usage
    assert (echo_today.input_tokens, echo_today.output_tokens) == (1500, 300)

    in_utc = charts.usage_per_day(db, TaskFilter(since=at(26, 0)), "UTC")
    assert [(r.start, r.flow_name, r.usage.runs, r.usage.cost_usd) for r in in_utc] == [
        (at(26, 0), ECHO_NAME, 2, pytest.approx(0.0015)),  # 22:30 and 23:30 UTC
        (at(27, 0), ECHO_NAME, 1, pytest.approx(0.002)),
        (at(27, 0), TWO_OUT_NAME, 1, None),
    ]


def test_the_filters_apply_to_the_usage_per_day(db, runs):
    only_two_out = charts.usage_per_day(db, TaskFilter(flow_id=TWO_OUT_ID), BERLIN)
    assert [(r.flow_name, r.usage.total_tokens) for r in only_two_out] == [(TWO_OUT_NAME, 4000), (TWO_OUT_NAME, 42)]
    assert charts.usage_per_day(db, TaskFilter(statuses=("failed",)), BERLIN) == []
    window = charts.usage_per_day(db, TaskFilter(since=at(26, 23), until=at(27, 7, 30)), BERLIN)
    assert [(r.flow_name, r.usage.runs) for r in window] == [(ECHO_NAME, 1), (TWO_OUT_NAME, 1)]


def test_cost_today_in_the_zone_over_30_days_and_the_top_flows(db, runs):
    summary = overview.cost_summary(db, BERLIN, NOW)
    # Today in Berlin began at 23:00 UTC: the runs at 23:30, 07:00 (no price) and 08:00 UTC.
    assert summary.today == UsageTotals(
        runs=3, unpriced=1, input_tokens=1520, output_tokens=322, total_tokens=1842, cost_usd=pytest.approx(0.003)
    )
    # The last 30 days leave out October's run; the runs without usage never count.
    assert (summary.window.runs, summary.window.unpriced, summary.window.total_tokens) == (6, 2, 105_992)
    assert summary.window.cost_usd == pytest.approx(0.0035 + 0.0175)
    # Most cost first; a flow whose cost is unknown comes after the priced ones, however many tokens.
    assert [(f.flow_name, f.usage.cost_usd) for f in summary.top_flows] == [
        (TWO_OUT_NAME, pytest.approx(0.0175)),
        (ECHO_NAME, pytest.approx(0.0035)),
        ("Local LLM", None),
    ]
    assert [f.flow_id for f in overview.cost_summary(db, BERLIN, NOW, top=2).top_flows] == [TWO_OUT_ID, ECHO_ID]
    assert summary.unpriced_note.startswith(
        "2 runs of the last 30 days (1 today) reported tokens of a model without a known price"
    )
    assert "AUTOMAGIK_PRICES_FILE" in summary.unpriced_note

    # In UTC, today began at 00:00 UTC: the 23:30 run was yesterday.
    assert overview.cost_summary(db, "UTC", NOW).today.cost_usd == pytest.approx(0.002)


def test_no_usage_is_an_unknown_cost_not_zero(db, langflow):
    ready_flows(db, langflow)
    add_task(db, ECHO_ID, planned=at(27, 8))
    summary = overview.cost_summary(db, BERLIN, NOW)
    assert summary.today.cost_usd is None and summary.window.cost_usd is None
    assert summary.window.runs == 0 and summary.top_flows == [] and summary.unpriced_note is None
    assert charts.usage_per_day(db, TaskFilter(), BERLIN) == []


def test_the_overview_counts_a_run_on_the_day_it_finished_as_the_budgets_do(db, langflow, runs):
    # Planned at 21:00 in Berlin on the 26th, retried until 01:00 on the 27th: today's money.
    add_task(db, TWO_OUT_ID, planned=at(26, 20), seconds=4 * 3600, tokens=(100, 100), model="gpt-4o", cost=0.25)
    summary = overview.cost_summary(db, BERLIN, NOW)
    assert summary.today.runs == 4 and summary.today.cost_usd == pytest.approx(0.003 + 0.25)
    with db.read() as session:
        spent = budgets.spent_today(session, [ECHO_ID, TWO_OUT_ID, runs], NOW, BERLIN)
    assert summary.today.cost_usd == pytest.approx(sum(spent.values()))  # what the Flows page and budgets see
    # The charts, like the Tasks page's other charts and filters, go by planned day.
    by_day = charts.usage_per_day(db, TaskFilter(flow_id=TWO_OUT_ID, since=at(26, 0)), BERLIN)
    assert [(r.start, r.usage.cost_usd) for r in by_day] == [(at(25, 23), pytest.approx(0.25)), (at(26, 23), None)]
