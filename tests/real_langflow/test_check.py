"""`check` against a real LangFlow: its key accepted, a wrong one refused (one line each)."""

from __future__ import annotations

from automagik.clock import utcnow
from automagik.daemon import heartbeat


def test_check_asks_a_real_langflow_whether_it_takes_the_key(cli, db, echo_flow):
    now = utcnow()
    heartbeat.beat(db, heartbeat.DaemonIdentity("here:1", "here", 1, "test", 1, now), now, 0)
    accepted = cli("check")
    assert accepted.returncode == 0, accepted.output
    assert "LangFlow 1.13.0 at " in accepted.stdout and "API key accepted" in accepted.stdout
    refused = cli("check", env={"LANGFLOW_API_KEY": "sk-not-a-key-5581"})
    assert refused.returncode == 1
    [line] = refused.stdout.splitlines()
    assert "refused access while checking the API key" in line and "sk-not-a-key-5581" not in line
