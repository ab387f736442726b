"""A real webhook receiver on loopback for tests: an HTTP server in a thread, told how to answer.

    with Receiver() as rx:
        rx.secret = set_webhook(db, "m1", rx.url)
        rx.script("500", "hang", "close")   # then 200 for everything after
        ...
        rx.requests                          # every request: headers, body, signature check

Each scripted answer is used once, in order: ``"<status>"`` (e.g. ``"500"``, ``"429:2"`` with
``Retry-After: 2``), ``"hang"`` (no answer until ``hang_s`` has passed, then the connection
closes), ``"close"`` (the connection closes without an answer). After the script: 200. A request
whose signature does not verify with ``secret`` gets 401. ``applied`` counts, per idempotency key,
the 2xx answers given: a receiver that applies each key once checks it stays 1.
"""

from __future__ import annotations

import sys
import threading
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from tessera.review.delivery import IDEMPOTENCY_HEADER, SIGNATURE_HEADER, verify_signature


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Connections the client dropped (after its timeout) are part of the script."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


@dataclass(frozen=True)
class Received:
    """One request as it arrived, and how it was answered."""

    headers: dict[str, str]
    body: bytes
    signed: bool
    answer: str

    @property
    def key(self) -> str:
        """Its idempotency key."""
        return self.headers.get(IDEMPOTENCY_HEADER.lower(), "")


@dataclass
class Receiver:
    """A scriptable webhook endpoint on 127.0.0.1 (a free port)."""

    secret: str = ""
    hang_s: float = 3.0
    requests: list[Received] = field(default_factory=list)
    applied: Counter[str] = field(default_factory=Counter)
    _script: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _release: threading.Event = field(default_factory=threading.Event)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The endpoint's URL."""
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/hook"

    def script(self, *answers: str) -> None:
        """Answer the next requests with ``answers``, in order."""
        with self._lock:
            self._script.extend(answers)

    def keys(self) -> list[str]:
        """The idempotency keys of all requests, in arrival order."""
        with self._lock:
            return [r.key for r in self.requests]

    def _next_answer(self) -> str:
        with self._lock:
            return self._script.pop(0) if self._script else "200"

    def _record(self, received: Received) -> None:
        with self._lock:
            self.requests.append(received)
            if received.answer.isdigit() and 200 <= int(received.answer) < 300:
                self.applied[received.key] += 1

    def __enter__(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 (the name http.server calls)
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                headers = {k.lower(): v for k, v in self.headers.items()}
                signed = verify_signature(
                    receiver.secret, headers.get(SIGNATURE_HEADER.lower(), ""), body, 60
                )
                answer = receiver._next_answer() if signed else "401"
                receiver._record(Received(headers, body, signed, answer))
                if answer == "hang":
                    receiver._release.wait(receiver.hang_s)
                    self.close_connection = True
                    return
                if answer == "close":
                    self.close_connection = True
                    return
                status, _, retry_after = answer.partition(":")
                self.send_response(int(status))
                if retry_after:
                    self.send_header("Retry-After", retry_after)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                del format, args  # quiet: the test reads ``requests`` instead

        self._server = _Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        self._release.set()
        assert self._server is not None and self._thread is not None
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)
