"""Install a real LangFlow (``langflow-base``, pinned) into its own cached virtualenv.

``scripts/test.sh`` runs ``python -m tests.real_langflow.install`` before the suite; the tests in
tests/real_langflow/ then start LangFlow from that virtualenv. It lives outside ``.venv``
(LangFlow pulls in hundreds of packages the product must never import by accident) under
``${XDG_CACHE_HOME:-~/.cache}/automagik/langflow-<version>`` (or ``AUTOMAGIK_LANGFLOW_VENV``),
and is reused while its marker file says it holds exactly this install. ``uv`` (pinned in
requirements-test.txt) does the install: about a minute cold, where pip takes several.

On success nothing is printed on stdout; on failure the reason is printed there as one line
and the exit code is 1, so that scripts/test.sh can hand it to the tests, which then skip
saying why.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

LANGFLOW_VERSION = "1.13.0"
REQUIREMENT = f"langflow-base=={LANGFLOW_VERSION}"
#: Resolve LangFlow's (unpinned) dependencies as they were on this day, so a later release of
#: one of them cannot break the suite; move it forward on purpose when bumping LangFlow.
EXCLUDE_NEWER = "2026-12-01T00:00:00Z"
MARKER_NAME = ".automagik-installed"
#: What the marker must say for the virtualenv to be reused; any change reinstalls.
SPEC = {
    "requirement": REQUIREMENT,
    "exclude_newer": EXCLUDE_NEWER,
    "python": f"{sys.version_info.major}.{sys.version_info.minor}",
}
INSTALL_TIMEOUT = 900  # seconds; a cold install takes about one minute


class InstallFailed(Exception):
    """The install could not be done; the message says why, in one line."""


def venv_dir() -> Path:
    explicit = os.environ.get("AUTOMAGIK_LANGFLOW_VENV")
    if explicit:
        return Path(explicit)
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "automagik" / f"langflow-{LANGFLOW_VERSION}"


def installed_python(venv: Path | None = None) -> Path | None:
    """The LangFlow virtualenv's python when a finished install of exactly SPEC is there, else None."""
    venv = venv or venv_dir()
    try:
        marker = json.loads((venv / MARKER_NAME).read_text())
    except (OSError, ValueError):
        return None
    python = venv / "bin" / "python"
    return python if marker == SPEC and python.exists() else None


def _uv() -> str:
    found = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    if not found:
        raise InstallFailed("uv is not installed (it comes with requirements-test.txt)")
    return found


def _run(command: list[str], what: str) -> None:
    try:
        completed = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT,
            env={**os.environ, "UV_PYTHON_DOWNLOADS": "never", "UV_NO_PROGRESS": "1"},
        )
    except subprocess.TimeoutExpired:
        raise InstallFailed(f"{what} did not finish within {INSTALL_TIMEOUT} s") from None
    if completed.returncode != 0:
        # uv says "error: <what>" then a chain of "cause: ..." lines: keep the first two and the root.
        lines = [
            line.strip().removeprefix("error: ").removeprefix("cause: ")
            for line in completed.stderr.splitlines()
            if line.strip()
        ]
        said = " / ".join(dict.fromkeys(lines[:2] + lines[-1:])) or f"exit code {completed.returncode}"
        raise InstallFailed(f"{what} failed: {said}")


def install() -> Path:
    """Make sure the LangFlow virtualenv is there; return its python. Safe to run concurrently."""
    venv = venv_dir()
    venv.parent.mkdir(parents=True, exist_ok=True)
    # Two suites starting at once (two worktrees) must not build the same virtualenv together.
    with open(venv.parent / f"{venv.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        python = installed_python(venv)
        if python:
            return python
        shutil.rmtree(venv, ignore_errors=True)  # a half-done install from an interrupted run
        uv = _uv()
        # The interpreter running this (the project's .venv) is the one the machine has; uv
        # would otherwise try to download one.
        _run([uv, "venv", "--quiet", "--python", sys.executable, str(venv)], "creating LangFlow's virtualenv")
        python = venv / "bin" / "python"
        _run(
            [uv, "pip", "install", "--quiet", "--python", str(python), "--exclude-newer", EXCLUDE_NEWER, REQUIREMENT],
            f"installing {REQUIREMENT} with uv",
        )
        _run([str(python), "-c", "import langflow.main, lfx"], "importing the installed LangFlow")
        (venv / MARKER_NAME).write_text(json.dumps(SPEC))
        return python


def main() -> int:
    started = time.monotonic()
    cached = installed_python() is not None
    try:
        install()
    except (InstallFailed, OSError) as exc:
        print(f"LangFlow {LANGFLOW_VERSION} could not be installed into {venv_dir()}: {exc}")
        return 1
    state = "cached" if cached else f"installed in {time.monotonic() - started:.0f} s"
    print(f"LangFlow {LANGFLOW_VERSION} for tests/real_langflow/: {state} ({venv_dir()})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
