"""One try of one claimed task against LangFlow, described for the state owner to record.

A try sends the input to the flow's chosen input component and reads the chosen output
component's answer; its log lines say when it was sent, LangFlow's status and latency, and
the error in plain words. Whether a failure is retried, and when, is the retry rule's
decision (automagik.runs), taken when the try is recorded. Tries write nothing: the daemon
records finished tries in batches, one transaction for many.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from automagik.clock import utcnow
from automagik.costfmt import usd
from automagik.costs.prices import PriceTable, RunCost
from automagik.daemon.settings import DaemonSettings
from automagik.db.models import LogLevel
from automagik.langflow import LangFlowClient, LangFlowError, LangFlowRateLimited
from automagik.runs.leases import ClaimedTask
from automagik.runs.outcomes import Attempt

log = logging.getLogger("automagik.daemon")


class TaskRunner:
    """Shared by the worker threads; each thread keeps its own LangFlow client (HTTP session)."""

    def __init__(
        self,
        daemon_id: str,
        settings: DaemonSettings,
        client_factory: Callable[[], LangFlowClient],
        prices: PriceTable | None = None,
    ) -> None:
        self.daemon_id = daemon_id
        self.settings = settings
        self.prices = prices or PriceTable()
        self._client_factory = client_factory
        self._local = threading.local()

    def _client(self) -> LangFlowClient:
        client = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = self._client_factory()
        return client

    def attempt(self, task: ClaimedTask) -> Attempt:
        """Send the task to LangFlow and say what came of it, with when the try began and
        ended (it is recorded later, in a batch); writes nothing (thread-safe)."""
        started = utcnow()
        outcome = self._attempt(task, started)
        return replace(outcome, started_at=started, finished_at=utcnow(), flow_updated_at=task.flow_updated_at)

    def _attempt(self, task: ClaimedTask, started: datetime) -> Attempt:
        attempt = f"try {task.tries} of {task.max_retries + 1}"
        log.info("%s: running (%s)", describe(task), attempt)
        lines = [(LogLevel.INFO, f"{attempt}: sent to LangFlow by daemon {self.daemon_id}", started)]
        # flow_ready implies both components; naming them lets the checker see they are set.
        if not (task.flow_ready and task.input_component and task.output_component):
            error = (
                f'flow "{task.flow_name}" cannot run: it has no input and output component chosen, '
                "or it is no longer in LangFlow; fix it on the Flows page or with `flows sync`"
            )
            return Attempt(task.id, lines, error=error)
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
            lines.append(
                (LogLevel.ERROR, f"LangFlow failed after {latency:.0f} ms ({status}): {exc.message}", utcnow())
            )
            retry_after = exc.retry_after if isinstance(exc, LangFlowRateLimited) else None
            return Attempt(task.id, lines, error=exc.message, transient=exc.transient, retry_after=retry_after)
        except Exception as exc:  # a bug of ours must not kill the worker; the task fails visibly
            log.exception("%s: unexpected error", describe(task))
            return Attempt(task.id, lines, error=f"internal error in the daemon: {type(exc).__name__}: {exc}")
        text = result.text or ""
        answered = utcnow()
        lines.append(
            (
                LogLevel.INFO,
                f"LangFlow answered HTTP {result.status_code} in {result.latency_ms:.0f} ms: "
                f"{len(text)} characters from {result.component_id}",
                answered,
            )
        )
        cost = self.prices.cost(list(result.usage), answered)
        if cost is not None:
            lines.append((LogLevel.INFO, describe_cost(cost), answered))
            lines += [(LogLevel.WARNING, note, answered) for note in cost.notes]
        return Attempt(task.id, lines, result=result.to_dict(), cost=cost)


def describe_cost(cost: RunCost) -> str:
    model = f" by {cost.model}" if cost.model else ""
    price = usd(cost.cost_usd) if cost.cost_usd is not None else "cost unknown"
    return f"tokens{model}: {cost.input_tokens} in, {cost.output_tokens} out, " f"{cost.total_tokens} in all; {price}"


def describe(task: ClaimedTask) -> str:
    return f"task {task.id} flow {task.flow_name!r} schedule {task.schedule_id or '-'}"
