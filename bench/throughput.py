"""Throughput: 10,000 runs due at once, completed runs per second, beside a plain request loop.

    python bench/throughput.py [--tiny] [--backends sqlite,postgresql] [--runs 10000] [--daemons 1]

Automagik: 10,000 interval schedules whose fire is the same instant; the daemon
(`scheduler_daemon.py --workers 16`) dispatches, claims, runs and records every one against
the LangFlow test server (no work per run). Rate = completed runs / (last finished_at - the
planned instant).

In the same run, against a fresh server of the same kind: a plain loop of 16 threads, each
with its own requests.Session, POSTing the daemon's request body and reading the JSON answer
10,000 times. Target: Automagik's rate / the plain loop's >= 0.5 (scheduling and database
work cost no more than the HTTP call itself). A third line, the same loop through
automagik's LangFlowClient (no scheduling, no database), splits the cost between the client
and the scheduler.
"""

from __future__ import annotations

import itertools
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the project root, for `python bench/...`

import requests  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from automagik.db.engine import Database  # noqa: E402
from automagik.db.models import Task, TaskStatus  # noqa: E402
from automagik.langflow import LangFlowClient  # noqa: E402
from bench.common import (  # noqa: E402
    API_KEY,
    ECHO_FLOW_ID,
    ECHO_INPUT,
    ECHO_OUTPUT,
    WORKERS,
    DaemonProcess,
    Databases,
    FakeServer,
    PySpy,
    Row,
    Workdir,
    backends_of,
    emit,
    fmt_count,
    judged,
    load_note,
    parser,
    profile_path,
    seed_schedules,
    sync_echo_flow,
    utcnow,
)

MEASURE = "throughput"


def run_automagik(
    databases: Databases,
    backend: str,
    runs: int,
    workdir: Path,
    timeout: float,
    profile: Path | None = None,
    daemons: int = 1,
) -> dict:
    server = FakeServer(workdir, f"lf-throughput-{backend}").start()
    url = databases.new(backend, f"throughput_{backend}")
    db = Database(url)
    try:
        sync_echo_flow(db, server.url)
        started = [
            DaemonProcess(url, server.url, workdir, name=f"daemon-throughput-{backend}-{n}").start(db)
            for n in range(daemons)
        ]
        daemon = started[0]
        try:
            t0 = utcnow() + timedelta(seconds=2.5 + runs * 0.0001)
            seed_schedules(db, [t0] * runs, timedelta(hours=1))
            # Late seeding only delays the start; the rate is measured from the planned instant,
            # so it would come out lower, never higher.
            while utcnow() < t0:
                time.sleep(0.05)
            cpu_before = sum(d.cpu_seconds() for d in started)
            deadline = time.monotonic() + timeout
            finished = [TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.SKIPPED]
            with PySpy(daemon.pid, profile):
                while time.monotonic() < deadline:
                    with db.read() as session:
                        done = session.scalar(select(func.count()).select_from(Task).where(Task.status.in_(finished)))
                    if done >= runs:
                        break
                    time.sleep(0.25)
            cpu = sum(d.cpu_seconds() for d in started) - cpu_before
        finally:
            for each in started:
                each.stop()
        with db.read() as session:
            completed = (
                session.scalar(select(func.count()).select_from(Task).where(Task.status == TaskStatus.COMPLETED)) or 0
            )
            last = session.scalar(select(func.max(Task.finished_at)))
        errors = [line for each in started for line in each.errors()]
    finally:
        db.dispose()
        server.stop()
        databases.drop(url)
    elapsed = (last - t0).total_seconds() if last else float("nan")
    return {
        "completed": completed,
        "elapsed": elapsed,
        "rate": completed / elapsed if last else 0.0,
        "cpu": cpu,
        "errors": errors,
    }


def _loop(runs: int, one_run) -> dict:
    """`runs` calls of one_run(thread_state) over WORKERS threads; the rate of the successful ones."""
    counter = itertools.count()
    lock = threading.Lock()
    outcome = {"ok": 0, "failed": 0}

    def worker() -> None:
        state: dict = {}
        ok = failed = 0
        while next(counter) < runs:
            try:
                one_run(state)
                ok += 1
            except Exception:  # noqa: BLE001 - counted
                failed += 1
        with lock:
            outcome["ok"] += ok
            outcome["failed"] += failed

    threads = [threading.Thread(target=worker, name=f"loop-{n}") for n in range(WORKERS)]
    cpu_before = time.process_time()
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    return {
        "completed": outcome["ok"],
        "failed": outcome["failed"],
        "elapsed": elapsed,
        "rate": outcome["ok"] / elapsed,
        "cpu": time.process_time() - cpu_before,
    }


