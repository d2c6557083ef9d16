"""Keeping the query planner's statistics fresh, so history filters pick the right indexes.

Without statistics SQLite guesses, and on a large history it can guess an index that makes a
24-hour count 70 times slower. PostgreSQL's autovacuum keeps its own; a full ANALYZE after
`db init` only helps a database that was just loaded.
"""

from __future__ import annotations

from automagik.db.engine import Database


def analyze(database: Database) -> None:
    """Gather statistics for every table (seconds on a million-row history)."""
    with database.engine.connect() as connection:
        connection.exec_driver_sql("ANALYZE")
        connection.commit()


def refresh(database: Database) -> None:
    """Cheap periodic upkeep: SQLite re-analyzes only the tables that changed a lot."""
    if database.dialect == "sqlite":
        with database.engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA optimize")
            connection.commit()
