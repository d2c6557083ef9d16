"""Showing tokens and money to people: one rule for the CLI and every page.

Money is written by `usd`, also in the budgets' reasons, alerts and task logs; an unknown
amount becomes "-", never "$0.00" (a run whose model has no price did cost something). Machine-readable output (--json, CSV) keeps the raw numbers.
"""

from __future__ import annotations


def usd(amount: float) -> str:
    """Dollars to the cent, or to four significant digits below a cent (LLM runs cost little)."""
    if amount == 0 or abs(amount) >= 0.01:
        return f"${amount:,.2f}"
    return f"${amount:.4g}" if abs(amount) >= 1e-4 else f"${amount:.2e}"


UNKNOWN = "-"
# What to do about runs whose cost is unknown, wherever they are counted.
PRICE_HINT = "each one's log names the model; add its price to AUTOMAGIK_PRICES_FILE"


def format_usd(amount: float | None) -> str:
    """ "$12.35" from a cent up, "$0.00036" below (see `usd`); "-" when unknown."""
    return UNKNOWN if amount is None else usd(amount)


def format_tokens(count: int | None) -> str:
    """ "1,500"; "-" when LangFlow reported no usage."""
    return UNKNOWN if count is None else f"{count:,}"


def format_token_counts(input_tokens: int | None, output_tokens: int | None, total_tokens: int | None) -> str:
    """ "1,200 in, 300 out, 1,500 in all" (the task log's wording)."""
    return f"{format_tokens(input_tokens)} in, {format_tokens(output_tokens)} out, {format_tokens(total_tokens)} in all"


def format_run_cost(cost_usd: float | None, total_tokens: int | None) -> str:
    """A run's cost, saying why when its tokens are known but their price is not."""
    if cost_usd is None and total_tokens is not None:
        return f"{UNKNOWN} (no price for its model: the log says why)"
    return format_usd(cost_usd)
