"""The run calendar's heatmap: one cell per day of the last twelve months, a column per week.
Not a page; pages/tasks.py shows it above the runs it filters.

A day's colour is its failure share (failed ÷ finished), green to red; a day with only
skipped runs is grey and a day without runs pale. Days arrive from the service as dates in
the display zone and are given to the chart as "YYYY-MM-DD" text, so no browser zone can
move a run to another day.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta
from typing import Any

import altair as alt
import pandas as pd

from automagik.services.run_calendar import RunCalendar
from pages.common import STATUS_COLOURS

SELECTION = "day"  # the chart's point selection: what a click on a cell chose
WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
NO_RUNS = "#ebedf0"


def calendar_frame(calendar: RunCalendar, chosen: date | None = None) -> pd.DataFrame:
    """Every day of the calendar (days without runs too, so the grid is whole), oldest first."""
    counted = {d.day: d for d in calendar.days}
    rows = []
    day = calendar.first
    while day <= calendar.last:
        counts = counted.get(day)
        completed, failed, skipped = (counts.completed, counts.failed, counts.skipped) if counts else (0, 0, 0)
        share = counts.failure_share if counts else None
        rows.append(
            {
                "date": day.isoformat(),
                "label": day.strftime("%a %d %b %Y"),
                "week": (day - timedelta(days=day.weekday())).isoformat(),
                "weekday": WEEKDAYS[day.weekday()],
                "completed": completed,
                "failed": failed,
                "skipped": skipped,
                "runs": completed + failed + skipped,
                "share": share,
                "share_text": "-" if share is None else f"{share:.0%}",
                "colour": cell_colour(completed, failed, skipped),
                "chosen": day == chosen,
            }
        )
        day += timedelta(days=1)
    return pd.DataFrame(rows)


# Failure share 0 -> 0.5 -> 1: green, amber, red (the statuses' own colours at the ends).
_SCALE = [STATUS_COLOURS["completed"], "#f0ad4e", STATUS_COLOURS["failed"]]


def _mix(low: str, high: str, t: float) -> str:
    a, b = (tuple(int(c[i : i + 2], 16) for i in (1, 3, 5)) for c in (low, high))
    return "#" + "".join(f"{round(x + (y - x) * t):02x}" for x, y in zip(a, b, strict=False))


def cell_colour(completed: int, failed: int, skipped: int) -> str:
    """A day's fill: from its failure share; grey when only skips happened, pale without runs.
    Computed here (Vega-Lite cannot chain value conditions before a field's scale)."""
    if completed + failed == 0:
        return STATUS_COLOURS["skipped"] if skipped else NO_RUNS
    share = failed / (completed + failed)
    return _mix(_SCALE[0], _SCALE[1], share * 2) if share <= 0.5 else _mix(_SCALE[1], _SCALE[2], share * 2 - 1)


def calendar_chart(calendar: RunCalendar, chosen: date | None = None) -> alt.Chart:
    """The heatmap, with a point selection on the day (st.altair_chart(on_select=...) reads it)."""
    frame = calendar_frame(calendar, chosen)
    pick = alt.selection_point(name=SELECTION, fields=["date"], on="click", clear="dblclick")
    # Month names under the first week of each month; the weeks themselves are unlabelled.
    month_labels = "utcdate(toDate(datum.value)) <= 7 ? utcFormat(toDate(datum.value), '%b') : ''"
    return (
        alt.Chart(
            frame, title=alt.Title(f"Runs per day ({calendar.zone}), last 12 months", anchor="start", fontSize=13)
        )
        .mark_rect(cornerRadius=2)
        .encode(
            x=alt.X(
                "week:O",
                title=None,
                scale=alt.Scale(paddingInner=0.15),
                axis=alt.Axis(labelExpr=month_labels, labelAngle=0, ticks=False, domain=False),
            ),
            y=alt.Y(
                "weekday:O",
                title=None,
                sort=WEEKDAYS,
                scale=alt.Scale(paddingInner=0.15),
                axis=alt.Axis(ticks=False, domain=False),
            ),
            color=alt.Color("colour:N", scale=None, legend=None),
            stroke=alt.when(alt.datum.chosen).then(alt.value("#111827")).otherwise(alt.value(None)),
            strokeWidth=alt.when(alt.datum.chosen).then(alt.value(2)).otherwise(alt.value(0)),
            opacity=alt.when(pick).then(alt.value(1.0)).otherwise(alt.value(0.35)),
            tooltip=[
                alt.Tooltip("label:N", title=f"day ({calendar.zone})"),
                alt.Tooltip("completed:Q", format="d"),
                alt.Tooltip("failed:Q", format="d"),
                alt.Tooltip("skipped:Q", format="d"),
                alt.Tooltip("share_text:N", title="failed share"),
            ],
        )
        .add_params(pick)
        .properties(height=alt.Step(17))  # 17 px a weekday row: every label shows
    )


def clicked_day(points: Iterable[dict[str, Any]]) -> date | None:
    """The day a click on the heatmap chose, from the selection Streamlit hands back."""
    for point in points or ():
        try:
            return date.fromisoformat(str(point.get("date")))
        except ValueError:
            continue
    return None
