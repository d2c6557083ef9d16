"""Pricing a run's tokens: genai-prices' bundled data, the user's price file over it."""

from __future__ import annotations

import pytest

from automagik.costs.prices import Price, PriceFileError, PriceTable, load_price_file
from automagik.langflow.usage import ModelUsage

# OpenAI's list price of gpt-4o-mini: $0.15 per million input tokens, $0.60 per million output.
MINI = ModelUsage("gpt-4o-mini", 12, 30, 42)
MINI_COST = (12 * 0.15 + 30 * 0.60) / 1_000_000


def test_a_known_model_is_priced_from_the_bundled_data():
    cost = PriceTable().cost([MINI])
    assert (cost.input_tokens, cost.output_tokens, cost.total_tokens, cost.model) == (12, 30, 42, "gpt-4o-mini")
    assert cost.cost_usd == pytest.approx(MINI_COST) and cost.notes == ()


def test_an_unknown_model_leaves_the_cost_unknown_and_says_why():
    cost = PriceTable().cost([MINI, ModelUsage("llama3:8b", 5, 5, 10)])
    assert cost.cost_usd is None and cost.total_tokens == 52 and cost.model == "gpt-4o-mini, llama3:8b"
    assert cost.notes == (
        'cost unknown: no price known for model "llama3:8b" (10 tokens); ' "add its price to AUTOMAGIK_PRICES_FILE",
    )
    unnamed = PriceTable().cost([ModelUsage(None, 1, 2, 3)])
    assert unnamed.cost_usd is None and unnamed.model is None and "without naming the model" in unnamed.notes[0]


def test_no_usage_means_no_cost_at_all():
    assert PriceTable().cost([]) is None


def test_the_users_prices_add_models_and_override_known_ones():
    table = PriceTable({"LLAMA3:8b": Price(input=1.0, output=2.0), "gpt-4o-mini": Price(0, 0)})
    cost = table.cost([ModelUsage("llama3:8b", 1_000_000, 500_000, 1_500_000), MINI])
    assert cost.cost_usd == pytest.approx(2.0) and cost.notes == ()


@pytest.mark.parametrize(
    "name, text",
    [
        ("prices.json", '{"llama3:8b": {"input": 0.05, "output": 0.08}}'),
        ("prices.toml", '["llama3:8b"]\ninput = 0.05\noutput = 0.08\n'),
    ],
)
def test_the_price_file_may_be_json_or_toml(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    cost = load_price_file(path).cost([ModelUsage("llama3:8b", 2_000_000, 1_000_000, 3_000_000)])
    assert cost.cost_usd == pytest.approx(0.18)


@pytest.mark.parametrize(
    "text, words",
    [
        ("{not json", "is not valid JSON"),
        ('["a list"]', "expected model names mapped to prices"),
        ('{"m": {"input": 1}}', "model 'm' needs"),
        ('{"m": {"input": -1, "output": 1}}', "model 'm' needs"),
        ('{"m": {"input": true, "output": 1}}', "model 'm' needs"),
        ('{" ": {"input": 1, "output": 1}}', "needs"),
    ],
)
def test_a_bad_price_file_is_refused_in_one_line(tmp_path, text, words):
    path = tmp_path / "prices.json"
    path.write_text(text)
    with pytest.raises(PriceFileError) as caught:
        load_price_file(path)
    assert words in str(caught.value) and "\n" not in str(caught.value) and str(path) in str(caught.value)


def test_a_missing_price_file_is_refused(tmp_path):
    with pytest.raises(PriceFileError, match="cannot be read"):
        load_price_file(tmp_path / "nowhere.json")


def test_a_usage_reported_only_as_a_total_is_not_priced_as_free():
    """Found by review: 5 million tokens reported only as a total were priced as a known $0."""
    cost = PriceTable().cost([ModelUsage("gpt-4o-mini", 0, 0, 5_000_000, split=False)])
    assert cost.total_tokens == 5_000_000 and cost.cost_usd is None
    assert cost.notes[0].startswith('cost unknown: LangFlow reported only a total for model "gpt-4o-mini"')
