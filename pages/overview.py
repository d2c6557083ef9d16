"""Overview: is everything up (LangFlow, daemons), how much is there, what runs next, what failed,
what runs cost.

The page body is one fragment that reruns every AUTOMAGIK_DASHBOARD_REFRESH_SECONDS; the cost
panel, a second one, at most once a minute, from sums computed at most once a minute for every
session together.
"""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import streamlit as st

from automagik.clock import utcnow
from automagik.costfmt import format_tokens, format_usd
from automagik.monitoring.incidents import list_open
from automagik.plural import agree, counted
from automagik.scheduling import describe
from automagik.services import charts, overview
from automagik.services.context import AppContext
from automagik.services.daemons import DaemonState, summarize_daemons
from automagik.services.serialize import output_text
from automagik.services.tasks import TaskFilter
from pages import chart_views, common, frame

frame.ensure()  # before anything renders: see pages/frame.py

# A health check waits up to the connect timeout; one per 15 s is plenty for a status light.
LANGFLOW_CHECK_SECONDS = 15
# The cost panel sums a month of runs: at most once a minute, like the Tasks page's charts, and
# once for every session (1,000,000 runs in 60 days: 0.17 s on PostgreSQL, 0.33 s on SQLite).
COST_REFRESH_SECONDS = 60


@st.cache_data(ttl=LANGFLOW_CHECK_SECONDS, show_spinner=False)
def _langflow_status(_context: AppContext, url: str) -> overview.LangFlowStatus:
    return overview.langflow_status(_context)


@st.cache_data(ttl=COST_REFRESH_SECONDS, show_spinner=False)
def _cost_summary(_context: AppContext, database_url: str, zone: str) -> overview.CostSummary:
    return overview.cost_summary(_context.db, zone)


def langflow_panel(context: AppContext) -> None:
    st.subheader("LangFlow")
    status = _langflow_status(context, context.settings.langflow_api_url)
    if status.reachable and status.ready:
        common.alert("success", status.message)  # "LangFlow 1.13.0 at http://... is ready."
    elif status.reachable:
        common.alert("warning", status.message)
    else:
        common.alert("error", f"Not reachable: {status.message}")
    if status.hint:
        common.alert("info", status.hint)


def daemons_panel(context: AppContext, now) -> None:
    st.subheader("Daemons")
    summary = summarize_daemons(context.db, now, common.options().heartbeat_seconds, describe_time=common.when)
    common.alert("success" if summary.alive else "warning", summary.message)
    shown = [
        d for d in summary.daemons if d.state is not DaemonState.STOPPED or d.stopped_at > now - timedelta(hours=1)
    ]
    if shown:
        st.dataframe(
            pd.DataFrame(
                {
                    "state": [d.state.value for d in shown],
                    "host": [d.host for d in shown],
                    "pid": [d.pid for d in shown],
                    "runs in flight": [f"{d.in_flight} / {d.workers}" for d in shown],
                    f"last seen ({common.zone()})": [common.when(d.last_seen) for d in shown],
                    "version": [d.version for d in shown],
                }
            ),
            hide_index=True,
        )


def counts_panel(context: AppContext, now) -> None:
    counts = overview.overview_counts(context.db, now)
    columns = st.columns(4)
    columns[0].metric("Flows", counts.flows, help="Flows in LangFlow (removed ones not counted).")
    columns[1].metric("Active schedules", counts.active_schedules)
    columns[2].metric("Runs, last 24 h", counts.runs)
    columns[3].metric("Failed, last 24 h", counts.runs_by_status.get("failed", 0))
    by_status = ", ".join(f"{n} {status}" for status, n in sorted(counts.runs_by_status.items())) or "none"
    st.caption(f"Last 24 h by status: {by_status}.")
    if counts.flows_needing_components:
        needing = counts.flows_needing_components
        st.caption(
            f"{counted(needing, 'flow')} {agree(needing, 'needs its', 'need their')} components chosen on the "
            "Flows page."
        )


