"""Run one claimed task against LangFlow and record what happened.

One attempt: send the input to the flow's chosen input component, read the chosen output
component's answer, then record in one transaction the outcome and the attempt's log lines
(start, LangFlow's status and latency, the error in plain words, the retry time). Transient
errors go back to pending with a backoff while retries remain; the rest fail at once.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Callable

from automagik.clock import utcnow
from automagik.daemon.alerts import failure_payload, send_alert_in_background
from automagik.daemon.claims import ClaimedTask, finish_task
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
        started = utcnow()
        attempt = f"try {task.tries} of {task.max_retries + 1}"
        where = f"task {task.id} flow {task.flow_name!r} schedule {task.schedule_id or '-'}"
        log.info("%s: running (%s)", where, attempt)
        lines = [(LogLevel.INFO, f"{attempt}: sent to LangFlow by daemon {self.daemon_id}", started)]
        if not task.flow_ready:
            error = (
                f'flow "{task.flow_name}" cannot run: it has no input and output component chosen, '
                "or it is no longer in LangFlow; fix it on the Flows page or with `flows sync`"
            )
            return self._fail(task, where, lines, error)
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
            latency = (time.monotonic() - clock_start) * 1000
            status = f"HTTP {exc.status}" if exc.status else type(exc).__name__.removeprefix("LangFlow").lower()
            lines.append((LogLevel.ERROR, f"LangFlow failed after {latency:.0f} ms ({status}): {exc.message}", utcnow()))
            if is_transient(exc) and task.tries <= task.max_retries:
                return self._retry(task, where, lines, exc)
            if is_transient(exc):
                lines.append((LogLevel.ERROR, f"no retries left after {task.tries} tries", utcnow()))
            return self._fail(task, where, lines, exc.message)
        except Exception as exc:  # a bug of ours must not kill the worker; the task fails visibly
            log.exception("%s: unexpected error", where)
            return self._fail(task, where, lines, f"internal error in the daemon: {type(exc).__name__}: {exc}")
        finished = utcnow()
        text = result.text or ""
        lines.append(
            (
                LogLevel.INFO,
                f"LangFlow answered HTTP {result.status_code} in {result.latency_ms:.0f} ms: "
                f"{len(text)} characters from {result.component_id}",
                finished,
            )
        )
        recorded = finish_task(
            self.db, self.daemon_id, task.id, finished, status=TaskStatus.COMPLETED, logs=lines, result=result.to_dict()
        )
        self._log_outcome(where, "completed", recorded)
        return Outcome(TaskStatus.COMPLETED, recorded)

    def _retry(self, task: ClaimedTask, where: str, lines: list, error: LangFlowError) -> Outcome:
        now = utcnow()
        when = retry_at(now, task.tries, self.settings.retry_base_seconds, self.settings.retry_max_seconds, error)
        lines.append(
            (LogLevel.WARNING, f"will retry at {when:%Y-%m-%d %H:%M:%S} UTC (retry {task.tries} of {task.max_retries})", now)
        )
        recorded = finish_task(
            self.db, self.daemon_id, task.id, now, status=TaskStatus.PENDING, logs=lines, error=error.message,
            next_retry_at=when,
        )
        self._log_outcome(where, f"retry at {when:%H:%M:%S} UTC: {error.message}", recorded)
        return Outcome(TaskStatus.PENDING, recorded)

    def _fail(self, task: ClaimedTask, where: str, lines: list, error: str) -> Outcome:
        now = utcnow()
        recorded = finish_task(self.db, self.daemon_id, task.id, now, status=TaskStatus.FAILED, logs=lines, error=error)
        self._log_outcome(where, f"failed: {error}", recorded)
        if recorded:
            send_alert_in_background(
                self.settings.alert_webhook_url,
                failure_payload(
                    task_id=task.id, flow_id=task.flow_id, flow_name=task.flow_name, schedule_id=task.schedule_id,
                    error=error, tries=task.tries,
                ),
            )
        return Outcome(TaskStatus.FAILED, recorded)

    @staticmethod
    def _log_outcome(where: str, what: str, recorded: bool) -> None:
        if recorded:
            log.info("%s: %s", where, what)
        else:
            log.warning("%s: %s, but another daemon had taken the task over (lease expired); result dropped", where, what)
