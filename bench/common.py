"""What the benchmarks share: result rows and tables, percentiles, fresh databases, fast seeding,
the LangFlow test server as a process, and the scheduler daemon as a process.

Every benchmark script imports this module first (it puts the project root on sys.path, so
`python bench/x.py` works from anywhere), takes --tiny (CI sizes), --backends and --rows-out,
and prints its own table of Rows.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, func, insert, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from automagik.db import migrate  # noqa: E402
from automagik.db.engine import Database  # noqa: E402
from automagik.db.models import (  # noqa: E402
    DaemonHeartbeat,
    Flow,
    MissedRunPolicy,
    Schedule,
    ScheduleStatus,
    Task,
    TaskStatus,
)
from automagik.langflow import LangFlowClient  # noqa: E402
from automagik.scheduling import ScheduleType  # noqa: E402
from automagik.scheduling.interval import format_interval  # noqa: E402
from automagik.services import flows as flow_service  # noqa: E402
from tests.support.postgres import PostgresUnavailable, ThrowawayPostgres  # noqa: E402

PYTHON = sys.executable
API_KEY = "sk-bench-5c1f8d2e"
# The test server's "Echo" flow: one chat input, one chat output, selected by a sync.
ECHO_FLOW_ID = "4ef644de-8b5e-473d-a647-e4622ae4f6ea"
ECHO_INPUT, ECHO_OUTPUT = "ChatInput-acc01", "ChatOutput-acc02"
TWO_OUT_FLOW_ID = "45a6305e-b02f-47db-8c1f-a603a8da457d"
WORKERS = 16
BACKENDS = ("sqlite", "postgresql")


# -- results ------------------------------------------------------------------------------


@dataclass
class Row:
    """One measured number: what, where, how big, its value, and the target it is held to."""

    measure: str
    backend: str
    size: str
    metric: str
    value: float | int | str | None
    unit: str = ""
    target: str = ""
    met: bool | None = None  # None: no target, or not judged (tiny sizes)

    def shown_value(self) -> str:
        value = self.value
        if value is None:
            return "-"
        if isinstance(value, float):
            if math.isnan(value):
                return "-"
            magnitude = abs(value)
            value = f"{value:.0f}" if magnitude >= 100 else f"{value:.1f}" if magnitude >= 10 else f"{value:.2f}"
        return f"{value} {self.unit}".strip()

    def shown_met(self) -> str:
        return {True: "yes", False: "NO", None: "-"}[self.met]


COLUMNS = ("measure", "backend", "size", "metric", "value", "target", "met?")


def _cells(row: Row) -> list[str]:
    return [row.measure, row.backend, row.size, row.metric, row.shown_value(), row.target or "-", row.shown_met()]


def table(rows: Sequence[Row]) -> str:
    """A plain-text table for the terminal."""
    cells = [list(COLUMNS)] + [_cells(r) for r in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(COLUMNS))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(line, widths, strict=False)).rstrip() for line in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def markdown_table(rows: Sequence[Row]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for row in rows:
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in _cells(row)) + " |")
    return "\n".join(lines)


def judged(tiny: bool, ok: bool) -> bool | None:
    """Targets are for the real sizes; at --tiny a row only proves the benchmark still runs."""
    return None if tiny else ok


def emit(rows: Sequence[Row], args: argparse.Namespace, title: str) -> None:
    """Print the script's own table; with --rows-out also write the rows (JSON lines) for run_all."""
    print(f"\n{title}")
    print(table(rows), flush=True)
    if getattr(args, "rows_out", None):
        with open(args.rows_out, "a", encoding="utf-8") as handle:
            for row in rows:
                handle.write(json.dumps(asdict(row)) + "\n")


def read_rows(path: str | Path) -> list[Row]:
    path = Path(path)
    if not path.exists():
        return []
    return [Row(**json.loads(line)) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--tiny", action="store_true", help="CI sizes: proves the benchmark runs, judges no target")
    p.add_argument("--backends", default=",".join(BACKENDS), help="comma-separated: sqlite,postgresql")
    p.add_argument("--rows-out", help="append the result rows here as JSON lines (used by run_all.py)")
    p.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="py-spy the measured process (GIL-holding samples) into DIR/*.txt; "
        "summarise with bench/profile_summary.py",
    )
    return p


def profile_path(args: argparse.Namespace, name: str) -> Path | None:
    if not getattr(args, "profile", None):
        return None
    args.profile.mkdir(parents=True, exist_ok=True)
    return args.profile / f"{name}.txt"


