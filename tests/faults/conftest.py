"""Shared pieces of the fault tests (issue 6): sizes, daemon launcher, whole-database dumps.

Sizes: every long test has a CI size (the default) and a full size, chosen with
AUTOMAGIK_FAULTS_FULL=1; each module's docstring lists both.
"""

from __future__ import annotations

import os

import pytest
from sqlalchemy import text

from automagik.db.models import Base
from tests.daemon.process_helpers import DaemonLauncher

FULL = os.environ.get("AUTOMAGIK_FAULTS_FULL", "").strip().lower() in ("1", "true", "yes")


def size(ci, full):
    """The CI value, or the full-size one under AUTOMAGIK_FAULTS_FULL=1."""
    return full if FULL else ci


#: Daemons that notice a dead peer within ~3 s and retry quickly (seconds, as env strings).
FAST_RECOVERY = {
    "AUTOMAGIK_LEASE_SECONDS": "2",
    "AUTOMAGIK_HEARTBEAT_SECONDS": "0.5",
    "AUTOMAGIK_RECOVERY_SECONDS": "0.5",
    "AUTOMAGIK_RETRY_BASE_SECONDS": "0.3",
    "AUTOMAGIK_RETRY_MAX_SECONDS": "2",
}

TABLES = tuple(table.name for table in Base.metadata.sorted_tables)


@pytest.fixture
def launcher(tmp_path, database_url, langflow):
    launcher = DaemonLauncher(tmp_path, database_url, langflow.url)
    yield launcher
    launcher.cleanup()


def dump_tables(db) -> dict[str, list[tuple]]:
    """Every row of every table (all columns), in a stable order."""
    dump = {}
    with db.engine.connect() as connection:
        for table in TABLES:
            rows = connection.execute(text(f"SELECT * FROM {table}")).all()
            dump[table] = sorted((tuple(row) for row in rows), key=repr)
    return dump


def row_counts(db) -> dict[str, int]:
    with db.engine.connect() as connection:
        return {t: connection.execute(text(f"SELECT count(*) FROM {t}")).scalar_one() for t in TABLES}
