"""What the running dashboard exposes: which address it listens on, and user data as markup.

A flow named <script>alert(1)</script> must be shown as those characters on every page and
never run; the API key must appear in no page's HTML; the server must listen on 127.0.0.1 only.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import API_KEY
from tests.e2e.stack import CHROMIUM, Stack, launch_chromium
from tests.e2e.test_browser import click, open_page, photographed_on_failure, settle
from tests.langflow_server import FakeLangFlow

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.slow,
    pytest.mark.skipif(
        not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed (scripts/test.sh installs it)"
    ),
]
SCRIPT_NAME = "<script>alert(1)</script>"


def listening_addresses(pid: int) -> set[str]:
    """The local addresses of the TCP sockets process `pid` listens on (from /proc, IPv4 and IPv6)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        target = os.readlink(fd)
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = set()
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and inode in inodes:  # 0A: LISTEN
                address = local.split(":")[0]
                found.add(address)
    return found


def test_the_dashboard_listens_on_loopback_and_shows_markup_as_text(tmp_path):
    langflow = FakeLangFlow(api_key=API_KEY).start()
    langflow.add_flow(SCRIPT_NAME)
    stack = Stack(tmp_path, langflow.url)
    dialogs = []
    try:
        stack.init_database()
        base = stack.start_dashboard()
        # 0100007F is 127.0.0.1 as /proc writes it; nothing on 0.0.0.0 or a public address.
        assert listening_addresses(stack.processes["dashboard"].pid) == {"0100007F"}

        with (
            launch_chromium() as browser,
            photographed_on_failure(
                browser.new_page(viewport={"width": 1400, "height": 1200}), "failure-exposure"
            ) as page,
        ):
            page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
            page.goto(base)
            page.get_by_role("heading", name="Overview", level=1).wait_for()
            open_page(page, "Flows")
            click(page, "Sync from LangFlow")
            page.get_by_text("Synced 3 flows").wait_for()
            page.get_by_role("combobox", name="Flow").click()
            page.get_by_role("option").filter(has_text=SCRIPT_NAME).click()
            settle(page)
            page.get_by_text("State: ready").wait_for()
            click(page, "Save components")
            saved = page.get_by_test_id("stAlert").filter(has_text="Saved the components of")
            saved.wait_for()
            # The name comes back as its characters, not as markup.
            assert saved.inner_text().strip().replace("\u2060", "") == f'Saved the components of "{SCRIPT_NAME}".'
            assert saved.locator("script").count() == 0
            for title in ("Overview", "Flows", "Schedules", "Tasks"):
                open_page(page, title)
                html = page.content()
                assert "<script>alert(1)</script>" not in html  # escaped wherever it appears
                assert API_KEY not in html and API_KEY[:12] not in html
        assert dialogs == []  # the script never ran
    finally:
        stack.stop()
        langflow.stop()
