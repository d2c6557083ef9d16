"""The installed `automagik-dashboard` command: Streamlit on app.py with the project's config.

It does what `streamlit run app.py` from the project folder does (scripts/run.sh), from any
folder: app.py is found beside the package (a checkout) or in automagik_dashboard/ (a
`pip install .`, see pyproject.toml), and its .streamlit/config.toml comes with it, so the
dashboard listens on 127.0.0.1 unless told otherwise (`--server.address`, or
STREAMLIT_SERVER_ADDRESS). Streamlit runs in a process of its own (exec, so signals reach it
directly): nothing in automagik/ imports Streamlit.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from automagik import __version__
from automagik.config import PROJECT_ROOT, ConfigError, non_blank, read_environment

PORT_VARIABLE = "AUTOMAGIK_DASHBOARD_PORT"
DEFAULT_PORT = 8501


def app_path(root: Path = PROJECT_ROOT) -> Path:
    """app.py: in a checkout it sits beside automagik/; installed, in automagik_dashboard/."""
    for candidate in (root / "app.py", root / "automagik_dashboard" / "app.py"):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"app.py is neither in {root} nor in {root / 'automagik_dashboard'}: reinstall automagik.")


def dashboard_port(raw: str | None, source: str = PORT_VARIABLE) -> int:
    """The port from `raw` (None: the default); `source` names where it was given."""
    if raw is None:
        return DEFAULT_PORT
    if not (raw.strip().isdigit() and 1 <= int(raw) <= 65535):
        raise ConfigError(f"{source}={raw!r} is not a port: expected a whole number from 1 to 65535.")
    return int(raw)


def streamlit_command(app: Path, port: int, streamlit_options: list[str]) -> list[str]:
    return [sys.executable, "-m", "streamlit", "run", str(app), "--server.port", str(port), *streamlit_options]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="automagik-dashboard",
        description="Serve the Automagik dashboard (Streamlit) on 127.0.0.1 unless configured otherwise.",
        epilog="Other options go to `streamlit run`, e.g. --server.address 0.0.0.0 (behind a TLS proxy).",
    )
    parser.add_argument("--version", action="version", version=f"automagik {__version__}")
    parser.add_argument("--port", help=f"port to listen on ({PORT_VARIABLE}, default {DEFAULT_PORT})")
    args, streamlit_options = parser.parse_known_args(argv)
    try:
        if args.port is not None:
            port = dashboard_port(args.port, "--port")
        else:
            port = dashboard_port(non_blank(read_environment(), PORT_VARIABLE))
        app = app_path()
    except (ConfigError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, ConfigError) else 1
    command = streamlit_command(app, port, streamlit_options)
    sys.stdout.flush()
    os.execv(command[0], command)
    return 1  # not reached: exec replaced this process


def run() -> None:
    """The installed `automagik-dashboard` command."""
    sys.exit(main())
