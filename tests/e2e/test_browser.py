"""The dashboard in a real browser, with the real processes around it.

Debian's Chromium (/usr/bin/chromium; Playwright's own browser download is not used) drives
`streamlit run app.py`, next to `python scheduler_daemon.py` and the LangFlow test server,
all on a fresh SQLite database made by `db init`. The main test does what a user does first:
sync the flows, pick a flow's components, create a 2-second interval schedule, watch completed
runs appear, download the CSV and check its rows. Every page is photographed into
test-artifacts/ (and, for the README, docs/screenshots/).
"""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
import time
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from automagik.db.engine import Database
from automagik.db.models import Task, TaskStatus
from automagik.services.export import CSV_COLUMNS, csv_file_name
from tests.conftest import API_KEY, PROJECT_ROOT
from tests.e2e.stack import CHROMIUM, Stack, launch_chromium
from tests.langflow_server import FakeLangFlow
from tests.services.helpers import TWO_OUT_ID

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.slow,
    pytest.mark.skipif(
        not Path(CHROMIUM).exists(),
        reason=f"Debian's Chromium is not installed at {CHROMIUM} (apt-get install chromium; scripts/test.sh does it)",
    ),
]

ARTIFACTS = PROJECT_ROOT / "test-artifacts"
README_SHOTS = PROJECT_ROOT / "docs" / "screenshots"
TWO_OUT_NAME = "TwoOut 1a87"
MESSAGE = "hello from the browser"
MATCHING = re.compile(r"(\d+) runs? match")


def shoot(page, name: str, readme: bool = False) -> None:
    page.mouse.click(1390, 1100)  # an empty spot: no field keeps the focus ring
    settle(page)
    page.wait_for_timeout(700)  # tables and charts paint after the run ends
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    # The README's copies change only when asked: AUTOMAGIK_UPDATE_SCREENSHOTS=1.
    if readme and os.environ.get("AUTOMAGIK_UPDATE_SCREENSHOTS") == "1":
        README_SHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, README_SHOTS / f"{name}.png")


@contextmanager
def photographed_on_failure(page, name: str):
    """Yield the page; if the test fails inside, keep a picture of what the browser showed."""
    page.set_default_timeout(20_000)
    try:
        yield page
    except BaseException:
        shoot(page, name)
        raise


def settle(page) -> None:
    """Wait until the script run an interaction started has finished (a click on a widget
    that a rerun is about to replace could otherwise land on the old one)."""
    page.wait_for_function(
        "() => document.querySelector('[data-testid=stApp]')?.getAttribute('data-test-script-state') !== 'running'"
    )


def click(page, name) -> None:
    settle(page)
    page.get_by_role("button", name=name).click()


def choose(page, label: str, option: str) -> None:
    """Pick `option` in the Streamlit selectbox labelled `label`."""
    settle(page)
    page.get_by_role("combobox", name=label).click()
    page.get_by_role("option", name=option, exact=True).click()
    settle(page)


def fill(page, label: str, text: str, commit: bool = True) -> None:
    settle(page)
    box = page.get_by_role("textbox", name=label)
    box.fill(text)
    if commit:
        box.press("Tab")  # as leaving the field does (live fields commit on a typing pause)
    settle(page)


def open_page(page, title: str) -> None:
    settle(page)
    page.get_by_test_id("stSidebarNav").get_by_role("link", name=title).click()
    page.get_by_role("heading", name=title, level=1).wait_for()


EXPORT_NAME_REFRESH_SECONDS = 10  # as in pages/tasks.py


def download_csv(page, zone: str) -> str:
    """Click "Download CSV" and read the file. The button sits outside the table's
    self-refreshing fragment, so a click seldom meets a redraw. The file is named for the
    minute of the click, as of the button's last redraw (at most EXPORT_NAME_REFRESH_SECONDS
    before it)."""
    settle(page)
    clicked = datetime.now(UTC)
    with page.expect_download(timeout=30_000) as download:
        page.get_by_role("button", name=re.compile(r"Download CSV")).click()
    minutes = {csv_file_name(clicked - timedelta(seconds=s), zone) for s in (0, EXPORT_NAME_REFRESH_SECONDS + 1)}
    assert download.value.suggested_filename in minutes, (download.value.suggested_filename, minutes)
    return Path(download.value.path()).read_text(encoding="utf-8")


