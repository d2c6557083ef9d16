"""Run one claimed task against LangFlow and record what happened.

One attempt: send the input to the flow's chosen input component, read the chosen output
component's answer, and describe the outcome with the attempt's log lines (start, LangFlow's
status and latency, the error in plain words, the retry time). Transient errors go back to
pending with a backoff while retries remain; the rest fail at once. Attempts write nothing:
the daemon records finished attempts in batches, one transaction for many.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Callable

from automagik.clock import utcnow
from automagik.daemon.alerts import failure_payload, send_alert_in_background
from automagik.daemon.claims import AttemptOutcome, ClaimedTask, record_outcomes
from automagik.daemon.retry import is_transient, retry_at
from automagik.daemon.settings import DaemonSettings
from automagik.db.engine import Database
from automagik.db.models import LogLevel, TaskStatus
from automagik.langflow import LangFlowClient, LangFlowError

log = logging.getLogger("automagik.daemon")


@dataclass(frozen=True)
class Outcome:
    status: TaskStatus
    recorded: bool  # False when this daemon had lost the task (its lease was taken over)


class TaskRunner:
    """Shared by the worker threads; each thread keeps its own LangFlow client (HTTP session)."""

    def __init__(
        self,
        db: Database,
        daemon_id: str,
        settings: DaemonSettings,
        client_factory: Callable[[], LangFlowClient],
    ) -> None:
        self.db = db
        self.daemon_id = daemon_id
        self.settings = settings
        self._client_factory = client_factory
        self._local = threading.local()

    def _client(self) -> LangFlowClient:
        client = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = self._client_factory()
        return client

    def run(self, task: ClaimedTask) -> Outcome:
        """One attempt, recorded at once (the daemon instead records attempts in batches)."""
        attempt = self.attempt(task)
        recorded = attempt.task_id in record_outcomes(self.db, self.daemon_id, [attempt], utcnow())
        self.report(task, attempt, recorded)
        return Outcome(attempt.status, recorded)

    def attempt(self, task: ClaimedTask) -> AttemptOutcome:
        """Send the task to LangFlow and say what came of it, with when the attempt began and
        ended (it is recorded later, in a batch); writes nothing (thread-safe)."""
        started = utcnow()
        outcome = self._attempt(task, started)
        return replace(outcome, started_at=started, finished_at=utcnow())

    def _attempt(self, task: ClaimedTask, started: datetime) -> AttemptOutcome:
        attempt = f"try {task.tries} of {task.max_retries + 1}"
        log.info("%s: running (%s)", _where(task), attempt)
        lines = [(LogLevel.INFO, f"{attempt}: sent to LangFlow by daemon {self.daemon_id}", started)]
        if not task.flow_ready:
            error = (
                f'flow "{task.flow_name}" cannot run: it has no input and output component chosen, '
                "or it is no longer in LangFlow; fix it on the Flows page or with `flows sync`"
            )
            return AttemptOutcome(task.id, TaskStatus.FAILED, lines, error=error)
        timeout = float(task.timeout_seconds or self.settings.run_timeout_seconds)
        clock_start = time.monotonic()
        try:
            result = self._client().run_flow(
                task.flow_id,
                input_component=task.input_component,
                output_component=task.output_component,
                input_text=str(task.input_data.get("input") or ""),
                tweaks=task.input_data.get("tweaks") or None,
                timeout=timeout,
            )
        except LangFlowError as exc:
            now = utcnow()
            latency = (time.monotonic() - clock_start) * 1000
            status = f"HTTP {exc.status}" if exc.status else type(exc).__name__.removeprefix("LangFlow").lower()
            lines.append((LogLevel.ERROR, f"LangFlow failed after {latency:.0f} ms ({status}): {exc.message}", now))
            if is_transient(exc) and task.tries <= task.max_retries:
                when = retry_at(now, task.tries, self.settings.retry_base_seconds, self.settings.retry_max_seconds, exc)
                lines.append(
                    (LogLevel.WARNING, f"will retry at {when:%Y-%m-%d %H:%M:%S} UTC (retry {task.tries} of {task.max_retries})", now)
                )
                return AttemptOutcome(
                    task.id, TaskStatus.PENDING, lines, error=exc.message, next_retry_at=when
                )
            if is_transient(exc):
                lines.append((LogLevel.ERROR, f"no retries left after {task.tries} tries", now))
            return AttemptOutcome(task.id, TaskStatus.FAILED, lines, error=exc.message)
        except Exception as exc:  # a bug of ours must not kill the worker; the task fails visibly
            log.exception("%s: unexpected error", _where(task))
            return AttemptOutcome(
                task.id, TaskStatus.FAILED, lines, error=f"internal error in the daemon: {type(exc).__name__}: {exc}"
            )
        text = result.text or ""
        lines.append(
            (
                LogLevel.INFO,
                f"LangFlow answered HTTP {result.status_code} in {result.latency_ms:.0f} ms: "
                f"{len(text)} characters from {result.component_id}",
                utcnow(),
            )
        )
        return AttemptOutcome(task.id, TaskStatus.COMPLETED, lines, result=result.to_dict())

    def report(self, task: ClaimedTask, outcome: AttemptOutcome, recorded: bool) -> None:
        """Log the state change and, for a task that failed for good, send the alert."""
        if outcome.status is TaskStatus.COMPLETED:
            what = "completed"
        elif outcome.status is TaskStatus.PENDING:
            what = f"retry at {outcome.next_retry_at:%H:%M:%S} UTC: {outcome.error}"
        else:
            what = f"failed: {outcome.error}"
        if not recorded:
            log.warning("%s: %s, but another daemon had taken the task over (lease expired); result dropped",
                        _where(task), what)
            return
        log.info("%s: %s", _where(task), what)
        if outcome.status is TaskStatus.FAILED:
            send_alert_in_background(
                self.settings.alert_webhook_url,
                failure_payload(
                    task_id=task.id, flow_id=task.flow_id, flow_name=task.flow_name, schedule_id=task.schedule_id,
                    error=outcome.error or "", tries=task.tries,
                ),
            )


def _where(task: ClaimedTask) -> str:
    return f"task {task.id} flow {task.flow_name!r} schedule {task.schedule_id or '-'}"
