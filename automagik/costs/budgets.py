"""Flows' daily budgets: what a flow's runs cost today, and whether its budget is reached.

"Today" is the calendar day in TIMEZONE (a fire's, for a fire), and a run counts on the day
it finished: money is spent when a run happens, so a backfill of last week counts today.
Runs whose cost is unknown (a model without a price) count as nothing. The budget is
checked when a fire is dispatched, again when a queued fire is claimed (a catch-up queues
many at once), and when a person starts a run: runs already going and retries of a run that
was tried finish, so a day's spending can pass the budget by what those runs cost.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from automagik.costfmt import usd
from automagik.db.models import Task
from automagik.scheduling import load_zone
from automagik.scheduling.timezones import day_bounds


@dataclass(frozen=True)
class BudgetReached:
    """A flow whose runs today cost at least its daily budget."""

    flow_id: str
    flow_name: str
    budget_usd: float
    spent_usd: float
    day: str  # YYYY-MM-DD in the zone

    @property
    def reason(self) -> str:
        return f"daily budget of {usd(self.budget_usd)} reached ({usd(self.spent_usd)} spent)"

    @property
    def message(self) -> str:
        """What its incident says (the alert, the Overview, `check`)."""
        return (
            f'flow "{self.flow_name}" reached its daily budget of {usd(self.budget_usd)} '
            f"({usd(self.spent_usd)} spent on {self.day}): its further fires that day are skipped; "
            "runs resume the next day"
        )


def today(now: datetime, zone: str) -> tuple[str, datetime, datetime]:
    """The day of `now` in `zone` (YYYY-MM-DD) and its start and end as UTC instants (a DST
    day is 23 or 25 hours long)."""
    tz = load_zone(zone)
    local = now.astimezone(tz).date()
    start, end = day_bounds(local, tz)
    return local.isoformat(), start, end


def spent_today(session, flow_ids: Collection[str], now: datetime, zone: str) -> dict[str, float]:
    """The known cost of each flow's runs that finished today (flows without any: absent)."""
    if not flow_ids:
        return {}
    _day, start, end = today(now, zone)
    rows = session.execute(
        select(Task.flow_id, func.sum(Task.cost_usd))
        .where(
            Task.flow_id.in_(list(flow_ids)),
            Task.finished_at >= start,
            Task.finished_at < end,
            Task.cost_usd.is_not(None),
        )
        .group_by(Task.flow_id)
    )
    return {flow_id: float(total or 0) for flow_id, total in rows}


def budgets_reached(
    session, budgets: dict[str, tuple[str, float]], now: datetime, zone: str
) -> dict[str, BudgetReached]:
    """Of the flows given as {flow_id: (name, daily budget)}, those whose budget is reached."""
    day = today(now, zone)[0]
    spent = spent_today(session, budgets, now, zone)
    return {
        flow_id: BudgetReached(flow_id, name, budget, spent[flow_id], day)
        for flow_id, (name, budget) in budgets.items()
        if flow_id in spent and spent[flow_id] >= budget
    }
