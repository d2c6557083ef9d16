"""The LangFlow API key never appears in anything the CLI prints.

Runs after every other CLI test (tests/cli/conftest.py moves it last) and checks the output of
every command they ran, plus a few of its own that talk to LangFlow in good and bad times.
"""

from __future__ import annotations

import pytest

from tests.cli.conftest import RECORDED, run_all
from tests.conftest import API_KEY


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # the commands of both backends are checked
def test_api_key_never_printed_by_any_command(cli, langflow, db):
    run_all(cli, ("db", "init"), ("flows", "sync"))
    langflow.api_key = "sk-test-another-key"  # LangFlow now refuses the key the CLI sends
    assert cli("flows", "sync").returncode == 1
    langflow.pause()
    assert cli("flows", "sync").returncode == 1

    assert len(RECORDED) >= 4
    secret = API_KEY.removeprefix("sk-test-")  # nor any recognisable part of it
    leaks = [" ".join(r.args) for r in RECORDED if secret in r.stdout or secret in r.stderr]
    assert leaks == [], f"the API key was printed by: {leaks}"
