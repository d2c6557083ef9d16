"""Dashboard scale: each page's server-side render time with 1,000 and 1,000,000 runs in the
history, the renderer's peak memory, and a CSV export of every run.

    python bench/dashboard_scale.py [--tiny] [--backends sqlite,postgresql] [--sizes 1000,1000000]
                                    [--only calendar,pages,paging,export,schedules]

For each backend and size, a fresh database is seeded with bulk inserts: the test server's
two flows, 20 schedules (one of which has never run, like a new schedule), and N runs spread
over the last 60 days (90 % completed, 6 % failed, 4 % skipped, 5 % manual, two log lines
each, as the daemon writes them; every completed run reported token usage, as an LLM flow's do,
and one in 50 of them names a model without a price). Then, each in its own process:

- render: app.py under streamlit.testing.v1.AppTest (as tests/ui does), then every page in
  pages/ twice; a page's time is `at.run()` after switching to it (the second visit is judged;
  the first, which imports the page's modules, is shown). Peak RSS of that process.
- export: every run as CSV through automagik.services.export (the CLI's and the dashboard's
  streamed rows), written to a file; RSS sampled as it goes: it must stay flat.
- download: the dashboard's "Download CSV" of every run ("All time"), which builds the whole
  file in memory (one byte buffer) before handing it to Streamlit; its peak RSS.
- calendar: the run calendar's counts (automagik.services.run_calendar: twelve months of days
  in Europe/Berlin: whole history, one flow and the busiest schedule), timed in this process,
  the median of 5 calls.
- paging: the Tasks page with "All time" (every run) rendered at its first page, a middle
  page and its last page, each reached by typing its number, as AppTest runs: the median of
  3 runs of the script at that page; and the list's service call alone
  (automagik.services.task_pages) for the same pages, the median of 5 calls.

Then, in a fresh database of 10,000 schedules (500 with --tiny; half cron in three zones, half
interval) and no runs, the Schedules and Tasks pages rendered as above.

Targets at 1,000,000 runs: every page <= 1 s and <= 2x its time at 1,000; export memory flat;
the calendar (whole history) <= 300 ms; the Tasks page at its middle and last pages <= 2x its
time at its first page. With 10,000 schedules: the Schedules page <= 300 ms.

--only runs some of the cases (each seeds its databases): calendar, pages (the render, the
export and the download), paging, schedules. --calendar-only is --only calendar.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the project root, for `python bench/...`

from sqlalchemy import func, select  # noqa: E402

from automagik.db.engine import Database  # noqa: E402
from automagik.db.models import LogLevel, Schedule, Task, TaskLog, TaskStatus  # noqa: E402
from automagik.services import schedules as schedule_service  # noqa: E402
from bench.common import (  # noqa: E402
    API_KEY,
    ECHO_FLOW_ID,
    PYTHON,
    ROOT,
    TWO_OUT_FLOW_ID,
    Databases,
    FakeServer,
    Row,
    Workdir,
    backends_of,
    current_rss_mb,
    emit,
    fmt_count,
    insert_rows,
    judged,
    load_note,
    parser,
    peak_rss_mb,
    sync_echo_flow,
    utcnow,
)

MEASURE = "dashboard"
HELPERS = {
    "common",
    "chart_views",
    "calendar_view",
    "backfill_form",
    "run_view",
    "schedule_forms",
    "range_charts",
    "frame",
    "__init__",
}
HISTORY = timedelta(days=60)
CALENDAR_TARGET_MS = 300
SCHEDULES = 10_000  # the Schedules page's scale
SCHEDULES_TARGET_MS = 300
PAGING_FACTOR = 2  # the Tasks page's middle and last pages against its first
CASES = ("calendar", "pages", "paging", "schedules")
CALENDAR_ZONE = "Europe/Berlin"  # a zone with DST: its days are computed, not a UTC offset
OUTPUTS = {ECHO_FLOW_ID: "ChatOutput-acc02", TWO_OUT_FLOW_ID: "ChatOutput-tw002"}


def page_files() -> list[str]:
    """The page scripts in pages/ (those that call frame.ensure()), overview first."""
    found = []
    for path in sorted((ROOT / "pages").glob("*.py")):
        if path.stem in HELPERS:
            continue
        if "ensure()" in path.read_text(encoding="utf-8"):
            found.append(path.stem)
    return sorted(found, key=lambda name: (name != "overview", name))


# -- seeding ------------------------------------------------------------------------------


def seed(db: Database, server_url: str, runs: int) -> float:
    """Flows, 20 schedules and `runs` runs with their log lines; returns the seconds it took."""
    began = time.perf_counter()
    sync_echo_flow(db, server_url, two_out_too=True)
    schedule_ids = []
    for n in range(20):
        flow = ECHO_FLOW_ID if n % 2 == 0 else TWO_OUT_FLOW_ID
        spec = (
            schedule_service.ScheduleSpec(flow, "interval", f"{5 + n}m", {"input": f"hello {n}"})
            if n % 3
            else schedule_service.ScheduleSpec(flow, "cron", f"{n} * * * *", {"input": f"hi {n}"})
        )
        schedule_ids.append(schedule_service.create_schedule(db, spec).id)
    now = utcnow()
    oldest = now - HISTORY
    step = (HISTORY - timedelta(minutes=1)) / max(1, runs)
    rng = random.Random(5)
    ids = [str(uuid.uuid4()) for _ in range(runs)]

    def tasks():
        for i in range(runs):
            planned = oldest + step * i
            flow = ECHO_FLOW_ID if i % 2 == 0 else TWO_OUT_FLOW_ID
            roll = rng.random()
            status = TaskStatus.COMPLETED if roll < 0.90 else TaskStatus.FAILED if roll < 0.96 else TaskStatus.SKIPPED
            text = f"hello {i % 1000}"
            started = planned + timedelta(milliseconds=2) if status is not TaskStatus.SKIPPED else None
            finished = planned + timedelta(milliseconds=2 + rng.randint(1, 3000))
            done = status is TaskStatus.COMPLETED
            priced = i % 50 != 0
            yield {
                "id": ids[i],
                "flow_id": flow,
                # Every 20th run is manual, which leaves the 20th schedule without runs (a new one).
                "schedule_id": None if i % 20 == 19 else schedule_ids[(i // 2) % 10 * 2 + (i % 2)],
                "status": status,
                "input_data": {"input": text, "tweaks": {}},
                "result": {
                    "text": text,
                    "session_id": flow,
                    "component_id": OUTPUTS[flow],
                    "message": {"text": text, "sender": "Machine", "sender_name": "AI", "session_id": flow},
                    "latency_ms": 3.2,
                    "status_code": 200,
                }
                if status is TaskStatus.COMPLETED
                else None,
                "error": (
                    "LangFlow answered HTTP 500: Error running graph: simulated failure in ChatOutput"
                    if status is TaskStatus.FAILED
                    else "skipped: the previous run of this schedule was still going"
                    if status is TaskStatus.SKIPPED
                    else None
                ),
                "tries": 0 if status is TaskStatus.SKIPPED else 4 if status is TaskStatus.FAILED else 1,
                "max_retries": 3,
                "timeout_seconds": None,
                "scheduled_for": planned,
                "next_retry_at": None,
                "claimed_by": None,
                "lease_until": None,
                "created_at": planned,
                "started_at": started,
                "finished_at": finished,
                "updated_at": finished,
                "input_tokens": 1200 if done else None,
                "output_tokens": 300 if done else None,
                "total_tokens": 1500 if done else None,
                "model": ("gpt-4o-mini" if priced else "llama3:8b") if done else None,
                "cost_usd": 0.00036 if done and priced else None,
            }

    def logs():
        for i in range(runs):
            planned = oldest + step * i
            yield {
                "task_id": ids[i],
                "level": LogLevel.INFO,
                "message": "try 1 of 4: sent to LangFlow by daemon " "bench:4242:a1b2c3",
                "created_at": planned,
            }
            yield {
                "task_id": ids[i],
                "level": LogLevel.INFO,
                "message": "LangFlow answered HTTP 200 in 3 ms: " "9 characters from ChatOutput-acc02",
                "created_at": planned + timedelta(milliseconds=5),
            }

    insert_rows(db, Task.__table__, tasks(), chunk=10_000)
    insert_rows(db, TaskLog.__table__, logs(), chunk=20_000)
    if db.dialect == "postgresql":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("VACUUM ANALYZE")  # as autovacuum would have by now
    else:
        with db.engine.begin() as connection:
            connection.exec_driver_sql("ANALYZE")
    return time.perf_counter() - began


# -- children: each measure in a process of its own ------------------------------------------


def _child_env(url: str, server_url: str) -> dict:
    environ = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AUTOMAGIK_", "LANGFLOW_")) and k not in ("DATABASE_URL", "TIMEZONE")
    }
    environ.update(
        {
            "PYTHONPATH": str(ROOT),
            "DATABASE_URL": url,
            "LANGFLOW_API_URL": server_url,
            "LANGFLOW_API_KEY": API_KEY,
            "TIMEZONE": "UTC",
            # AppTest runs each fragment once per run; no timers are wanted (as in tests/ui).
            "AUTOMAGIK_DASHBOARD_REFRESH_SECONDS": "0",
        }
    )
    return environ


def run_child(mode: str, url: str, server_url: str, workdir: Path, timeout: float, budget: float = 0) -> dict:
    out = workdir / f"{mode}-{time.monotonic_ns()}.json"
    completed = subprocess.run(
        [PYTHON, str(Path(__file__).resolve()), f"--{mode}", url, "--child-out", str(out), "--budget", str(budget)],
        cwd=workdir,
        env=_child_env(url, server_url),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if completed.returncode != 0 or not out.exists():
        tail = (completed.stderr or completed.stdout).strip()[-2000:]
        raise RuntimeError(f"the {mode} process failed ({completed.returncode}):\n{tail}")
    return json.loads(out.read_text())


def child_render(child_out: Path) -> None:
    from streamlit.runtime.scriptrunner import script_runner
    from streamlit.testing.v1 import AppTest

    from tests.ui.streamlit_pages_mode import checked_streamlit, run_app_py

    # As tests/ui/conftest.py: AppTest would otherwise run page files alone (Streamlit's older
    # pages/-folder mode); run app.py each time, as the server does once st.navigation ran.
    checked_streamlit()
    script_runner._mpa_v1 = run_app_py
    pages = page_files()
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=600)
    began = time.perf_counter()
    at.run()
    startup = time.perf_counter() - began
    first, again, problems = {}, {}, []
    for visit in (first, again):
        for page in pages:
            began = time.perf_counter()
            at.switch_page(f"pages/{page}.py").run()
            visit[page] = time.perf_counter() - began
            problems += [f"{page}: {e.value}" for e in at.exception] + [f"{page}: {e.value}" for e in at.error]
    child_out.write_text(
        json.dumps(
            {
                "startup": startup,
                "first": first,
                "again": again,
                "peak_rss_mb": peak_rss_mb(),
                "problems": sorted(set(problems)),
            }
        )
    )


def child_paging(url: str, child_out: Path) -> None:
    """The Tasks page over every run ("All time") at its first, a middle and its last page."""
    from streamlit.runtime.scriptrunner import script_runner
    from streamlit.testing.v1 import AppTest

    from automagik.services import task_pages
    from automagik.services.tasks import TaskFilter
    from tests.ui.streamlit_pages_mode import checked_streamlit, run_app_py

    checked_streamlit()
    script_runner._mpa_v1 = run_app_py
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=600)
    at.run()
    at.switch_page("pages/tasks.py").run()
    at.selectbox(key="tasks_range").select("All time").run()
    pages = at.pagination[0].num_pages
    chosen = {"first": 1, "middle": (pages + 1) // 2, "last": pages}
    render, service, problems = {}, {}, []
    for label, number in chosen.items():
        at.number_input(key="tasks_page_number").set_value(number)
        times = []
        for _ in range(3):
            began = time.perf_counter()
            at.run()
            times.append(time.perf_counter() - began)
        render[label] = sorted(times)[1]
        if at.pagination[0].value != number:
            problems.append(f"{label}: page {at.pagination[0].value} shown, not {number}")
        problems += [f"{label}: {e.value}" for e in [*at.exception, *at.error]]
    db = Database(url)
    try:
        for label, number in chosen.items():
            task_pages.task_page(db, TaskFilter(), number, 25)
            times = []
            for _ in range(5):
                began = time.perf_counter()
                task_pages.task_page(db, TaskFilter(), number, 25)
                times.append(time.perf_counter() - began)
            service[label] = sorted(times)[2]
    finally:
        db.dispose()
    child_out.write_text(
        json.dumps({"pages": pages, "chosen": chosen, "render": render, "service": service, "problems": problems})
    )


def measure_paging(
    url: str, server_url: str, workdir: Path, system: str, size: str, judge: bool, tiny: bool
) -> list[Row]:
    """Rows for the Tasks page at its first, middle and last page; targets when `judge`."""
    try:
        paging = run_child("paging", url, server_url, workdir, 600)
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        return [Row(MEASURE, system, size, "paging failed", str(exc).strip().splitlines()[-1][:200], met=False)]
    rows = []
    first = paging["render"]["first"] * 1000
    for label, number in paging["chosen"].items():
        ms = paging["render"][label] * 1000
        target, met = "", None
        if judge and label != "first":
            target, met = f"<= {PAGING_FACTOR}x {first:.0f} ms", judged(tiny, ms <= PAGING_FACTOR * first)
        name = f"page tasks, all time, page {number:,} of {paging['pages']:,} ({label}): render"
        rows.append(Row(MEASURE, system, size, name, ms, "ms", target, met))
    for label, number in paging["chosen"].items():
        name = f"tasks list page {number:,} ({label}, service)"
        rows.append(Row(MEASURE, system, size, name, paging["service"][label] * 1000, "ms"))
    if paging["problems"]:
        rows.append(Row(MEASURE, system, size, "note", "; ".join(paging["problems"])[:300], met=False))
    return rows


def child_export(url: str, child_out: Path, budget: float) -> None:
    """Stream the CSV to a file for at most `budget` seconds, sampling RSS at every chunk."""
    from automagik.services.export import export_tasks_csv

    db = Database(url)
    target = child_out.with_suffix(".csv")
    samples: list[tuple[int, float]] = []
    rows, finished = 0, True
    began = time.perf_counter()
    with open(target, "w", encoding="utf-8", newline="") as handle:
        for chunk in export_tasks_csv(db):
            handle.write(chunk)
            rows += chunk.count("\n")  # no cell of this data holds a newline
            samples.append((rows, current_rss_mb()))
            if time.perf_counter() - began > budget:
                finished = False
                break
    elapsed = time.perf_counter() - began
    size = target.stat().st_size
    target.unlink()
    db.dispose()
    rows -= 1  # the header
    early = next((rss for n, rss in samples if n >= rows * 0.1), samples[0][1])
    child_out.write_text(
        json.dumps(
            {
                "rows": rows,
                "seconds": elapsed,
                "bytes": size,
                "finished": finished,
                "rss_at_10pct": early,
                "rss_end": samples[-1][1],
                "rss_max": max(r for _, r in samples),
                "peak_rss_mb": peak_rss_mb(),
            }
        )
    )


def child_download(url: str, child_out: Path, budget: float) -> None:
    """What pages/tasks.py's download button does with the "All time" filter: every chunk's
    bytes into one io.BytesIO, then its value handed to Streamlit (which keeps it). Stops
    reading after `budget` seconds (then the rows it got). Mirrors the page's csv_bytes():
    change both together."""
    import io

    from automagik.services.export import export_tasks_csv

    db = Database(url)
    base = current_rss_mb()
    began = time.perf_counter()
    buffer, rows, finished = io.BytesIO(), 0, True
    for chunk in export_tasks_csv(db):
        buffer.write(chunk.encode("utf-8"))
        rows += chunk.count("\n")
        if time.perf_counter() - began > budget:
            finished = False
            break
    data = buffer.getvalue()
    elapsed = time.perf_counter() - began
    size = len(data)
    del data, buffer
    db.dispose()
    child_out.write_text(
        json.dumps(
            {
                "seconds": elapsed,
                "bytes": size,
                "rows": rows - 1,
                "finished": finished,
                "rss_before": base,
                "peak_rss_mb": peak_rss_mb(),
            }
        )
    )


def time_calendar(url: str, scope: str = "all", calls: int = 5) -> float:
    """The run calendar's service call over every run, one flow's (Echo, half of them) or the
    schedule with the most runs; median milliseconds of `calls` (after one warm-up)."""
    from automagik.services.run_calendar import run_calendar
    from automagik.services.tasks import TaskFilter

    db = Database(url)
    try:
        if scope == "schedule":
            with db.read() as session:
                busiest = session.scalar(
                    select(Task.schedule_id)
                    .where(Task.schedule_id.is_not(None))
                    .group_by(Task.schedule_id)
                    .order_by(func.count().desc())
                    .limit(1)
                )
            filters = TaskFilter(schedule_id=busiest)
        else:
            filters = TaskFilter(flow_id=ECHO_FLOW_ID) if scope == "flow" else TaskFilter()
        run_calendar(db, CALENDAR_ZONE, filters)
        times = []
        for _ in range(calls):
            began = time.perf_counter()
            run_calendar(db, CALENDAR_ZONE, filters)
            times.append((time.perf_counter() - began) * 1000)
        return sorted(times)[len(times) // 2]
    finally:
        db.dispose()


def seed_schedules(db: Database, server_url: str, count: int) -> None:
    """The test server's flows and `count` schedules (half cron in three zones, half interval),
    bulk-inserted as a team's database would hold them after a while."""
    sync_echo_flow(db, server_url, two_out_too=True)
    now = utcnow()
    rng = random.Random(7)
    zones = ("UTC", "Europe/Berlin", "America/New_York")

    def schedules():
        for n in range(count):
            cron = n % 2 == 0
            yield {
                "id": str(uuid.uuid4()),
                "flow_id": ECHO_FLOW_ID if n % 3 else TWO_OUT_FLOW_ID,
                "schedule_type": "cron" if cron else "interval",
                "schedule_expr": f"{n % 60} {n % 24} * * *" if cron else f"{5 + n % 500}m",
                "timezone": rng.choice(zones),
                "anchor_at": now,
                "flow_params": {"input": f"hello {n}"},
                "next_run_at": now + timedelta(seconds=n),
                "status": "active",
                "max_retries": 3,
                "timeout_seconds": None,
                "missed_policy": "coalesce",
                "last_run_at": None,
                "created_at": now,
                "updated_at": now,
                "alert_after_failures": 1,
            }

    insert_rows(db, Schedule.__table__, schedules())


