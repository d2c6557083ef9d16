"""The processes a browser test needs: `db init`, the daemon, `streamlit run app.py`, Chromium.

Each process logs to its own file under the test's tmp_path; `Stack.stop()` ends exactly the
processes it started (SIGTERM, then SIGKILL after a grace period), so a failing test never
leaves a dashboard or a daemon behind.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

from tests.conftest import API_KEY, PROJECT_ROOT

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def launch_chromium():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


class Stack:
    def __init__(self, tmp_path: Path, langflow_url: str, zone: str = "Europe/Berlin") -> None:
        self.tmp_path = tmp_path
        self.database_url = f"sqlite:///{tmp_path / 'automagik.db'}"
        self.langflow_url = langflow_url
        self.zone = zone
        self.processes: dict[str, subprocess.Popen] = {}

    def environment(self, **extra: str) -> dict[str, str]:
        inherited = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("LANGFLOW_", "AUTOMAGIK_")) and k not in ("DATABASE_URL", "TIMEZONE")
        }
        return {
            **inherited,
            "PYTHONPATH": str(PROJECT_ROOT),
            "DATABASE_URL": self.database_url,
            "LANGFLOW_API_URL": self.langflow_url,
            "LANGFLOW_API_KEY": API_KEY,
            "TIMEZONE": self.zone,
            **extra,
        }

    def init_database(self) -> None:
        subprocess.run(
            [sys.executable, "-m", "automagik.cli.cli", "db", "init"],
            cwd=self.tmp_path,
            env=self.environment(),
            check=True,
            capture_output=True,
            timeout=60,
        )

    def _start(self, name: str, args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.Popen:
        log = open(self.tmp_path / f"{name}.log", "w")  # noqa: SIM115 - closed with the process
        process = subprocess.Popen(args, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)
        log.close()  # the child holds its own copy
        self.processes[name] = process
        return process

    def start_daemon(self) -> None:
        self._start(
            "daemon",
            [sys.executable, str(PROJECT_ROOT / "scheduler_daemon.py")],
            self.tmp_path,
            self.environment(AUTOMAGIK_POLL_SECONDS="0.5", AUTOMAGIK_HEARTBEAT_SECONDS="1"),
        )

    def start_dashboard(self, password: str | None = None, refresh_seconds: float = 1) -> str:
        port = free_port()
        extra = {"AUTOMAGIK_DASHBOARD_REFRESH_SECONDS": str(refresh_seconds), "AUTOMAGIK_HEARTBEAT_SECONDS": "1"}
        if password:
            extra["AUTOMAGIK_DASHBOARD_PASSWORD"] = password
        process = self._start(
            "dashboard",
            [
                sys.executable,
                "-m",
                "streamlit",
                "run",
                "app.py",
                "--server.port",
                str(port),
                "--server.headless",
                "true",
                "--server.fileWatcherType",
                "none",
            ],
            PROJECT_ROOT,
            self.environment(**extra),
        )
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{base}/_stcore/health", timeout=2) as answer:
                    if answer.read() == b"ok":
                        return base
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the dashboard did not start:\n{self.logs().get('dashboard', '')}")
            time.sleep(0.2)

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)

    def logs(self) -> dict[str, str]:
        return {
            name: (self.tmp_path / f"{name}.log").read_text(errors="replace")
            for name in self.processes
            if (self.tmp_path / f"{name}.log").exists()
        }
