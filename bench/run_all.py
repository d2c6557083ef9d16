"""Run every benchmark, print one table, and append it to BENCHMARKS.md.

    .venv/bin/python bench/run_all.py [--tiny] [--no-append] [--backends sqlite,postgresql] [--only NAME,...]

Each benchmark runs as its own process (one crash does not stop the others; it shows as a
row with met? = NO). The table's rows are: measure, backend, size, metric, value, target,
met?. Appended to BENCHMARKS.md with the date, the CPU count and the commit. --tiny runs the
CI sizes (they prove the benchmarks still work; no target is judged at those sizes).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the project root, for `python bench/...`

from bench.common import PYTHON, ROOT, Row, git_commit, load_note, markdown_table, read_rows, table  # noqa: E402

BENCHMARKS = {
    "dispatch_lateness": "dispatch lateness",
    "throughput": "throughput",
    "dashboard_scale": "dashboard",
    "idle_tick": "idle tick",
    "soak": "soak",
    "limits": "limits",
}
RESULTS_FILE = ROOT / "BENCHMARKS.md"
HEADER = """# Benchmarks

Appended by `bench/run_all.py` (see the README's "Benchmarks" section); newest last. Each run
says when, on how many CPUs, at which commit and how loaded the machine was: numbers from a
busy machine are noisy, compare runs from the same machine. `met?` is judged only at the real
sizes (`--tiny` runs only prove the benchmarks still work). What each measure does is in the
docstring of its script in bench/.
"""


def run_one(name: str, args: argparse.Namespace, rows_out: Path) -> tuple[int, float, str]:
    command = [PYTHON, str(ROOT / "bench" / f"{name}.py"), "--rows-out", str(rows_out)]
    if args.tiny:
        command.append("--tiny")
    if args.backends:
        command += ["--backends", args.backends]
    began = time.monotonic()
    print(f"== {name}: {' '.join(command[1:])}", flush=True)
    completed = subprocess.run(
        command, cwd=ROOT, stdout=sys.stdout, stderr=subprocess.PIPE, text=True, timeout=args.timeout
    )
    if completed.stderr:
        sys.stderr.write(completed.stderr[-5000:])
    tail = (completed.stderr or "").strip().splitlines()
    return completed.returncode, time.monotonic() - began, tail[-1] if tail else ""


def append_results(
    rows: list[Row], args: argparse.Namespace, started: datetime, seconds: float, commit: str, load_at_start: str
) -> None:
    heading = (
        f"## {started:%Y-%m-%d %H:%M} UTC · commit {commit} · {os.cpu_count()} CPUs · "
        f"{'tiny (CI) sizes' if args.tiny else 'real sizes'}"
    )
    details = (
        f"Backends: {args.backends or 'sqlite,postgresql'}. Took {seconds / 60:.1f} min. "
        f"Machine at the start: {load_at_start}; at the end: {load_note()}."
    )
    text = RESULTS_FILE.read_text(encoding="utf-8") if RESULTS_FILE.exists() else HEADER
    if not text.endswith("\n"):
        text += "\n"
    text += f"\n{heading}\n\n{details}\n\n{markdown_table(rows)}\n"
    RESULTS_FILE.write_text(text, encoding="utf-8")
    print(f"\nappended to {RESULTS_FILE}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tiny", action="store_true", help="CI sizes (seconds, not minutes); no target judged")
    p.add_argument("--no-append", action="store_true", help="print the table only; leave BENCHMARKS.md alone")
    p.add_argument("--backends", help="comma-separated: sqlite,postgresql (default both)")
    p.add_argument("--only", help=f"comma-separated subset of: {', '.join(BENCHMARKS)}")
    p.add_argument("--timeout", type=float, help="seconds each benchmark may take (default: none; tiny 300)")
    args = p.parse_args(argv)
    if args.timeout is None and args.tiny:
        args.timeout = 300
    chosen = [n.strip() for n in args.only.split(",")] if args.only else list(BENCHMARKS)
    unknown = [n for n in chosen if n not in BENCHMARKS]
    if unknown:
        p.error(f"unknown benchmark(s): {', '.join(unknown)}")
    started = datetime.now(UTC)
    began = time.monotonic()
    commit, load_at_start = git_commit(), load_note()
    print(f"benchmarks at {started:%Y-%m-%d %H:%M} UTC, commit {commit}, {load_at_start}", flush=True)
    rows: list[Row] = []
    failed = 0
    with tempfile.TemporaryDirectory(prefix="automagik-bench-rows-") as tmp:
        for name in chosen:
            rows_out = Path(tmp) / f"{name}.jsonl"
            try:
                code, seconds, last_line = run_one(name, args, rows_out)
            except subprocess.TimeoutExpired:
                code, seconds, last_line = -1, args.timeout or 0, f"timed out after {args.timeout:g} s"
            produced = read_rows(rows_out)
            rows += produced
            if code != 0 or not produced:
                failed += 1
                rows.append(
                    Row(BENCHMARKS[name], "-", "-", "benchmark crashed", f"exit {code}: {last_line}"[:200], met=False)
                )
            print(f"== {name}: exit {code} after {seconds:.0f} s", flush=True)
    seconds = time.monotonic() - began
    print(f"\nAll benchmarks ({'tiny' if args.tiny else 'real'} sizes), {seconds / 60:.1f} min, {load_note()}")
    print(table(rows))
    if not args.no_append:
        append_results(rows, args, started, seconds, commit, load_at_start)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
