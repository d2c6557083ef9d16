"""The Automagik dashboard: `streamlit run app.py`.

app.py sets the page up (title, wide layout), checks the settings, asks for the password when
AUTOMAGIK_DASHBOARD_PASSWORD is set, checks the database, then runs the page chosen with
st.navigation over pages/: Overview, Flows, Schedules, Tasks (all in pages/frame.py, which
the pages share). Each page renders what automagik.services returns; none holds SQL or calls
LangFlow itself.
"""

from pages.frame import run_app

run_app()
