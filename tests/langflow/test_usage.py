"""Token usage read from a run's answer: the captured 1.13 answer, and the shapes around it."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from automagik.langflow.usage import ModelUsage, read_usage

CAPTURED = json.loads(
    (Path(__file__).parent.parent / "fixtures" / "langflow-1.13" / "run_usage_response.json").read_text()
)


def _entry_properties(body: dict, index: int = 0) -> list[dict]:
    message = body["outputs"][0]["outputs"][index]["results"]["message"]
    return [message["properties"], message["data"]["properties"]]


def _with_second_output(body: dict, llm_id: str, model: str, tokens: tuple[int, int]) -> dict:
    body = copy.deepcopy(body)
    entry = copy.deepcopy(body["outputs"][0]["outputs"][0])
    entry["component_id"] = "ChatOutput-u4"
    for properties in _entry_properties({"outputs": [{"outputs": [entry]}]}):
        properties["source"] = {"id": llm_id, "display_name": "Other LLM", "source": model}
        properties["usage"] = {"input_tokens": tokens[0], "output_tokens": tokens[1], "total_tokens": sum(tokens)}
    body["outputs"][0]["outputs"].append(entry)
    return body


def test_the_captured_answer_reports_its_model_and_tokens_once():
    # The usage sits in two places of the one message: counted once.
    assert read_usage(CAPTURED) == [ModelUsage("gpt-4o-mini", 12, 30, 42)]


def test_two_outputs_fed_by_one_llm_count_its_tokens_once():
    body = _with_second_output(CAPTURED, "FakeLLM-u2", "gpt-4o-mini", (12, 30))
    assert read_usage(body) == [ModelUsage("gpt-4o-mini", 12, 30, 42)]


def test_two_llms_of_one_model_are_summed_and_other_models_kept_apart():
    same = _with_second_output(CAPTURED, "FakeLLM-u9", "gpt-4o-mini", (100, 5))
    assert read_usage(same) == [ModelUsage("gpt-4o-mini", 112, 35, 147)]
    other = _with_second_output(CAPTURED, "Claude-c1", "claude-3-5-haiku", (7, 3))
    assert read_usage(other) == [ModelUsage("gpt-4o-mini", 12, 30, 42), ModelUsage("claude-3-5-haiku", 7, 3, 10)]


def test_a_run_without_usage_reports_none():
    body = copy.deepcopy(CAPTURED)
    for properties in _entry_properties(body):
        properties["usage"] = None
    assert read_usage(body) == []
    assert read_usage({"outputs": None}) == [] and read_usage({"outputs": [None, {"outputs": [None]}]}) == []


def test_counts_that_are_not_counts_are_ignored_and_a_lone_total_stays_a_total():
    body = copy.deepcopy(CAPTURED)
    for properties in _entry_properties(body):
        properties["usage"] = {"input_tokens": True, "output_tokens": -3, "total_tokens": "42"}
    assert read_usage(body) == []
    for properties in _entry_properties(body):
        properties["usage"] = {"input_tokens": float("inf"), "output_tokens": float("nan"), "total_tokens": None}
    assert read_usage(body) == []
    for properties in _entry_properties(body):
        properties["usage"] = {"input_tokens": None, "output_tokens": None, "total_tokens": 50}
    assert read_usage(body) == [ModelUsage("gpt-4o-mini", 0, 0, 50, split=False)]


def test_usage_without_a_model_name_is_kept_with_no_model():
    body = copy.deepcopy(CAPTURED)
    for properties in _entry_properties(body):
        properties["source"] = {"id": "FakeLLM-u2", "display_name": None, "source": "  "}
    assert read_usage(body) == [ModelUsage(None, 12, 30, 42)]