def run_plain_loop(runs: int, workdir: Path) -> dict:
    """What a user's own loop would do: requests.Session per thread, POST, read the JSON."""
    with FakeServer(workdir, "lf-throughput-plain") as server:
        url = f"{server.url}/api/v1/run/{ECHO_FLOW_ID}"
        headers = {"x-api-key": API_KEY, "Accept": "application/json"}

        def one_run(state: dict) -> None:
            session = state.get("session")
            if session is None:
                session = state["session"] = requests.Session()
            body = {
                "input_type": "chat",
                "output_type": "chat",
                "output_component": ECHO_OUTPUT,
                "tweaks": {ECHO_INPUT: {"input_value": "hello"}},
            }
            response = session.post(url, params={"stream": "false"}, json=body, headers=headers, timeout=(5, 300))
            response.raise_for_status()
            response.json()

        return _loop(runs, one_run)


def run_client_loop(runs: int, workdir: Path) -> dict:
    """The same loop through automagik's LangFlowClient: the daemon's HTTP work without the scheduler."""
    with FakeServer(workdir, "lf-throughput-client") as server:

        def one_run(state: dict) -> None:
            client = state.get("client")
            if client is None:
                client = state["client"] = LangFlowClient(
                    server.url, api_key=API_KEY, connect_timeout=5, read_timeout=300
                )
            client.run_flow(
                ECHO_FLOW_ID, input_component=ECHO_INPUT, output_component=ECHO_OUTPUT, input_text="hello", timeout=300
            )

        return _loop(runs, one_run)


def main(argv: list[str] | None = None) -> int:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, help="runs due at once (default 10000, tiny 200)")
    p.add_argument("--daemons", type=int, default=1, help="daemon processes sharing the work (default 1)")
    args = p.parse_args(argv)
    tiny = args.tiny
    runs = args.runs or (200 if tiny else 10_000)
    timeout = max(60.0, runs / 20)
    size = f"{fmt_count(runs)} due at once"
    print(f"{MEASURE}: {load_note()}", flush=True)
    rows: list[Row] = []
    with Workdir("throughput") as workdir:
        print(f"  plain requests loop ({WORKERS} threads)...", flush=True)
        plain = run_plain_loop(runs, workdir)
        print(f"  LangFlowClient loop ({WORKERS} threads)...", flush=True)
        client = run_client_loop(runs, workdir)
        results = {}
        databases = Databases(workdir)
        try:
            for backend in backends_of(args):
                print(f"  automagik on {backend}...", flush=True)
                results[backend] = run_automagik(
                    databases,
                    backend,
                    runs,
                    workdir,
                    timeout,
                    profile_path(args, f"throughput-{backend}"),
                    args.daemons,
                )
        finally:
            databases.close()
    loop_rows = (("plain requests loop", plain), ("LangFlowClient loop", client))
    for name, loop in loop_rows:
        rows.append(Row(MEASURE, name, size, "runs per second", loop["rate"], "runs/s"))
        rows.append(
            Row(
                MEASURE,
                name,
                size,
                "CPU per run (client process)",
                loop["cpu"] / max(1, loop["completed"]) * 1000,
                "ms",
            )
        )
    for backend, result in results.items():
        system = f"automagik/{backend}" + (f" x{args.daemons} daemons" if args.daemons > 1 else "")
        rows.append(
            Row(
                MEASURE,
                system,
                size,
                "completed / due",
                f"{fmt_count(result['completed'])} / {fmt_count(runs)}",
                target="all",
                met=judged(tiny, result["completed"] == runs),
            )
        )
        rows.append(Row(MEASURE, system, size, "runs per second", result["rate"], "runs/s"))
        rows.append(
            Row(
                MEASURE,
                system,
                size,
                "CPU per run (daemon processes)" if args.daemons > 1 else "CPU per run (daemon process)",
                result["cpu"] / max(1, result["completed"]) * 1000,
                "ms",
            )
        )
        ratio = result["rate"] / plain["rate"] if plain["rate"] else float("nan")
        rows.append(
            Row(MEASURE, system, size, "ratio to the plain loop", ratio, "x", ">= 0.5", judged(tiny, ratio >= 0.5))
        )
        if result["errors"]:
            rows.append(Row(MEASURE, system, size, "note", f"daemon log: {result['errors'][0][:200]}"))
    emit(rows, args, f"{MEASURE} ({load_note()})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
