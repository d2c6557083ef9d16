"""Schema migrations with Alembic: `db init` upgrades any database to the newest revision.

Alembic only applies the revisions a database lacks and never drops data on upgrade, so
running it again, or on a database full of history, is safe.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.exc import SQLAlchemyError

from automagik.db.engine import Database

INIT_COMMAND = "python -m automagik.cli.cli db init"
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def _alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    if head is None:  # alembic's answer for a folder with no revisions; the package ships them
        raise RuntimeError(f"No migrations in {MIGRATIONS_DIR}.")
    return head


def history() -> list[str]:
    """Every revision, oldest first."""
    script = ScriptDirectory.from_config(_alembic_config())
    return [revision.revision for revision in reversed(list(script.walk_revisions()))]


def current_revision(database: Database) -> str | None:
    with database.engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(database: Database, revision: str = "head") -> tuple[str | None, str | None]:
    """Bring the schema to `revision`; returns (revision before, revision after)."""
    before = current_revision(database)
    config = _alembic_config()
    with database.engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            # SQLite changes a table by rebuilding it (batch mode); with foreign keys on, dropping
            # the old copy would run the ON DELETE actions of every row pointing at it. SQLite's
            # own procedure for schema changes turns them off (outside a transaction) first.
            _set_foreign_keys(connection, on=False)
        try:
            with connection.begin():
                config.attributes["connection"] = connection
                command.upgrade(config, revision)
                if sqlite:
                    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        raise RuntimeError(f"the upgrade would leave {len(broken)} rows pointing at nothing")
        finally:
            if sqlite:
                _set_foreign_keys(connection, on=True)
    return before, current_revision(database)


def _set_foreign_keys(connection, *, on: bool) -> None:
    # On the driver's connection: SQLAlchemy would wrap the statement in a BEGIN (see
    # automagik.db.engine), inside which SQLite ignores this pragma.
    connection.connection.dbapi_connection.execute(f"PRAGMA foreign_keys={'ON' if on else 'OFF'}")


def schema_problem(database: Database) -> str | None:
    """None when the database is reachable and at this version's schema, else one line saying
    what is wrong and what to do (the daemon, the CLI and the dashboard all ask this)."""
    where = database.engine.url.render_as_string(hide_password=True)
    try:
        current = current_revision(database)
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        return f"Could not open the database {where}: {reason[0] if reason else type(exc).__name__}."
    if current == head_revision():
        return None
    state = "not initialized" if current is None else f"at schema {current}, older than this version"
    return f"The database {where} is {state}: run `{INIT_COMMAND}`."
