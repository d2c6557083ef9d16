"""app.py: navigation over the four pages, the password gate, settings and database checks,
and what no page may ever show (the API key)."""

from __future__ import annotations

import re

import pytest
from streamlit.testing.v1 import AppTest

from automagik.db.models import TaskStatus
from automagik.services import schedules as schedule_service
from tests.conftest import API_KEY
from tests.services.helpers import ECHO_ID, TWO_OUT_ID
from tests.ui.conftest import APP
from tests.ui.helpers import add_task, alerts, page_errors, page_text, ready_flows

PAGES = ("overview", "flows", "schedules", "tasks")


def test_every_page_renders_on_an_empty_database(open_page):
    at = open_page()
    assert [t.value for t in at.title] == ["Overview"]
    assert "No runs in the last 24 hours." in alerts(at, "info")
    assert any("No daemon has ever run" in w for w in alerts(at, "warning"))
    expected = {
        "flows": "No flows yet",
        "schedules": "No schedules yet.",
        "tasks": "No runs match",
    }
    for page, message in expected.items():
        at.switch_page(f"pages/{page}.py").run()
        assert not at.exception and not page_errors(at)
        assert at.title[0].value == page.capitalize()
        assert any(message in info for info in alerts(at, "info")), alerts(at, "info")


def test_the_api_key_appears_on_no_page(open_page, db, langflow):
    ready_flows(db, langflow)
    schedule_service.create_schedule(
        db, schedule_service.ScheduleSpec(flow_id=ECHO_ID, schedule_type="interval", schedule_expr="1m")
    )
    task_id = add_task(db, status=TaskStatus.FAILED, error="LangFlow refused", output=None)
    at = open_page()
    for page in PAGES:
        at.switch_page(f"pages/{page}.py").run()
        if page == "tasks":
            at.session_state["tasks_selected_id"] = task_id
            at.run()
            assert "LangFlow refused" in page_text(at)
        text = page_text(at)
        assert API_KEY not in text, page
        assert API_KEY[:12] not in text, page


@pytest.fixture
def password(dashboard_env, monkeypatch):
    monkeypatch.setenv("AUTOMAGIK_DASHBOARD_PASSWORD", "open sesame")
    return "open sesame"


def test_password_gate_refuses_a_wrong_password_and_shows_nothing_else(password):
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    assert [t.value for t in at.title] == ["Automagik"]
    assert at.text_input[0].label == "Password"
    at.text_input[0].input("open sesame!")
    at.button[0].click().run()
    assert page_errors(at) == ["Wrong password."]
    assert "Overview" not in [t.value for t in at.title]


def test_password_gate_lets_the_right_password_in(password):
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    at.text_input[0].input(password)
    at.button[0].click().run()
    assert not at.exception
    assert [t.value for t in at.title] == ["Overview"]
    at.switch_page("pages/tasks.py").run()
    assert [t.value for t in at.title] == ["Tasks"]


def test_a_bad_setting_is_one_error_naming_the_variable(dashboard_env, monkeypatch):
    monkeypatch.setenv("TIMEZONE", "Mars/Olympus")
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    assert not at.exception
    assert len(page_errors(at)) == 1 and "TIMEZONE" in page_errors(at)[0]
    assert not at.title


def test_a_bad_refresh_interval_is_refused(dashboard_env, monkeypatch):
    monkeypatch.setenv("AUTOMAGIK_DASHBOARD_REFRESH_SECONDS", "soon")
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    assert len(page_errors(at)) == 1 and "AUTOMAGIK_DASHBOARD_REFRESH_SECONDS" in page_errors(at)[0]


def test_an_uninitialized_database_says_how_to_initialize_it(dashboard_env, monkeypatch, tmp_path):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'fresh.db'}")
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    assert not at.exception
    errors = page_errors(at)
    assert len(errors) == 1 and "not initialized" in errors[0] and "db init" in errors[0]
    assert not at.title


def test_pages_refresh_with_the_default_interval(dashboard_env, monkeypatch, db, langflow):
    """With refreshing on (the default 5 s), the self-refreshing pages still render normally."""
    monkeypatch.delenv("AUTOMAGIK_DASHBOARD_REFRESH_SECONDS")
    ready_flows(db, langflow)
    add_task(db, flow_id=TWO_OUT_ID)
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    assert not at.exception and not page_errors(at)
    at.switch_page("pages/tasks.py").run()
    assert not at.exception and not page_errors(at)
    assert len(at.dataframe[0].value) == 1


def test_plain_keeps_markdown_and_links_from_user_data_inert():
    from pages.common import plain

    shown = plain("**Bold** [x](http://e.example) <b>t</b> :red[y] a@b.c www.d.e\nnext line")
    assert "\n" not in shown
    assert re.search(r"(?<!\\)[*\[\]()<>:]", shown) is None  # every Markdown character escaped
    assert "http\\:\u2060//" in shown and "a@\u2060b" in shown and "w\u2060ww" in shown
    # What the page reads once Markdown undoes the escapes (the joiner is invisible):
    from tests.ui.helpers import unescape

    assert unescape(shown) == "**Bold** [x](http://e.example) <b>t</b> :red[y] a@b.c www.d.e next line"


def test_public_url_drops_credentials():
    from pages.common import public_url

    assert public_url("https://user:secret@langflow.example:7860/base") == "https://langflow.example:7860/base"
