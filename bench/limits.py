"""Limits: a flow limited to 4 runs at once, held by the database across 3 daemons.

    python bench/limits.py [--tiny] [--backends postgresql] [--runs 200] [--daemons 3] [--limit 4]

N manual runs of one flow whose every run takes 0.2 s at the LangFlow test server, the flow
limited to 4 runs at once (`flows update --max-concurrency 4`), 3 daemon processes
(`scheduler_daemon.py --workers 16` each, so 48 workers could run at once). From the tasks'
started_at and finished_at: the most runs ever in flight together (target: never above the
limit) and the throughput beside the limit's ideal, limit / 0.2 s (target: within 10 %).
Every run must complete; none is skipped or failed for waiting.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the project root, for `python bench/...`

from sqlalchemy import select  # noqa: E402

from automagik.db.engine import Database  # noqa: E402
from automagik.db.models import Task, TaskStatus  # noqa: E402
from automagik.services import flows as flow_service  # noqa: E402
from automagik.services import tasks as task_service  # noqa: E402
from bench.common import (  # noqa: E402
    ECHO_FLOW_ID,
    DaemonProcess,
    Databases,
    FakeServer,
    Row,
    Workdir,
    backends_of,
    emit,
    fmt_count,
    judged,
    load_note,
    parser,
    sync_echo_flow,
)

MEASURE = "limits"
RUN_SECONDS = 0.2


def most_in_flight(spans: list[tuple[float, float]]) -> int:
    """The most intervals [start, end) overlapping at one instant."""
    events = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])  # ends sort first
    most = current = 0
    for _, step in events:
        current += step
        most = max(most, current)
    return most


def run_case(databases: Databases, backend: str, runs: int, daemons: int, limit: int, workdir: Path) -> dict:
    server = FakeServer(workdir, f"lf-limits-{backend}", latency=RUN_SECONDS).start()
    url = databases.new(backend, f"limits_{backend}")
    db = Database(url)
    started = []
    try:
        sync_echo_flow(db, server.url)
        flow_service.update_flow_settings(db, ECHO_FLOW_ID, max_concurrency=limit)
        started = [
            DaemonProcess(url, server.url, workdir, name=f"daemon-limits-{backend}-{n}").start(db)
            for n in range(daemons)
        ]
        for _ in range(runs):
            task_service.run_flow_now(db, ECHO_FLOW_ID, '{"input": "x"}', max_retries=0)
        deadline = time.monotonic() + 60 + runs * RUN_SECONDS / limit * 3
        while time.monotonic() < deadline:
            with db.read() as session:
                left = session.scalars(
                    select(Task.id).where(Task.status.in_([TaskStatus.PENDING, TaskStatus.RUNNING])).limit(1)
                ).first()
            if left is None:
                break
            time.sleep(0.25)
        with db.read() as session:
            rows = session.execute(select(Task.status, Task.started_at, Task.finished_at)).all()
    finally:
        for each in started:
            each.stop()
        errors = [line for each in started for line in each.errors()]
        db.dispose()
        server.stop()
        databases.drop(url)
    done = [(s.timestamp(), f.timestamp()) for status, s, f in rows if status is TaskStatus.COMPLETED]
    elapsed = max(f for _, f in done) - min(s for s, _ in done) if done else float("nan")
    return {
        "completed": len(done),
        "other": len(rows) - len(done),
        "most": most_in_flight(done),
        "rate": len(done) / elapsed if done else 0.0,
        "errors": errors,
    }


def main(argv: list[str] | None = None) -> int:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, help="runs queued at once (default 200, tiny 20)")
    p.add_argument("--daemons", type=int, default=3)
    p.add_argument("--limit", type=int, default=4, help="the flow's runs at once")
    p.set_defaults(backends="postgresql")
    args = p.parse_args(argv)
    runs = args.runs or (20 if args.tiny else 200)
    ideal = args.limit / RUN_SECONDS
    size = f"{fmt_count(runs)} runs of {RUN_SECONDS:g} s, limit {args.limit}, {args.daemons} daemons"
    print(f"{MEASURE}: {load_note()}", flush=True)
    rows: list[Row] = []
    with Workdir("limits") as workdir:
        databases = Databases(workdir)
        try:
            for backend in backends_of(args):
                print(f"  {backend}...", flush=True)
                result = run_case(databases, backend, runs, args.daemons, args.limit, workdir)
                who = f"automagik/{backend}"
                rows += [
                    Row(
                        MEASURE,
                        who,
                        size,
                        "most runs in flight at once",
                        result["most"],
                        "",
                        f"<= {args.limit}",
                        judged(args.tiny, result["most"] <= args.limit),
                    ),
                    Row(
                        MEASURE,
                        who,
                        size,
                        "runs completed / other",
                        f"{result['completed']} / {result['other']}",
                        "",
                        "all / 0",
                        judged(args.tiny, result["completed"] == runs and result["other"] == 0),
                    ),
                    Row(
                        MEASURE,
                        who,
                        size,
                        "throughput",
                        result["rate"],
                        "runs/s",
                        f">= {0.9 * ideal:g} (90 % of {ideal:g})",
                        judged(args.tiny, result["rate"] >= 0.9 * ideal),
                    ),
                ]
                for line in result["errors"][:5]:
                    print(f"  daemon error: {line}", flush=True)
        finally:
            databases.close()
    emit(rows, args, f"{MEASURE} ({load_note()})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
