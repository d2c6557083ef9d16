"""`db init`: create or upgrade the database schema."""

from __future__ import annotations

from sqlalchemy.exc import SQLAlchemyError

from automagik.cli.output import info
from automagik.db import migrate, statistics
from automagik.services.context import AppContext
from automagik.services.errors import Unavailable


def register(groups) -> None:
    db = groups.add_parser("db", help="the database")
    commands = db.add_subparsers(dest="command", metavar="COMMAND", required=True)
    init = commands.add_parser(
        "init", help="create the database or upgrade it to this version's schema (keeps all rows)"
    )
    init.set_defaults(handler=init_database)


def _describe(context: AppContext) -> str:
    return context.db.engine.url.render_as_string(hide_password=True)


def init_database(context: AppContext, _settings, _args) -> int:
    try:
        before, after = migrate.upgrade(context.db)
        statistics.analyze(context.db)
    except SQLAlchemyError as exc:
        raise Unavailable(f"Could not prepare the database {_describe(context)}: {_first_line(exc)}") from None
    if before == after:
        info(f"Database {_describe(context)} is up to date (schema {after}).")
    elif before is None:
        info(f"Database {_describe(context)} created (schema {after}).")
    else:
        info(f"Database {_describe(context)} upgraded from schema {before} to {after}; all rows kept.")
    return 0


def require_current_schema(context: AppContext) -> None:
    """Stop with a clear message when the database is missing, unreachable or older than the code."""
    problem = migrate.schema_problem(context.db)
    if problem:
        raise Unavailable(problem)


def _first_line(exc: Exception) -> str:
    text = str(getattr(exc, "orig", None) or exc)
    return text.strip().splitlines()[0] if text.strip() else type(exc).__name__
