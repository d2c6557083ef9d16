"""The scheduler daemon's command: `automagik-daemon` (installed) or `python scheduler_daemon.py`.

Options, logging, the schema check, then the loop (automagik.daemon.loop.Daemon). Every option
can also be set by environment (AUTOMAGIK_WORKERS, AUTOMAGIK_POLL_SECONDS, AUTOMAGIK_LOG_LEVEL,
...; see README). Several daemons may run at once against one database: they share the work
and never run a fire twice.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time

from automagik import __version__
from automagik.config import ConfigError, load_settings
from automagik.daemon.loop import Daemon
from automagik.daemon.settings import LOG_LEVELS, daemon_settings
from automagik.db import migrate
from automagik.db.engine import Database


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Run due LangFlow flows on their schedules.")
    parser.add_argument("--version", action="version", version=f"automagik {__version__}")
    parser.add_argument("--workers", type=int, help="runs at once (AUTOMAGIK_WORKERS, default 8)")
    parser.add_argument(
        "--poll-seconds", type=float, help="database check interval (AUTOMAGIK_POLL_SECONDS, default 1)"
    )
    parser.add_argument("--once", action="store_true", help="run what is due now, wait for it, exit (AUTOMAGIK_ONCE=1)")
    parser.add_argument("--log-level", choices=LOG_LEVELS, type=str.upper, help="AUTOMAGIK_LOG_LEVEL, default INFO")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        settings = load_settings()
        options = daemon_settings(
            {
                "workers": args.workers,
                "poll_seconds": args.poll_seconds,
                "log_level": args.log_level,
                "once": True if args.once else None,
            }
        )
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    logging.Formatter.converter = time.gmtime
    logging.basicConfig(
        level=options.log_level, format="%(asctime)s UTC %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    for noisy in ("urllib3", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    database = Database(settings.database_url)
    problem = migrate.schema_problem(database)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 1
    return Daemon(settings, options, db=database).run(once=options.once)


def run() -> None:
    """The installed `automagik-daemon` command."""
    sys.exit(main())
