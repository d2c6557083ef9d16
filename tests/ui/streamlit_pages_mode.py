"""The one place the suite reaches into Streamlit's internals: AppTest and the pages/ folder.

Checked with Streamlit 1.67.0, requirements.txt's pin; `checked_streamlit()` refuses any other
version, so a new pin means looking at this again:

A Streamlit server enters its older multipage mode (every file of pages/ a page of its own)
because a pages/ folder sits beside app.py, and leaves it for good once app.py calls
st.navigation (pages/frame.py covers the moment before; the browser test checks it).
AppTest resets that state before every run (`PagesManager.uses_pages_directory = None` in
`AppTest._run`), so under AppTest every run goes through `script_runner._mpa_v1`, which runs
page files alone and changes widget ids across st.rerun(). Replacing `_mpa_v1` by a plain run
of app.py gives AppTest what the server does after the first page view. There is no public
switch for it in 1.67 (the pages/ folder is detected by path; `client.showSidebarNavigation`
only hides the list); moving pages/ elsewhere would be the lasting fix.
"""

from __future__ import annotations

import runpy

import streamlit
from streamlit.runtime.scriptrunner import script_runner

CHECKED_WITH = "1.67.0"


def checked_streamlit() -> None:
    """Raise unless the installed Streamlit is the version this workaround was checked with."""
    if streamlit.__version__ != CHECKED_WITH or not callable(getattr(script_runner, "_mpa_v1", None)):
        raise RuntimeError(
            f"Streamlit {streamlit.__version__} is installed; tests/ui/streamlit_pages_mode.py was checked with "
            f"{CHECKED_WITH}: see whether AppTest still needs it (its docstring says why), then update CHECKED_WITH."
        )


def run_app_py(main_script_path: str) -> None:
    """What replaces `_mpa_v1`: run the main script (app.py) itself, which calls st.navigation."""
    runpy.run_path(main_script_path, run_name="__main__")
