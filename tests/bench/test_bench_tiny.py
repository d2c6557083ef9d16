"""The benchmarks keep working: bench/run_all.py at CI sizes exits 0 with rows for every measure.

Benchmarks are not timed tests: at --tiny sizes no target is judged (met? shows "-"), so a
slow or busy machine cannot fail this test; a benchmark that crashes or prints nothing does.
The real sizes are run by hand (README, "Benchmarks").
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest

from tests.conftest import PROJECT_ROOT

pytestmark = pytest.mark.slow

MEASURES = ("dispatch lateness", "throughput", "dashboard", "idle tick", "soak", "limits")


def test_every_benchmark_runs_at_tiny_size(tmp_path):
    results = PROJECT_ROOT / "BENCHMARKS.md"
    before = results.read_text(encoding="utf-8") if results.exists() else None
    completed = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "bench" / "run_all.py"), "--tiny", "--no-append"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output[-4000:]
    table = output.split("All benchmarks", 1)[1]
    lines = table.splitlines()
    for measure in MEASURES:
        assert any(line.startswith(measure) for line in lines), f"no row for {measure!r}:\n{table}"
    assert "benchmark crashed" not in table, table
    # Both sides of the dispatch comparison, and both databases, show up.
    assert "automagik/sqlite" in table and "automagik/postgresql" in table, table
    assert "p99 start lateness" in table
    if importlib.util.find_spec("apscheduler") is not None:  # requirements-bench.txt (scripts/test.sh installs it)
        assert "apscheduler/sqlite" in table and "p99 ratio to APScheduler" in table, table
    # --no-append leaves the results file alone.
    after = results.read_text(encoding="utf-8") if results.exists() else None
    assert after == before
