"""Secrets and exposure (issue 6, item 6): the LangFlow API key is never shown or stored.

A real daemon (log level DEBUG, failure alerts on) runs flows while the LangFlow test server
misbehaves in every way that produces a message: it answers 500, 400, 404, 422 and 429 with
details that *echo the API key back*, refuses the key (403), answers malformed JSON, is slow
past the run's timeout, and goes away. Then the CLI lists, shows and exports everything, and
syncs against a server that echoes the key. The key (and any 10-character piece of its
distinctive part) must appear nowhere: the daemon's log file, any column of any row of any
table, the CSV export (CLI and service), the alert webhook's payloads, and every message the
CLI and the services printed or raised. The page HTML is tested elsewhere.

The test proves it searched real material: LangFlow received the key with every run, and the
echoed details reached the task errors as "***".

One size; SQLite only (what is stored is the same code on both backends; tests/cli covers the
CLI output on both).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from automagik.db.models import TaskStatus
from automagik.services import flows as flow_service
from automagik.services.errors import ServiceError
from automagik.services.export import export_tasks_csv
from automagik.services.tasks import run_flow_now
from tests.conftest import API_KEY, PROJECT_ROOT
from tests.daemon.process_helpers import get_task, task_log_lines, wait_registered, wait_status, wait_until
from tests.faults.conftest import FAST_RECOVERY, dump_tables
from tests.services.helpers import ECHO_ID, client_for, synced

pytestmark = [pytest.mark.slow, pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)]

TERMINAL = (TaskStatus.COMPLETED, TaskStatus.FAILED)
DISTINCT = API_KEY.removeprefix("sk-test-")
PIECES = {API_KEY} | {DISTINCT[i : i + 10] for i in range(len(DISTINCT) - 9)}


def leaks(text: str) -> list[str]:
    return sorted(piece for piece in PIECES if piece in text)


class Webhook:
    """A tiny HTTP endpoint that keeps every alert POSTed to it."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                hook.bodies.append(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/alert"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class EchoingLangFlow:
    """A broken "LangFlow" that answers every request with `status` and a detail quoting the
    x-api-key header it received (what a misconfigured proxy or a chatty error page does)."""

    def __init__(self) -> None:
        self.status = 500
        echo = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self):
                key = self.headers.get("x-api-key")
                detail = (
                    json.dumps({"message": f"rejected x-api-key {key}", "traceback": f"KeyError: {key}"})
                    if echo.status >= 500
                    else f"the key {key} is not valid"
                )
                body = json.dumps({"detail": detail}).encode()
                self.send_response(echo.status, f"Refused {key}")
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _answer

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def echoing():
    server = EchoingLangFlow()
    yield server
    server.close()


@pytest.fixture
def webhook():
    hook = Webhook()
    yield hook
    hook.close()


ECHOED_500 = json.dumps(
    {
        "message": f"Error running graph: invalid credentials {API_KEY} for the model provider",
        "traceback": f'Traceback (most recent call last):\n  File "x.py", line 1\nValueError: key={API_KEY}',
        "description": f"key {API_KEY}",
        "code": None,
        "suggestion": f"Check the key {API_KEY}.",
        "source": "ChatOutput",
    }
)
#: (name, knobs on the test server, run timeout) -> each run fails in its own way, most echoing the key.
FAULTS = [
    ("500-echoing-the-key", {"force_status": 500, "force_detail": ECHOED_500}, None),
    ("500-plain-text", {"force_status": 502, "force_detail": f"upstream said: x-api-key {API_KEY} refused"}, None),
    ("400-echoing-the-key", {"force_status": 400, "force_detail": f"Bad request for api key {API_KEY}"}, None),
    ("404-echoing-the-key", {"force_status": 404, "force_detail": {"message": f"no flow for {API_KEY}"}}, None),
    (
        "422-echoing-the-key",
        {
            "force_status": 422,
            "force_detail": [
                {
                    "type": "x",
                    "loc": ["header", "x-api-key"],
                    "msg": f"Value error, {API_KEY} is revoked",
                    "input": API_KEY,
                }
            ],
        },
        None,
    ),
    ("429-echoing-the-key", {"force_status": 429, "force_detail": f"quota exceeded for {API_KEY}"}, None),
    ("403-key-refused", {"api_key": "sk-test-the-server-wants-another"}, None),
    ("malformed-json", {"malformed_json": True}, None),
    ("timeout", {"latency": 3.0}, 1),
]


def apply(langflow, knobs: dict) -> dict:
    before = {name: getattr(langflow, name) for name in knobs}
    for name, value in knobs.items():
        setattr(langflow, name, value)
    return before