def measure_schedules(url: str, server_url: str, workdir: Path, system: str, count: int, tiny: bool) -> list[Row]:
    """The Schedules page (and Tasks, whose filter lists every schedule) with `count` schedules."""
    size = f"{fmt_count(count)} schedules"
    print(f"  {system.split('/')[-1]}, {size}: seeding and rendering...", flush=True)
    db = Database(url)
    try:
        seed_schedules(db, server_url, count)
    finally:
        db.dispose()
    try:
        render = run_child("render", url, server_url, workdir, 600)
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        return [Row(MEASURE, system, size, "render failed", str(exc).strip().splitlines()[-1][:200], met=False)]
    rows = []
    for page in ("schedules", "tasks"):
        again = render["again"][page] * 1000
        target, met = (
            ("", None)
            if page != "schedules"
            else (f"<= {SCHEDULES_TARGET_MS} ms", judged(tiny, again <= SCHEDULES_TARGET_MS))
        )
        rows.append(Row(MEASURE, system, size, f"page {page}: render", again, "ms", target, met))
    return rows


# -- the benchmark --------------------------------------------------------------------------


def measure_size(
    url: str,
    server_url: str,
    workdir: Path,
    system: str,
    runs: int,
    sizes: list[int],
    by_size: dict[int, dict],
    tiny: bool,
    budget: float,
    only: frozenset[str] = frozenset(CASES),
) -> list[Row]:
    """Seed one database and run the `only` cases' children against it; a failing child is a
    note row."""
    size = f"{fmt_count(runs)} runs"
    backend = system.split("/")[-1]
    rows: list[Row] = []
    print(f"  {backend}, {size}: seeding...", flush=True)
    db = Database(url)
    try:
        seconds = seed(db, server_url, runs)
    finally:
        db.dispose()
    rows.append(Row(MEASURE, system, size, "seed (bulk insert, runs + 2 log lines each)", runs / seconds, "runs/s"))
    if "calendar" in only:
        print(f"  {backend}, {size}: run calendar...", flush=True)
        everything = time_calendar(url)
        target, met = "", None
        if runs == max(sizes):
            target, met = f"<= {CALENDAR_TARGET_MS} ms", judged(tiny, everything <= CALENDAR_TARGET_MS)
        rows.append(Row(MEASURE, system, size, "run calendar, 12 months (service)", everything, "ms", target, met))
        one_flow = time_calendar(url, "flow")
        rows.append(Row(MEASURE, system, size, "run calendar, one flow (service)", one_flow, "ms"))
        one_schedule = time_calendar(url, "schedule")
        rows.append(Row(MEASURE, system, size, "run calendar, one schedule (service)", one_schedule, "ms"))
    if "paging" in only:
        print(f"  {backend}, {size}: the Tasks page's first, middle and last pages...", flush=True)
        rows += measure_paging(url, server_url, workdir, system, size, runs == max(sizes), tiny)
    if "pages" not in only:
        return rows
    try:
        print(f"  {backend}, {size}: rendering the pages...", flush=True)
        render = run_child("render", url, server_url, workdir, 300 + runs / 500)
        by_size[runs] = render
        smallest = by_size.get(min(sizes))
        for page in sorted(render["again"], key=lambda name: (name != "overview", name)):
            again = render["again"][page] * 1000
            target, met = "", None
            if runs == max(sizes) and runs != min(sizes) and smallest and page in smallest["again"]:
                base = smallest["again"][page] * 1000
                target = f"<= 1000 ms and <= 2x {base:.0f} ms"
                met = judged(tiny, again <= 1000 and again <= 2 * base)
            rows.append(Row(MEASURE, system, size, f"page {page}: render", again, "ms", target, met))
            rows.append(Row(MEASURE, system, size, f"page {page}: first visit", render["first"][page] * 1000, "ms"))
        rows.append(Row(MEASURE, system, size, "renderer peak RSS", render["peak_rss_mb"], "MB"))
        if render["problems"]:
            rows.append(Row(MEASURE, system, size, "note", "; ".join(render["problems"])[:300]))
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        rows.append(Row(MEASURE, system, size, "render failed", str(exc).strip().splitlines()[-1][:200], met=False))
    try:
        print(f"  {backend}, {size}: CSV export (at most {budget:g} s)...", flush=True)
        export = run_child("export", url, server_url, workdir, budget + 300, budget)
        growth = export["rss_end"] - export["rss_at_10pct"]
        rate = export["rows"] / export["seconds"]
        done = (
            "" if export["finished"] else f" (stopped after {export['seconds']:.0f} s at {fmt_count(export['rows'])})"
        )
        rows.append(Row(MEASURE, system, size, "CSV export (streamed) rows/s" + done, rate, "rows/s"))
        if not export["finished"]:
            rows.append(
                Row(
                    MEASURE,
                    system,
                    size,
                    "CSV export: all rows at that rate would take",
                    runs / rate / 60,
                    "min",
                    f"finishes within {budget:g} s",
                    judged(tiny, False),
                )
            )
        rows.append(
            Row(
                MEASURE,
                system,
                size,
                "CSV export RSS at 10% / end / peak",
                f"{export['rss_at_10pct']:.0f} / {export['rss_end']:.0f} / {export['peak_rss_mb']:.0f}",
                "MB",
            )
        )
        flat_target, flat_met = "", None
        if runs == max(sizes):
            flat_target, flat_met = "flat: <= 20 MB growth after 10%", judged(tiny, growth <= 20)
        rows.append(Row(MEASURE, system, size, "CSV export RSS growth after 10%", growth, "MB", flat_target, flat_met))
        if export["finished"] and export["rows"] != runs:
            rows.append(Row(MEASURE, system, size, "note", f"export wrote {export['rows']} of {runs} rows"))
        print(f"  {backend}, {size}: dashboard download, all time (at most {budget:g} s)...", flush=True)
        download = run_child("download", url, server_url, workdir, budget + 300, budget)
        label = "" if download["finished"] else f" (first {fmt_count(download['rows'])} rows)"
        rows.append(
            Row(
                MEASURE,
                system,
                size,
                "dashboard Download CSV (all time): peak RSS" + label,
                download["peak_rss_mb"],
                "MB",
            )
        )
        rows.append(
            Row(MEASURE, system, size, "dashboard Download CSV (all time): file" + label, download["bytes"] / 1e6, "MB")
        )
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        rows.append(Row(MEASURE, system, size, "export failed", str(exc).strip().splitlines()[-1][:200], met=False))
    return rows


