"""Altair charts of what automagik.services.charts computed. Not a page; the pages import it.

Vega-Lite shows times in the browser's zone unless told otherwise, and the dashboard promises
TIMEZONE. So each bucket is given to the chart as its wall-clock time in TIMEZONE (a naive
value) and the chart reads and labels it as UTC, which shows that wall time unchanged whatever
the browser's zone; the axis title names the zone and tooltips carry the full, zoned time.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Literal
from zoneinfo import ZoneInfo

import altair as alt
import pandas as pd

from automagik.costfmt import format_token_counts, format_usd
from automagik.services.charts import Bucket, DurationStats, FlowChange, FlowSuccess, FlowUsage, RunCount
from automagik.timefmt import format_local
from pages.common import STATUS_COLOURS

# Vega-Lite time units in UTC (see the module docstring), and how the axis labels read.
UtcTimeUnit = Literal["utcyearmonthdatehoursminutes", "utcyearmonthdatehours", "utcyearmonthdate"]
_TIME_UNIT: dict[Bucket, UtcTimeUnit] = {
    Bucket.MINUTE: "utcyearmonthdatehoursminutes",
    Bucket.HOUR: "utcyearmonthdatehours",
    Bucket.DAY: "utcyearmonthdate",
}
_LABEL = {Bucket.MINUTE: "%H:%M", Bucket.HOUR: "%d %b %H:%M", Bucket.DAY: "%d %b"}
# Counts of runs are whole: no "0.5 runs" tick when a bar holds one or two.
COUNT_AXIS = alt.Axis(format=",d", tickMinStep=1)
_STATUS_SCALE = alt.Scale(domain=list(STATUS_COLOURS), range=list(STATUS_COLOURS.values()))


def _wall_time(moment: datetime, zone: str) -> datetime:
    return moment.astimezone(ZoneInfo(zone)).replace(tzinfo=None)


def _time_axis(unit: Bucket, zone: str, title: str, span: tuple[datetime, datetime] | None) -> alt.X:
    """The x axis over `span` (the whole range asked for, so one busy hour is not drawn as a day)."""
    domain = None if span is None else [_wall_time(moment, zone) for moment in span]
    return alt.X(
        "time:T",
        timeUnit=_TIME_UNIT[unit],
        title=f"{title} ({zone})",
        scale=alt.Scale(type="utc", domain=domain) if domain else alt.Scale(type="utc"),
        axis=alt.Axis(format=_LABEL[unit], labelAngle=0),
    )


def runs_chart(
    counts: list[RunCount],
    unit: Bucket,
    zone: str,
    span: tuple[datetime, datetime] | None = None,
    title: str = "Planned time",
    changes: Sequence[FlowChange] = (),
) -> alt.Chart | alt.LayerChart | alt.FacetChart:
    """Runs per bucket, one bar per bucket stacked by status; a dashed rule where a flow changed
    in LangFlow."""
    frame = pd.DataFrame(
        {
            "time": [_wall_time(c.start, zone) for c in counts],
            "when": [format_local(c.start, zone, seconds=False) for c in counts],
            "status": [c.status for c in counts],
            "runs": [c.runs for c in counts],
        }
    )
    bars = (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            x=_time_axis(unit, zone, title, span),
            y=alt.Y("sum(runs):Q", title=f"runs per {unit.value}", axis=COUNT_AXIS),
            color=alt.Color("status:N", scale=_STATUS_SCALE, title="status"),
            tooltip=[
                alt.Tooltip("when:N", title=f"{unit.value} from"),
                "status:N",
                alt.Tooltip("sum(runs):Q", title="runs"),
            ],
        )
    )
    if not changes:
        return bars
    marks = pd.DataFrame(
        {
            "time": [_wall_time(c.at, zone) for c in changes],
            "when": [format_local(c.at, zone) for c in changes],
            "flow": [c.flow_name for c in changes],
        }
    )
    rules = (
        alt.Chart(marks)
        .mark_rule(strokeDash=[4, 4], color="#6b7280")
        .encode(
            x="time:T",
            tooltip=[alt.Tooltip("flow:N", title="flow changed in LangFlow"), alt.Tooltip("when:N", title="at")],
        )
    )
    return alt.layer(bars, rules)


def duration_chart(
    stats: list[DurationStats], unit: Bucket, zone: str, span: tuple[datetime, datetime] | None = None
) -> alt.Chart:
    """Median and 95th percentile of run durations per bucket, as two lines."""
    rows = [
        {
            "time": _wall_time(s.start, zone),
            "when": format_local(s.start, zone, seconds=False),
            "measure": name,
            "seconds": value,
            "runs": s.runs,
        }
        for s in stats
        for name, value in (("p50", s.p50), ("p95", s.p95))
    ]
    frame = pd.DataFrame(rows, columns=["time", "when", "measure", "seconds", "runs"])
    return (
        alt.Chart(frame)
        .mark_line(point=True)
        .encode(
            x=_time_axis(unit, zone, "Planned time", span),
            y=alt.Y("seconds:Q", title="duration (s)"),
            color=alt.Color(
                "measure:N", title="", scale=alt.Scale(domain=["p50", "p95"], range=["#3b82f6", "#d64545"])
            ),
            tooltip=[
                alt.Tooltip("when:N", title=f"{unit.value} from"),
                "measure:N",
                alt.Tooltip("seconds:Q", format=".2f"),
                alt.Tooltip("runs:Q", title="runs sampled"),
            ],
        )
    )


def success_chart(rows: list[FlowSuccess]) -> alt.Chart:
    """Share of finished runs that completed, one bar per flow (flow names are drawn as text)."""
    frame = pd.DataFrame(
        {
            "flow": [r.flow_name for r in rows],
            "rate": [r.rate * 100 if r.rate is not None else None for r in rows],
            "completed": [r.completed for r in rows],
            "failed": [r.failed for r in rows],
        }
    ).dropna(subset=["rate"])
    return (
        alt.Chart(frame)
        .mark_bar(color=STATUS_COLOURS["completed"])
        .encode(
            x=alt.X("rate:Q", title="success rate (%)", scale=alt.Scale(domain=[0, 100])),
            y=alt.Y("flow:N", title=None, sort="x"),
            tooltip=["flow:N", alt.Tooltip("rate:Q", format=".1f", title="success %"), "completed:Q", "failed:Q"],
        )
    )


def _usage_frame(rows: list[FlowUsage], zone: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "time": [_wall_time(r.start, zone) for r in rows],
            "day": [_wall_time(r.start, zone).strftime("%Y-%m-%d") for r in rows],
            "flow": [r.flow_name for r in rows],
            "cost": [r.usage.cost_usd for r in rows],
            "cost_text": [format_usd(r.usage.cost_usd) for r in rows],
            "tokens": [r.usage.total_tokens for r in rows],
            "tokens_text": [
                format_token_counts(r.usage.input_tokens, r.usage.output_tokens, r.usage.total_tokens) for r in rows
            ],
            "runs": [r.usage.runs for r in rows],
            "unpriced": [r.usage.unpriced for r in rows],
        }
    )


def _per_day_per_flow(frame: pd.DataFrame, zone: str, span, measure: str, title: str) -> alt.Chart:
    """One bar per day (in `zone`), stacked by flow."""
    return (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            x=_time_axis(Bucket.DAY, zone, "Planned day", span),
            y=alt.Y(f"sum({measure}):Q", title=title, axis=COUNT_AXIS if measure == "tokens" else alt.Axis()),
            color=alt.Color("flow:N", title="flow"),
            tooltip=[
                alt.Tooltip("day:N", title=f"day ({zone})"),
                "flow:N",
                alt.Tooltip("cost_text:N", title="cost"),
                alt.Tooltip("tokens_text:N", title="tokens"),
                alt.Tooltip("runs:Q", title="runs with usage"),
                alt.Tooltip("unpriced:Q", title="of them, cost unknown"),
            ],
        )
    )


def cost_chart(rows: list[FlowUsage], zone: str, span: tuple[datetime, datetime] | None = None) -> alt.Chart:
    """USD per day and flow, of the runs whose cost is known."""
    frame = _usage_frame(rows, zone).dropna(subset=["cost"])
    return _per_day_per_flow(frame, zone, span, "cost", "cost per day (USD)")


def tokens_chart(rows: list[FlowUsage], zone: str, span: tuple[datetime, datetime] | None = None) -> alt.Chart:
    """Tokens (in and out) per day and flow."""
    return _per_day_per_flow(_usage_frame(rows, zone), zone, span, "tokens", "tokens per day")
