"""Chains under kill -9: a daemon killed while an upstream run's end is being recorded, or right
after, leaves exactly one run of the chain per upstream run (issue 12, part 4).

A chain's run is inserted in the transaction that records its upstream's end, so the kill
either comes before that commit (nothing of the end is kept: the upstream run is recovered,
tried again, and its end starts the chain's run then) or after it (the chain's run is already
there, and nothing starts it again). Real daemon processes, the LangFlow test server, both
backends.
"""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy import select, text

from automagik.db.models import Task, TaskStatus
from automagik.services import schedules as schedule_service
from automagik.services import tasks as task_service
from automagik.services.schedules import ScheduleSpec
from tests.daemon.process_helpers import all_tasks, wait_registered, wait_settled, wait_until
from tests.faults.conftest import FAST_RECOVERY
from tests.services.helpers import ECHO_ID, synced

pytestmark = pytest.mark.slow


@pytest.fixture
def chain(db, langflow):
    """Digest runs after each run of Echo ends (completed or failed), with Echo's output."""
    digest = langflow.add_flow("Digest")
    synced(db, langflow)
    schedule = schedule_service.create_schedule(
        db, ScheduleSpec(digest, "after", ECHO_ID, {"input": "digest: {{ upstream_output }}"}, after_outcome="finished")
    )
    return digest, schedule


def _chained(db, upstream_id: str) -> list[Task]:
    with db.read() as session:
        return list(session.scalars(select(Task).where(Task.upstream_task_id == upstream_id)))


class _RecordBlocker:
    """Holds up the daemon's recording of a run's end. PostgreSQL: a lock on the chain's schedule
    row, which the recording transaction updates last (after the end and the chain's run are
    written; NO KEY UPDATE lets the run's insert, which references the row, through): the daemon
    is then stuck inside that transaction. SQLite: the write lock, which the
    recording transaction waits for before it writes anything."""

    def __init__(self, db, schedule_id: str) -> None:
        self.db, self.schedule_id = db, schedule_id
        self.connection = None

    def __enter__(self):
        if self.db.dialect == "postgresql":
            self.connection = self.db.engine.connect()
            self.connection.begin()
            self.connection.execute(
                text("SELECT id FROM schedules WHERE id = :id FOR NO KEY UPDATE"), {"id": self.schedule_id}
            )
        else:
            path = self.db.engine.url.database
            self.connection = sqlite3.connect(path, isolation_level=None, timeout=30)
            self.connection.execute("BEGIN IMMEDIATE")
        return self

    def recording_is_stuck(self) -> bool:
        """PostgreSQL: a backend waits for the schedule row's lock, inside the recording transaction."""
        with self.db.engine.connect() as probe:
            return bool(
                probe.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                        "AND wait_event_type = 'Lock' AND query ILIKE 'UPDATE schedules SET last_run_at%'"
                    )
                ).scalar_one()
            )

    def activity(self) -> str:
        with self.db.engine.connect() as probe:
            rows = probe.execute(
                text(
                    "SELECT state, wait_event_type, left(query, 120) FROM pg_stat_activity "
                    "WHERE datname = current_database()"
                )
            ).all()
        return "\n" + "\n".join(map(str, rows))

    def __exit__(self, *exc_info) -> None:
        if self.db.dialect == "postgresql":
            self.connection.rollback()
        else:
            self.connection.execute("ROLLBACK")
        self.connection.close()


def test_a_kill_while_the_end_is_recorded_leaves_one_chain_run(db, langflow, launcher, chain):
    digest, schedule = chain
    langflow.hang = True  # Echo's run waits in LangFlow until the recording is held up
    upstream = task_service.run_flow_now(db, ECHO_ID, {"input": "first"}, max_retries=2)
    daemon = launcher.start(workers=2, env=FAST_RECOVERY)
    wait_registered(db, daemon)
    wait_until(lambda: langflow.run_count >= 1, 15, "Echo's run reached LangFlow", details=daemon.log_tail)
    with _RecordBlocker(db, schedule.id) as blocker:
        langflow.hang = False
        if db.dialect == "postgresql":
            wait_until(
                blocker.recording_is_stuck,
                15,
                "the daemon is inside the transaction recording Echo's end",
                details=lambda: daemon.log_tail() + blocker.activity(),
            )
        else:
            wait_until(
                lambda: langflow.runs[0].status == 200, 15, "LangFlow answered Echo's run", details=daemon.log_tail
            )
        daemon.kill()
    # Nothing of the end was kept: Echo's run is still the dead daemon's, and no Digest run exists.
    with db.read() as session:
        assert session.get(Task, upstream.id).status is TaskStatus.RUNNING
    assert _chained(db, upstream.id) == []

    successor = launcher.start(workers=2, env=FAST_RECOVERY)
    wait_registered(db, successor)
    wait_until(
        lambda: len(all_tasks(db)) == 2,
        20,
        "Echo's run was recovered, ran again and started Digest",
        details=launcher.logs,
    )
    wait_settled(db, 20, details=launcher.logs)
    [chained] = _chained(db, upstream.id)
    with db.read() as session:
        echo = session.get(Task, upstream.id)
    assert (echo.status, echo.tries) == (TaskStatus.COMPLETED, 2)
    assert (chained.status, chained.flow_id, chained.trigger) == (TaskStatus.COMPLETED, digest, "chain")
    assert chained.input_data["input"] == "digest: first"
    assert len(all_tasks(db)) == 2
    successor.terminate()


def test_a_kill_right_after_the_end_is_recorded_leaves_one_chain_run(db, langflow, launcher, chain):
    digest, _ = chain
    langflow.latency = 0.2
    upstreams = [task_service.run_flow_now(db, ECHO_ID, {"input": f"run {n}"}, max_retries=2).id for n in range(3)]
    daemon = launcher.start(workers=1, env=FAST_RECOVERY)

    def first_end():
        """The first Echo run recorded as ended, and its chain's runs, read together."""
        with db.read() as session:
            ended = session.scalars(
                select(Task.id).where(Task.id.in_(upstreams), Task.status == TaskStatus.COMPLETED)
            ).first()
            if ended is None:
                return None
            chained = session.scalars(select(Task.id).where(Task.upstream_task_id == ended)).all()
            return ended, chained

    ended, chained = wait_until(first_end, 20, "an Echo run completed", interval=0.005, details=daemon.log_tail)
    daemon.kill()
    assert len(chained) == 1, "the end was committed without its chain's run"

    successor = launcher.start(workers=2, env=FAST_RECOVERY)
    wait_registered(db, successor)
    wait_until(
        lambda: len(all_tasks(db)) == 6, 30, "every Echo run ended and started its Digest run", details=launcher.logs
    )
    wait_settled(db, 30, details=launcher.logs)
    for upstream in upstreams:
        [run] = _chained(db, upstream)
        assert run.status is TaskStatus.COMPLETED and run.flow_id == digest
    assert _chained(db, ended)[0].id == chained[0]
    # Echo ran once per run plus only what the kill cut short; its recorded ends were never redone.
    echo_runs = [r for r in langflow.runs if r.flow_id == ECHO_ID]
    assert len(echo_runs) <= len(upstreams) + 1
    successor.terminate()
