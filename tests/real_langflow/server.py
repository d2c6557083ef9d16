"""A real LangFlow for the tests: started from its cached virtualenv, reached as its owner.

:class:`RealLangFlow` runs ``langflow run --backend-only`` on 127.0.0.1 and a free port, with
its own configuration folder and SQLite database in a temporary folder, and stops it (its
whole process group) at the end. :class:`LangFlowAdmin` is what a person at the LangFlow UI
would do, done over HTTP: log in (``/api/v1/auto_login``), make an API key, save flows and
custom components. The project's own client (automagik.langflow) only ever gets the API key.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import requests

#: A first start on a busy 2-core machine takes about 25 s (migrations, loading every
#: component); the bound leaves room for a slow CI machine without hiding a hang for long.
START_TIMEOUT = 240.0
STOP_TIMEOUT = 20.0
LOG_TAIL_LINES = 40

#: LangFlow's settings for a quiet, local, throwaway server. What each one avoids:
SERVER_ENVIRONMENT = {
    # /api/v1/auto_login hands out a superuser session, from which the tests make an API key.
    "LANGFLOW_AUTO_LOGIN": "true",
    "LANGFLOW_SKIP_AUTH_AUTO_LOGIN": "false",  # API calls need the key, as on a real install
    "DO_NOT_TRACK": "true",  # no telemetry calls out
    "LANGFLOW_STORE": "false",
    "LANGFLOW_CREATE_STARTER_PROJECTS": "false",  # example flows slow the start; sync drops them anyway
    # MCP start-up can spawn `uvx mcp-proxy` and wait on an outbound connect (LangFlow's
    # own advice for tests and offline hosts is to skip it).
    "LANGFLOW_SKIP_MCP_AUTO_INIT": "true",
    "LANGFLOW_MCP_SERVER_ENABLED": "false",
    "LANGFLOW_ADD_PROJECTS_TO_MCP_SERVERS": "false",
    "LANGFLOW_AGENTIC_EXPERIENCE": "false",  # no assistant flows seeded at start
    "LANGFLOW_WORKERS": "1",
    "LANGFLOW_OPEN_BROWSER": "false",
}


class LangFlowDidNotStart(RuntimeError):
    """LangFlow exited or did not answer /health_check in time; the message ends with its log."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RealLangFlow:
    """One LangFlow server process (and its children), living in ``workdir``."""

    def __init__(self, python: Path, workdir: Path):
        self.executable = Path(python).parent / "langflow"
        self.workdir = Path(workdir)
        self.port = free_port()
        self.log_path = self.workdir / "langflow.log"
        self.started_in: float | None = None
        self._process: subprocess.Popen | None = None
        self._secrets: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def hide(self, secret: str) -> None:
        """Never show ``secret`` in a log tail (the API key)."""
        self._secrets.append(secret)

    def start(self, timeout: float = START_TIMEOUT) -> RealLangFlow:
        config = self.workdir / "config"
        config.mkdir(parents=True, exist_ok=True)
        environment = {key: value for key, value in os.environ.items() if not key.startswith("LANGFLOW_")}
        environment.update(SERVER_ENVIRONMENT)
        environment.update(
            {
                "LANGFLOW_CONFIG_DIR": str(config),
                "LANGFLOW_DATABASE_URL": f"sqlite:///{config / 'langflow.db'}",
                # LangFlow also caches downloads under the user's cache folder: keep them here.
                "XDG_CACHE_HOME": str(self.workdir / "cache"),
            }
        )
        # Log level "critical": LangFlow logs each failing component's traceback, rendered by rich,
        # which made a failing run take 7 to 9 s instead of 0.2 s here. Its start-up progress and
        # migrations are printed whatever the level, so a failed start still shows in the log.
        command = [
            str(self.executable),
            "run",
            "--backend-only",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            "1",
            "--no-open-browser",
            "--log-level",
            "critical",
        ]
        started = time.monotonic()
        with open(self.log_path, "wb") as log:
            try:
                # Its own session (process group), so that stop() reaches the workers it forks.
                self._process = subprocess.Popen(
                    command,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=environment,
                    cwd=self.workdir,
                    start_new_session=True,
                )
            except OSError as exc:
                raise LangFlowDidNotStart(f"Could not run {self.executable}: {exc.strerror or exc}.") from None
        try:
            self._wait_ready(started + timeout, timeout)
        except BaseException:
            self.stop()
            raise
        self.started_in = time.monotonic() - started
        return self

    def _wait_ready(self, deadline: float, timeout: float) -> None:
        # LangFlow answers /health before it is ready; /health_check says "ok" once the
        # database and the chat service are up. A taken port makes it quietly pick another
        # one, which shows here as never getting ready.
        while True:
            if self._process.poll() is not None:
                raise LangFlowDidNotStart(
                    f"LangFlow exited with code {self._process.returncode} while starting." f"\n{self.log_tail()}"
                )
            try:
                answer = requests.get(f"{self.url}/health_check", timeout=5)
                if answer.status_code == 200 and answer.json().get("status") == "ok":
                    return
            except (requests.RequestException, ValueError):
                pass
            if time.monotonic() >= deadline:
                raise LangFlowDidNotStart(
                    f"LangFlow did not answer {self.url}/health_check within {timeout:g} s." f"\n{self.log_tail()}"
                )
            time.sleep(0.5)  # polling a starting server, with the deadline above

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        for sig, wait in ((signal.SIGTERM, STOP_TIMEOUT), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(process.pid, sig)  # the group this server's own start created
            except ProcessLookupError:
                return
            try:
                process.wait(wait)
                return
            except subprocess.TimeoutExpired:
                continue

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(LangFlow wrote no log)"
        for secret in self._secrets:
            text = text.replace(secret, "***")
        tail = "\n".join(text.splitlines()[-lines:])
        return f"--- last {lines} lines of {self.log_path} ---\n{tail}"


class LangFlowAdmin:
    """LangFlow's API as its (auto-login) superuser: what the tests set up, never the product.

    The product reaches LangFlow through automagik.langflow with ``api_key`` alone.
    """

    def __init__(self, url: str, timeout: float = 60.0):
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.http = requests.Session()
        login = self._check(self.http.get(f"{self.url}/api/v1/auto_login", timeout=timeout), "auto_login")
        # auto_login also sets session cookies, which LangFlow accepts in place of a key: drop
        # them, so that a call made with the key (below) proves the key alone is enough.
        self.http.cookies.clear()
        self.http.headers["Authorization"] = f"Bearer {login['access_token']}"
        key = self._check(
            self.http.post(f"{self.url}/api/v1/api_key/", json={"name": "automagik-tests"}, timeout=timeout),
            "creating an API key",
        )
        #: The key the project's client gets. Keep it out of every message and log.
        self.api_key: str = key["api_key"]
        self._components: dict[str, dict] | None = None
        self._custom: dict[str, tuple[str, dict]] = {}

    def _check(self, answer: requests.Response, what: str) -> Any:
        if answer.status_code >= 400:
            raise RuntimeError(f"LangFlow refused {what}: HTTP {answer.status_code} {answer.text[:300]}")
        return answer.json()

    def get(self, path: str, **params) -> requests.Response:
        """GET as the product does: with the API key alone."""
        return self.http.request(
            "GET", self.url + path, params=params or None, timeout=self.timeout, headers=self._key_only()
        )

    def post(self, path: str, body: Any = None) -> requests.Response:
        """POST as the product does: with the API key alone."""
        return self.http.request("POST", self.url + path, json=body, timeout=self.timeout, headers=self._key_only())

    def _key_only(self) -> dict[str, str | None]:
        # None drops the login session's Bearer header from the request: LangFlow sees the key alone.
        return {"x-api-key": self.api_key, "Authorization": None}

    def component_template(self, component_type: str) -> dict:
        """A built-in component's node template, as the canvas gets it (``GET /api/v1/all``)."""
        if self._components is None:
            everything = self._check(
                self.http.get(f"{self.url}/api/v1/all", timeout=self.timeout), "listing components"
            )
            self._components = {
                name: template
                for category in everything.values()
                if isinstance(category, dict)
                for name, template in category.items()
                if isinstance(template, dict)
            }
        return self._components[component_type]

    def custom_component(self, code: str) -> tuple[str, dict]:
        """The node type and template of a custom component, as the canvas's code editor makes it."""
        if code not in self._custom:
            built = self._check(
                self.http.post(f"{self.url}/api/v1/custom_component", json={"code": code}, timeout=self.timeout),
                "building a custom component",
            )
            self._custom[code] = (built["type"], built["data"])
        return self._custom[code]

    def create_flow(self, name: str, data: dict) -> dict:
        return self._check(
            self.http.post(f"{self.url}/api/v1/flows/", json={"name": name, "data": data}, timeout=self.timeout),
            f"saving flow {name!r}",
        )
