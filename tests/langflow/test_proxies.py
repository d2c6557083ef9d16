"""Proxies from the environment, as ``requests`` takes them; SOCKS refused in one line.

The scheme's own variable (HTTP_PROXY / HTTPS_PROXY, lowercase first) wins, else ALL_PROXY;
NO_PROXY (names, domain suffixes, ``*``, CIDR ranges) sends LangFlow's host around the proxy.
A SOCKS proxy would need PySocks, which is not a dependency: the client refuses it with a
sentence naming the variable (config.py refuses it earlier; see tests/test_config.py).

The "proxy" is a raw server on 127.0.0.1 recording the absolute-form request line a forwarding
proxy receives; LangFlow's address is ``localhost`` on a closed port, so a request that went
around the proxy fails instead of reaching anything (and no name is looked up off this host).
"""

from __future__ import annotations

import base64
import socket
import time

import pytest

from automagik.langflow import LangFlowClient, LangFlowError, LangFlowTimeout, LangFlowUnreachable
from tests.support import raw_http
from tests.support.raw_http import RawServer

PROXY_VARIABLES = (
    "http_proxy",
    "HTTP_PROXY",
    "https_proxy",
    "HTTPS_PROXY",
    "all_proxy",
    "ALL_PROXY",
    "no_proxy",
    "NO_PROXY",
)


@pytest.fixture(autouse=True)
def no_proxy_settings(monkeypatch):
    """Start each test from an environment without proxy variables."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def proxy():
    with RawServer(raw_http.answering(200, b"[]")) as server:
        yield server


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def closed_langflow_url() -> str:
    return f"http://localhost:{_free_port()}"


def test_all_proxy_is_used_for_http(monkeypatch, proxy):
    monkeypatch.setenv("ALL_PROXY", proxy.url)
    url = closed_langflow_url()
    with LangFlowClient(url, "sk-proxy", connect_timeout=2, read_timeout=5) as client:
        assert client.list_flows() == []
    [request] = proxy.requests
    assert request.line.startswith(f"GET {url}/api/v1/flows/?") and request.line.endswith(" HTTP/1.1")
    assert request.headers["host"] == url.removeprefix("http://")


def test_the_schemes_own_variable_wins_over_all_proxy(monkeypatch, proxy):
    with RawServer(raw_http.answering(200, b"[]")) as other:
        monkeypatch.setenv("ALL_PROXY", other.url)
        monkeypatch.setenv("http_proxy", proxy.url)
        with LangFlowClient(closed_langflow_url(), "sk-proxy") as client:
            client.list_flows()
    assert len(proxy.requests) == 1 and other.requests == []


def test_a_proxy_without_a_scheme_is_taken_as_http(monkeypatch, proxy):
    monkeypatch.setenv("all_proxy", f"127.0.0.1:{proxy.port}")
    with LangFlowClient(closed_langflow_url(), "sk-proxy") as client:
        assert client.list_flows() == []
    assert len(proxy.requests) == 1


@pytest.mark.parametrize("variable", ["HTTP_PROXY", "ALL_PROXY"])
@pytest.mark.parametrize(
    "no_proxy, host",
    [
        ("localhost", "localhost"),
        ("example.org, .localhost,localhost", "localhost"),
        ("*", "127.0.0.1"),
        ("10.0.0.0/8,127.0.0.0/8", "127.0.0.1"),
    ],
)
def test_no_proxy_goes_around_the_proxy(monkeypatch, proxy, variable, no_proxy, host):
    monkeypatch.setenv(variable, proxy.url)
    monkeypatch.setenv("NO_PROXY", no_proxy)
    with RawServer(raw_http.answering(200, b"[]")) as langflow:
        with LangFlowClient(f"http://{host}:{langflow.port}", "sk-proxy") as client:
            assert client.list_flows() == []
    assert proxy.requests == [] and len(langflow.requests) == 1


def test_a_proxy_login_is_sent_to_the_proxy_and_shown_nowhere(monkeypatch, proxy):
    monkeypatch.setenv("HTTP_PROXY", proxy.url.replace("://", "://px-user:px-s3cr3t%21@", 1))
    with LangFlowClient(closed_langflow_url(), "sk-proxy") as client:
        assert client.list_flows() == []
        shown = repr(client)
    expected = "Basic " + base64.b64encode(b"px-user:px-s3cr3t!").decode()
    assert proxy.requests[0].headers.get("proxy-authorization") == expected
    assert "px-user" not in shown and "s3cr3t" not in shown


def test_an_unreachable_proxy_is_named_with_its_variable(monkeypatch):
    monkeypatch.setenv("ALL_PROXY", f"http://px-user:px-s3cr3t@127.0.0.1:{_free_port()}")
    with LangFlowClient(closed_langflow_url(), "sk-proxy", connect_timeout=1) as client:
        with pytest.raises(LangFlowUnreachable) as caught:
            client.list_flows()
    message = caught.value.message
    assert "ALL_PROXY" in message and "NO_PROXY=localhost" in message, message
    assert "px-user" not in message and "s3cr3t" not in message and "\n" not in message


def test_a_stalling_proxy_tunnel_is_bounded_by_the_call(monkeypatch):
    """https through a proxy that never answers CONNECT: the call's deadline still holds."""
    with RawServer(raw_http.silent) as stalling:
        monkeypatch.setenv("HTTPS_PROXY", stalling.url)
        with LangFlowClient(
            f"https://localhost:{_free_port()}", "sk-proxy", connect_timeout=5, read_timeout=1
        ) as client:
            started = time.monotonic()
            with pytest.raises(LangFlowError) as caught:
                client.list_flows()
            elapsed = time.monotonic() - started
        assert stalling.requests and stalling.requests[0].line.startswith("CONNECT localhost:")
    assert elapsed <= 1.5, f"took {elapsed:.2f} s: {caught.value}"
    assert isinstance(caught.value, LangFlowTimeout), caught.value


