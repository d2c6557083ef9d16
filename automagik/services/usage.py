"""Tokens and cost of many runs, summed in SQL (the Tasks page's charts, the overview).

Only runs that reported tokens are read (`total_tokens IS NOT NULL`). The partial index
ix_tasks_usage holds exactly those rows, by finish time, with every column summed here: the
overview's sums over the runs that finished in a span read that span of the index alone (and
nothing when no run reported usage). The charts, by planned time, are bounded like the other
charts (a month at most).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, SQLColumnExpression, case, func, select

from automagik.db.models import Task


@dataclass(frozen=True)
class UsageTotals:
    """What some runs reported using; `cost_usd` sums the runs whose cost is known."""

    runs: int  # runs that reported tokens
    unpriced: int  # of them, runs whose cost is unknown (a model without a price)
    input_tokens: int
    output_tokens: int
    total_tokens: int
    cost_usd: float | None  # None when no run's cost is known: unknown is not $0

    @classmethod
    def of(cls, sums: Sequence) -> UsageTotals:
        """From the aggregates of `usage_query`, as the database returns them (NULL sums of no rows)."""
        runs, unpriced, input_tokens, output_tokens, total_tokens, cost = sums
        return cls(
            int(runs or 0),
            int(unpriced or 0),
            int(input_tokens or 0),
            int(output_tokens or 0),
            int(total_tokens or 0),
            None if cost is None else float(cost),
        )

    def __add__(self, other: UsageTotals) -> UsageTotals:
        costs = [c for c in (self.cost_usd, other.cost_usd) if c is not None]
        return UsageTotals(
            self.runs + other.runs,
            self.unpriced + other.unpriced,
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.total_tokens + other.total_tokens,
            sum(costs) if costs else None,
        )


NO_USAGE = UsageTotals(0, 0, 0, 0, 0, None)


def usage_query(*keys: SQLColumnExpression[Any]) -> Select:
    """SELECT keys..., then UsageTotals' aggregates, of the runs that reported tokens, grouped by
    `keys` (none: one row over everything). Add the WHERE of the runs wanted."""
    sums = (
        func.count(),
        func.sum(case((Task.cost_usd.is_(None), 1), else_=0)),
        func.sum(Task.input_tokens),
        func.sum(Task.output_tokens),
        func.sum(Task.total_tokens),
        func.sum(Task.cost_usd),
    )
    return select(*keys, *sums).where(Task.total_tokens.is_not(None)).group_by(*keys)
