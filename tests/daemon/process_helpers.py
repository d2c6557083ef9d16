"""Run `scheduler_daemon.py` as real processes in tests, and wait on the database for results.

`DaemonLauncher` starts daemons (each logging to its own file under tmp_path), stops them with
SIGTERM or SIGKILL, and kills whatever is still alive when the test ends. `wait_until` polls a
condition against a deadline: the tests never sleep a fixed, long time hoping work got done.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from sqlalchemy import select, text

from automagik.db.engine import Database
from automagik.db.models import DaemonHeartbeat, Task, TaskLog, TaskStatus
from tests.conftest import API_KEY, PROJECT_ROOT

DAEMON_SCRIPT = PROJECT_ROOT / "scheduler_daemon.py"
SENT_BY = re.compile(r"sent to LangFlow by daemon (\S+)$")
T = TypeVar("T")


def wait_until(
    condition: Callable[[], T],
    timeout: float,
    what: str,
    *,
    interval: float = 0.05,
    details: Callable[[], str] | None = None,
) -> T:
    """Poll `condition` until it returns something truthy (returned), or fail after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            extra = f"\n{details()}" if details else ""
            raise AssertionError(f"timed out after {timeout:g} s waiting until {what}{extra}")
        time.sleep(interval)


@dataclass
class DaemonProcess:
    proc: subprocess.Popen
    log_path: Path
    name: str

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    @property
    def returncode(self) -> int | None:
        return self.proc.poll()

    def cpu_seconds(self) -> float:
        """User + system CPU time the process has used so far (Linux /proc)."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def cpu_used_during(self, seconds: float) -> float:
        """CPU seconds the process burns over a measurement window of `seconds` (wall time)."""
        before = self.cpu_seconds()
        time.sleep(seconds)
        return self.cpu_seconds() - before

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 40) -> str:
        return f"--- {self.name} (pid {self.pid}, exit {self.returncode}) ---\n" + "\n".join(
            self.log().splitlines()[-lines:]
        )

    def terminate(self, timeout: float = 20.0) -> int:
        """SIGTERM, then wait for the exit; returns the exit code (fails the test on a hang)."""
        if self.alive:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(
                f"{self.name} did not exit within {timeout:g} s of SIGTERM\n{self.log_tail()}"
            ) from None

    def kill(self) -> None:
        """SIGKILL (kill -9): the process gets no chance to clean up."""
        if self.alive:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)


@dataclass
class CompletedDaemon:
    returncode: int
    stdout: str
    stderr: str
    seconds: float


class DaemonLauncher:
    """Starts daemons against one database and one LangFlow; cleans up every process it started."""

    def __init__(self, tmp_path: Path, database_url: str, langflow_url: str, api_key: str = API_KEY) -> None:
        self.tmp_path = tmp_path
        self.database_url = database_url
        self.langflow_url = langflow_url
        self.api_key = api_key
        self.started: list[DaemonProcess] = []

    def environment(self, env: dict[str, str] | None = None) -> dict[str, str]:
        inherited = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("LANGFLOW_", "DATABASE_URL", "TIMEZONE", "AUTOMAGIK_"))
        }
        return {
            **inherited,
            "PYTHONPATH": str(PROJECT_ROOT),
            "PYTHONUNBUFFERED": "1",
            "DATABASE_URL": self.database_url,
            "LANGFLOW_API_URL": self.langflow_url,
            "LANGFLOW_API_KEY": self.api_key,
            "LANGFLOW_CONNECT_TIMEOUT": "2",
            "LANGFLOW_READ_TIMEOUT": "30",
            **(env or {}),
        }

    def _command(self, workers: int | None, poll_seconds: float | None, args: Iterable[str]) -> list[str]:
        command = [sys.executable, str(DAEMON_SCRIPT)]
        if workers is not None:
            command += ["--workers", str(workers)]
        if poll_seconds is not None:
            command += ["--poll-seconds", str(poll_seconds)]
        return command + list(args)

    def start(
        self,
        *,
        workers: int | None = 4,
        poll_seconds: float | None = 0.2,
        env: dict[str, str] | None = None,
        args: Iterable[str] = (),
    ) -> DaemonProcess:
        name = f"daemon-{len(self.started) + 1}"
        log_path = self.tmp_path / f"{name}.log"
        with open(log_path, "wb") as log_file:
            proc = subprocess.Popen(
                self._command(workers, poll_seconds, args),
                cwd=self.tmp_path,  # no stray .env is read
                env=self.environment(env),
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )
        daemon = DaemonProcess(proc, log_path, name)
        self.started.append(daemon)
        return daemon

    def run(
        self,
        *,
        workers: int | None = None,
        poll_seconds: float | None = None,
        env: dict[str, str] | None = None,
        args: Iterable[str] = (),
        timeout: float = 30.0,
    ) -> CompletedDaemon:
        """Run a daemon to its end (`--once`, or a start-up refusal) and capture its output."""
        began = time.monotonic()
        completed = subprocess.run(
            self._command(workers, poll_seconds, args),
            cwd=self.tmp_path,
            env=self.environment(env),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        return CompletedDaemon(completed.returncode, completed.stdout, completed.stderr, time.monotonic() - began)

    def logs(self) -> str:
        return "\n".join(daemon.log_tail() for daemon in self.started)

    def cleanup(self) -> None:
        for daemon in self.started:
            if daemon.alive:
                daemon.kill()


# -- reading what the daemons did -------------------------------------------------------------


def all_tasks(db: Database) -> list[Task]:
    with db.read() as session:
        return list(session.scalars(select(Task).order_by(Task.scheduled_for, Task.id)))


def get_task(db: Database, task_id: str) -> Task:
    with db.read() as session:
        return session.get(Task, task_id)


def task_log_lines(db: Database, task_id: str) -> list[str]:
    with db.read() as session:
        return list(session.scalars(select(TaskLog.message).where(TaskLog.task_id == task_id).order_by(TaskLog.id)))


def all_log_lines(db: Database) -> list[tuple[str, str]]:
    """(task_id, message) for every task log line."""
    with db.read() as session:
        return [tuple(row) for row in session.execute(select(TaskLog.task_id, TaskLog.message).order_by(TaskLog.id))]


def unfinished(db: Database) -> list[Task]:
    with db.read() as session:
        return list(session.scalars(select(Task).where(Task.status.in_([TaskStatus.PENDING, TaskStatus.RUNNING]))))


def database_commits(db: Database) -> int:
    """PostgreSQL's count of committed transactions in this database (empty ones included)."""
    with db.engine.connect() as connection:
        return connection.execute(
            text("SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()")
        ).scalar_one()


