"""Every page at 1024 and 1280 px wide: nothing scrolls sideways, no button or label is cut
short, no table runs past the window's edge.

The pages are filled as a user's would be (a flow with a long name, schedules of each kind, a
failure with LangFlow's reason, runs being made by the daemon) and each is photographed at both
widths into test-artifacts/ (for the README with AUTOMAGIK_UPDATE_SCREENSHOTS=1). The table
cells themselves are drawn on a canvas by Streamlit; what is checked there is the table's box.
"""

from __future__ import annotations

import os
import shutil

import pytest

from automagik.db.engine import Database
from automagik.services import schedules as schedule_service
from tests.conftest import API_KEY
from tests.e2e.stack import Stack, launch_chromium
from tests.e2e.test_browser import (
    ARTIFACTS,
    README_SHOTS,
    completed_runs,
    failed_runs,
    open_page,
    photographed_on_failure,
    pytestmark,
    settle,
    wait_for,
)
from tests.langflow_server import FakeLangFlow
from tests.services.helpers import ECHO_ID, synced

__all__ = ["pytestmark"]  # the e2e marks and the Chromium check of the browser test

WIDTHS = (1024, 1280)
# The pictures the README shows (all are kept in test-artifacts/).
README_PICTURES = {"overview-1280", "tasks-1280", "schedules-1024"}
PAGES = ("Overview", "Flows", "Schedules", "Tasks")
LONG_NAME = "Weekly digest of every customer conversation, summarised for the team"

# Elements the width could squeeze: whatever clips its own text (ellipsis or hidden overflow)
# while its text is wider than its box is cut short; tables and charts must end in the window.
FIND_CLIPPED = """
() => {
  const problems = [];
  const page = document.documentElement;
  if (page.scrollWidth > page.clientWidth + 1) {
    problems.push(`the page scrolls sideways: ${page.scrollWidth} px of content in ${page.clientWidth} px`);
  }
  const main = document.querySelector('[data-testid=stMain]');
  const right = main ? main.getBoundingClientRect().right : window.innerWidth;
  const texts = document.querySelectorAll(
    '[data-testid=stMain] button, [data-testid=stMain] button *, [data-testid=stMain] label, '
    + '[data-testid=stMain] label *, [data-testid=stMetricValue], [data-testid=stMetricValue] *, '
    + '[data-testid=stTab] *');
  for (const element of texts) {
    if (!element.offsetParent || !element.innerText || !element.innerText.trim()) continue;
    const style = getComputedStyle(element);
    const clips = style.textOverflow === 'ellipsis' || style.overflowX === 'hidden' || style.overflow === 'hidden';
    if (clips && element.scrollWidth > element.clientWidth + 1) {
      problems.push(`cut short: <${element.tagName.toLowerCase()}> "${element.innerText.trim().slice(0, 60)}"`);
    }
  }
  for (const box of document.querySelectorAll('[data-testid=stDataFrame], [data-testid=stVegaLiteChart]')) {
    const edge = box.getBoundingClientRect().right;
    if (box.offsetParent && edge > right + 1) {
      problems.push(`${box.dataset.testid} ends at ${Math.round(edge)} px, past the page's ${Math.round(right)} px`);
    }
  }
  return problems;
}
"""


def _fill(db: Database, langflow: FakeLangFlow) -> None:
    long_flow = langflow.add_flow(LONG_NAME)
    synced(db, langflow)
    spec = schedule_service.ScheduleSpec
    schedule_service.create_schedule(db, spec(ECHO_ID, "interval", "1s", '{"input": "a run every second"}'))
    schedule_service.create_schedule(
        db, spec(long_flow, "cron", "30 9 * * 1-5", '{"input": "digest"}', timezone="America/Argentina/Buenos_Aires")
    )
    schedule_service.create_schedule(db, spec(long_flow, "oneshot", "2030-01-01T09:00:00+01:00", None))


@pytest.fixture(scope="module")
def filled_stack(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("layout")
    langflow = FakeLangFlow(api_key=API_KEY).start()
    stack = Stack(tmp_path, langflow.url)
    db = None
    try:
        stack.init_database()
        db = Database(stack.database_url)
        _fill(db, langflow)
        stack.start_daemon()
        wait_for(lambda: completed_runs(db) >= 3, 30, "the daemon has made three runs")
        langflow.force_status = 422
        wait_for(lambda: failed_runs(db) >= 1, 20, "a run fails")
        langflow.force_status = None
        yield stack.start_dashboard(refresh_seconds=60)
    finally:
        if db is not None:
            db.dispose()
        stack.stop()
        langflow.stop()


@pytest.mark.parametrize("width", WIDTHS)
def test_no_page_is_cut_short(filled_stack, width):
    problems = {}
    with (
        launch_chromium() as browser,
        photographed_on_failure(
            browser.new_page(viewport={"width": width, "height": 900}), f"failure-layout-{width}"
        ) as page,
    ):
        page.goto(f"{filled_stack}/")
        page.get_by_role("heading", name="Overview", level=1).wait_for()
        for title in PAGES:
            open_page(page, title)
            settle(page)
            page.wait_for_timeout(700)  # tables and charts paint after the script run ends
            found = page.evaluate(FIND_CLIPPED)
            if found:
                problems[title] = found
            _photograph(page, f"{title.lower()}-{width}")
    assert problems == {}


def _photograph(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    if name in README_PICTURES and os.environ.get("AUTOMAGIK_UPDATE_SCREENSHOTS") == "1":
        README_SHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, README_SHOTS / f"{name}.png")