def backends_of(args: argparse.Namespace) -> list[str]:
    chosen = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = set(chosen) - set(BACKENDS)
    if unknown:
        raise SystemExit(f"unknown backend(s): {', '.join(sorted(unknown))}; use {', '.join(BACKENDS)}")
    return chosen


def fmt_count(n: int) -> str:
    return f"{n:,}"


# -- statistics ---------------------------------------------------------------------------


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) of already sorted values, linearly interpolated (numpy's default)."""
    if not sorted_values:
        return float("nan")
    position = (len(sorted_values) - 1) * q / 100.0
    low = math.floor(position)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (position - low)


@dataclass(frozen=True)
class Spread:
    n: int
    p50: float
    p95: float
    p99: float
    max: float

    @classmethod
    def of(cls, values: Iterable[float]) -> Spread:
        ordered = sorted(values)
        if not ordered:
            nan = float("nan")
            return cls(0, nan, nan, nan, nan)
        return cls(len(ordered), percentile(ordered, 50), percentile(ordered, 95), percentile(ordered, 99), ordered[-1])


# -- processes and the machine ------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process {proc.args!r} exited with {proc.returncode} before listening")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listened on 127.0.0.1:{port} within {timeout:g} s")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mb() -> float:
    """This process's peak resident memory, in MB.

    VmHWM (the high-water mark of this process's own memory) rather than getrusage's
    ru_maxrss: Linux carries ru_maxrss across execve, so a child started from a big parent
    would report the parent's peak (after seeding a million rows, that is most of it).
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def current_rss_mb() -> float:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / (1024.0 * 1024.0)


def load_note() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} CPUs"


def stop_process(proc: subprocess.Popen, timeout: float = 60.0) -> int | None:
    """SIGTERM, wait, SIGKILL if it would not stop; returns the exit code."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    return proc.returncode


class FakeServer:
    """bench/fake_server.py in its own process on 127.0.0.1; stop() returns the recorded arrivals."""

    def __init__(
        self, workdir: Path, name: str = "langflow", *, fail_first_seconds: float = 0.0, latency: float = 0.0
    ) -> None:
        self.port = free_port()
        self.latency = latency  # seconds every run takes
        self.record = workdir / f"{name}-{self.port}-arrivals.json"
        self.log = workdir / f"{name}-{self.port}.log"
        self.fail_first_seconds = fail_first_seconds  # an outage: runs answer HTTP 500 (see fake_server.py)
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeServer:
        with open(self.log, "w") as log:
            self.proc = subprocess.Popen(
                [
                    PYTHON,
                    "-m",
                    "bench.fake_server",
                    "--port",
                    str(self.port),
                    "--api-key",
                    API_KEY,
                    "--record",
                    str(self.record),
                    "--fail-first-seconds",
                    str(self.fail_first_seconds),
                    "--latency",
                    str(self.latency),
                ],
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
            )
        wait_for_port(self.port, 30, self.proc)
        return self

    def start_outage(self) -> None:
        """Start the fail_first_seconds outage again from now (a benchmark's own start)."""
        if self.proc is None or self.fail_first_seconds <= 0:
            raise RuntimeError("start_outage needs a running server made with fail_first_seconds")
        self.proc.send_signal(signal.SIGUSR1)

    def stop(self) -> list[tuple[float, str | None, int | None]]:
        """Stop the server; [(received_at epoch, input text, status)] for every run it served."""
        if self.proc is None:
            return []
        stop_process(self.proc, timeout=60)
        self.proc = None
        if not self.record.exists():
            return []
        return [tuple(item) for item in json.loads(self.record.read_text())]

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# -- databases ----------------------------------------------------------------------------


class BenchPostgres(ThrowawayPostgres):
    """A throwaway PostgreSQL server with PostgreSQL's own durability defaults (fsync and
    synchronous_commit on, as a user runs it), unlike the test suite's (which turns them off)."""

    SPEED_OPTIONS = ""


class Databases:
    """Fresh, migrated databases on demand: a new SQLite file each, or a new database in one
    PostgreSQL server started on first use (and stopped by close())."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self._postgres: BenchPostgres | None = None

    def new(self, backend: str, name: str) -> str:
        name = "".join(c if c.isalnum() else "_" for c in name.lower())
        if backend == "sqlite":
            path = self.workdir / f"{name}.db"
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
            url = f"sqlite:///{path}"
        elif backend == "postgresql":
            if self._postgres is None:
                self._postgres = BenchPostgres().start()
            admin = create_engine(self._postgres.url, isolation_level="AUTOCOMMIT")
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
                connection.execute(text(f'CREATE DATABASE "{name}"'))
            admin.dispose()
            url = make_url(self._postgres.url).set(database=name).render_as_string(hide_password=False)
        else:
            raise ValueError(backend)
        database = Database(url)
        migrate.upgrade(database)
        database.dispose()
        return url

    def drop(self, url: str) -> None:
        """Free the disk a large database took (a SQLite file, or a PostgreSQL database)."""
        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite":
            for suffix in ("", "-wal", "-shm"):
                Path(f"{parsed.database}{suffix}").unlink(missing_ok=True)
        elif self._postgres is not None:
            admin = create_engine(self._postgres.url, isolation_level="AUTOCOMMIT")
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)'))
            admin.dispose()

    def close(self) -> None:
        if self._postgres is not None:
            self._postgres.stop()
            self._postgres = None


def postgres_available() -> bool:
    """Whether PostgreSQL's server binaries are installed (scripts/test.sh installs them)."""
    from tests.support.postgres import _bin_dir

    try:
        _bin_dir()
        return True
    except PostgresUnavailable:
        return False


class Workdir:
    """A temporary folder for databases, logs and records, removed at the end."""

    def __init__(self, prefix: str) -> None:
        self.path = Path(tempfile.mkdtemp(prefix=f"automagik-bench-{prefix}-"))

    def __enter__(self) -> Path:
        return self.path

    def __exit__(self, *exc: object) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


# -- seeding ------------------------------------------------------------------------------


def utcnow() -> datetime:
    return datetime.now(UTC)


def sync_echo_flow(db: Database, server_url: str, *, two_out_too: bool = False) -> None:
    """Sync the test server's flows (Echo selects its components itself), as `flows sync` does."""
    with LangFlowClient(server_url, api_key=API_KEY, connect_timeout=5, read_timeout=30) as client:
        flow_service.sync_flows(db, client)
    if two_out_too:
        flow_service.set_components(db, TWO_OUT_FLOW_ID, "ChatInput-tw001", "ChatOutput-tw002")
    with db.read() as session:
        flow = session.get(Flow, ECHO_FLOW_ID)
        if flow is None or not flow.is_ready:
            raise RuntimeError("the Echo flow is not ready after a sync")


def insert_rows(db: Database, table, rows: Iterable[dict], chunk: int = 5000) -> int:
    """Bulk insert, one transaction per `chunk` rows: SQLAlchemy core executemany on SQLite,
    COPY FROM STDIN on PostgreSQL (many times faster there than INSERTs)."""
    write = _copy_chunk if db.dialect == "postgresql" else _insert_chunk
    done, batch = 0, []
    for row in rows:
        batch.append(row)
        if len(batch) == chunk:
            write(db, table, batch)
            done, batch = done + len(batch), []
    if batch:
        write(db, table, batch)
        done += len(batch)
    return done


def _insert_chunk(db: Database, table, batch: list[dict]) -> None:
    with db.engine.begin() as connection:
        connection.execute(insert(table), batch)


def _copy_value(value: object) -> str:
    """One CSV field for COPY: NULL is an empty unquoted field, anything else is quoted."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}")
        value = value.isoformat()
    elif isinstance(value, (dict, list)):
        value = json.dumps(value)
    elif isinstance(value, bool):
        value = "t" if value else "f"
    elif hasattr(value, "value") and isinstance(value.value, str):  # our str enums
        value = value.value
    return '"' + str(value).replace('"', '""') + '"'


def _copy_chunk(db: Database, table, batch: list[dict]) -> None:
    import io

    columns = list(batch[0])
    buffer = io.StringIO()
    for row in batch:
        buffer.write(",".join(_copy_value(row[c]) for c in columns))
        buffer.write("\n")
    buffer.seek(0)
    raw = db.engine.raw_connection()
    try:
        with raw.cursor() as cursor:
            cursor.copy_expert(f'COPY {table.name} ({", ".join(columns)}) FROM STDIN WITH (FORMAT csv)', buffer)
        raw.commit()
    finally:
        raw.close()


def interval_schedule_rows(
    first_fires: Sequence[datetime],
    every: timedelta,
    *,
    flow_id: str = ECHO_FLOW_ID,
    now: datetime | None = None,
    inputs: Sequence[str] | None = None,
) -> Iterator[dict]:
    """Active interval schedules whose first fire is each of `first_fires` (anchor = first - every),
    each sending its own input text ("s0", "s1"... unless given) so a run can be traced back."""
    now = now or utcnow()
    expr = format_interval(every)
    for index, first in enumerate(first_fires):
        yield {
            "id": str(uuid.uuid4()),
            "flow_id": flow_id,
            "schedule_type": ScheduleType.INTERVAL,
            "schedule_expr": expr,
            "timezone": "UTC",
            "anchor_at": first - every,
            "flow_params": {"input": inputs[index] if inputs else f"s{index}", "tweaks": {}},
            "next_run_at": first,
            "status": ScheduleStatus.ACTIVE,
            "max_retries": 3,
            "timeout_seconds": None,
            "missed_policy": MissedRunPolicy.COALESCE,
            "last_run_at": None,
            "created_at": now,
            "updated_at": now,
        }


def seed_schedules(db: Database, first_fires: Sequence[datetime], every: timedelta, **kwargs) -> list[str]:
    rows = list(interval_schedule_rows(first_fires, every, **kwargs))
    insert_rows(db, Schedule.__table__, rows)
    return [row["id"] for row in rows]


# -- the daemon ---------------------------------------------------------------------------


def daemon_environment(database_url: str, server_url: str, extra: dict | None = None) -> dict:
    environ = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AUTOMAGIK_", "LANGFLOW_")) and k not in ("DATABASE_URL", "TIMEZONE")
    }
    environ.update(
        {
            "PYTHONPATH": str(ROOT),
            "DATABASE_URL": database_url,
            "LANGFLOW_API_URL": server_url,
            "LANGFLOW_API_KEY": API_KEY,
            "TIMEZONE": "UTC",
            "AUTOMAGIK_LOG_LEVEL": "WARNING",
        }
    )
    environ.update(extra or {})
    return environ


class DaemonProcess:
    """`scheduler_daemon.py --workers 16` as a process, logging to a file in the work folder."""

    def __init__(
        self,
        database_url: str,
        server_url: str,
        workdir: Path,
        *,
        workers: int = WORKERS,
        extra_env: dict | None = None,
        name: str = "daemon",
    ) -> None:
        self.database_url, self.server_url, self.workdir = database_url, server_url, workdir
        self.workers, self.extra_env = workers, extra_env
        self.log = workdir / f"{name}.log"
        self.proc: subprocess.Popen | None = None

    def start(self, db: Database, timeout: float = 60.0) -> DaemonProcess:
        """Start it and wait until its heartbeat row shows it running (its first tick is next)."""
        with open(self.log, "w") as log:
            self.proc = subprocess.Popen(
                [PYTHON, str(ROOT / "scheduler_daemon.py"), "--workers", str(self.workers)],
                cwd=self.workdir,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=daemon_environment(self.database_url, self.server_url, self.extra_env),
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the daemon exited with {self.proc.returncode}:\n{self.log.read_text()[-3000:]}")
            with db.read() as session:
                if session.scalar(
                    select(func.count()).select_from(DaemonHeartbeat).where(DaemonHeartbeat.pid == self.proc.pid)
                ):
                    return self
            time.sleep(0.05)
        raise RuntimeError(f"the daemon did not start within {timeout:g} s")

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.pid)

    def stop(self, timeout: float = 90.0) -> int | None:
        if self.proc is None:
            return None
        code = stop_process(self.proc, timeout)
        return code

    def errors(self) -> list[str]:
        """Log lines at ERROR or worse (the daemon logs at WARNING here)."""
        if not self.log.exists():
            return []
        return [line for line in self.log.read_text().splitlines() if " ERROR " in line or "Traceback" in line]


def task_status_counts(db: Database, where=None) -> dict[str, int]:
    query = select(Task.status, func.count()).group_by(Task.status)
    if where is not None:
        query = query.where(where)
    with db.read() as session:
        return {status.value: n for status, n in session.execute(query)}


def finished_statuses() -> list[TaskStatus]:
    return [TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.SKIPPED]


def git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10
        )
        commit = out.stdout.strip() or "unknown"
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        return commit + ("+changes" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


# -- profiling ----------------------------------------------------------------------------


class PySpy:
    """`py-spy record --gil` on a process for as long as the context lasts; collapsed stacks to
    `path` (summarise with bench/profile_summary.py). Does nothing when py-spy is missing."""

    def __init__(self, pid: int, path: Path | None, rate: int = 250) -> None:
        self.pid, self.path, self.rate = pid, path, rate
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> PySpy:
        spy = shutil.which("py-spy") or str(Path(PYTHON).parent / "py-spy")
        if self.path is None or not Path(spy).exists():
            return self
        self.proc = subprocess.Popen(
            [
                spy,
                "record",
                "--pid",
                str(self.pid),
                "--format",
                "raw",
                "--output",
                str(self.path),
                "--rate",
                str(self.rate),
                "--gil",
                "--nonblocking",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGINT)  # py-spy writes its output on Ctrl-C
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
