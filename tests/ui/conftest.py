"""Fixtures for the dashboard tests: the app under AppTest against a real temporary database.

Each test gets its own migrated database (SQLite and PostgreSQL, like the service tests), the
LangFlow test server, and a clean Streamlit cache, so no engine or health check leaks from one
test into the next.
"""

from __future__ import annotations

import os

import pytest
import streamlit as st
from streamlit.runtime.scriptrunner import script_runner
from streamlit.testing.v1 import AppTest

from tests.conftest import API_KEY, PROJECT_ROOT
from tests.ui.helpers import page_errors
from tests.ui.streamlit_pages_mode import checked_streamlit, run_app_py

APP = PROJECT_ROOT / "app.py"
ZONE = "Europe/Berlin"


def _clear_streamlit_caches() -> None:
    st.cache_resource.clear()  # closes the cached AppContext (on_release) and its engine
    st.cache_data.clear()


@pytest.fixture
def app_py_runs_every_time(monkeypatch):
    """AppTest runs app.py (and its st.navigation) on every run, as a server does after the
    first page view. The only patch of Streamlit's internals in the suite, for the pinned
    Streamlit only: see tests/ui/streamlit_pages_mode.py."""
    checked_streamlit()
    monkeypatch.setattr(script_runner, "_mpa_v1", run_app_py)


@pytest.fixture
def dashboard_env(database_url, langflow, monkeypatch, tmp_path, app_py_runs_every_time):
    """The environment `streamlit run app.py` would get, pointed at this test's database."""
    for name in list(os.environ):
        if name.startswith(("AUTOMAGIK_", "LANGFLOW_")) or name in ("DATABASE_URL", "TIMEZONE"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("LANGFLOW_API_URL", langflow.url)
    monkeypatch.setenv("LANGFLOW_API_KEY", API_KEY)
    monkeypatch.setenv("TIMEZONE", ZONE)
    # AppTest runs each fragment once per run; no timers are wanted in unit tests.
    monkeypatch.setenv("AUTOMAGIK_DASHBOARD_REFRESH_SECONDS", "0")
    monkeypatch.chdir(tmp_path)  # no stray .env is read
    _clear_streamlit_caches()
    yield
    _clear_streamlit_caches()


@pytest.fixture
def open_page(dashboard_env):
    """open_page("tasks") -> an AppTest that has run app.py and then that page."""

    def open_(page: str | None = None, *, allow_errors: bool = False) -> AppTest:
        at = AppTest.from_file(str(APP), default_timeout=60).run()
        if page:
            at.switch_page(f"pages/{page}.py").run()
        assert not at.exception, [e.value for e in at.exception]
        if not allow_errors:
            assert not page_errors(at), page_errors(at)
        return at

    return open_
