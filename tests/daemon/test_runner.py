"""Claims, runs against the LangFlow test server, retries, leases, recovery, hand-back, alerts."""

from __future__ import annotations

import json
import logging
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from automagik.costs.prices import price_table
from automagik.daemon.alerts import alert_failures
from automagik.daemon.runner import TaskRunner
from automagik.daemon.settings import DaemonSettings
from automagik.db.models import TaskStatus
from automagik.runs.fires import dispatch_due
from automagik.runs.leases import claim_tasks, record_and_claim, record_attempts, renew_leases
from automagik.runs.outcomes import Attempt
from automagik.runs.recovery import hand_back, recover_expired
from automagik.runs.states import RetryPolicy
from automagik.services import tasks as task_service
from automagik.services.schedules import ScheduleSpec, create_schedule
from tests.conftest import API_KEY
from tests.langflow_server import LLMUsage
from tests.services.helpers import ECHO_ID, TWO_OUT_ID, client_for, synced

UTC = UTC


@pytest.fixture
def ready(db, langflow, frozen_clock):
    synced(db, langflow)
    return db


class _Runner:
    """A worker's try, then its record at once (the daemon records tries in batches)."""

    def __init__(self, db, langflow, **options):
        self.db, self.settings = db, DaemonSettings(**options)
        self.runner = TaskRunner(
            "test-daemon", self.settings, lambda: client_for(langflow), price_table(self.settings.prices_file)
        )

    def attempt(self, claimed):
        return self.runner.attempt(claimed)

    def run(self, claimed):
        retry = RetryPolicy(self.settings.retry_base_seconds, self.settings.retry_max_seconds)
        [recorded] = record_attempts(self.db, "test-daemon", [self.attempt(claimed)], task_service.utcnow(), retry)
        alert_failures(self.settings.alert_webhook_url, [recorded])
        return recorded


def _runner(db, langflow, **options) -> _Runner:
    return _Runner(db, langflow, **options)


def _finish(db, daemon, task_id, now) -> bool:
    """Record a successful try; False if `daemon` no longer owns the task."""
    return bool(record_attempts(db, daemon, [Attempt(task_id, [], result={"text": "ok"})], now))


def _claim_one(db, now, daemon="test-daemon"):
    claimed = claim_tasks(db, daemon, now, 10, 60)
    assert len(claimed) == 1
    return claimed[0]


def _task(db, task_id):
    return task_service.get_task(db, task_id)


def test_a_run_stores_the_answer_and_logs_status_and_latency(ready, langflow, frozen_clock):
    task = task_service.run_flow_now(ready, ECHO_ID, '{"input": "hello there"}')
    claimed = _claim_one(ready, frozen_clock.now)
    assert claimed.tries == 1 and claimed.input_component == "ChatInput-acc01"
    assert _runner(ready, langflow).run(claimed).status is TaskStatus.COMPLETED

    detail = _task(ready, task.id)
    assert detail.task.status is TaskStatus.COMPLETED and detail.task.claimed_by is None
    assert detail.task.result["text"] == "hello there" and detail.task.result["session_id"]
    assert detail.task.finished_at is not None and detail.task.error is None
    messages = [line.message for line in detail.logs]
    assert any("sent to LangFlow by daemon test-daemon" in m for m in messages)
    assert any(m.startswith("LangFlow answered HTTP 200 in") and "ChatOutput-acc02" in m for m in messages)
    body = langflow.runs[-1].body
    assert "input_value" not in body and body["tweaks"]["ChatInput-acc01"]["input_value"] == "hello there"
    assert body["output_component"] == "ChatOutput-acc02"


def test_a_run_records_the_tokens_and_cost_its_answer_reports(ready, langflow, frozen_clock):
    flow_id = langflow.add_flow(
        "Summary",
        inputs=["ChatInput-s1"],
        outputs=["ChatOutput-s2"],
        others=["FakeLLM-u2"],
        edges=[("ChatInput-s1", "FakeLLM-u2"), ("FakeLLM-u2", "ChatOutput-s2")],
        llm=LLMUsage(model="gpt-4o-mini", input_tokens=1200, output_tokens=300),
    )
    synced(ready, langflow)
    task = task_service.run_flow_now(ready, flow_id, '{"input": "the news"}')
    _runner(ready, langflow).run(_claim_one(ready, frozen_clock.now))

    detail = _task(ready, task.id)
    stored = detail.task
    assert (stored.input_tokens, stored.output_tokens, stored.total_tokens, stored.model) == (
        1200,
        300,
        1500,
        "gpt-4o-mini",
    )
    assert stored.cost_usd == pytest.approx((1200 * 0.15 + 300 * 0.60) / 1e6)
    assert "tokens by gpt-4o-mini: 1200 in, 300 out, 1500 in all; $0.00036" in [line.message for line in detail.logs]


