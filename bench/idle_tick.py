"""Idle daemon: the time of one dispatch tick with 100,000 schedules, none of them due.

    python bench/idle_tick.py [--tiny] [--backends sqlite,postgresql] [--schedules 100000]

The database holds 100,000 active interval schedules whose next fires are spread over the
next day, and one finished run of each (a history, as a daemon that has been running leaves
it). The daemon (automagik.daemon.loop.Daemon, 16 workers, built in this process) then ticks
again and again: each tick asks for due fires, claims runnable tasks and computes when to
wake next, exactly as the running loop does every second and at every wake-up. Target: one
tick <= 10 ms (the median; p95 and max shown).
"""

from __future__ import annotations

import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the project root, for `python bench/...`

from automagik.config import Settings  # noqa: E402
from automagik.daemon.loop import Daemon  # noqa: E402
from automagik.daemon.settings import DaemonSettings  # noqa: E402
from automagik.db.engine import Database  # noqa: E402
from automagik.db.models import Schedule, Task, TaskStatus  # noqa: E402
from bench.common import (  # noqa: E402
    API_KEY,
    ECHO_FLOW_ID,
    WORKERS,
    Databases,
    FakeServer,
    Row,
    Spread,
    Workdir,
    backends_of,
    emit,
    fmt_count,
    insert_rows,
    interval_schedule_rows,
    judged,
    load_note,
    parser,
    sync_echo_flow,
    utcnow,
)

MEASURE = "idle tick"


def seed(db: Database, schedules: int) -> None:
    now = utcnow()
    every = timedelta(days=1)
    # Next fires from 1 hour to 1 day ahead: nothing is due while we measure.
    first = [now + timedelta(hours=1) + (every - timedelta(hours=1)) * i / schedules for i in range(schedules)]
    rows = list(interval_schedule_rows(first, every, now=now))
    insert_rows(db, Schedule.__table__, rows)

    def history():
        for row in rows:
            planned = row["next_run_at"] - every
            yield {
                "id": str(uuid.uuid4()),
                "flow_id": ECHO_FLOW_ID,
                "schedule_id": row["id"],
                "status": TaskStatus.COMPLETED,
                "input_data": row["flow_params"],
                "result": {"text": "s", "status_code": 200},
                "error": None,
                "tries": 1,
                "max_retries": 3,
                "timeout_seconds": None,
                "scheduled_for": planned,
                "next_retry_at": None,
                "claimed_by": None,
                "lease_until": None,
                "created_at": planned,
                "started_at": planned,
                "finished_at": planned + timedelta(milliseconds=3),
                "updated_at": planned,
            }

    insert_rows(db, Task.__table__, history())


def measure(url: str, server_url: str, ticks: int) -> Spread:
    settings = Settings(langflow_api_url=server_url, langflow_api_key=API_KEY, database_url=url)
    db = Database(url)
    daemon = Daemon(settings, DaemonSettings(workers=WORKERS, log_level="WARNING"), db=db)
    try:
        for _ in range(5):  # warm: connections opened, statements compiled and cached
            daemon.tick()
        times = []
        for _ in range(ticks):
            began = time.perf_counter()
            daemon.tick()
            times.append(time.perf_counter() - began)
        if daemon.pool.busy_ids():
            raise RuntimeError("a tick claimed work: something was due")
        return Spread.of(times)
    finally:
        daemon.pool.close()
        db.dispose()


def main(argv: list[str] | None = None) -> int:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--schedules", type=int, help="default 100000, tiny 1000")
    p.add_argument("--ticks", type=int, help="ticks measured (default 200, tiny 20)")
    args = p.parse_args(argv)
    tiny = args.tiny
    schedules = args.schedules or (1000 if tiny else 100_000)
    ticks = args.ticks or (20 if tiny else 200)
    size = f"{fmt_count(schedules)} schedules"
    print(f"{MEASURE}: {load_note()}", flush=True)
    rows: list[Row] = []
    with Workdir("idle") as workdir, FakeServer(workdir) as server:
        databases = Databases(workdir)
        try:
            for backend in backends_of(args):
                print(f"  {backend}: seeding {fmt_count(schedules)} schedules...", flush=True)
                url = databases.new(backend, f"idle_{backend}")
                db = Database(url)
                try:
                    sync_echo_flow(db, server.url)
                    seed(db, schedules)
                finally:
                    db.dispose()
                spread = measure(url, server.url, ticks)
                databases.drop(url)
                base = dict(measure=MEASURE, backend=f"automagik/{backend}", size=size)
                rows.append(
                    Row(
                        **base,
                        metric="tick p50 / p95 / max",
                        value=f"{spread.p50 * 1000:.2f} / {spread.p95 * 1000:.2f} / {spread.max * 1000:.2f}",
                        unit="ms",
                    )
                )
                rows.append(
                    Row(
                        **base,
                        metric="tick (median)",
                        value=spread.p50 * 1000,
                        unit="ms",
                        target="<= 10 ms",
                        met=judged(tiny, spread.p50 * 1000 <= 10),
                    )
                )
        finally:
            databases.close()
    emit(rows, args, f"{MEASURE} ({load_note()})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
