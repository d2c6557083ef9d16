"""The product against a real LangFlow 1.13: sync and the component choice, runs that route the
input and read the chosen output, flows that fail. Every step goes through the real CLI and
the real daemon (`scheduler_daemon.py --once`), on each test database (SQLite, PostgreSQL)."""

from __future__ import annotations

from tests.real_langflow.flows import FAKE_PREFIX
from tests.real_langflow.helpers import log_messages, ok, run_to_end, synced_flows


def test_sync_reads_the_components_and_takes_the_choice(cli, echo_flow, two_outputs_flow):
    flows = synced_flows(cli)
    echo, two = flows[echo_flow.id], flows[two_outputs_flow.id]
    assert echo["name"] == echo_flow.name and two["name"] == two_outputs_flow.name
    # One input and one output: chosen by the sync itself.
    assert (echo["input_component"], echo["output_component"]) == (echo_flow.inputs[0], echo_flow.outputs[0])
    # Two outputs: the input is chosen, the output waits for the user. The Fake LLM in
    # between is neither, so it is not offered.
    roles = {component["id"]: component["role"] for component in two["components"]}
    assert roles == {two_outputs_flow.inputs[0]: "input", **{o: "output" for o in two_outputs_flow.outputs}}
    assert (two["input_component"], two["output_component"]) == (two_outputs_flow.inputs[0], None)
    assert {c["display_name"] for c in two["components"]} == {"Chat Input", "Chat Output"}

    # A component that is not an output is refused, and nothing is chosen.
    llm = two_outputs_flow.others["llm"]
    refused = cli(
        "flows",
        "sync",
        "--flow-id",
        two_outputs_flow.id,
        "--input-component",
        two_outputs_flow.inputs[0],
        "--output-component",
        llm,
    )
    assert refused.returncode == 2 and f'Component "{llm}" is not in flow' in refused.stderr, refused.output

    answer_output = two_outputs_flow.outputs[0]
    chosen = cli(
        "flows",
        "sync",
        "--flow-id",
        two_outputs_flow.id,
        "--input-component",
        two_outputs_flow.inputs[0],
        "--output-component",
        answer_output,
    )
    assert f"input {two_outputs_flow.inputs[0]}, output {answer_output}." in ok(chosen)
    two = synced_flows(cli)[two_outputs_flow.id]
    assert (two["input_component"], two["output_component"]) == (two_outputs_flow.inputs[0], answer_output)
    # A later sync keeps the choice.
    assert synced_flows(cli)[two_outputs_flow.id]["output_component"] == answer_output


def test_a_run_feeds_the_chosen_input_and_reads_the_chosen_output(cli, run_daemon_once, two_outputs_flow):
    chat_input, (answer_output, echo_output) = two_outputs_flow.inputs[0], two_outputs_flow.outputs
    synced_flows(
        cli, "--flow-id", two_outputs_flow.id, "--input-component", chat_input, "--output-component", answer_output
    )
    task = run_to_end(cli, run_daemon_once, two_outputs_flow.id, "routed text")
    assert task["status"] == "completed" and task["tries"] == 1, task
    # The Fake LLM's answer to our text: the text went in at the ChatInput, the answer came out
    # of the output chosen (the other output echoes the input unchanged).
    assert task["result"]["text"] == f"{FAKE_PREFIX}routed text"
    assert task["result"]["component_id"] == answer_output
    assert task["result"]["session_id"] and task["error"] is None
    assert any(m.startswith("LangFlow answered HTTP 200 in") and answer_output in m for m in log_messages(task))

    # The other output, chosen instead, gives its own answer.
    synced_flows(
        cli, "--flow-id", two_outputs_flow.id, "--input-component", chat_input, "--output-component", echo_output
    )
    task = run_to_end(cli, run_daemon_once, two_outputs_flow.id, "routed again")
    assert task["status"] == "completed", task
    assert (task["result"]["text"], task["result"]["component_id"]) == ("routed again", echo_output)


def test_a_broken_flow_fails_at_once_without_retries(cli, run_daemon_once, broken_flow):
    flows = synced_flows(cli)
    assert flows[broken_flow.id]["output_component"] == broken_flow.outputs[0]  # it looks runnable
    # Retries allowed, yet none made: LangFlow's 404 for a broken graph is permanent.
    task = run_to_end(cli, run_daemon_once, broken_flow.id, "x", "--max-retries", "3")
    assert task["status"] == "failed" and task["tries"] == 1 and task["next_retry_at"] is None, task
    assert "answered 404" in task["error"] and "Vertex ChatOutput-missing not found" in task["error"]
    assert "Check that the flow still exists and that its components are connected." in task["error"]
    assert not any("will retry" in m for m in log_messages(task))


def test_a_flow_failing_inside_langflow_shows_langflows_message(cli, run_daemon_once, failing_flow):
    synced_flows(cli)
    task = run_to_end(cli, run_daemon_once, failing_flow.id, "x", "--max-retries", "0")
    assert task["status"] == "failed" and task["tries"] == 1, task
    # LangFlow's 500 detail is a JSON string; the user sees its message, not the JSON.
    assert "HTTP 500" in task["error"] and "the test component failed on purpose" in task["error"]
    assert "{" not in task["error"] and "traceback" not in task["error"].lower()
