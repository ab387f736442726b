"""Hostile and broken peers on loopback, for sync tests.

- ``HostilePeer``: a real HTTP server whose answer to ``GET /v1/changes`` a test chooses (bad JSON,
  wrong types, a flood, a drip, silence, ...);
- ``CuttingProxy``: a TCP proxy in front of a real node that drops the connection after a given
  number of response bytes (once), to kill a sync mid-page.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

Behaviour = Callable[[BaseHTTPRequestHandler], None]


class _Handler(BaseHTTPRequestHandler):
    behaviour: Behaviour

    def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
        try:
            type(self).behaviour(self)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up, as it should

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        del format, args


def reply(handler: BaseHTTPRequestHandler, body: bytes, status: int = 200) -> None:
    """Answer with ``body`` as JSON."""
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


@contextmanager
def hostile_peer(behaviour: Behaviour) -> Iterator[str]:
    """A server on loopback answering every GET with ``behaviour``; yields its base URL."""
    handler = type("Handler", (_Handler,), {"behaviour": staticmethod(behaviour)})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


class CuttingProxy:
    """Forwards TCP to ``upstream``; drops the connection once after ``budget`` response bytes."""

    def __init__(self, upstream_port: int, budget: int | None) -> None:
        self.upstream_port = upstream_port
        self.budget = budget
        self.cut = False
        self._lock = threading.Lock()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self._closing = False
        self._threads: list[threading.Thread] = []
        self._conns: list[socket.socket] = []
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        accept = threading.Thread(target=self._accept, daemon=True)
        accept.start()
        self._threads.append(accept)

    def _accept(self) -> None:
        while not self._closing:
            try:
                client, _ = self._sock.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            self._conns += [client, upstream]
            for args in ((client, upstream, False), (upstream, client, True)):
                t = threading.Thread(target=self._pump, args=args, daemon=True)
                t.start()
                self._threads.append(t)

    def _allow(self, n: int) -> int:
        with self._lock:
            if self.budget is None or self.cut:
                return n
            if n < self.budget:
                self.budget -= n
                return n
            allowed, self.budget, self.cut = self.budget, 0, True
            return allowed

    def _pump(self, src: socket.socket, dst: socket.socket, response: bool) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if response:
                    allowed = self._allow(len(data))
                    dst.sendall(data[:allowed])
                    if allowed < len(data):
                        break
                else:
                    dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def close(self) -> None:
        """Stop accepting and close every connection."""
        self._closing = True
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._sock.close()
        for s in self._conns:
            try:
                s.shutdown(socket.SHUT_RDWR)  # wakes a pump blocked in recv
            except OSError:
                pass
            s.close()
        deadline = time.monotonic() + 5
        for t in self._threads:
            t.join(timeout=max(0.0, deadline - time.monotonic()))