def test_a_model_without_a_price_keeps_its_tokens_and_says_why_in_the_log(ready, langflow, frozen_clock, tmp_path):
    flow_id = langflow.add_flow("Local", others=["FakeLLM-u2"], llm=LLMUsage(model="llama3:8b"))
    synced(ready, langflow)
    task = task_service.run_flow_now(ready, flow_id, '{"input": "x"}')
    _runner(ready, langflow).run(_claim_one(ready, frozen_clock.now))
    detail = _task(ready, task.id)
    assert detail.task.total_tokens == 42 and detail.task.model == "llama3:8b" and detail.task.cost_usd is None
    assert any(
        line.level.value == "warning" and 'no price known for model "llama3:8b"' in line.message for line in detail.logs
    )

    prices = tmp_path / "prices.json"
    prices.write_text('{"llama3:8b": {"input": 1000, "output": 2000}}')
    runner = _Runner(ready, langflow, prices_file=str(prices))
    again = task_service.run_flow_now(ready, flow_id, '{"input": "x"}')
    runner.run(_claim_one(ready, frozen_clock.now))
    assert _task(ready, again.id).task.cost_usd == pytest.approx((12 * 1000 + 30 * 2000) / 1e6)


def test_a_run_without_usage_leaves_tokens_and_cost_empty(ready, langflow, frozen_clock):
    task = task_service.run_flow_now(ready, ECHO_ID, '{"input": "x"}')
    _runner(ready, langflow).run(_claim_one(ready, frozen_clock.now))
    stored = _task(ready, task.id).task
    assert stored.status is TaskStatus.COMPLETED
    assert (stored.input_tokens, stored.output_tokens, stored.total_tokens, stored.model, stored.cost_usd) == (
        None,
    ) * 5


def test_a_run_records_the_version_of_the_flow_it_ran_against(ready, langflow, frozen_clock):
    first = task_service.run_flow_now(ready, ECHO_ID, '{"input": "x"}')
    _runner(ready, langflow).run(_claim_one(ready, frozen_clock.now))
    assert _task(ready, first.id).task.flow_updated_at == datetime(2026, 11, 27, 4, 42, 53, tzinfo=UTC)

    raw = json.loads(json.dumps(next(f for f in langflow.flows if f["id"] == ECHO_ID)))
    raw["updated_at"] = "2026-11-30T12:00:00"  # LangFlow writes its times without an offset: UTC
    langflow.set_flows([f for f in langflow.flows if f["id"] != ECHO_ID] + [raw])
    synced(ready, langflow)
    second = task_service.run_flow_now(ready, ECHO_ID, '{"input": "x"}')
    _runner(ready, langflow).run(_claim_one(ready, frozen_clock.now))
    assert _task(ready, second.id).task.flow_updated_at == datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    assert _task(ready, first.id).task.flow_updated_at == datetime(2026, 11, 27, 4, 42, 53, tzinfo=UTC)


def test_transient_errors_retry_with_backoff_then_fail(ready, langflow, frozen_clock):
    langflow.force_status = 500
    task = task_service.run_flow_now(ready, ECHO_ID, '{"input": "x"}', max_retries=1)
    runner = _runner(ready, langflow, retry_base_seconds=10)

    assert runner.run(_claim_one(ready, frozen_clock.now)).status is TaskStatus.PENDING
    pending = _task(ready, task.id).task
    delay = (pending.next_retry_at - frozen_clock.now).total_seconds()
    assert 8 <= delay <= 12 and pending.tries == 1 and "500" in _task(ready, task.id).logs[-2].message
    assert claim_tasks(ready, "test-daemon", frozen_clock.now, 10, 60) == []  # not before its retry time

    frozen_clock.advance(seconds=13)
    assert runner.run(_claim_one(ready, frozen_clock.now)).status is TaskStatus.FAILED
    failed = _task(ready, task.id)
    assert failed.task.tries == 2 and failed.task.status is TaskStatus.FAILED
    assert any("no retries left after 2 tries" in line.message for line in failed.logs)


@pytest.mark.parametrize("status, words", [(404, "not found"), (403, "API key"), (422, ""), (400, "")])
def test_permanent_errors_fail_at_once_with_langflow_reason(ready, langflow, frozen_clock, status, words):
    langflow.force_status = status
    task = task_service.run_flow_now(ready, ECHO_ID, '{"input": "x"}', max_retries=5)
    assert _runner(ready, langflow).run(_claim_one(ready, frozen_clock.now)).status is TaskStatus.FAILED
    failed = _task(ready, task.id).task
    assert failed.tries == 1 and words.lower() in failed.error.lower() and API_KEY not in failed.error


