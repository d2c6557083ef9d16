"""The frame around every page: page setup, settings, the password gate, the database check,
and st.navigation over the pages. app.py runs it, then the chosen page.

Not a page itself. Because this folder is called pages/, Streamlit runs a page file directly
(its older multipage mode) when the first request after the server starts names a page, until
st.navigation has been called once; a page therefore starts with ensure(), which sends such a
run back through app.py, so no request ever skips the gate or the checks.
"""

from __future__ import annotations

import streamlit as st

from automagik.config import ConfigError, Settings
from automagik.services.dashboard_settings import DashboardSettings, password_matches
from automagik.services.overview import schema_problem
from pages import common

AUTHENTICATED_KEY = "automagik_authenticated"
FRAMED_KEY = "automagik_framed_run"


def _pages() -> list[st.Page]:
    return [
        # Emoji, not :material/...: icons: a page's icon is also its favicon, which the browser
        # would fetch from fonts.gstatic.com (the dashboard fetches nothing from the internet).
        st.Page("pages/overview.py", title="Overview", icon="📊", default=True),
        st.Page("pages/flows.py", title="Flows", icon="🔀"),
        st.Page("pages/schedules.py", title="Schedules", icon="🗓️"),
        st.Page("pages/tasks.py", title="Tasks", icon="🕘"),
    ]


def password_gate(expected: str) -> None:
    """Ask for AUTOMAGIK_DASHBOARD_PASSWORD once per browser session; stop the run until it is right."""
    st.title("Automagik")
    with st.form("login"):
        given = st.text_input("Password", type="password")
        submitted = st.form_submit_button("Sign in")
    if submitted:
        if password_matches(given, expected):
            st.session_state[AUTHENTICATED_KEY] = True
            st.rerun()
        st.error("Wrong password.")
    st.stop()


def frame():
    """Set the page up and return the page to run; st.stop() when nothing may be shown."""
    st.set_page_config(page_title="Automagik", page_icon="🪄", layout="wide")
    settings: Settings | None
    options: DashboardSettings | None
    try:
        settings, options = common.settings(), common.options()
    except ConfigError as exc:
        settings = options = None
        problem = str(exc)
    # The password to ask for first, or None (none set, or already given).
    gate = options.password if options is not None and not st.session_state.get(AUTHENTICATED_KEY) else None
    # Navigation first, whatever happens next (see the module docstring); hidden while
    # nothing may be shown.
    page = st.navigation(_pages(), position="sidebar" if settings is not None and not gate else "hidden")
    if settings is None:
        st.error(common.plain(problem))
        st.stop()
    if gate:
        password_gate(gate)
    schema = schema_problem(common.context().db)
    if schema:
        common.alert("error", schema)
        st.stop()
    with st.sidebar:
        # Where the data comes from, without the key: the URL and zone are configuration.
        st.caption(f"Times in {common.plain(settings.timezone)}")
        st.caption(f"LangFlow at {common.plain(common.public_url(settings.langflow_api_url))}")
    return page


def run_app() -> None:
    """app.py: the frame, then the chosen page (which then knows the frame ran)."""
    page = frame()
    st.session_state[FRAMED_KEY] = True
    page.run()


def ensure() -> None:
    """The first line of every page: when app.py did not run first, start over through it.

    Calling st.navigation once takes Streamlit out of its pages/-folder mode for good; the
    rerun then goes through app.py. Nothing is drawn before it, so no widget drawn in that
    mode (whose ids would not survive the switch) swallows the user's first click.
    """
    if not st.session_state.pop(FRAMED_KEY, False):
        st.navigation(_pages(), position="hidden")
        st.rerun()