def runs_matching(page) -> int:
    found = MATCHING.search(page.get_by_text(MATCHING).inner_text())
    return int(found.group(1)) if found else -1


def wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting until {what}")
        time.sleep(0.2)


def select_first_row(page) -> None:
    """Tick the first row of the runs table (a canvas: the row checkbox is drawn, not a node)."""
    settle(page)
    table = page.get_by_test_id("stDataFrame").first
    box = table.bounding_box()
    page.mouse.click(box["x"] + 15, box["y"] + 35 + 17)  # header 35 px, then the first row


def failed_runs(db: Database) -> int:
    with db.read() as session:
        return session.scalar(select(func.count()).select_from(Task).where(Task.status == TaskStatus.FAILED))


def completed_runs(db: Database) -> int:
    with db.read() as session:
        return session.scalar(select(func.count()).select_from(Task).where(Task.status == TaskStatus.COMPLETED))


def test_sync_choose_schedule_watch_and_export(tmp_path):
    langflow = FakeLangFlow(api_key=API_KEY).start()
    stack = Stack(tmp_path, langflow.url)
    db = None
    try:
        stack.init_database()
        stack.start_daemon()
        base = stack.start_dashboard()
        db = Database(stack.database_url)
        with (
            launch_chromium() as browser,
            photographed_on_failure(
                browser.new_page(viewport={"width": 1400, "height": 1600}, accept_downloads=True), "failure-main"
            ) as page,
        ):
            requested: list[str] = []
            page.on("request", lambda request: requested.append(request.url))

            # A first request straight to a page still goes through app.py (its navigation).
            page.goto(f"{base}/flows")
            page.get_by_role("heading", name="Flows", level=1).wait_for()
            assert page.get_by_test_id("stSidebarNav").inner_text().split() == [
                "📊",
                "Overview",
                "🔀",
                "Flows",
                "🗓️",
                "Schedules",
                "🕘",
                "Tasks",
            ]

            click(page, "Sync from LangFlow")
            page.get_by_text("Synced 2 flows: 2 new").wait_for()
            # TwoOut has two outputs: nothing is preselected until the user picks one.
            assert page.get_by_role("combobox", name="Flow").input_value() == f"{TWO_OUT_NAME} · {TWO_OUT_ID}"
            assert page.get_by_role("combobox", name="Input component").input_value() == "Chat Input · ChatInput-tw001"
            assert page.get_by_role("combobox", name="Output component").input_value() == ""
            choose(page, "Output component", "Chat Output · ChatOutput-tw004")
            click(page, "Save components")
            page.get_by_text(f'Saved the components of "{TWO_OUT_NAME}".').wait_for()
            shoot(page, "flows", readme=True)

            open_page(page, "Schedules")
            choose(page, "Flow", f"{TWO_OUT_NAME} · {TWO_OUT_ID}")
            fill(page, "Input (JSON)", f'{{"input": "{MESSAGE}"}}')
            page.get_by_role("textbox", name="Expression").fill("2 parsecs")
            page.get_by_text('Invalid interval "2 parsecs"').wait_for()  # checked as you type
            fill(page, "Expression", "2s", commit=False)
            page.get_by_text("every 2s").wait_for()
            page.get_by_text("Next fires:").wait_for()
            shoot(page, "schedule-form", readme=True)
            click(page, "Create schedule")
            page.get_by_text("Created schedule").wait_for()
            shoot(page, "schedules", readme=True)

            open_page(page, "Tasks")
            # The page refreshes itself (every second here): completed runs appear without a click.
            wait_for(lambda: completed_runs(db) >= 3 and runs_matching(page) >= 3, 30, "three runs are listed")
            page.get_by_role("combobox", name="Status").click()
            page.get_by_role("option", name="completed", exact=True).click()
            page.keyboard.press("Escape")
            page.mouse.click(1300, 1500)  # somewhere empty: closes the list
            wait_for(lambda: runs_matching(page) >= 3, 10, "the status filter applies")
            page.get_by_role("tab", name="Runs over time").wait_for()
            page.locator(".vega-embed").first.wait_for()
            shoot(page, "tasks")

            exported = download_csv(page, stack.zone)
            rows = list(csv.reader(io.StringIO(exported)))
            assert tuple(rows[0]) == CSV_COLUMNS
            records = [dict(zip(CSV_COLUMNS, row, strict=False)) for row in rows[1:]]
            assert len(records) >= 3
            assert {r["status"] for r in records} == {"completed"}
            assert {r["flow_name"] for r in records} == {TWO_OUT_NAME}
            assert {r["input"] for r in records} == {MESSAGE}
            assert all(MESSAGE in r["output"] for r in records)
            assert all(r["scheduled_for"].endswith("+00:00") for r in records)
            planned = sorted(r["scheduled_for"] for r in records)
            assert len(set(planned)) == len(planned)  # one row per fire
            (ARTIFACTS / "tasks.csv").write_text(exported, encoding="utf-8")

            # Select the newest run: its detail (input, output, log) opens under the table.
            select_first_row(page)
            page.get_by_role("heading", name="Selected run").wait_for()
            page.get_by_text(re.compile(r"Status: completed")).wait_for()
            page.get_by_text(re.compile(r"sent to LangFlow by daemon")).wait_for()
            shoot(page, "tasks-selected-run", readme=True)

            # A permanent LangFlow error for a moment: failed runs, with LangFlow's reason.
            langflow.force_status = 422
            wait_for(lambda: failed_runs(db) >= 1, 20, "a run fails")
            langflow.force_status = None

            open_page(page, "Overview")
            page.get_by_text("1 daemon alive").wait_for()
            page.get_by_text("No failed runs.").wait_for(state="detached")
            page.get_by_text(re.compile(r"LangFlow 1\.13\.0 at http.* is ready")).wait_for()
            page.locator("[data-testid=stVegaLiteChart], .vega-embed").first.wait_for()
            shoot(page, "overview", readme=True)
            assert API_KEY not in page.content()
            # The dashboard fetches nothing from the internet (a favicon from a font CDN once did).
            assert [url for url in requested if not url.startswith((base, "data:", "blob:"))] == []
    finally:
        if db is not None:
            db.dispose()
        stack.stop()
        langflow.stop()
        for name, log in stack.logs().items():
            (ARTIFACTS / f"e2e-{name}.log").parent.mkdir(exist_ok=True)
            (ARTIFACTS / f"e2e-{name}.log").write_text(log)