def runs_per_hour(context: AppContext, now) -> None:
    st.subheader("Runs per hour, last 24 h")
    since = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=23)
    counts = charts.runs_over_time(context.db, TaskFilter(since=since), charts.Bucket.HOUR, common.zone())
    if not counts:
        st.info("No runs in the last 24 hours.")
        return
    axis = charts.bucket_span(since, now, charts.Bucket.HOUR, common.zone())
    st.altair_chart(chart_views.runs_chart(counts, charts.Bucket.HOUR, common.zone(), axis))


def next_fires_panel(context: AppContext, now) -> None:
    st.subheader("Next 10 fires")
    fires = overview.next_fires(context.db, 10, now)
    if not fires:
        st.info("Nothing scheduled: create a schedule on the Schedules page.")
        return
    st.dataframe(
        pd.DataFrame(
            {
                f"when ({common.zone()})": [common.when(f.at) + (" (overdue)" if f.overdue else "") for f in fires],
                "flow": [f.flow_name for f in fires],
                "schedule": [describe(f.schedule_type, f.schedule_expr, f.timezone) for f in fires],
                "schedule id": [f.schedule_id for f in fires],
            }
        ),
        hide_index=True,
    )


def failures_panel(context: AppContext) -> None:
    st.subheader("Last 10 failures")
    failures = overview.recent_failures(context.db, 10)
    if not failures:
        st.info("No failed runs.")
        return
    st.dataframe(
        pd.DataFrame(
            {
                f"planned ({common.zone()})": [common.when(r.task.scheduled_for) for r in failures],
                "flow": [r.flow_name for r in failures],
                "reason": [r.task.error or output_text(r.task) or "" for r in failures],
                "tries": [r.task.tries for r in failures],
                "task id": [r.task.id for r in failures],
            }
        ),
        hide_index=True,
    )


def cost_panel() -> None:
    context = common.context()
    st.subheader("Cost")
    summary = _cost_summary(context, context.settings.database_url, common.zone())
    columns = st.columns(3)
    columns[0].metric(
        f"Today ({common.zone()})",
        format_usd(summary.today.cost_usd),
        help="Runs that finished since midnight, whose cost is known (what daily budgets count).",
    )
    columns[1].metric(f"Last {summary.window_days} days", format_usd(summary.window.cost_usd))
    columns[2].metric(f"Tokens, last {summary.window_days} days", format_tokens(summary.window.total_tokens))
    if summary.unpriced_note:
        common.alert("warning", summary.unpriced_note)
    if summary.top_flows:
        st.dataframe(
            pd.DataFrame(
                {
                    "flow": [f.flow_name for f in summary.top_flows],
                    f"cost, last {summary.window_days} days": [format_usd(f.usage.cost_usd) for f in summary.top_flows],
                    "tokens": [format_tokens(f.usage.total_tokens) for f in summary.top_flows],
                    "runs with usage": [f.usage.runs for f in summary.top_flows],
                    "cost unknown": [f.usage.unpriced for f in summary.top_flows],
                }
            ),
            hide_index=True,
        )
    else:
        st.info(
            f"No run of the last {summary.window_days} days reported token usage (LangFlow reports it for "
            "flows whose LLM components do)."
        )
    st.caption(f"Runs count on the day they finished, as for daily budgets; as of {common.when(summary.as_of)}.")


def incidents_panel(context: AppContext) -> None:
    """Open incidents first: a daemon gone silent, fires overdue, a failure streak."""
    for incident in list_open(context.db):
        common.alert("warning", f"Incident since {common.when(incident.opened_at)}: {incident.message}.")


def render() -> None:
    context, now = common.context(), utcnow()
    incidents_panel(context)
    left, right = st.columns(2)
    with left:
        langflow_panel(context)
    with right:
        daemons_panel(context, now)
    counts_panel(context, now)
    runs_per_hour(context, now)
    left, right = st.columns(2)
    with left:
        next_fires_panel(context, now)
    with right:
        failures_panel(context)
    st.caption(f"Updated {common.when(now)}.")


st.title("Overview")
every = common.refresh_every()
st.fragment(render, run_every=every)()
st.divider()
st.fragment(cost_panel, run_every=None if every is None else max(every, COST_REFRESH_SECONDS))()
