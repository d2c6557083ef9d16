"""The overview's LangFlow status: what it tells the user, and what it must never show."""

from __future__ import annotations

import socket

from automagik.config import Settings
from automagik.services.context import AppContext
from automagik.services.overview import langflow_status
from tests.langflow_server import FakeLangFlow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _status(url: str):
    settings = Settings(
        langflow_api_url=url, langflow_api_key="sk-status-test", langflow_connect_timeout=1, langflow_read_timeout=2
    )
    return langflow_status(AppContext(settings=settings, db=None))  # the status needs no database


def test_the_status_names_the_address_without_its_login():
    port = _free_port()
    down = _status(f"http://ops-7f3a:pw-s3cr3t@127.0.0.1:{port}")
    with FakeLangFlow(api_key="sk-status-test") as fake:
        up = _status(fake.url.replace("://", "://ops-7f3a:pw-s3cr3t@", 1))
    assert not down.reachable and f"127.0.0.1:{port}" in down.message and f"127.0.0.1:{port}" in down.hint
    assert up.ready and fake.url in up.message
    for text in (down.message, down.hint, up.message):
        assert "ops-7f3a" not in text and "s3cr3t" not in text, text
