"""Capture a real LangFlow's answers into tests/fixtures/langflow-1.13/, for the fake server to follow.

    .venv/bin/python -m tests.real_langflow.capture [--out DIR]

Starts LangFlow from its cached virtualenv (install it first: ``python -m tests.real_langflow.install``),
builds the usage, schedule-trigger and failing flows of tests/real_langflow/flows.py, and writes
what the server answers (see the README in the output folder). Component sources are replaced by
a placeholder and long strings are cut, as in the fixtures captured before; nothing else changes.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.real_langflow import flows
from tests.real_langflow.install import installed_python, venv_dir
from tests.real_langflow.server import LangFlowAdmin, RealLangFlow

FIXTURES_DIR = Path(__file__).resolve().parent.parent / "fixtures" / "langflow-1.13"
CODE_PLACEHOLDER = "<component source omitted>"
MAX_STRING = 300
NEXT_FIRE_WAIT = 30.0  # LangFlow's schedule tick producer runs every few seconds
UNKNOWN_ID = "00000000-0000-0000-0000-000000000000"


def trimmed(value: Any) -> Any:
    """``value`` with component sources replaced and strings over MAX_STRING characters cut."""
    if isinstance(value, dict):
        out = {key: trimmed(item) for key, item in value.items()}
        if out.get("type") == "code" and isinstance(out.get("value"), str):
            out["value"] = CODE_PLACEHOLDER
        return out
    if isinstance(value, list):
        return [trimmed(item) for item in value]
    if isinstance(value, str) and len(value) > MAX_STRING:
        return value[:MAX_STRING] + "…"
    return value


def answer(response) -> dict:
    return {"status": response.status_code, "body": response.json()}


def capture(admin: LangFlowAdmin) -> dict[str, Any]:
    """Every fixture file's content, by file name."""
    usage = flows.create_usage_flow(admin)
    scheduled = flows.create_schedule_trigger_flow(admin)
    failing = flows.create_failing_flow(admin)

    run_usage = admin.post(f"/api/v1/run/{usage.id}?stream=false", flows.run_request(usage, "hi"))
    run_failing = admin.post(f"/api/v1/run/{failing.id}?stream=false", flows.run_request(failing, "x"))

    def triggers():
        return admin.get("/api/v1/triggers", flow_id=scheduled.id)

    after_save = triggers()
    trigger_id = after_save.json()[0]["id"]
    enable = admin.post(f"/api/v1/triggers/{trigger_id}/enable")
    deadline = time.monotonic() + NEXT_FIRE_WAIT
    while (after_enable := triggers()).json()[0]["next_fire_at"] is None and time.monotonic() < deadline:
        time.sleep(0.5)  # until LangFlow's schedule tick producer has computed the next fire
    disable = admin.post(f"/api/v1/triggers/{trigger_id}/disable")
    return {
        "flows_usage_and_trigger.json": [admin.get(f"/api/v1/flows/{flow.id}").json() for flow in (usage, scheduled)],
        "run_usage_chosen_output_response.json": run_usage.json(),
        "run_failing_component_response.json": answer(run_failing),
        "triggers_responses.json": {
            "list_after_save": answer(after_save),
            "enable": answer(enable),
            "list_after_enable": answer(after_enable),
            "disable": answer(disable),
            "list_after_disable": answer(triggers()),
            "list_without_flow_id": answer(admin.get("/api/v1/triggers")),
            "disable_unknown": answer(admin.post(f"/api/v1/triggers/{UNKNOWN_ID}/disable")),
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=FIXTURES_DIR, help=f"where to write (default {FIXTURES_DIR})")
    args = parser.parse_args(argv)
    python = installed_python()
    if python is None:
        print(
            f"LangFlow is not installed in {venv_dir()}: run `.venv/bin/python -m tests.real_langflow.install`.",
            file=sys.stderr,
        )
        return 1
    with tempfile.TemporaryDirectory(prefix="automagik-langflow-") as workdir:
        server = RealLangFlow(python, Path(workdir)).start()
        try:
            admin = LangFlowAdmin(server.url)
            server.hide(admin.api_key)
            files = capture(admin)
        finally:
            server.stop()
    args.out.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        text = json.dumps(trimmed(content), indent=1, ensure_ascii=False) + "\n"
        assert admin.api_key not in text
        (args.out / name).write_text(text)
        print(f"wrote {args.out / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