def test_the_api_key_appears_nowhere(db, langflow, launcher, webhook, echoing, tmp_path):
    synced(db, langflow)
    daemon = launcher.start(
        workers=2, env={**FAST_RECOVERY, "AUTOMAGIK_LOG_LEVEL": "DEBUG", "AUTOMAGIK_ALERT_WEBHOOK_URL": webhook.url}
    )
    wait_registered(db, daemon)
    task_ids = [run_flow_now(db, ECHO_ID, {"input": "all good"}).id]
    assert wait_status(db, task_ids[0], TERMINAL, 20, details=daemon.log_tail).status is TaskStatus.COMPLETED

    for name, knobs, timeout in FAULTS:
        before = apply(langflow, knobs)
        try:
            task_id = run_flow_now(db, ECHO_ID, {"input": name}, max_retries=1, timeout_seconds=timeout).id
            task = wait_status(db, task_id, TERMINAL, 30, details=daemon.log_tail)
        finally:
            apply(langflow, before)
        assert task.status is TaskStatus.FAILED, (name, task.status, task.error)
        task_ids.append(task_id)

    langflow.pause()  # LangFlow gone
    try:
        task_id = run_flow_now(db, ECHO_ID, {"input": "down"}, max_retries=0).id
        assert wait_status(db, task_id, TERMINAL, 20, details=daemon.log_tail).status is TaskStatus.FAILED
        task_ids.append(task_id)
    finally:
        langflow.resume()
    # Alerts go out from a background thread: let the last one arrive before stopping the daemon.
    wait_until(lambda: len(webhook.bodies) == len(FAULTS) + 1, 10, "one alert per failed task", details=daemon.log_tail)
    assert daemon.terminate() == 0, daemon.log_tail()

    # The key really travelled, and the echoes really reached the errors, redacted.
    assert all(run.headers.get("x-api-key") == API_KEY for run in langflow.runs)
    errors = {name: get_task(db, task_id).error for (name, _, _), task_id in zip(FAULTS, task_ids[1:], strict=False)}
    for name in (
        "500-echoing-the-key",
        "500-plain-text",
        "400-echoing-the-key",
        "404-echoing-the-key",
        "422-echoing-the-key",
        "429-echoing-the-key",
    ):
        assert "***" in errors[name], (name, errors[name])
    assert "Traceback" not in " ".join(errors.values())
    assert "unreachable" in get_task(db, task_ids[-1]).error

    # What users see: the CLI's listings, details, export; syncs against a server echoing the key.
    export_path = tmp_path / "runs.csv"
    commands = [
        ["tasks", "list"],
        ["tasks", "list", "--json", "--limit", "1000"],
        ["schedules", "list", "--json"],
        ["flows", "list", "--json"],
        ["tasks", "export", "--output", str(export_path)],
    ]
    commands += [["tasks", "show", task_id] for task_id in task_ids] + [["tasks", "show", task_ids[1], "--json"]]
    outputs = run_cli(tmp_path, db.url, langflow.url, commands)
    for status in (500, 403, 401, 404, 502):
        echoing.status = status
        outputs += run_cli(tmp_path, db.url, echoing.url, [["flows", "sync"]], expect=1)
    assert all("***" in output for output in outputs[-5:]), outputs[-5:]

    # ...and the services' own messages (sync, health) against the same echoing server.
    messages = []
    for status in (500, 401, 404, 400, 503):
        echoing.status = status
        with client_for(echoing) as client:
            with pytest.raises(ServiceError) as refused:
                flow_service.sync_flows(db, client)
            messages += [refused.value.message, repr(client), client.health().detail]
    assert any("***" in message for message in messages), messages

    csv_text = export_path.read_text()
    service_csv = "".join(export_tasks_csv(db))
    assert sum(1 for _ in csv_text.splitlines()) == len(task_ids) + 1 and "***" in service_csv

    searched = {
        "daemon log": daemon.log(),
        "database rows": repr(dump_tables(db)),
        "task logs": repr([task_log_lines(db, task_id) for task_id in task_ids]),
        "CLI export": csv_text,
        "service export": service_csv,
        "CLI output": "\n".join(outputs),
        "service messages": "\n".join(messages),
        "alerts": b"\n".join(webhook.bodies).decode(),
    }
    assert "DEBUG" in searched["daemon log"]
    found = {where: leaks(text) for where, text in searched.items() if leaks(text)}
    assert found == {}, f"the API key leaked into: {found}"


def run_cli(
    folder: Path, database_url: str, langflow_url: str, commands: list[list[str]], expect: int = 0
) -> list[str]:
    """Run CLI commands (forked from one import, see cli_forkserver.py); their stdout and stderr."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("LANGFLOW_", "DATABASE_URL", "TIMEZONE", "AUTOMAGIK_"))
    }
    env.update(
        PYTHONPATH=str(PROJECT_ROOT),
        DATABASE_URL=database_url,
        LANGFLOW_API_URL=langflow_url,
        LANGFLOW_API_KEY=API_KEY,
        TIMEZONE="Europe/Berlin",
    )
    batch = [
        {
            "args": args,
            "env": env,
            "cwd": str(folder),
            "stdout": str(folder / f"cli-{n}.out"),
            "stderr": str(folder / f"cli-{n}.err"),
        }
        for n, args in enumerate(commands, start=len(list(folder.glob("cli-*.out"))))
    ]
    served = subprocess.run(
        [sys.executable, "-m", "tests.faults.cli_forkserver"],
        cwd=PROJECT_ROOT,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
        input=json.dumps(batch),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert served.returncode == 0, served.stderr
    outputs = []
    for command, code in zip(batch, json.loads(served.stdout), strict=False):
        out, err = Path(command["stdout"]).read_text(), Path(command["stderr"]).read_text()
        assert code == expect and "Traceback" not in out + err, (command["args"], code, out[-500:], err[-500:])
        outputs.append(f"$ {' '.join(command['args'])}\n{out}{err}")
    return outputs
