"""ASGI middleware: the request body limit, and request metrics for Prometheus.

Body limit, for every request:
1. a ``Content-Length`` over ``max_upload_bytes`` is answered 413 at once, nothing read;
2. otherwise (chunked bodies, lying lengths) the bytes are counted as the app reads them; past
   the limit the app is told the client went away, and whatever it answers is replaced by 413.
"""

from __future__ import annotations

import json
import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send


def _too_large(limit: int) -> tuple[Message, Message]:
    body = json.dumps(
        {
            "error": {
                "code": "too_large",
                "message": f"request body over the limit of {limit} bytes (max_upload_bytes)",
            }
        }
    ).encode()
    start: Message = {
        "type": "http.response.start",
        "status": 413,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ],
    }
    return start, {"type": "http.response.body", "body": body}


class BodyLimit:
    """Refuse request bodies over ``limit`` bytes with a 413 JSON error."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit
        self._refusal = _too_large(limit)  # the same two messages for every refusal

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start, body = self._refusal
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > self.limit:
                    await send(start)
                    await send(body)
                    return
        seen = 0
        over = False
        replied = False

        async def counting_receive() -> Message:
            nonlocal seen, over
            if over:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    over = True
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal replied
            if not over:
                await send(message)
                return
            if not replied:  # the app's own answer (if any) is replaced by one 413
                replied = True
                await send(start)
                await send(body)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            if not over:
                raise
        if over and not replied:
            await send(start)
            await send(body)


class Metrics:
    """Count requests and time them by route template (never by raw path: no bank names)."""

    def __init__(self, app: ASGIApp, registry: CollectorRegistry) -> None:
        self.app = app
        self.requests = Counter(
            "tessera_http_requests",
            "HTTP requests by route template, method and status.",
            ["route", "method", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "tessera_http_request_duration_seconds",
            "HTTP request latency by route template.",
            ["route"],
            registry=registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10),
        )
        # Each labelled child, once: ``labels()`` checks and locks on every call. Keys are route
        # templates, methods and statuses, so this stays small.
        self._counted: dict[tuple[str, str, str], Any] = {}
        self._timed: dict[str, Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        started = time.perf_counter()

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            route: Any = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            key = (template, scope.get("method", ""), str(status))
            counted = self._counted.get(key)
            if counted is None:
                counted = self._counted[key] = self.requests.labels(*key)
            timed = self._timed.get(template)
            if timed is None:
                timed = self._timed[template] = self.latency.labels(template)
            counted.inc()
            timed.observe(time.perf_counter() - started)
