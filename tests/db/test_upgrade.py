"""A database created at an older schema revision, with rows in it, upgrades with every row intact."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import inspect, text

from automagik.db import migrate
from automagik.db.engine import Database
from tests.conftest import BACKENDS

ROWS = {
    "flows": "INSERT INTO flows (id, name, data, input_component, output_component, created_at, updated_at) "
    "VALUES ('f1', 'Flow <one>', '{\"components\": []}', 'ChatInput-a', 'ChatOutput-b', "
    "'2026-01-01 00:00:00.000000', '2026-01-01 00:00:00.000000')",
    "schedules": "INSERT INTO schedules (id, flow_id, schedule_type, schedule_expr, timezone, anchor_at, flow_params, "
    "next_run_at, status, max_retries, missed_policy, created_at, updated_at) VALUES ('s1', 'f1', 'interval', '5m', "
    "'UTC', '2026-01-01 00:00:00.000000', '{\"input\": \"x\"}', '2026-01-01 00:05:00.000000', 'active', 3, "
    "'coalesce', '2026-01-01 00:00:00.000000', '2026-01-01 00:00:00.000000')",
    "tasks": "INSERT INTO tasks (id, flow_id, schedule_id, status, input_data, result, tries, max_retries, "
    "scheduled_for, created_at, updated_at) VALUES ('t1', 'f1', 's1', 'completed', '{\"input\": \"x\"}', "
    "'{\"text\": \"answer\"}', 1, 3, '2026-01-01 00:05:00.000000', '2026-01-01 00:05:00.000000', "
    "'2026-01-01 00:05:01.000000')",
    "task_logs": "INSERT INTO task_logs (task_id, level, message, created_at) VALUES "
    "('t1', 'info', 'try 1 of 4: sent', '2026-01-01 00:05:00.000000')",
}


def _columns(database: Database) -> dict[str, list[str]]:
    inspector = inspect(database.engine)
    return {table: [column["name"] for column in inspector.get_columns(table)] for table in ROWS}


def _snapshot(database: Database, columns: dict[str, list[str]]) -> dict:
    """Every row of every table, read as the given columns (those of the older schema)."""
    with database.engine.connect() as connection:
        return {
            table: [
                tuple(row) for row in connection.execute(text(f"SELECT {', '.join(names)} FROM {table} ORDER BY 1"))
            ]
            for table, names in columns.items()
        }


@pytest.fixture(params=BACKENDS)
def empty_database_url(request, tmp_path):
    """A database with no tables at all (a new file, or a new PostgreSQL database)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.db'}"
        return
    server = Database(request.getfixturevalue("postgres_url"), isolation_level="AUTOCOMMIT")
    name = f"upgrade_{uuid.uuid4().hex[:12]}"
    with server.engine.connect() as connection:
        connection.execute(text(f"CREATE DATABASE {name}"))
    yield server.engine.url.set(database=name).render_as_string(hide_password=False)
    with server.engine.connect() as connection:
        connection.execute(text(f"DROP DATABASE {name} WITH (FORCE)"))
    server.dispose()


def test_an_older_revision_with_rows_upgrades_to_head_keeping_every_row(empty_database_url):
    database = Database(empty_database_url)
    previous = "0002"  # before the runs' tokens and cost: every later revision is applied to these rows
    migrate.upgrade(database, previous)
    assert migrate.current_revision(database) == previous
    with database.engine.begin() as connection:
        for statement in ROWS.values():
            connection.execute(text(statement))
    old_columns = _columns(database)
    before = _snapshot(database, old_columns)

    assert migrate.upgrade(database) == (previous, migrate.head_revision())

    after = _snapshot(database, old_columns)
    assert after == before and sum(len(rows) for rows in after.values()) == 4
    # What the later revisions add (empty for old rows): a run's tokens, cost, flow version, limit
    # hold and trigger, its backfill or upstream run, a flow's budget, triggers and concurrency, a
    # schedule's pause reason, alert threshold and chain outcome, and the index the cost sums read.
    added = {table: set(names) - set(old_columns[table]) for table, names in _columns(database).items()}
    assert added["tasks"] == {
        "input_tokens",
        "output_tokens",
        "total_tokens",
        "model",
        "cost_usd",
        "flow_updated_at",
        "held_since",
        "trigger",
        "backfill_id",
        "upstream_task_id",
    }
    assert added["flows"] == {"daily_budget_usd", "langflow_triggers", "max_concurrency"}
    assert added["schedules"] == {"paused_reason", "alert_after_failures", "after_outcome"}
    assert "ix_tasks_usage" in {index["name"] for index in inspect(database.engine).get_indexes("tasks")}
    with database.engine.connect() as connection:
        assert connection.execute(text("SELECT cost_usd, model, trigger FROM tasks")).all() == [
            (None, None, "schedule")
        ]
        # The old rows keep their foreign keys: rebuilding a SQLite table ran no ON DELETE action.
        assert connection.execute(text("SELECT schedule_id FROM tasks")).scalar_one() == "s1"
        connection.execute(text("UPDATE schedules SET schedule_type = 'after' WHERE id = 's1'"))
        with pytest.raises(Exception, match="(?i)check"):
            connection.execute(text("UPDATE schedules SET schedule_type = 'weekly' WHERE id = 's1'"))
    database.dispose()