def main(argv: list[str] | None = None) -> int:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--sizes", help="runs in the history, comma-separated (default 1000,1000000; tiny 200,2000)")
    p.add_argument("--render", metavar="URL", help="(internal) render the pages against URL")
    p.add_argument("--export", metavar="URL", help="(internal) export every run of URL as CSV")
    p.add_argument("--download", metavar="URL", help="(internal) build the dashboard's all-time download")
    p.add_argument("--child-out", type=Path, help="(internal) where a child writes its result")
    p.add_argument("--paging", metavar="URL", help="(internal) render the Tasks page's pages against URL")
    p.add_argument("--only", help=f"comma-separated cases to run, of {','.join(CASES)} (default all)")
    p.add_argument("--calendar-only", action="store_true", help="the same as --only calendar")
    p.add_argument(
        "--budget",
        type=float,
        help="seconds the export and the download may read rows "
        "(default 180, tiny 60); past it they stop and report the rate they reached",
    )
    args = p.parse_args(argv)
    if args.render:
        child_render(args.child_out)
        return 0
    if args.paging:
        child_paging(args.paging, args.child_out)
        return 0
    if args.export:
        child_export(args.export, args.child_out, args.budget)
        return 0
    if args.download:
        child_download(args.download, args.child_out, args.budget)
        return 0
    only = frozenset(c.strip() for c in ("calendar" if args.calendar_only else args.only or ",".join(CASES)).split(","))
    if only - set(CASES) or not only:
        p.error(f"--only takes cases from {', '.join(CASES)}, not {args.only!r}")
    tiny = args.tiny
    budget = args.budget or (60.0 if tiny else 180.0)
    sizes = [int(s) for s in (args.sizes or ("200,2000" if tiny else "1000,1000000")).split(",")]
    pages = page_files()
    if not pages:
        raise SystemExit("no page scripts found in pages/")
    print(f"{MEASURE}: pages {', '.join(pages)}; {load_note()}", flush=True)
    rows: list[Row] = []
    with Workdir("dashboard") as workdir, FakeServer(workdir) as server:
        databases = Databases(workdir)
        try:
            for backend in backends_of(args):
                system = f"automagik/{backend}"
                by_size: dict[int, dict] = {}
                for runs in sizes if only - {"schedules"} else ():
                    url = databases.new(backend, f"dashboard_{backend}_{runs}")
                    try:
                        rows += measure_size(url, server.url, workdir, system, runs, sizes, by_size, tiny, budget, only)
                    finally:
                        databases.drop(url)
                if "schedules" not in only:
                    continue
                url = databases.new(backend, f"dashboard_{backend}_schedules")
                try:
                    rows += measure_schedules(url, server.url, workdir, system, 500 if tiny else SCHEDULES, tiny)
                finally:
                    databases.drop(url)
        finally:
            databases.close()
    emit(rows, args, f"{MEASURE} ({load_note()})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
