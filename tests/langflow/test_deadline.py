"""A call's timeout is a deadline: connect, headers and body together, whatever the server does.

Each test attacks the client from a raw socket on 127.0.0.1 (tests/support/raw_http.py): a
server that sends nothing, one that trickles its status line and headers a byte at a time,
one that trickles the body, one whose first byte comes late and the rest later still, a
listener whose backlog is full (connect hangs), and a TLS server that never finishes the
handshake. Every call (run_flow with its ``timeout``; list_flows, get_flow and health with
the read timeout) must raise LangFlowTimeout (health: report it) within its limit plus
MARGIN, with a message that says what happened and what to do.
"""

from __future__ import annotations

import shutil
import ssl
import subprocess
import time

import pytest

from automagik.langflow import LangFlowClient, LangFlowError, LangFlowTimeout
from tests.support import raw_http
from tests.support.raw_http import RawServer

LIMIT = 1.0
#: What a call may take beyond its limit: raising the error, closing the socket, a busy CI.
MARGIN = 0.5
FLOW_ID = "0b4f3a52-6a8f-4c2e-9b0c-3f1d2e4a5b6c"
ECHO = {"input_component": "ChatInput-acc01", "output_component": "ChatOutput-acc02"}


def run_flow(url: str) -> object:
    # A generous connect and read timeout: only the run's own timeout may bound it.
    with LangFlowClient(url, "sk-deadline", connect_timeout=5, read_timeout=30) as client:
        return client.run_flow(FLOW_ID, input_text="x", timeout=LIMIT, **ECHO)


def list_flows(url: str) -> object:
    with LangFlowClient(url, "sk-deadline", connect_timeout=5, read_timeout=LIMIT) as client:
        return client.list_flows()


def get_flow(url: str) -> object:
    with LangFlowClient(url, "sk-deadline", connect_timeout=5, read_timeout=LIMIT) as client:
        return client.get_flow(FLOW_ID)


def health(url: str) -> object:
    with LangFlowClient(url, "sk-deadline", connect_timeout=5, read_timeout=LIMIT) as client:
        return client.health()


CALLS = {"run_flow": run_flow, "list_flows": list_flows, "get_flow": get_flow, "health": health}
#: The next step each call's message must name.
NEXT_STEP = {
    "run_flow": "raise the timeout",
    "list_flows": "LANGFLOW_READ_TIMEOUT",
    "get_flow": "LANGFLOW_READ_TIMEOUT",
    "health": "Check that LangFlow",
}


def timed_failure(call_name: str, url: str) -> tuple[str, float]:
    """Make the call; the message of its LangFlowTimeout (health: its detail) and the time it took."""
    started = time.monotonic()
    try:
        outcome = CALLS[call_name](url)
    except LangFlowTimeout as error:
        return error.message, time.monotonic() - started
    except LangFlowError as error:
        pytest.fail(
            f"{call_name} raised {type(error).__name__} after {time.monotonic() - started:.2f} s, "
            f"not a timeout: {error}"
        )
    elapsed = time.monotonic() - started
    if call_name == "health" and not outcome.reachable:
        return outcome.detail, elapsed
    pytest.fail(f"{call_name} returned {outcome!r} after {elapsed:.2f} s instead of timing out")


def check_timed_out(call_name: str, message: str, elapsed: float, *, says: str) -> None:
    assert elapsed <= LIMIT + MARGIN, f"{call_name} took {elapsed:.2f} s with a {LIMIT:g} s limit: {message}"
    assert says in message, message
    assert NEXT_STEP[call_name] in message, message
    assert "\n" not in message and "Traceback" not in message and "sk-deadline" not in message


@pytest.mark.parametrize("call_name", CALLS)
def test_a_server_that_sends_nothing(call_name):
    with RawServer(raw_http.silent) as server:
        message, elapsed = timed_failure(call_name, server.url)
    check_timed_out(call_name, message, elapsed, says=f"sent nothing for {LIMIT:g} s")


@pytest.mark.parametrize("call_name", CALLS)
def test_headers_trickled_a_byte_at_a_time(call_name):
    with RawServer(raw_http.trickled_head) as server:
        message, elapsed = timed_failure(call_name, server.url)
    check_timed_out(call_name, message, elapsed, says="response headers")


