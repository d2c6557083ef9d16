"""The Tasks page's charts, a fragment of their own below the runs: runs over time, duration
percentiles, success per flow, and tokens and cost per day, over the filters' range (capped
to the last charts.MAX_CHART_SPAN). A module of the Tasks page, not a page itself."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import streamlit as st

from automagik.clock import utcnow
from automagik.costfmt import PRICE_HINT
from automagik.plural import word_for
from automagik.services import charts
from automagik.services.context import AppContext
from automagik.services.tasks import TaskFilter
from pages import chart_views, common

# Whole-range aggregates: refreshed at most this often, whatever the dashboard's pace.
CHARTS_REFRESH_SECONDS = 60


def charts_section(filters_at: Callable[[datetime], TaskFilter]) -> None:
    """The charts of the runs that `filters_at(now)` matches, over their range (capped)."""
    context, now = common.context(), utcnow()
    filters = filters_at(now)
    span = charts.chart_range(context.db, filters, now)
    if span is None:
        return
    zone, unit = common.zone(), charts.pick_bucket(span.since, span.until)
    axis = charts.bucket_span(span.since, span.until, unit, zone)
    filters = span.narrow(filters)
    every = common.refresh_every()
    st.caption(
        f"Charts as of {common.when(now)}"
        + (f", refreshed every {max(every, CHARTS_REFRESH_SECONDS):g} s." if every else ".")
        + (
            f" They show the last {charts.MAX_CHART_SPAN.days} days of the range (from "
            f"{common.when(span.since, seconds=False)}); the table and the CSV cover all of it."
            if span.capped
            else ""
        )
    )
    runs, durations, success, usage = st.tabs(
        ["Runs over time", "Duration", "Success rate per flow", "Tokens and cost per day"]
    )
    with runs:
        counts = charts.runs_over_time(context.db, filters, unit, zone)
        changes = charts.flow_changes(context.db, filters, span.since, span.until)
        st.altair_chart(chart_views.runs_chart(counts, unit, zone, axis, changes=changes))
        if changes:
            st.caption("Dashed lines: a flow changed in LangFlow (the runs before and after ran different versions).")
    with durations:
        sample = charts.duration_sample(context.db, filters)
        stats = charts.duration_percentiles(sample, unit, zone)
        if stats:
            st.altair_chart(chart_views.duration_chart(stats, unit, zone, axis))
            st.caption(
                f"Median (p50) and 95th percentile per {unit.value}, from the newest {len(sample):,} finished "
                f"{word_for(len(sample), 'run')} that match (at most {charts.DURATION_SAMPLE:,} are sampled)."
            )
        else:
            st.info("No finished runs match.")
    with success:
        rows = [r for r in charts.success_by_flow(context.db, filters) if r.rate is not None]
        if rows:
            st.altair_chart(chart_views.success_chart(rows))
            st.caption("Completed ÷ (completed + failed), whatever the status filter says.")
        else:
            st.info("No finished runs match.")
    with usage:
        usage_charts(context, filters, span, zone)


def usage_charts(context: AppContext, filters: TaskFilter, span: charts.ChartRange, zone: str) -> None:
    rows = charts.usage_per_day(context.db, filters, zone)
    if not rows:
        st.info("No run that matches reported token usage (LangFlow reports it for flows whose LLM components do).")
        return
    days = charts.bucket_span(span.since, span.until, charts.Bucket.DAY, zone)
    if any(r.usage.cost_usd is not None for r in rows):
        st.altair_chart(chart_views.cost_chart(rows, zone, days))
    else:
        st.info("No run that matches has a known cost: their models have no price.")
    st.altair_chart(chart_views.tokens_chart(rows, zone, days))
    unpriced = sum(r.usage.unpriced for r in rows)
    st.caption(
        f"Per day from midnight in {zone}, by planned time, of the runs that match and reported tokens."
        + (
            f" {unpriced:,} of them used a model without a known price: their cost is left out ({PRICE_HINT})."
            if unpriced
            else ""
        )
    )
