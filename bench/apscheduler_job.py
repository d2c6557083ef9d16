"""The job APScheduler runs in bench/dispatch_lateness.py, importable by reference
("bench.apscheduler_job:fire") as SQLAlchemyJobStore requires.

It makes exactly the call the Automagik daemon makes for a run (LangFlowClient.run_flow, one
pooled client per worker thread, the daemon's default timeouts) and returns when it started,
so the EVENT_JOB_EXECUTED listener can set it beside the event's scheduled_run_time.
"""

from __future__ import annotations

import threading
import time

from automagik.langflow import LangFlowClient, LangFlowError

_local = threading.local()


def _client(url: str, api_key: str) -> LangFlowClient:
    client = getattr(_local, "client", None)
    if client is None:
        # The daemon's defaults: LANGFLOW_CONNECT_TIMEOUT=5, LANGFLOW_READ_TIMEOUT=300.
        client = _local.client = LangFlowClient(url, api_key=api_key, connect_timeout=5.0, read_timeout=300.0)
    return client


def fire(url: str, api_key: str, flow_id: str, input_component: str, output_component: str, text: str):
    """Run the flow once; returns (started epoch seconds, error or None). Never raises."""
    started = time.time()
    try:
        _client(url, api_key).run_flow(
            flow_id,
            input_component=input_component,
            output_component=output_component,
            input_text=text,
            tweaks=None,
            timeout=300.0,
        )
    except LangFlowError as exc:
        return started, exc.message
    except Exception as exc:  # noqa: BLE001 - reported, not raised: the benchmark counts it
        return started, f"{type(exc).__name__}: {exc}"
    return started, None