def heartbeat_row(db: Database, pid: int) -> DaemonHeartbeat | None:
    with db.read() as session:
        return session.scalars(select(DaemonHeartbeat).where(DaemonHeartbeat.pid == pid)).first()


def heartbeat_rows(db: Database) -> list[DaemonHeartbeat]:
    with db.read() as session:
        return list(session.scalars(select(DaemonHeartbeat)))


def wait_registered(db: Database, daemon: DaemonProcess, timeout: float = 15.0) -> DaemonHeartbeat:
    """Wait until the daemon has written its heartbeat row (it is up and connected)."""

    def registered():
        if not daemon.alive:
            raise AssertionError(f"{daemon.name} exited early\n{daemon.log_tail()}")
        return heartbeat_row(db, daemon.pid)

    return wait_until(registered, timeout, f"{daemon.name} registers in the daemons table", details=daemon.log_tail)


def wait_status(
    db: Database, task_id: str, statuses: Iterable[TaskStatus], timeout: float, details: Callable[[], str] | None = None
) -> Task:
    wanted = set(statuses)

    def reached():
        task = get_task(db, task_id)
        return task if task is not None and task.status in wanted else None

    names = "/".join(sorted(s.value for s in wanted))
    return wait_until(reached, timeout, f"task {task_id} is {names}", details=details)


def wait_settled(db: Database, timeout: float, details: Callable[[], str] | None = None) -> None:
    """Wait until no task is pending or running."""
    wait_until(
        lambda: not unfinished(db),
        timeout,
        "no task is pending or running",
        details=lambda: f"unfinished: {[(t.id, t.status.value, t.tries) for t in unfinished(db)]}"
        + (f"\n{details()}" if details else ""),
    )


def run_inputs(langflow) -> list[str]:
    """The input text of every run the LangFlow test server received (from the input tweak)."""
    texts = []
    for run in langflow.runs:
        body = run.body if isinstance(run.body, dict) else {}
        text = body.get("input_value")
        for fields in (body.get("tweaks") or {}).values():
            if isinstance(fields, dict) and fields.get("input_value") is not None:
                text = fields["input_value"]
        texts.append(text)
    return texts
