"""Soak: under a herd and a LangFlow outage, the daemon never stalls and runs every fire exactly once.

    python bench/soak.py [--tiny] [--backends sqlite,postgresql] [--seconds 90] [--outage-seconds 30]
                         [--heartbeat-seconds 5] [--schedules 10000] [--herd 2000] [--unanalyzed]

10,000 interval schedules every 60 s against the LangFlow test server: 2,000 due in the same
second, half of those with their previous run still pending a retry (tries 1, next_retry_at
spread over the window: a retry does not hold its schedule, so the fire runs too), the other
8,000 spread evenly over the period; the planner's statistics are then gathered (ANALYZE), as
for a database in service (--unanalyzed leaves them out: a database just bulk-loaded).
LangFlow answers HTTP 500 to every run for the first 30 s, then recovers. The daemon
(automagik.daemon.loop.Daemon, 16 workers, default options, heartbeat every
--heartbeat-seconds: AUTOMAGIK_HEARTBEAT_SECONDS, default 5) runs in this process for 90 s,
with timing wrappers on that one instance (its code runs unchanged):

- every Daemon.beat call -> the longest gap between heartbeats, the end of the window
  included (a daemon that stopped beating shows); target <= 2 x the heartbeat interval;
- every Daemon.tick (polls, and ticks between polls) -> the longest tick;
- every write transaction of the daemon's Database (Database.write, from entering it to the
  end of its commit) -> the longest (target <= 200 ms) and the p99, and which function made it;
- the fires: each schedule's fires by its own trigger, from its seeded next_run_at up to 2 s
  before the end, against the tasks table: each (schedule_id, scheduled_for) exactly once (none
  missing; the unique key forbids two), no task off its schedule's trigger, and at the end no
  active schedule whose next_run_at is more than 2 s in the past.

--tiny: 300 schedules every 10 s, 60 at once, a 5 s outage, a 15 s window (no target judged).
For each backend, before the table: where the time went (bench/daemon_probe.py: write and read
transactions by the function that opened them, the longest writes with their statements, the
longest ticks and what they spent their time on, the longest heartbeat gap and the ticks in it),
to find the cause of a missed target.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the project root, for `python bench/...`

from sqlalchemy import func, select  # noqa: E402

from automagik.config import Settings  # noqa: E402
from automagik.daemon.loop import Daemon  # noqa: E402
from automagik.daemon.settings import DaemonSettings  # noqa: E402
from automagik.db import statistics  # noqa: E402
from automagik.db.engine import Database  # noqa: E402
from automagik.db.models import Schedule, ScheduleStatus, Task, TaskStatus  # noqa: E402
from automagik.runs.schedules import schedule_trigger  # noqa: E402
from bench.common import (  # noqa: E402
    API_KEY,
    WORKERS,
    Databases,
    FakeServer,
    Row,
    Workdir,
    backends_of,
    emit,
    fmt_count,
    insert_rows,
    interval_schedule_rows,
    judged,
    load_note,
    parser,
    percentile,
    sync_echo_flow,
    utcnow,
)
from bench.daemon_probe import DAEMON_THREAD, LogCapture, Probe, Timeline  # noqa: E402

MEASURE = "soak"
WRITE_TARGET_MS = 200.0
# Fires are checked up to this long before the end, and a schedule may lag this much at the
# end: a fire due in the last instant may be in a tick that has not committed yet.
SETTLE = timedelta(seconds=2)


@dataclass(frozen=True)
class Shape:
    schedules: int
    herd: int  # due in the same second; half of them with a retry pending
    period: timedelta  # every schedule's interval
    outage: float  # seconds LangFlow answers 500, from the daemon's start
    window: float  # seconds the daemon runs

    @property
    def label(self) -> str:
        return (
            f"{fmt_count(self.schedules)} schedules, {fmt_count(self.herd)} at once, "
            f"{self.outage:g} s down, {self.window:g} s"
        )


FULL = Shape(10_000, 2_000, timedelta(seconds=60), 30.0, 90.0)
TINY = Shape(300, 60, timedelta(seconds=10), 5.0, 15.0)


# -- seeding ------------------------------------------------------------------------------


@dataclass
class Seeded:
    schedules: list[dict]  # the rows as inserted (next_run_at: each schedule's first fire)
    retry_ids: set[str]  # the pending retries seeded: earlier runs, not fires of the soak


def ceil_to_second(moment: datetime) -> datetime:
    return moment if not moment.microsecond else moment.replace(microsecond=0) + timedelta(seconds=1)


def pending_retry_rows(schedules: list[dict], shape: Shape, t0: datetime, now: datetime):
    """The previous run of each schedule: it failed once (LangFlow down) and waits for a retry,
    due somewhere in the window. A task waiting for a retry does not hold its schedule."""
    span = timedelta(seconds=max(1.0, shape.window - 5))
    for index, schedule in enumerate(schedules):
        previous = schedule["next_run_at"] - shape.period
        yield {
            "id": str(uuid.uuid4()),
            "flow_id": schedule["flow_id"],
            "schedule_id": schedule["id"],
            "status": TaskStatus.PENDING,
            "input_data": schedule["flow_params"],
            "result": None,
            "error": "LangFlow answered HTTP 500",
            "tries": 1,
            "max_retries": schedule["max_retries"],
            "timeout_seconds": None,
            "scheduled_for": previous,
            "next_retry_at": t0 + span * (index + 1) / len(schedules),
            "claimed_by": None,
            "lease_until": None,
            "created_at": previous,
            "started_at": previous,
            "finished_at": None,
            "updated_at": now,
        }


def seed(db: Database, shape: Shape, t0: datetime) -> Seeded:
    """The herd's schedules (first fire t0) and the rest spread evenly over the period from t0;
    each sends its own input text (h0..., s0...) so a run at the server traces back to it."""
    now = utcnow()
    spread = shape.schedules - shape.herd
    herd = list(
        interval_schedule_rows([t0] * shape.herd, shape.period, now=now, inputs=[f"h{i}" for i in range(shape.herd)])
    )
    step = shape.period / max(1, spread)
    others = list(
        interval_schedule_rows(
            [t0 + step * i for i in range(spread)], shape.period, now=now, inputs=[f"s{i}" for i in range(spread)]
        )
    )
    insert_rows(db, Schedule.__table__, herd + others)
    retries = list(pending_retry_rows(herd[: shape.herd // 2], shape, t0, now))
    insert_rows(db, Task.__table__, retries)
    return Seeded(herd + others, {row["id"] for row in retries})


# -- the soak -----------------------------------------------------------------------------


@dataclass
class Soak:
    """What one soak measured; times are seconds since the daemon started."""

    backend: str
    shape: Shape
    beat_every: float  # seconds between the daemon's beats
    timeline: Timeline | None = None  # what the wrappers saw in the window
    behind: int = 0  # active schedules whose next_run_at was > SETTLE in the past at the end
    most_behind: float = 0.0  # seconds
    fires: FireCheck | None = None
    served: Counter = field(default_factory=Counter)  # HTTP status -> runs the server answered
    cpu: float = 0.0  # this process's CPU seconds over the window (the daemon, mostly)
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def sleep_until(moment: datetime) -> None:
    while (left := (moment - utcnow()).total_seconds()) > 0:
        time.sleep(min(left, 0.5))


def schedules_behind(db: Database, moment: datetime) -> tuple[int, float]:
    """How many active schedules have a next_run_at more than SETTLE before `moment`, and how far
    behind the oldest is (seconds): fires the daemon has not caught up with."""
    with db.read() as session:
        count, oldest = session.execute(
            select(func.count(), func.min(Schedule.next_run_at)).where(
                Schedule.status == ScheduleStatus.ACTIVE, Schedule.next_run_at < moment - SETTLE
            )
        ).one()
    return count, (moment - oldest).total_seconds() if oldest is not None else 0.0


def run_daemon(soak: Soak, url: str, server: FakeServer, db: Database, daemon_start: datetime) -> datetime:
    """The daemon in a thread of this process for the window, the outage starting with it;
    returns the end of the window (UTC)."""
    shape = soak.shape
    settings = Settings(langflow_api_url=server.url, langflow_api_key=API_KEY, database_url=url)
    options = DaemonSettings(workers=WORKERS, log_level="WARNING", heartbeat_seconds=soak.beat_every)
    daemon = Daemon(settings, options, db=Database(url))
    # The loop beats every min(heartbeat, lease / 4) seconds (leases are renewed with the beat).
    soak.beat_every = min(options.heartbeat_seconds, options.lease_seconds / 4)
    probe = Probe(daemon)
    crashed: list[BaseException] = []

    def run() -> None:
        try:
            daemon.run(install_signals=False)
        except BaseException as exc:  # noqa: BLE001 - reported beside the numbers
            crashed.append(exc)

    thread = threading.Thread(target=run, name=DAEMON_THREAD, daemon=True)
    sleep_until(daemon_start)
    server.start_outage()
    probe.restart_clock()
    cpu_before = time.process_time()
    thread.start()
    while (left := shape.window - probe.now()) > 0 and thread.is_alive():
        time.sleep(min(left, 0.5))
    window_end, end = probe.now(), utcnow()
    soak.cpu = time.process_time() - cpu_before
    soak.behind, soak.most_behind = schedules_behind(db, end)
    daemon.stop()
    thread.join(options.shutdown_grace_seconds + 60)
    if thread.is_alive():
        soak.notes.append("the daemon did not stop within its shutdown grace")
    if crashed:
        soak.notes.append(f"the daemon's run() raised {type(crashed[0]).__name__}: {crashed[0]}")
    soak.timeline = probe.timeline(window_end)
    return end


def run_soak(
    databases: Databases, backend: str, shape: Shape, beat_every: float, workdir: Path, analyze: bool = True
) -> Soak:
    soak = Soak(backend, shape, beat_every)
    url = databases.new(backend, f"soak_{backend}")
    db = Database(url)
    server = FakeServer(workdir, f"lf-soak-{backend}", fail_first_seconds=shape.outage)
    capture = LogCapture()
    automagik_log = logging.getLogger("automagik")
    automagik_log.addHandler(capture)
    try:
        server.start()  # inside the try: stopped whatever fails next
        sync_echo_flow(db, server.url)
        t0 = ceil_to_second(utcnow() + timedelta(seconds=2 + shape.schedules * 0.0003))
        seeded = seed(db, shape, t0)
        if analyze:
            statistics.analyze(db)  # as autovacuum (PostgreSQL) or `db init` would have for a database in service
        else:
            soak.notes.append("no planner statistics after seeding (--unanalyzed): a database just bulk-loaded")
        daemon_start = t0 - timedelta(seconds=1)  # idle for a second, then the herd
        if utcnow() > daemon_start:
            soak.notes.append("seeding overran its lead: the first fires were late for the benchmark's sake")
        end = run_daemon(soak, url, server, db, daemon_start)
        soak.fires = check_fires(db, seeded, end - SETTLE)
    finally:
        automagik_log.removeHandler(capture)
        soak.served = Counter(status for _, _, status in server.stop())
        db.dispose()
        databases.drop(url)
    soak.errors = capture.errors()
    return soak


# -- fires: expected against made ---------------------------------------------------------


@dataclass
class FireCheck:
    expected: int
    exactly_once: int
    duplicates: int  # fires with more than one task (the unique key should make this impossible)
    missing: list[tuple[str, datetime]]
    unexpected: list[tuple[str, datetime]]  # tasks whose fire is not one of its schedule's
    statuses: Counter  # the soak's tasks (fires) by status
    retries: Counter  # the seeded pending retries by status at the end


def expected_fires(schedules: list[dict], cutoff: datetime) -> set[tuple[str, datetime]]:
    """Every fire of every schedule from its seeded next_run_at up to `cutoff`, by its trigger."""
    fires = set()
    for row in schedules:
        trigger = schedule_trigger(Schedule(**row))
        fire = row["next_run_at"]
        while fire is not None and fire <= cutoff:
            fires.add((row["id"], fire))
            fire = trigger.next_fire_after(fire)
    return fires


def is_a_fire(trigger, first: datetime, fire: datetime) -> bool:
    """Whether `fire` is one of the trigger's fires at or after the schedule's first one."""
    return fire == first or (fire > first and trigger.next_fire_after(fire - timedelta(microseconds=1)) == fire)


def check_fires(db: Database, seeded: Seeded, cutoff: datetime) -> FireCheck:
    expected = expected_fires(seeded.schedules, cutoff)
    with db.read() as session:
        tasks = session.execute(select(Task.id, Task.schedule_id, Task.scheduled_for, Task.status)).all()
    fires = [(sid, planned, status) for tid, sid, planned, status in tasks if tid not in seeded.retry_ids]
    made = Counter((sid, planned) for sid, planned, _ in fires)
    by_id = {row["id"]: row for row in seeded.schedules}
    triggers = {sid: schedule_trigger(Schedule(**row)) for sid, row in by_id.items()}
    unexpected = [
        key
        for key in made
        if key[0] not in by_id or not is_a_fire(triggers[key[0]], by_id[key[0]]["next_run_at"], key[1])
    ]
    return FireCheck(
        expected=len(expected),
        exactly_once=sum(1 for key in expected if made[key] == 1),
        duplicates=sum(1 for n in made.values() if n > 1),
        missing=sorted((key for key in expected if key not in made), key=lambda k: k[1]),
        unexpected=sorted(unexpected, key=lambda k: k[1]),
        statuses=Counter(status.value for _, _, status in fires),
        retries=Counter(status.value for tid, _, _, status in tasks if tid in seeded.retry_ids),
    )


# -- what the wrappers saw ----------------------------------------------------------------


def diagnosis(soak: Soak) -> str:
    """Where the time went, to find the cause of a missed target."""
    timeline = soak.timeline
    lines = [
        f"\n{soak.backend}: where the time went (seconds since the daemon started; herd at +1 s, "
        f"LangFlow down until +{soak.shape.outage:g} s, window ends at +{timeline.end:.1f} s)",
        *timeline.report(),
    ]
    fires = soak.fires
    for name, keys in (("missing fires", fires.missing), ("tasks off their schedule's trigger", fires.unexpected)):
        if keys:
            lines.append(
                f"  {name}: {len(keys)}, the first: "
                + ", ".join(f"{sid[:8]} at {planned:%H:%M:%S.%f}" for sid, planned in keys[:5])
            )
    lines += [f"  daemon error: {error[:300]}" for error in soak.errors[:5]]
    return "\n".join(lines)


# -- rows ---------------------------------------------------------------------------------


STATUSES = ("completed", "failed", "pending", "running", "skipped")


def counts_text(counter: Counter) -> str:
    return " / ".join(fmt_count(counter[name]) for name in STATUSES)


def rows_for(soak: Soak, tiny: bool) -> list[Row]:
    system, size = f"automagik/{soak.backend}", soak.shape.label

    def row(metric, value, unit="", target="", ok=None) -> Row:
        return Row(MEASURE, system, size, metric, value, unit, target, None if ok is None else judged(tiny, ok))

    timeline, fires = soak.timeline, soak.fires
    gap_began, gap_ended = timeline.longest_gap()
    gap, gap_limit = gap_ended - gap_began, 2 * soak.beat_every
    writes = timeline.write_ms()
    longest_write = max(timeline.writes, key=lambda s: s.seconds, default=None)
    longest_tick = max(timeline.ticks, key=lambda s: s.seconds, default=None)
    rows = [
        row("longest heartbeat gap", gap, "s", f"<= {gap_limit:g} s", gap <= gap_limit),
        row("longest tick", longest_tick.seconds * 1000 if longest_tick else None, "ms"),
        row(
            "longest write transaction",
            writes[-1] if writes else None,
            "ms",
            f"<= {WRITE_TARGET_MS:g} ms",
            bool(writes) and writes[-1] <= WRITE_TARGET_MS,
        ),
        row("p99 write transaction", percentile(writes, 99), "ms"),
        row("write transactions", fmt_count(len(writes))),
    ]
    if longest_write is not None:
        rows.append(row("longest write transaction: by", f"{longest_write.what} at +{longest_write.began:.1f} s"))
    missing = len(fires.missing)
    rows += [
        row("fires expected", fmt_count(fires.expected)),
        row(
            "fires made exactly once",
            f"{fmt_count(fires.exactly_once)} / {fmt_count(fires.expected)}",
            target="all",
            ok=fires.exactly_once == fires.expected,
        ),
        row(
            "duplicates / missing",
            f"{fires.duplicates} / {missing}",
            target="0 / 0",
            ok=fires.duplicates == 0 and missing == 0,
        ),
        row("tasks off their schedule's trigger", len(fires.unexpected), target="0", ok=not fires.unexpected),
        row(
            f"schedules behind at the end (> {SETTLE.total_seconds():g} s)",
            f"{soak.behind}" + (f" (oldest {soak.most_behind:.1f} s)" if soak.behind else ""),
            target="0",
            ok=soak.behind == 0,
        ),
        row(f"fires' tasks at the end: {' / '.join(STATUSES)}", counts_text(fires.statuses)),
        row(f"seeded retries at the end: {' / '.join(STATUSES)}", counts_text(fires.retries)),
        row("runs answered HTTP 500 / 200", f"{fmt_count(soak.served[500])} / {fmt_count(soak.served[200])}"),
        row("process CPU (the daemon)", soak.cpu / max(timeline.end, 1e-9) * 100, "% of a core"),
    ]
    if soak.errors:
        rows.append(row("note", f"{len(soak.errors)} daemon error(s), first: {soak.errors[0][:160]}"))
    rows += [row("note", note) for note in soak.notes]
    return rows


def shape_of(args) -> Shape:
    base = TINY if args.tiny else FULL
    return Shape(
        schedules=args.schedules or base.schedules,
        herd=args.herd if args.herd is not None else base.herd,
        period=base.period,
        outage=args.outage_seconds if args.outage_seconds is not None else base.outage,
        window=args.seconds or base.window,
    )


def main(argv: list[str] | None = None) -> int:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, help="the window the daemon runs (default 90, tiny 15)")
    p.add_argument("--outage-seconds", type=float, help="LangFlow answers 500 this long (default 30, tiny 5)")
    p.add_argument(
        "--heartbeat-seconds",
        type=float,
        default=float(os.environ.get("AUTOMAGIK_HEARTBEAT_SECONDS") or 5.0),
        help="the daemon's heartbeat (default AUTOMAGIK_HEARTBEAT_SECONDS or 5)",
    )
    p.add_argument("--schedules", type=int, help="schedules in all (default 10000, tiny 300)")
    p.add_argument("--herd", type=int, help="of which due in the same second (default 2000, tiny 60)")
    p.add_argument(
        "--unanalyzed",
        action="store_true",
        help="leave the query planner without statistics after seeding (a database just bulk-loaded; "
        "on PostgreSQL until autovacuum's first ANALYZE, up to a minute into the soak)",
    )
    args = p.parse_args(argv)
    shape = shape_of(args)
    if not 0 <= shape.herd <= shape.schedules:
        p.error("--herd must be between 0 and --schedules")
    print(f"{MEASURE}: {shape.label}; {load_note()}", flush=True)
    rows: list[Row] = []
    with Workdir("soak") as workdir:
        databases = Databases(workdir)
        try:
            for backend in backends_of(args):
                print(f"  automagik on {backend}...", flush=True)
                soak = run_soak(databases, backend, shape, args.heartbeat_seconds, workdir, not args.unanalyzed)
                print(diagnosis(soak), flush=True)
                rows += rows_for(soak, args.tiny)
        finally:
            databases.close()
    emit(rows, args, f"{MEASURE} ({load_note()})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
