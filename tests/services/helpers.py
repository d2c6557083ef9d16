"""Small builders shared by the service tests."""

from __future__ import annotations

from automagik.clock import utcnow
from automagik.costs.prices import PriceTable
from automagik.daemon.runner import TaskRunner
from automagik.daemon.settings import DaemonSettings
from automagik.langflow import LangFlowClient
from automagik.runs.leases import claim_tasks, record_attempts
from automagik.runs.outcomes import Recorded
from automagik.services import flows as flow_service
from tests.conftest import API_KEY

ECHO_ID = "4ef644de-8b5e-473d-a647-e4622ae4f6ea"  # ChatInput-acc01 -> ChatOutput-acc02
TWO_OUT_ID = "45a6305e-b02f-47db-8c1f-a603a8da457d"  # ChatInput-tw001 -> ChatOutput-tw002, -tw004


def client_for(langflow, api_key: str | None = API_KEY) -> LangFlowClient:
    return LangFlowClient(langflow.url, api_key=api_key, connect_timeout=2, read_timeout=10)


def synced(db, langflow):
    with client_for(langflow) as client:
        return flow_service.sync_flows(db, client)


def run_due_tasks(db, langflow, prices: PriceTable | None = None) -> list[Recorded]:
    """Run the due pending tasks as a daemon does: claim them, one try each against the LangFlow
    test server (its answer's usage priced by `prices`, default genai-prices), record the tries."""
    runner = TaskRunner("test-daemon", DaemonSettings(), lambda: client_for(langflow), prices)
    claimed = claim_tasks(db, "test-daemon", utcnow(), 100, 60)
    return record_attempts(db, "test-daemon", [runner.attempt(task) for task in claimed], utcnow())
