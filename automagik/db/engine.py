"""Engines and sessions for SQLite and PostgreSQL from the same code."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

from sqlalchemy import CursorResult, Engine, Result, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

# Long enough that a dashboard write and a daemon claim never collide into "database is
# locked"; SQLite serialises writers, and our transactions are short.
SQLITE_BUSY_TIMEOUT_MS = 30_000


def make_engine(database_url: str, **kwargs) -> Engine:
    """Create an engine; for SQLite also create the file's folder and set the pragmas."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
            **kwargs,
        )
        _configure_sqlite(engine)
        return engine
    if url.drivername == "postgresql":
        # SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3; the installed driver is psycopg2.
        url = url.set(drivername="postgresql+psycopg2")
    # psycopg2's executemany is one round trip per row; execute_batch sends pages. The daemon
    # records a batch of outcomes with one executemany UPDATE: one page for the whole batch
    # (the default page, 100 rows, made several round trips inside the transaction).
    kwargs.setdefault("executemany_mode", "values_plus_batch")
    kwargs.setdefault("executemany_batch_page_size", 1000)
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    return create_engine(url, **kwargs)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def set_pragmas(dbapi_connection, _record):
        # pysqlite's own transaction handling issues BEGIN lazily (after a SELECT), which lets
        # two writers both read and then deadlock on upgrade; we begin explicitly instead.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def begin(connection):
        # A writing transaction takes the write lock at BEGIN (IMMEDIATE), so it waits on
        # busy_timeout up front instead of failing with "database is locked" halfway through.
        # Readers begin DEFERRED: in WAL mode they never block and are never blocked.
        if connection.get_execution_options().get(_READ_ONLY):
            connection.exec_driver_sql("BEGIN")
        else:
            connection.exec_driver_sql("BEGIN IMMEDIATE")


_READ_ONLY = "automagik_read_only"


class Database:
    """One database: its engine and two kinds of session, for writing and for reading."""

    def __init__(self, database_url: str, **engine_kwargs) -> None:
        self.url = database_url
        self.engine = make_engine(database_url, **engine_kwargs)
        self.dialect = self.engine.dialect.name
        self._writer = sessionmaker(self.engine, expire_on_commit=False)
        self._reader = sessionmaker(self.engine.execution_options(**{_READ_ONLY: True}), expire_on_commit=False)

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A session committed on success and rolled back on any error."""
        with self._writer() as session, session.begin():
            yield session

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A session for queries only; on SQLite it never takes the write lock."""
        with self._reader() as session, session.begin():
            yield session

    def dispose(self) -> None:
        self.engine.dispose()


def rows_matched(result: Result[*tuple[Any, ...]]) -> int:
    """How many rows an UPDATE or DELETE run by Session.execute() matched.

    Session.execute() is typed to return a Result; for those statements it is a CursorResult,
    which carries the count. SQLAlchemy's overloads cannot say so, hence the cast (a string,
    so nothing is evaluated at run time).
    """
    return cast("CursorResult[*tuple[Any, ...]]", result).rowcount
