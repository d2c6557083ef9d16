"""Alerts POSTed to AUTOMAGIK_ALERT_WEBHOOK_URL: a task that failed for good, whichever path
failed it (its run, or recovery after its daemon died); an incident opened or cleared
(automagik.monitoring), among them a flow's daily budget reached and a schedule paused by a
flow sync, whose openings carry their own fields.

The body is Slack-compatible (a "text" line) with structured fields beside it. Alerts are
sent from a short-lived thread with a timeout, and a failing alert is logged, never fatal.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable

import requests

from automagik.costs.budgets import BudgetReached
from automagik.db.models import TaskStatus
from automagik.monitoring.incidents import Change, Kind
from automagik.runs.outcomes import Recorded
from automagik.services.flows import PausedSchedule

log = logging.getLogger("automagik.daemon")
ALERT_TIMEOUT = (3.0, 5.0)


def failure_payload(
    *, task_id: str, flow_id: str, flow_name: str, schedule_id: str | None, error: str, tries: int
) -> dict:
    where = f"schedule {schedule_id}" if schedule_id else "a manual run"
    return {
        "text": f'Automagik: flow "{flow_name}" failed ({where}, task {task_id}, {tries} tries): {error}',
        "flow_id": flow_id,
        "flow_name": flow_name,
        "schedule_id": schedule_id,
        "task_id": task_id,
        "error": error,
        "tries": tries,
    }


def alert_failures(url: str | None, changes: Iterable[Recorded]) -> list[threading.Thread]:
    """One alert per task that a transition left failed for good; returns the threads sending
    them (a process about to exit waits for them, see wait_for_alerts)."""
    return send_all(
        url,
        [
            failure_payload(
                task_id=change.task_id,
                flow_id=change.flow_id,
                flow_name=change.flow_name,
                schedule_id=change.schedule_id,
                error=change.error or "",
                tries=change.tries,
            )
            for change in changes
            if change.status is TaskStatus.FAILED
        ],
    )


def budget_payload(reached: BudgetReached) -> dict:
    return {
        "text": f"Automagik: {reached.message}",
        "incident": Kind.BUDGET_REACHED.value,
        "subject": reached.flow_id,
        "state": "open",
        "flow_id": reached.flow_id,
        "flow_name": reached.flow_name,
        "daily_budget_usd": reached.budget_usd,
        "spent_usd": reached.spent_usd,
        "day": reached.day,
    }


def alert_budgets(url: str | None, reached: Iterable[BudgetReached]) -> list[threading.Thread]:
    """One alert per flow whose budget incident this daemon opened (its clearing is alerted as
    any incident's)."""
    return send_all(url, [budget_payload(flow) for flow in reached])


def paused_payload(paused: PausedSchedule) -> dict:
    return {
        "text": f"Automagik: {paused.message}",
        "incident": Kind.SCHEDULE_PAUSED.value,
        "subject": paused.schedule_id,
        "state": "open",
        "schedule_id": paused.schedule_id,
        "flow_id": paused.flow_id,
        "flow_name": paused.flow_name,
        "reason": paused.reason,
    }


def alert_paused_schedules(url: str | None, paused: Iterable[PausedSchedule]) -> list[threading.Thread]:
    """One alert per schedule a flow sync paused (it was active until then; its incident opened)."""
    return send_all(url, [paused_payload(schedule) for schedule in paused])


def incident_payload(change: Change) -> dict:
    state = "open" if change.opened else "cleared"
    prefix = "Automagik: " if change.opened else "Automagik: cleared: "
    return {
        "text": prefix + change.message,
        "incident": change.kind.value,
        "subject": change.subject,
        "state": state,
        "at": change.at.isoformat(),
    }


def alert_incidents(url: str | None, changes: Iterable[Change]) -> list[threading.Thread]:
    """One alert per incident this daemon opened or cleared."""
    return send_all(url, [incident_payload(change) for change in changes])


def wait_for_alerts(threads: Iterable[threading.Thread], seconds: float = sum(ALERT_TIMEOUT) + 1) -> None:
    """Let alerts still being sent finish (each is bounded by ALERT_TIMEOUT), at most `seconds` in all."""
    deadline = time.monotonic() + seconds
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))


def post_alert(url: str, payload: dict) -> bool:
    try:
        response = requests.post(url, json=payload, timeout=ALERT_TIMEOUT)
    except requests.RequestException as exc:
        log.warning("alert about %s not delivered: %s", _subject(payload), type(exc).__name__)
        return False
    if response.status_code >= 400:
        log.warning("alert about %s refused by the webhook: HTTP %s", _subject(payload), response.status_code)
        return False
    return True


def _subject(payload: dict) -> str:
    if payload.get("incident"):
        return f"incident {payload['incident']} {payload.get('subject') or ''}".rstrip()
    for kind in ("task", "schedule", "flow"):
        if payload.get(f"{kind}_id"):
            return f"{kind} {payload[f'{kind}_id']}"
    return "?"


def send_all(url: str | None, payloads: list[dict]) -> list[threading.Thread]:
    """Each payload posted from a thread of its own; the threads (none without a URL)."""
    threads = [send_alert_in_background(url, payload) for payload in payloads]
    return [thread for thread in threads if thread is not None]


def send_alert_in_background(url: str | None, payload: dict) -> threading.Thread | None:
    if not url:
        return None
    thread = threading.Thread(target=post_alert, args=(url, payload), name="alert", daemon=True)
    thread.start()
    return thread