@pytest.mark.parametrize("call_name", CALLS)
def test_headers_at_once_then_a_trickled_body(call_name):
    with RawServer(raw_http.trickled_body) as server:
        message, elapsed = timed_failure(call_name, server.url)
    check_timed_out(call_name, message, elapsed, says=f"did not finish its answer within {LIMIT:g} s")


@pytest.mark.parametrize("call_name", CALLS)
def test_a_slow_first_byte_then_a_slow_rest(call_name):
    """Each wait (0.9 s) is shorter than the limit; the exchange (1.8 s) is not."""
    with RawServer(raw_http.slow_first_byte(0.9 * LIMIT)) as server:
        message, elapsed = timed_failure(call_name, server.url)
    check_timed_out(call_name, message, elapsed, says="response headers")


@pytest.fixture
def hanging_connect_url():
    listener, held = raw_http.full_backlog_listener()
    try:
        port = listener.getsockname()[1]
        if not raw_http.connect_hangs(port):
            pytest.skip("this system completes connects to a full backlog")
        yield f"http://127.0.0.1:{port}"
    finally:
        for sock in held:
            sock.close()
        listener.close()


@pytest.mark.parametrize("call_name", CALLS)
def test_a_connect_that_hangs_is_bounded_by_the_call(hanging_connect_url, call_name):
    """The connect timeout (5 s here) is longer than the call's limit: the limit wins."""
    message, elapsed = timed_failure(call_name, hanging_connect_url)
    assert elapsed <= LIMIT + MARGIN, f"{call_name} took {elapsed:.2f} s: {message}"
    assert f"did not accept a connection within {LIMIT:g} s" in message and "LANGFLOW_API_URL" in message


def test_health_as_a_whole_is_bounded():
    """/health_check answers at once, /api/v1/version trickles: health still ends within its limit."""

    def route(conn, request, server):
        if request.line.startswith("GET /health_check"):
            conn.sendall(raw_http.response_bytes(200, b'{"status":"ok","chat":"ok","db":"ok"}'))
            return True
        return raw_http.trickled_head(conn, request, server)

    with RawServer(route) as server:
        started = time.monotonic()
        found = health(server.url)
        elapsed = time.monotonic() - started
    assert elapsed <= LIMIT + MARGIN, elapsed
    assert (found.reachable, found.ready, found.version) == (True, True, None)


# -- TLS --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1, made with the openssl command."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key


@pytest.fixture
def tls_context(tls_files, monkeypatch):
    """A server context for the test certificate; the client trusts it through SSL_CERT_FILE."""
    cert, key = tls_files
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context


def test_https_still_works(tls_context):
    with RawServer(raw_http.answering(200, b'[{"id": "f1", "name": "Over TLS"}]'), tls=tls_context) as server:
        with LangFlowClient(server.url, "sk-deadline", connect_timeout=5, read_timeout=LIMIT) as client:
            assert [flow["name"] for flow in client.list_flows()] == ["Over TLS"]
            assert [flow["name"] for flow in client.list_flows()] == ["Over TLS"]  # a reused connection
    assert server.url.startswith("https://") and len(server.requests) == 2


def test_a_body_trickled_over_tls_times_out(tls_context):
    with RawServer(raw_http.trickled_body, tls=tls_context) as server:
        message, elapsed = timed_failure("run_flow", server.url)
    check_timed_out("run_flow", message, elapsed, says=f"did not finish its answer within {LIMIT:g} s")


def test_a_tls_handshake_that_never_ends_is_bounded_by_the_call():
    """A plain TCP server that never answers the TLS hello: the 5 s connect timeout must not apply."""
    with RawServer(raw_http.silent) as server:
        message, elapsed = timed_failure("run_flow", server.url.replace("http://", "https://"))
    assert elapsed <= LIMIT + MARGIN, f"took {elapsed:.2f} s: {message}"
    assert f"did not complete the TLS handshake within {LIMIT:g} s" in message and "LANGFLOW_API_URL" in message
