"""Raw-socket servers on 127.0.0.1 that misbehave the way no HTTP library would let a server do.

``RawServer(behaviour)`` accepts connections, reads each request (head and Content-Length body)
and hands the connection to ``behaviour(conn, request, server)``. Behaviours pace themselves
with ``server.pause(seconds)``, which returns early (False) once the test has ended, so no
thread outlives its test; every behaviour also gives up after ``CAP_SECONDS`` so that a client
that never times out (the bug these servers exist to catch) fails its test instead of hanging it.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

#: The longest any behaviour keeps a connection going: far past every timeout the tests use.
CAP_SECONDS = 4.0
#: How often a trickling behaviour sends its next byte.
TRICKLE_STEP = 0.1


@dataclass(frozen=True)
class RawRequest:
    """One request as it arrived: the request line, the headers (names lowercased) and the body."""

    line: str
    headers: dict[str, str]
    body: bytes


Behaviour = Callable[[socket.socket, RawRequest, "RawServer"], None]


class RawServer:
    """A TCP server on 127.0.0.1 whose every connection is handled by ``behaviour``."""

    def __init__(self, behaviour: Behaviour, *, tls: ssl.SSLContext | None = None) -> None:
        self.behaviour = behaviour
        self.requests: list[RawRequest] = []
        self.stopping = threading.Event()
        self._tls = tls
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._threads: list[threading.Thread] = []
        self._connections: list[socket.socket] = []
        self._accepting = threading.Thread(target=self._accept_loop, name="raw-server", daemon=True)
        self._accepting.start()

    @property
    def url(self) -> str:
        return f"{'https' if self._tls else 'http'}://127.0.0.1:{self.port}"

    def pause(self, seconds: float) -> bool:
        """Wait ``seconds``; False when the test ended meanwhile (stop sending)."""
        return not self.stopping.wait(seconds)

    def close(self) -> None:
        self.stopping.set()
        # close() alone does not wake a thread blocked in accept() or recv(); shutdown() does.
        for sock in [self._listener, *self._connections]:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already closed by its side
        self._listener.close()
        for thread in [self._accepting, *self._threads]:
            thread.join(timeout=2 * CAP_SECONDS)

    def __enter__(self) -> RawServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _accept_loop(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return  # the listener was closed: the test is over
            self._connections.append(conn)
            thread = threading.Thread(target=self._serve, args=(conn,), name="raw-connection", daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            conn.settimeout(CAP_SECONDS)
            if self._tls is not None:
                conn = self._tls.wrap_socket(conn, server_side=True)
            while not self.stopping.is_set():
                request = _read_request(conn)
                if request is None:
                    return
                self.requests.append(request)
                if not self.behaviour(conn, request, self):
                    return  # a behaviour answers one request per connection unless it says otherwise
        except OSError:
            pass  # the client gave up (timed out and closed): that is what the tests want
        finally:
            conn.close()


def _read_request(conn: socket.socket) -> RawRequest | None:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for header in header_lines:
        name, _, value = header.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length") or 0)
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        body += chunk
    return RawRequest(line, headers, body)


def response_bytes(
    status: int = 200, body: bytes = b"{}", *, reason: str = "OK", headers: dict[str, str] | None = None
) -> bytes:
    """A whole HTTP/1.1 answer with a JSON body."""
    lines = [f"HTTP/1.1 {status} {reason}", "Content-Type: application/json", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


# -- behaviours ------------------------------------------------------------------------------------


def silent(conn: socket.socket, request: RawRequest, server: RawServer) -> bool:
    """Accept the request and send nothing at all."""
    server.pause(CAP_SECONDS)
    return False


def trickled_head(conn: socket.socket, request: RawRequest, server: RawServer) -> bool:
    """Send a status line and then one endless header, one byte every TRICKLE_STEP."""
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Drip: "
    began = time.monotonic()
    sent = 0
    while time.monotonic() - began < CAP_SECONDS and server.pause(TRICKLE_STEP):
        conn.sendall(head[sent : sent + 1] if sent < len(head) else b"a")
        sent += 1
    return False


def trickled_body(conn: socket.socket, request: RawRequest, server: RawServer) -> bool:
    """Send the headers at once, then a long body one byte every TRICKLE_STEP."""
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n[")
    began = time.monotonic()
    while time.monotonic() - began < CAP_SECONDS and server.pause(TRICKLE_STEP):
        conn.sendall(b" ")
    return False


def slow_first_byte(delay: float) -> Behaviour:
    """The first byte after ``delay``, the rest of a whole answer ``delay`` later: each wait is
    shorter than ``delay`` would allow per read, the whole exchange is not."""

    def behaviour(conn: socket.socket, request: RawRequest, server: RawServer) -> bool:
        answer = response_bytes(200, b"[]")
        if server.pause(delay):
            conn.sendall(answer[:1])
            if server.pause(delay):
                conn.sendall(answer[1:])
        return False

    return behaviour


def answering(
    status: int = 200, body: bytes = b"{}", *, reason: str = "OK", headers: dict[str, str] | None = None
) -> Behaviour:
    """Answer every request at once with the same response (keep-alive)."""

    def behaviour(conn: socket.socket, request: RawRequest, server: RawServer) -> bool:
        conn.sendall(response_bytes(status, body, reason=reason, headers=headers))
        return True

    return behaviour


def full_backlog_listener() -> tuple[socket.socket, list[socket.socket]]:
    """A listener that never accepts and whose backlog is full, so a new connect() hangs.

    Returns the listener and the sockets filling its queue (close them all after the test).
    On a system where connect() still completes, the caller should skip.
    """
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    held = []
    for _ in range(3):
        probe = socket.socket()
        probe.setblocking(False)
        probe.connect_ex(listener.getsockname())
        held.append(probe)
    return listener, held


def connect_hangs(port: int, wait: float = 0.3) -> bool:
    """True when a connect to 127.0.0.1:port does not complete within ``wait``."""
    with socket.socket() as probe:
        probe.settimeout(wait)
        try:
            probe.connect(("127.0.0.1", port))
        except TimeoutError:
            return True
        except OSError:
            return False
    return False
