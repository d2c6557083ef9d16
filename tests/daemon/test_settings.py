"""Daemon options: flags over the environment over a .env file over defaults; bad values named."""

from __future__ import annotations

import pytest

from automagik.config import ConfigError
from automagik.daemon.settings import DaemonSettings, daemon_settings


def test_defaults():
    assert daemon_settings(environ={}, env_file=None) == DaemonSettings()


def test_flags_win_over_environment_which_wins_over_env_file(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("AUTOMAGIK_WORKERS=3\nAUTOMAGIK_POLL_SECONDS=0.5\nAUTOMAGIK_RETRY_BASE_SECONDS=2\n")
    options = daemon_settings(
        {"workers": 12, "poll_seconds": None}, environ={"AUTOMAGIK_POLL_SECONDS": "0.25"}, env_file=env_file
    )
    assert (options.workers, options.poll_seconds, options.retry_base_seconds) == (12, 0.25, 2.0)


@pytest.mark.parametrize(
    "variable, value",
    [
        ("AUTOMAGIK_WORKERS", "zero"),
        ("AUTOMAGIK_WORKERS", "0"),
        ("AUTOMAGIK_LEASE_SECONDS", "-1"),
        ("AUTOMAGIK_LOG_LEVEL", "LOUD"),
        ("AUTOMAGIK_ALERT_WEBHOOK_URL", "hooks.example"),
    ],
)
def test_bad_values_name_the_variable(variable, value):
    with pytest.raises(ConfigError, match=variable):
        daemon_settings(environ={variable: value}, env_file=None)


def test_a_price_file_is_checked_at_start(tmp_path):
    good = tmp_path / "prices.toml"
    good.write_text('["llama3:8b"]\ninput = 0.05\noutput = 0.08\n')
    assert daemon_settings(environ={"AUTOMAGIK_PRICES_FILE": str(good)}, env_file=None).prices_file == str(good)
    bad = tmp_path / "prices.json"
    bad.write_text('{"llama3:8b": {"input": "cheap"}}')
    with pytest.raises(ConfigError, match=r"^AUTOMAGIK_PRICES_FILE='.*prices.json': model 'llama3:8b' needs"):
        daemon_settings(environ={"AUTOMAGIK_PRICES_FILE": str(bad)}, env_file=None)