def test_a_run_past_its_timeout_is_a_transient_failure(ready, langflow, frozen_clock):
    langflow.hang = True
    try:
        task = task_service.run_flow_now(ready, ECHO_ID, '{"input": "x"}', max_retries=0, timeout_seconds=1)
        assert _runner(ready, langflow).run(_claim_one(ready, frozen_clock.now)).status is TaskStatus.FAILED
    finally:
        langflow.hang = False
    assert "time" in _task(ready, task.id).task.error.lower()


def test_a_flow_without_components_fails_with_a_next_step(ready, langflow, frozen_clock):
    task = task_service.run_flow_now(ready, ECHO_ID, '{"input": "x"}')
    with ready.write() as session:
        from automagik.db.models import Flow

        session.get(Flow, ECHO_ID).output_component = None
    _runner(ready, langflow).run(_claim_one(ready, frozen_clock.now))
    assert "no input and output component" in _task(ready, task.id).task.error
    assert langflow.run_count == 0


def test_one_run_at_a_time_per_schedule(ready, frozen_clock):
    schedule = create_schedule(ready, ScheduleSpec(ECHO_ID, "interval", "1m"))
    first = task_service.run_flow_now(ready, ECHO_ID, schedule_id=schedule.id)
    frozen_clock.advance(seconds=1)
    second = task_service.run_flow_now(ready, ECHO_ID, schedule_id=schedule.id)
    claimed = claim_tasks(ready, "d1", frozen_clock.now, 10, 60)
    assert [c.id for c in claimed] == [first.id]
    assert claim_tasks(ready, "d2", frozen_clock.now, 10, 60) == []  # its schedule has a run going
    assert _finish(ready, "d1", first.id, frozen_clock.now)
    assert [c.id for c in claim_tasks(ready, "d2", frozen_clock.now, 10, 60)] == [second.id]


def test_expired_lease_is_recovered_and_the_old_owner_cannot_write(ready, langflow, frozen_clock):
    task = task_service.run_flow_now(ready, ECHO_ID, '{"input": "x"}', max_retries=1)
    claim_tasks(ready, "dead-daemon", frozen_clock.now, 10, lease_seconds=30)
    frozen_clock.advance(seconds=20)
    assert renew_leases(ready, "dead-daemon", [task.id], frozen_clock.now, 30) == 1
    frozen_clock.advance(seconds=31)
    assert recover_expired(ready, frozen_clock.now - timedelta(seconds=2)) == []  # lease still ahead then
    recovered = recover_expired(ready, frozen_clock.now)
    assert [(r.task_id, r.status, r.owner) for r in recovered] == [(task.id, TaskStatus.PENDING, "dead-daemon")]
    detail = _task(ready, task.id)
    assert detail.task.status is TaskStatus.PENDING and "dead-daemon stopped" in detail.logs[-1].message

    # The dead daemon wakes up and tries to record a result: refused, nothing overwritten.
    assert not _finish(ready, "dead-daemon", task.id, frozen_clock.now)
    second = _claim_one(ready, frozen_clock.now, daemon="d2")
    assert second.tries == 2
    frozen_clock.advance(seconds=61)
    assert recover_expired(ready, frozen_clock.now)[0].status is TaskStatus.FAILED
    assert _task(ready, task.id).task.status is TaskStatus.FAILED


def test_hand_back_returns_the_task_without_counting_the_attempt(ready, frozen_clock):
    task = task_service.run_flow_now(ready, ECHO_ID, '{"input": "x"}')
    claim_tasks(ready, "d1", frozen_clock.now, 10, 60)
    assert hand_back(ready, "d1", [task.id], frozen_clock.now) == 1
    detail = _task(ready, task.id)
    assert (detail.task.status, detail.task.tries, detail.task.claimed_by) == (TaskStatus.PENDING, 0, None)
    assert "handed back" in detail.logs[-1].message