def test_password_gate_deep_link_and_names_shown_as_typed(tmp_path):
    langflow = FakeLangFlow(api_key=API_KEY).start()
    odd_name = "**Bold** [x](http://e.example) <b>tag</b> :red[y]"
    langflow.add_flow(odd_name)
    stack = Stack(tmp_path, langflow.url)
    try:
        stack.init_database()
        base = stack.start_dashboard(password="correct horse")
        with (
            launch_chromium() as browser,
            photographed_on_failure(browser.new_page(viewport={"width": 1400, "height": 1200}), "failure-gate") as page,
        ):
            # The first request after the server starts names a page: the gate still comes first.
            page.goto(f"{base}/tasks")
            page.get_by_role("textbox", name="Password").wait_for()
            assert page.get_by_role("heading", name="Tasks").count() == 0
            page.get_by_role("textbox", name="Password").fill("wrong horse")
            click(page, "Sign in")
            page.get_by_text("Wrong password.").wait_for()
            shoot(page, "password-gate")
            page.get_by_role("textbox", name="Password").fill("correct horse")
            click(page, "Sign in")
            page.get_by_role("heading", name="Tasks", level=1).wait_for()  # where the link pointed

            open_page(page, "Flows")
            click(page, "Sync from LangFlow")
            page.get_by_text("Synced 3 flows").wait_for()
            page.get_by_role("combobox", name="Flow").click()
            option = page.get_by_role("option").filter(has_text=odd_name)
            assert option.count() == 1  # the name, character for character
            option.click()
            page.get_by_text("State: ready").wait_for()
            click(page, "Save components")
            saved = page.get_by_test_id("stAlert").filter(has_text="Saved the components of")
            saved.wait_for()
            shoot(page, "flows-odd-name")
            shown = saved.inner_text().strip().replace("\u2060", "")  # the invisible joiner that stops autolinks
            assert shown == f'Saved the components of "{odd_name}".', saved.inner_html()
            assert saved.locator("b, strong, a").count() == 0  # no bold, no link, no tag
            shoot(page, "flows-odd-name")
    finally:
        stack.stop()
        langflow.stop()
