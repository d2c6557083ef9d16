"""A user:password in LANGFLOW_API_URL goes to LangFlow as basic auth, and into no message.

A reverse proxy in front of LangFlow may ask for a login, given as
``http://user:password@host:7860`` (as ``requests`` accepts it). The client must send it as
``Authorization: Basic`` and show the address without it everywhere it names the address:
every error (unreachable, timeout, 5xx, 401, 404, bad JSON, redirect), the health detail,
``repr`` and its log lines.
"""

from __future__ import annotations

import base64
import logging
import socket
from urllib.parse import quote

import pytest

from automagik.langflow import LangFlowAuthError, LangFlowClient, LangFlowError
from tests.langflow_server import ECHO_FLOW_ID, FakeLangFlow
from tests.support import raw_http
from tests.support.raw_http import RawServer

API_KEY = "sk-Zq7-very-secret-key-0042"
USER = "ops-7f3a"
PASSWORD = "pw-Kx9@s3cr3t"  # an "@" in it, sent percent-encoded in the URL
ENCODED_PASSWORD = quote(PASSWORD, safe="")
ECHO = {"input_component": "ChatInput-acc01", "output_component": "ChatOutput-acc02"}


def with_credentials(url: str) -> str:
    return url.replace("://", f"://{USER}:{ENCODED_PASSWORD}@", 1)


def leaks(text: str) -> list[str]:
    """The pieces of the credentials found in ``text``."""
    return [piece for piece in (USER, PASSWORD, ENCODED_PASSWORD, "Kx9", "s3cr3t", API_KEY) if piece in text]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize(
    "url, shown",
    [
        ("http://user:pass@host:7860", "http://host:7860"),
        ("https://user:p%40ss@langflow.example:7860/base/", "https://langflow.example:7860/base/"),
        ("http://user:p@ss@host:7860/x", "http://host:7860/x"),  # a raw "@" in the password
        ("http://user:p#ss@host:7860", "http://host:7860"),  # a raw "#" would end the authority
        ("http://user:p/ss@host:7860/api", "http://host:7860/api"),  # ... and so would a raw "/"
        ("http://user@host", "http://host"),
        ("http://user:pw@[::1]:7860/", "http://[::1]:7860/"),
        ("http://[::1]:7860", "http://[::1]:7860"),
        ("http://host:7860/?token=abc&debug#top", "http://host:7860/?token=***&debug=***"),
        ("HTTP://Host:7860/Base", "HTTP://Host:7860/Base"),
        ("user:pw@proxy.local:3128", "proxy.local:3128"),  # a proxy variable without a scheme
        ("/api/v1/flows/?page=2", "/api/v1/flows/?page=***"),  # a relative redirect target
        ("", ""),
    ],
)
def test_display_url(url, shown):
    from automagik.langflow import display_url

    assert display_url(url) == shown


def test_the_credentials_go_to_langflow_as_basic_auth():
    expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    with (
        FakeLangFlow(api_key=API_KEY) as fake,
        LangFlowClient(with_credentials(fake.url), API_KEY, connect_timeout=2, read_timeout=5) as client,
    ):
        assert client.run_flow(ECHO_FLOW_ID, input_text="through the proxy", **ECHO).text == "through the proxy"
        run = fake.runs[-1]
    assert run.headers.get("authorization") == expected
    assert run.headers.get("x-api-key") == API_KEY  # LangFlow's own key still travels beside it

    with RawServer(raw_http.answering(200, b"[]")) as server:
        with LangFlowClient(with_credentials(server.url), API_KEY, connect_timeout=2, read_timeout=5) as client:
            assert client.list_flows() == []
            client.health()
    assert [request.headers.get("authorization") for request in server.requests] == [expected] * 3
    for request in server.requests:  # the request line and Host carry no credentials
        assert leaks(request.line) == [] and request.headers["host"] == f"127.0.0.1:{server.port}"


def test_a_url_without_credentials_sends_no_authorization():
    with RawServer(raw_http.answering(200, b"[]")) as server:
        with LangFlowClient(server.url, API_KEY) as client:
            client.list_flows()
    assert "authorization" not in server.requests[0].headers


def _messages_from_the_fake(fake: FakeLangFlow, client: LangFlowClient) -> list[str]:
    messages = []

    def failure(call) -> None:
        try:
            call()
        except LangFlowError as error:
            messages.append(error.message)
        else:
            pytest.fail("the call did not fail")

    run = lambda: client.run_flow(ECHO_FLOW_ID, input_text="x", **ECHO)  # noqa: E731
    for status in (500, 503, 401, 403, 404, 400, 429):
        fake.force_status = status
        failure(run)
    fake.force_status = None
    fake.malformed_json = True
    failure(run)
    fake.malformed_json = False
    messages.append(client.health().detail)  # ready
    fake.ready = False
    messages.append(client.health().detail)  # up, not ready
    fake.down = True
    failure(run)  # unreachable
    failure(client.list_flows)
    messages.append(client.health().detail)  # down
    return messages


def test_no_message_shows_the_credentials(caplog):
    caplog.set_level(logging.DEBUG)
    with (
        FakeLangFlow(api_key=API_KEY) as fake,
        LangFlowClient(with_credentials(fake.url), API_KEY, connect_timeout=1, read_timeout=5) as client,
    ):
        messages = _messages_from_the_fake(fake, client)
        messages.append(repr(client))
        shown = f"http://127.0.0.1:{fake.port}"

    with (
        RawServer(raw_http.silent) as server,
        LangFlowClient(with_credentials(server.url), API_KEY, read_timeout=0.3) as client,
    ):
        for call in (client.list_flows, lambda: client.run_flow(ECHO_FLOW_ID, input_text="x", timeout=0.3, **ECHO)):
            with pytest.raises(LangFlowError) as timed_out:
                call()
            messages.append(timed_out.value.message)
        messages.append(client.health().detail)

    redirect_to = with_credentials(f"http://127.0.0.1:{_free_port()}") + "/login?token=t0k3n-9"
    with (
        RawServer(
            raw_http.answering(307, b"", reason="Temporary Redirect", headers={"Location": redirect_to})
        ) as redirector,
        LangFlowClient(with_credentials(redirector.url), API_KEY) as client,
    ):
        with pytest.raises(LangFlowError) as redirected:
            client.list_flows()
        messages.append(redirected.value.message)

    assert len(messages) == 18
    assert all(shown in message for message in messages[:14]), messages  # the messages do name the address
    assert "redirected to http://127.0.0.1:" in messages[-1] and "t0k3n-9" not in messages[-1], messages[-1]
    found = {message: leaks(message) for message in messages if leaks(message)}
    assert found == {}, found
    assert leaks(caplog.text) == [] and "authorization" not in caplog.text.lower()


def test_a_refused_login_names_both_places_credentials_come_from():
    """A 401 may come from the proxy that wanted the URL's login, not from LangFlow's key."""
    with RawServer(raw_http.answering(401, b'{"detail": "Unauthorized"}', reason="Unauthorized")) as server:
        with LangFlowClient(with_credentials(server.url), API_KEY) as client:
            with pytest.raises(LangFlowAuthError) as refused:
                client.list_flows()
    message = refused.value.message
    assert "LANGFLOW_API_KEY" in message and "user and password in LANGFLOW_API_URL" in message
    assert leaks(message) == []
