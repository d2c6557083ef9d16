"""What the daemon tells its operator: LangFlow refusing the key at start, a failed try as a
warning, a run failed for good as an error."""

from __future__ import annotations

from dataclasses import replace

import pytest

from automagik.daemon.loop import Daemon
from automagik.daemon.settings import DaemonSettings
from automagik.runs.leases import claim_tasks
from automagik.services import tasks as task_service
from tests.services.helpers import ECHO_ID, client_for, synced


def test_the_daemon_says_at_start_when_langflow_refuses_the_key(db, settings, langflow, caplog):
    wrong = replace(settings, langflow_api_key="sk-wrong-3f9")
    daemon = Daemon(wrong, DaemonSettings(), db=db, client_factory=lambda: client_for(langflow, api_key="sk-wrong-3f9"))
    try:
        daemon._check_langflow()
    finally:
        daemon.pool.close()
    [line] = [r.getMessage() for r in caplog.records if "refuses the API key" in r.getMessage()]
    assert line.startswith("LangFlow refuses the API key: ") and "sk-wrong-3f9" not in line
    assert "Every run will fail until LANGFLOW_API_KEY is fixed" in line


@pytest.mark.parametrize(
    "status, level, words", [(500, "WARNING", "try failed, retry at"), (404, "ERROR", "failed for good")]
)
def test_a_failed_try_logs_a_warning_and_a_failure_for_good_an_error(
    db, settings, langflow, frozen_clock, caplog, status, level, words
):
    synced(db, langflow)
    daemon = Daemon(settings, DaemonSettings(), db=db, client_factory=lambda: client_for(langflow))
    langflow.force_status = status
    try:
        task_service.run_flow_now(db, ECHO_ID, '{"input": "x"}', max_retries=1)
        [claimed] = claim_tasks(db, daemon.id, frozen_clock.now, 10, 60)
        daemon._finished.put((claimed, daemon.runner.attempt(claimed)))
        caplog.set_level("INFO", logger="automagik.daemon")
        daemon.record_finished()
    finally:
        langflow.force_status = None
        daemon.pool.close()
    [record] = [r for r in caplog.records if words in r.getMessage()]
    assert record.levelname == level