@pytest.mark.parametrize(
    "variable, value, url",
    [
        ("HTTPS_PROXY", "socks5://px-user:px-s3cr3t@127.0.0.1:1080", "https://langflow.example:7860"),
        ("https_proxy", "socks5h://127.0.0.1:1080", "https://langflow.example:7860"),
        ("ALL_PROXY", "socks4://127.0.0.1:1080", "http://langflow.example:7860"),
        ("HTTP_PROXY", "SOCKS5://127.0.0.1:1080", "http://langflow.example:7860"),
    ],
)
def test_a_socks_proxy_is_refused_in_one_line(monkeypatch, variable, value, url):
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValueError) as refused:
        LangFlowClient(url, "sk-proxy")
    message = str(refused.value)
    assert message.startswith(f"{variable}=") and "SOCKS proxies are not supported" in message, message
    assert "NO_PROXY=langflow.example" in message and "http://" in message and "\n" not in message
    assert "px-user" not in message and "s3cr3t" not in message


def test_another_proxy_scheme_is_refused_too(monkeypatch):
    monkeypatch.setenv("ALL_PROXY", "ftp://127.0.0.1:2121")
    with pytest.raises(ValueError, match=r"^ALL_PROXY=ftp://127.0.0.1:2121: ftp:// proxies are not supported"):
        LangFlowClient("http://langflow.example:7860")


@pytest.mark.parametrize(
    "settings",
    [
        {"HTTP_PROXY": "socks5://127.0.0.1:1080"},  # for http://, not for LangFlow's https://
        {"ALL_PROXY": "socks5://127.0.0.1:1080", "NO_PROXY": "langflow.example"},
        {"ALL_PROXY": "socks5://127.0.0.1:1080", "no_proxy": ".example"},
    ],
)
def test_a_socks_proxy_that_does_not_apply_to_langflow_is_not_refused(monkeypatch, settings):
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    LangFlowClient("https://langflow.example:7860").close()
