"""Steps the tests take through the product: the real CLI (and the daemon, via `run_daemon_once`)."""

from __future__ import annotations

import json


def ok(result) -> str:
    assert result.returncode == 0, result.output
    assert "Traceback" not in result.output, result.output
    return result.stdout


def synced_flows(cli, *args: str) -> dict[str, dict]:
    ok(cli("flows", "sync", "--no-input", *args))
    return {flow["id"]: flow for flow in json.loads(ok(cli("flows", "list", "--json")))}


def run_to_end(cli, run_daemon_once, flow_id: str, text: str, *options: str) -> dict:
    """Queue a run of the flow, let a daemon run it, return the task as `tasks show --json` has it."""
    queued = json.loads(ok(cli("flows", "run", flow_id, "--input", json.dumps({"input": text}), "--json", *options)))
    run_daemon_once()
    return json.loads(ok(cli("tasks", "show", queued["id"], "--json")))


def log_messages(task: dict) -> list[str]:
    return [line["message"] for line in task["logs"]]
