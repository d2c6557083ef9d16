"""The one money and token format of the CLI and the pages (money: the budgets' rule)."""

from __future__ import annotations

import pytest

from automagik.costfmt import format_run_cost, format_token_counts, format_tokens, format_usd


@pytest.mark.parametrize(
    "amount, shown",
    [
        (None, "-"),  # unknown is never $0
        (0.0, "$0.00"),  # known to be free
        (0.00036, "$0.00036"),  # below a cent: four significant digits, so a cheap run is not $0.00
        (0.0099, "$0.0099"),
        (0.01, "$0.01"),
        (0.5, "$0.50"),
        (12.3456, "$12.35"),
        (1234.5, "$1,234.50"),
    ],
)
def test_usd(amount, shown):
    assert format_usd(amount) == shown


def test_tokens_and_a_runs_cost():
    assert (format_tokens(None), format_tokens(0), format_tokens(2_500_000)) == ("-", "0", "2,500,000")
    assert format_token_counts(1200, 300, 1500) == "1,200 in, 300 out, 1,500 in all"
    assert format_run_cost(0.00036, 1500) == "$0.00036"
    assert format_run_cost(None, 42) == "- (no price for its model: the log says why)"
    assert format_run_cost(None, None) == "-"  # LangFlow reported no usage at all