class _Webhook(BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):  # noqa: N802 - http.server's naming
        length = int(self.headers["Content-Length"])
        _Webhook.received.append(json.loads(self.rfile.read(length)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_a_final_failure_is_posted_to_the_alert_webhook(ready, langflow, frozen_clock):
    server = HTTPServer(("127.0.0.1", 0), _Webhook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Webhook.received = []
    try:
        langflow.force_status = 404
        task = task_service.run_flow_now(ready, ECHO_ID, '{"input": "x"}')
        runner = _runner(ready, langflow, alert_webhook_url=f"http://127.0.0.1:{server.server_port}/hook")
        runner.run(_claim_one(ready, frozen_clock.now))
        deadline = datetime.now() + timedelta(seconds=5)
        while not _Webhook.received and datetime.now() < deadline:
            threading.Event().wait(0.05)
    finally:
        server.shutdown()
    [alert] = _Webhook.received
    assert alert["task_id"] == task.id and alert["flow_id"] == ECHO_ID and alert["tries"] == 1
    assert "Echo 30f7" in alert["text"] and "not found" in alert["error"].lower()
    assert API_KEY not in json.dumps(alert)


def test_an_unreachable_webhook_is_logged_not_fatal(ready, langflow, frozen_clock, caplog):
    from automagik.daemon.alerts import post_alert

    with caplog.at_level(logging.WARNING, logger="automagik.daemon"):
        assert post_alert("http://127.0.0.1:9/hook", {"task_id": "t1"}) is False
    assert "not delivered" in caplog.text


def test_the_api_key_never_reaches_logs_or_rows(ready, langflow, frozen_clock, caplog):
    langflow.force_status = 403
    with caplog.at_level(logging.DEBUG):
        task = task_service.run_flow_now(ready, ECHO_ID, '{"input": "x"}')
        _runner(ready, langflow).run(_claim_one(ready, frozen_clock.now))
    detail = _task(ready, task.id)
    everything = caplog.text + json.dumps([line.message for line in detail.logs]) + (detail.task.error or "")
    assert detail.task.status is TaskStatus.FAILED and API_KEY not in everything


def test_chosen_output_component_of_a_multi_output_flow(ready, langflow, frozen_clock):
    from automagik.services.flows import set_components

    set_components(ready, TWO_OUT_ID, "ChatInput-tw001", "ChatOutput-tw004")
    task = task_service.run_flow_now(ready, TWO_OUT_ID, '{"input": "routed"}')
    _runner(ready, langflow).run(_claim_one(ready, frozen_clock.now))
    result = _task(ready, task.id).task.result
    assert result["text"] == "routed" and result["component_id"] == "ChatOutput-tw004"


def test_an_outcome_is_recorded_with_its_real_times_in_the_transaction_that_claims_the_next(
    ready, langflow, frozen_clock
):
    first = task_service.run_flow_now(ready, ECHO_ID, '{"input": "one"}')
    claimed_at = frozen_clock.now
    claimed = claim_tasks(ready, "test-daemon", claimed_at, 1, 60)
    assert [c.id for c in claimed] == [first.id]
    second = task_service.run_flow_now(ready, ECHO_ID, '{"input": "two"}')

    frozen_clock.now = claimed_at + timedelta(seconds=2)  # the claim came ahead of the start
    outcome = _runner(ready, langflow).attempt(claimed[0])
    assert outcome.started_at == claimed_at + timedelta(seconds=2)
    assert _task(ready, first.id).task.started_at == claimed_at  # until recorded: the claim time

    recorded_at = frozen_clock.now + timedelta(seconds=1)  # recorded a little after it ended, in a batch
    recorded, next_claimed, _held = record_and_claim(ready, "test-daemon", [outcome], recorded_at, 5, 60)
    assert [r.task_id for r in recorded] == [first.id] and [c.id for c in next_claimed] == [second.id]
    done = _task(ready, first.id).task
    assert done.status is TaskStatus.COMPLETED
    assert (done.started_at, done.finished_at) == (outcome.started_at, outcome.finished_at)
    assert _task(ready, second.id).task.status is TaskStatus.RUNNING


def test_a_task_claimed_ahead_and_never_started_goes_back_as_it_was(ready, frozen_clock):
    schedule = create_schedule(ready, ScheduleSpec(ECHO_ID, "interval", "1m", '{"input": "x"}'))
    fire = schedule.next_run_at
    dispatch_due(ready, fire - timedelta(milliseconds=100), DaemonSettings(), "d1", until=fire)
    [claimed] = claim_tasks(ready, "d1", fire - timedelta(milliseconds=100), 10, 60, until=fire)
    assert hand_back(ready, "d1", [claimed.id], fire - timedelta(milliseconds=50), started=False) == 1
    detail = _task(ready, claimed.id)
    assert (detail.task.status, detail.task.tries, detail.task.claimed_by) == (TaskStatus.PENDING, 0, None)
    assert (detail.task.next_retry_at, detail.task.started_at) == (fire, None)  # still due at its instant
    assert detail.logs == []  # nothing happened to it
