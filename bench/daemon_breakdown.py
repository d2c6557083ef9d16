"""Where a run's time goes inside the daemon: a diagnostic for a missed throughput or herd target.

    python bench/daemon_breakdown.py [--backends sqlite,postgresql] [--runs 3000 | --spread 1000 --seconds 20]

Runs the daemon in this process (automagik.daemon.loop.Daemon, 16 workers) on N runs due at
once against the LangFlow test server, with timing wrappers around its steps (nothing else
changes): per call and per completed run, the wall time and the CPU time (of the calling
thread) of each step: the tick, dispatch_due, record_and_claim, _soonest_due, the worker's
attempt and the LangFlow call. Items per record_and_claim call are the tasks it claimed. Not part of run_all.py: it names the
daemon's internals, so it follows them when they change.
"""

from __future__ import annotations

import sys
import threading
import time
from collections import defaultdict
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the project root, for `python bench/...`

from sqlalchemy import func, select  # noqa: E402

import automagik.daemon.loop as loop_module  # noqa: E402
import automagik.daemon.runner as runner_module  # noqa: E402
from automagik.config import Settings  # noqa: E402
from automagik.daemon.settings import DaemonSettings  # noqa: E402
from automagik.db.engine import Database  # noqa: E402
from automagik.db.models import Task, TaskStatus  # noqa: E402
from automagik.langflow import LangFlowClient  # noqa: E402
from bench.common import (  # noqa: E402
    API_KEY,
    WORKERS,
    Databases,
    FakeServer,
    Workdir,
    backends_of,
    load_note,
    parser,
    seed_schedules,
    sync_echo_flow,
    utcnow,
)


class Timings:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls: dict[str, int] = defaultdict(int)
        self.wall: dict[str, float] = defaultdict(float)
        self.cpu: dict[str, float] = defaultdict(float)
        self.items: dict[str, int] = defaultdict(int)

    def wrap(self, name: str, function, count_items=None):
        def timed(*args, **kwargs):
            wall, cpu = time.perf_counter(), time.thread_time()
            try:
                result = function(*args, **kwargs)
            finally:
                wall, cpu = time.perf_counter() - wall, time.thread_time() - cpu
                with self.lock:
                    self.calls[name] += 1
                    self.wall[name] += wall
                    self.cpu[name] += cpu
            if count_items:
                with self.lock:
                    self.items[name] += count_items(result)
            return result

        timed.__name__ = getattr(function, "__name__", name)
        return timed


# (label, owner, attribute, how to count the items of what it returns): the steps timed, where
# they exist. The loop's module holds the names it calls (from ... import ...), so those are
# patched there.
STEPS = (
    ("tick (all of it)", loop_module.Daemon, "tick", None),
    ("record_and_claim", loop_module, "record_and_claim", lambda result: len(result[1])),
    ("dispatch_due", loop_module, "dispatch_due", None),
    ("_soonest_due", loop_module.Daemon, "_soonest_due", None),
    ("worker attempt", runner_module.TaskRunner, "attempt", None),
    ("LangFlow call (run_flow)", LangFlowClient, "run_flow", None),
)


def measure(url: str, server_url: str, runs: int, spread: int = 0, seconds: float = 20.0) -> str:
    """`runs` runs due at once; or, with `spread`, that many schedules every 10 s spread evenly,
    measured over `seconds` (runs = the fires planned in that window)."""
    timings = Timings()
    patched = []
    for label, owner, attribute, count in STEPS:
        original = getattr(owner, attribute, None)
        if original is None:
            continue
        patched.append((owner, attribute, original))
        setattr(owner, attribute, timings.wrap(label, original, count_items=count))
    db = Database(url)
    try:
        t0 = utcnow() + timedelta(seconds=1.5)
        if spread:
            period = timedelta(seconds=10)
            seed_schedules(db, [t0 + period * i / spread for i in range(spread)], period)
            runs = int(spread * seconds / 10)
        else:
            seed_schedules(db, [t0] * runs, timedelta(hours=1))
        settings = Settings(langflow_api_url=server_url, langflow_api_key=API_KEY, database_url=url)
        daemon = loop_module.Daemon(settings, DaemonSettings(workers=WORKERS, log_level="WARNING"), db=Database(url))
        thread = threading.Thread(target=daemon.run, kwargs={"install_signals": False}, name="daemon")
        cpu_before = time.process_time()
        thread.start()
        t_end = t0 + timedelta(seconds=seconds)
        while True:
            with db.read() as session:
                query = select(func.count()).select_from(Task).where(Task.status == TaskStatus.COMPLETED)
                if spread:
                    query = query.where(Task.scheduled_for < t_end)
                done = session.scalar(query)
            if done >= runs and (not spread or utcnow() >= t_end):
                break
            time.sleep(0.2)
        with db.read() as session:
            last = session.scalar(select(func.max(Task.finished_at)))
        cpu = time.process_time() - cpu_before
        daemon.stop()
        thread.join(60)
    finally:
        for owner, attribute, original in patched:
            setattr(owner, attribute, original)
        db.dispose()
    elapsed = (last - t0).total_seconds()
    if spread:
        lines = [
            f"{spread} schedules every 10 s, spread: {runs} fires in {seconds:g} s; process CPU "
            f"{cpu * 1000 / runs:.2f} ms per fire ({cpu / elapsed * 100:.0f} % of a core)"
        ]
    else:
        lines = [
            f"{runs} runs in {elapsed:.2f} s: {runs / elapsed:.0f} runs/s; process CPU {cpu * 1000 / runs:.2f} ms per run"
        ]
    for label in ("record_and_claim",):
        if timings.calls[label]:
            lines.append(f"items per {label} call: {timings.items[label] / timings.calls[label]:.2f}")
    lines += ["", f"{'step':<26}{'calls':>8}{'per run':>9}{'wall/call':>11}{'cpu/call':>10}{'cpu/run':>9}"]
    for label, *_ in STEPS:
        calls = timings.calls[label]
        if not calls:
            continue
        lines.append(
            f"{label:<26}{calls:>8}{calls / runs:>9.2f}{timings.wall[label] / calls * 1000:>9.2f}ms"
            f"{timings.cpu[label] / calls * 1000:>8.2f}ms{timings.cpu[label] / runs * 1000:>7.2f}ms"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=3000)
    p.add_argument("--spread", type=int, default=0, help="instead: N schedules every 10 s, spread evenly")
    p.add_argument("--seconds", type=float, default=20.0, help="with --spread: the window measured")
    p.add_argument(
        "--switch-interval",
        type=float,
        help="an experiment: sys.setswitchinterval(S) first "
        "(Python's default 0.005: how long a thread waiting for the GIL may wait)",
    )
    args = p.parse_args(argv)
    if args.switch_interval:
        sys.setswitchinterval(args.switch_interval)
    print(f"daemon breakdown: {load_note()}; GIL switch interval {sys.getswitchinterval() * 1000:g} ms", flush=True)
    with Workdir("breakdown") as workdir, FakeServer(workdir) as server:
        databases = Databases(workdir)
        try:
            for backend in backends_of(args):
                url = databases.new(backend, f"breakdown_{backend}")
                db = Database(url)
                try:
                    sync_echo_flow(db, server.url)
                finally:
                    db.dispose()
                print(f"\n{backend}:\n{measure(url, server.url, args.runs, args.spread, args.seconds)}", flush=True)
                databases.drop(url)
        finally:
            databases.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
