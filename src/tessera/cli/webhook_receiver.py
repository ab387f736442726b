"""`tessera webhook receive`: a small endpoint that checks and prints the node's deliveries.

For trying the webhook flow, and as the reference for a platform's own receiver: it checks the
``Tessera-Signature`` with the secret, answers 401 to a bad one and 200 otherwise, and prints
each delivery as one JSON line (event, idempotency key, attempt, body). It applies each
idempotency key once: a retried delivery it has already seen is answered 200 and marked.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Annotated, Any

import typer

from tessera.cli.context import err, out, reports_errors
from tessera.review.delivery import (
    ATTEMPT_HEADER,
    EVENT_HEADER,
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    verify_signature,
)

MAX_BODY_BYTES = 1024 * 1024


class _Receiver(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], secret: str, count: int) -> None:
        super().__init__(address, _Handler)
        self.secret = secret
        self.remaining = count
        self.seen: set[str] = set()
        self.lock = threading.Lock()


class _Handler(BaseHTTPRequestHandler):
    server: _Receiver

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the stdlib's name)
        del format, args  # deliveries are printed as JSON lines instead

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if not 0 <= length <= MAX_BODY_BYTES:
            self._answer(413)
            return
        body = self.rfile.read(length)
        signature = self.headers.get(SIGNATURE_HEADER, "")
        if not verify_signature(self.server.secret, signature, body):
            err.print("refused a delivery with a bad or old signature", markup=False)
            self._answer(401)
            return
        key = self.headers.get(IDEMPOTENCY_HEADER, "")
        with self.server.lock:
            repeated = key in self.server.seen
            self.server.seen.add(key)
        try:
            payload: Any = json.loads(body)
        except ValueError:
            payload = body.decode("utf-8", "replace")
        line = {
            "event": self.headers.get(EVENT_HEADER, ""),
            "idempotency_key": key,
            "attempt": self.headers.get(ATTEMPT_HEADER, ""),
            "repeated": repeated,
            "body": payload,
        }
        out.print(json.dumps(line), markup=False, highlight=False)
        self._answer(200)
        if not repeated:
            with self.server.lock:
                self.server.remaining -= 1
                done = self.server.remaining == 0
            if done:
                threading.Thread(target=self.server.shutdown, daemon=True).start()

    def _answer(self, status: int) -> None:
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()


@reports_errors
def receive(
    secret: Annotated[str, typer.Option("--secret", help="The secret `webhook set` printed.")],
    port: Annotated[
        int, typer.Option("--port", min=1, max=65535, help="Port to listen on.")
    ] = 9000,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    count: Annotated[
        int, typer.Option("--count", min=0, help="Exit after this many deliveries (0: never).")
    ] = 0,
) -> None:
    """Listen for the node's webhook deliveries; check each signature and print it as JSON."""
    server = _Receiver((host, port), secret, count if count > 0 else -1)
    err.print(f"receiving webhooks on http://{host}:{port}/ (Ctrl-C to stop)", markup=False)
    try:
        server.serve_forever(poll_interval=0.1)
    finally:
        server.server_close()
