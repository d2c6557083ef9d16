"""urllib3 plumbing that makes a call's timeout a deadline for the whole exchange.

urllib3's read timeout bounds each wait for bytes, not the answer: a server (or a proxy on the
way) sending its status line, headers or body a byte at a time can hold a call for ever, and
the connect timeout and the TLS handshake come on top of it. Here the calling thread declares
its deadline (``with Deadline(seconds):``) around the call; the connection classes below then

* read the response (status line, headers, body, and a proxy's CONNECT answer) through a
  reader that sets the socket's timeout to what is left of the deadline before every recv,
  so the wait for the last byte ends when the deadline does;
* start the TLS handshake with the socket's timeout cut to what is left of it.

No thread per call, no timer: one clock read and one ``settimeout`` per recv, which a small
answer needs once or twice. The deadline travels in a thread-local because urllib3 gives a
connection no other way to learn about the call it serves (``timeout`` reaches it as a plain
number); the whole call, body included, runs on the calling thread.
"""

from __future__ import annotations

import http.client
import io
import socket
import threading
import time
from typing import Any

import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

_calls = threading.local()


class Deadline:
    """When a call must be over (monotonic clock), and how far it got: what its timeout message says.

    As a context manager it is the deadline the connections below enforce for this thread's
    exchanges inside the ``with`` (a class, not @contextmanager: this runs for every call).
    """

    __slots__ = ("seconds", "expires_at", "awaiting_answer", "received")

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.expires_at = time.monotonic() + seconds
        self.awaiting_answer = False  # the request went out (past connect and TLS handshake)
        self.received = 0  # bytes of the answer so far

    def remaining(self) -> float:
        return self.expires_at - time.monotonic()

    def __enter__(self) -> Deadline:
        _calls.deadline = self
        return self

    def __exit__(self, *exc_info: object) -> None:
        _calls.deadline = None


def _current_deadline() -> Deadline | None:
    return getattr(_calls, "deadline", None)


class _DeadlineReader(io.RawIOBase):
    """A socket's bytes, each wait for them cut to what is left of the call's deadline.

    The per-read timeout the socket had when the response began still applies when it is
    shorter. Past the deadline a read raises ``TimeoutError`` (``socket.timeout``), which
    urllib3 turns into its ReadTimeoutError as it does for a socket timeout.
    """

    def __init__(self, sock: socket.socket, deadline: Deadline):
        super().__init__()
        self._sock = sock
        self._deadline = deadline
        self._per_read = sock.gettimeout()
        # makefile keeps the socket's reference count, so http.client can close the
        # connection while the response is still being read, as it does with a plain socket.
        self._raw = sock.makefile("rb", buffering=0)

    def readable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._raw.fileno()

    def readinto(self, buffer: Any) -> int | None:
        left = self._deadline.remaining()
        if left <= 0:
            raise TimeoutError("the call's deadline passed")
        self._sock.settimeout(left if self._per_read is None else min(left, self._per_read))
        count = self._raw.readinto(buffer)
        if count:
            self._deadline.received += count
        return count

    def close(self) -> None:
        if not self.closed:
            self._raw.close()
        super().close()


class _SocketForResponse:
    """What http.client.HTTPResponse takes a socket for: ``makefile("rb")``, here deadline-bound."""

    __slots__ = ("_sock", "_deadline")

    def __init__(self, sock: socket.socket, deadline: Deadline):
        self._sock = sock
        self._deadline = deadline

    def makefile(self, mode: str) -> io.BufferedReader:
        return io.BufferedReader(_DeadlineReader(self._sock, self._deadline))


class _DeadlineResponse(http.client.HTTPResponse):
    """http.client's response, reading through a deadline-bound reader when a call set one."""

    def __init__(self, sock: socket.socket, *args: Any, **kwargs: Any):
        deadline = _current_deadline()
        if deadline is None:
            super().__init__(sock, *args, **kwargs)
            return
        deadline.awaiting_answer = True
        # typeshed asks for a real socket; HTTPResponse only ever calls makefile("rb") on it.
        super().__init__(_SocketForResponse(sock, deadline), *args, **kwargs)  # type: ignore[arg-type]


def _clamp_to_deadline(sock: socket.socket) -> socket.socket:
    """Cut a new socket's timeout to what is left of the call's deadline (for the TLS handshake)."""
    deadline = _current_deadline()
    if deadline is not None:
        left = max(deadline.remaining(), 0.001)  # 0 would make the socket non-blocking
        current = sock.gettimeout()
        sock.settimeout(left if current is None else min(left, current))
    return sock


class _DeadlineHTTPConnection(HTTPConnection):
    response_class = _DeadlineResponse


class _DeadlineHTTPSConnection(HTTPSConnection):
    response_class = _DeadlineResponse

    def _new_conn(self) -> socket.socket:
        # The TCP connect is bounded by the connect timeout the caller cut to the deadline;
        # the handshake that follows would wait the whole connect timeout again.
        return _clamp_to_deadline(super()._new_conn())


class _DeadlineHTTPPool(HTTPConnectionPool):
    ConnectionCls = _DeadlineHTTPConnection


class _DeadlineHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _DeadlineHTTPSConnection


def deadline_pool_manager(
    proxy: str | None = None, proxy_headers: dict[str, str] | None = None, **options: Any
) -> urllib3.PoolManager:
    """A PoolManager (a ProxyManager when ``proxy`` is given) whose connections honour :class:`Deadline`."""
    if proxy:
        manager: urllib3.PoolManager = urllib3.ProxyManager(proxy, proxy_headers=proxy_headers, **options)
    else:
        manager = urllib3.PoolManager(**options)
    # urllib3 keeps this mapping per manager precisely so that one can be given other pool classes.
    manager.pool_classes_by_scheme = {"http": _DeadlineHTTPPool, "https": _DeadlineHTTPSPool}
    return manager
