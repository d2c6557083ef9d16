"""Usage of any size: tasks.model is VARCHAR(255) and the token counts 32-bit, but the model is
whatever LangFlow's message names (or several joined by ", "). Found by review: on PostgreSQL
a longer value made the batch UPDATE fail, the daemon kept the batch and retried it with every
later outcome added, so no run of any flow was recorded again (a silent stall)."""

from __future__ import annotations

from sqlalchemy import select

from automagik.daemon.loop import Daemon
from automagik.daemon.settings import DaemonSettings
from automagik.db.models import Task, TaskStatus
from automagik.services import tasks as task_service
from tests.daemon.process_helpers import wait_until
from tests.langflow_server import LLMUsage
from tests.services.helpers import ECHO_ID, client_for, synced

# What LangFlow names when a component reports a long model id (or a custom component puts a
# description there); several LLMs of a flow joined by ", " pass 255 characters as easily.
LONG_MODEL = "projects/my-project/locations/europe-west4/publishers/google/models/" + "gemini-1.5-pro-002-" * 12


def _status(db, task_id):
    with db.read() as session:
        return session.scalar(select(Task.status).where(Task.id == task_id))


def test_a_long_model_name_does_not_stop_every_later_outcome_from_being_recorded(db, langflow, settings, frozen_clock):
    long_flow = langflow.add_flow("Long model", others=["FakeLLM-u2"], llm=LLMUsage(model=LONG_MODEL))
    synced(db, langflow)
    daemon = Daemon(settings, DaemonSettings(workers=2), db=db, client_factory=lambda: client_for(langflow))
    try:
        first = task_service.run_flow_now(db, long_flow, '{"input": "x"}').id
        daemon._ticked()  # claims it; a worker runs it at once
        wait_until(lambda: daemon._first_finished is not None, 10, "the run to finish")
        daemon._ticked(poll=False)  # records what finished

        # Another flow's run, queued afterwards: the daemon's next ticks should claim and run it.
        second = task_service.run_flow_now(db, ECHO_ID, '{"input": "x"}').id
        for _ in range(5):
            daemon._ticked()
            if daemon.pool.busy_ids() or daemon._unrecorded:
                wait_until(lambda: not daemon.pool.busy_ids(), 10, "the runs to end")
        daemon._ticked(poll=False)
        assert (_status(db, first), _status(db, second)) == (
            TaskStatus.COMPLETED,
            TaskStatus.COMPLETED,
        ), "the daemon records nothing and claims nothing any more"
        with db.read() as session:
            model = session.scalar(select(Task.model).where(Task.id == first))
        assert len(model) == 255 and model.startswith("projects/my-project/") and model.endswith("…")
    finally:
        daemon.pool.close()
