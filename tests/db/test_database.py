"""The database layer: migrations, SQLite settings, UTC instants."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import inspect, select, text
from sqlalchemy.exc import StatementError

from automagik.db import migrate
from automagik.db.engine import Database
from automagik.db.models import Flow

UTC = UTC


def _flow(at: datetime) -> Flow:
    return Flow(id="f1", name="Flow", data={"components": []}, created_at=at, updated_at=at)


def test_upgrade_creates_every_table_and_is_idempotent(tmp_path):
    database = Database(f"sqlite:///{tmp_path / 'new' / 'deep' / 'a.db'}")  # folders created on demand
    assert migrate.upgrade(database) == (None, migrate.head_revision())
    names = set(inspect(database.engine).get_table_names())
    assert {"flows", "schedules", "tasks", "task_logs", "alembic_version"} <= names
    indexes = {ix["name"] for ix in inspect(database.engine).get_indexes("tasks")}
    assert {
        "ix_tasks_due",
        "ix_tasks_lease",
        "ix_tasks_scheduled_for",
        "ix_tasks_flow_time",
        "ix_tasks_status_time",
    } <= indexes
    uniques = inspect(database.engine).get_unique_constraints("tasks")
    assert any(u["column_names"] == ["schedule_id", "scheduled_for"] for u in uniques)

    with database.write() as session:
        session.add(_flow(datetime(2026, 1, 1, tzinfo=UTC)))
    head = migrate.head_revision()
    assert migrate.upgrade(database) == (head, head)
    with database.read() as session:
        assert session.get(Flow, "f1").name == "Flow"  # rows kept
    database.dispose()


def test_schema_matches_the_models(db):
    """A migration forgotten after a model change shows up as a difference here."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from automagik.db.models import Base

    with db.engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diff == []


def test_sqlite_runs_in_wal_with_busy_timeout_and_foreign_keys(tmp_path):
    database = Database(f"sqlite:///{tmp_path / 'a.db'}")
    with database.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    database.dispose()


def test_instants_round_trip_as_aware_utc_and_compare_correctly(db):
    berlin = timezone(timedelta(hours=1))
    at = datetime(2026, 3, 29, 3, 0, 0, 123456, tzinfo=berlin)
    with db.write() as session:
        session.add(_flow(at))
    with db.read() as session:
        flow = session.get(Flow, "f1")
        assert flow.created_at == at and flow.created_at.utcoffset() == timedelta(0)
        # Comparison in SQL with another zone's representation of a nearby instant.
        later = datetime(2026, 3, 29, 2, 0, 0, 123457, tzinfo=UTC)
        assert session.scalar(select(Flow.id).where(Flow.created_at < later)) == "f1"


def test_naive_datetimes_are_refused(db):
    with pytest.raises(StatementError, match="naive datetime"):
        with db.write() as session:
            session.add(_flow(datetime(2026, 1, 1)))


def test_foreign_keys_are_enforced(db):
    from sqlalchemy.exc import IntegrityError

    with pytest.raises(IntegrityError):
        with db.write() as session:
            session.execute(
                text(
                    "INSERT INTO schedules (id, flow_id, schedule_type, schedule_expr, timezone, anchor_at, "
                    "flow_params, status, max_retries, missed_policy, created_at, updated_at) VALUES "
                    "('s', 'missing', 'interval', '5m', 'UTC', '2026-01-01', '{}', 'active', 3, 'coalesce', "
                    "'2026-01-01', '2026-01-01')"
                )
            )


def test_statistics_are_gathered_for_the_query_planner(tmp_path):
    from automagik.db import statistics

    database = Database(f"sqlite:///{tmp_path / 'a.db'}")
    migrate.upgrade(database)
    statistics.analyze(database)
    statistics.refresh(database)
    with database.engine.connect() as connection:
        assert (
            connection.exec_driver_sql("SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'").scalar() == 1
        )
    database.dispose()
