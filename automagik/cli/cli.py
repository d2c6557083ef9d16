"""`automagik ...` (installed), `python -m automagik ...` or `python -m automagik.cli.cli ...`:
the command line. Thin: parse, call a service, print.

Exit codes: 0 ok, 1 a failure at run time (LangFlow unreachable, database not ready...),
2 bad input. Every failure is one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from typing import NoReturn

from automagik import __version__
from automagik.cli import check_commands, db_commands, flow_commands, schedule_commands, task_commands
from automagik.cli.output import fail
from automagik.config import ConfigError, load_settings
from automagik.services.context import open_context
from automagik.services.errors import ServiceError

EXIT_OK, EXIT_FAILURE, EXIT_BAD_INPUT = 0, 1, 2
PROG = "python -m automagik.cli.cli"


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line and exit code 2."""

    def error(self, message: str) -> NoReturn:
        fail(f"{message} (see `{self.prog} --help`)")
        raise SystemExit(EXIT_BAD_INPUT)


def build_parser(prog: str = PROG) -> argparse.ArgumentParser:
    parser = _Parser(
        prog=prog,
        description="Automagik: run LangFlow flows on a schedule and keep the history of every run.",
    )
    parser.add_argument("--version", action="version", version=f"automagik {__version__}")
    groups = parser.add_subparsers(dest="group", metavar="COMMAND", parser_class=_Parser, required=True)
    for module in (db_commands, flow_commands, schedule_commands, task_commands, check_commands):
        module.register(groups)
    return parser


def main(argv: Sequence[str] | None = None, prog: str = PROG) -> int:
    """Run one command; `prog` is how the user called it, shown in usage and help."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser(prog).parse_args(argv)
    try:
        settings = load_settings()
    except ConfigError as exc:
        fail(str(exc))
        return EXIT_BAD_INPUT
    try:
        context = open_context(settings) if getattr(args, "needs_database", True) else None
    except OSError as exc:
        fail(f"Could not open the database ({settings.database_url.split('://')[0]}): {exc.strerror or exc}.")
        return EXIT_FAILURE
    try:
        if context is not None and args.group != "db" and not getattr(args, "checks_schema_itself", False):
            db_commands.require_current_schema(context)
        return args.handler(context, settings, args) or EXIT_OK
    except ServiceError as exc:
        fail(exc.message)
        return exc.exit_code
    except KeyboardInterrupt:
        fail("interrupted")
        return 130
    finally:
        if context is not None:
            context.close()


def run() -> None:
    """The installed `automagik` command."""
    sys.exit(main(prog="automagik"))


if __name__ == "__main__":
    sys.exit(main())
