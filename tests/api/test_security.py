"""The node's input limits over real HTTP: body size limits answered before the body is read,
file size limits, and hashing by URL (off by default; when on, internal addresses refused unless
allow-listed)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tessera.api import create_app
from tessera.store import Database, Store
from tessera.store.records import Tier
from tests.api.conftest import jpeg, node_settings
from tests.api.server import Orgs, run_server

UPLOAD_LIMIT = 1_000_000


class MediaServer:
    """An HTTP server on 127.0.0.1 serving one JPEG at /a.jpg, counting the requests it gets."""

    def __init__(self, body: bytes) -> None:
        self.requests = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
                outer.requests += 1
                self.send_response(200)
                self.send_header("Content-Type", "image/jpeg")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                del args

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/a.jpg"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=10)


@pytest.fixture
def media() -> Iterator[MediaServer]:
    server = MediaServer(jpeg(7))
    try:
        yield server
    finally:
        server.close()


def _node(tmp_path: Path, **settings: object) -> Iterator[tuple[str, dict[str, str]]]:
    db = Database(f"sqlite:///{tmp_path / 'tessera.db'}")
    db.migrate()
    store = Store(db, node_org="test-org")
    orgs = Orgs(store)
    orgs.add("m1", Tier.MEMBER)
    values: dict[str, object] = {"max_upload_bytes": UPLOAD_LIMIT} | settings
    app = create_app(node_settings(tmp_path, **values), store=store)
    try:
        with run_server(app) as url:
            yield url, orgs.auth("m1")
    finally:
        db.dispose()


@pytest.fixture
def node(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """A node on SQLite with default settings (but a 1 MB upload limit) and a member's token."""
    yield from _node(tmp_path)


def _raw_request(url: str, head: str, timeout: float = 10.0) -> bytes:
    """Send only a request's head (no body) and read the answer until the server closes."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.sendall(head.encode())
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
        return answer


@pytest.mark.parametrize("path", ["/v1/hash", "/v1/match", "/v1/banks/b/entries/upload"])
def test_a_declared_oversize_body_is_refused_before_it_is_sent(
    node: tuple[str, dict[str, str]], path: str
) -> None:
    url, auth = node
    head = (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: {auth['Authorization']}\r\n"
        "Content-Type: multipart/form-data; boundary=b\r\n"
        f"Content-Length: {50 * UPLOAD_LIMIT}\r\n\r\n"
    )
    # Not one byte of the body is sent: the answer can only come from the declared length.
    answer = _raw_request(url, head)
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line.startswith(b"HTTP/1.1 413"), answer[:200]
    body = json.loads(rest.partition(b"\r\n\r\n")[2])
    assert body["error"]["code"] == "too_large"
    assert str(UPLOAD_LIMIT) in body["error"]["message"]


def test_a_body_at_the_limit_is_read_and_one_over_it_is_not(
    node: tuple[str, dict[str, str]],
) -> None:
    url, auth = node
    form = httpx.Request("POST", url, files={"file": ("x.bin", b"")})
    overhead = len(form.read())
    with httpx.Client(base_url=url, headers=auth, timeout=30) as client:
        fits = client.post("/v1/hash", files={"file": ("x.bin", b"\1" * (UPLOAD_LIMIT - overhead))})
        assert fits.status_code == 200, fits.text
        over = client.post(
            "/v1/hash", files={"file": ("x.bin", b"\1" * (UPLOAD_LIMIT - overhead + 1))}
        )
        assert over.status_code == 413 and over.json()["error"]["code"] == "too_large"


def test_a_file_over_max_file_bytes_is_413_inside_a_body_that_fits(tmp_path: Path) -> None:
    for url, auth in _node(tmp_path, max_file_bytes=10_000):
        r = httpx.post(
            f"{url}/v1/hash", headers=auth, files={"file": ("x.bin", b"\1" * 10_001)}, timeout=30
        )
        assert r.status_code == 413 and "max_file_bytes" in r.json()["error"]["message"]
        r = httpx.post(
            f"{url}/v1/hash", headers=auth, files={"file": ("x.bin", b"\1" * 10_000)}, timeout=30
        )
        assert r.status_code == 200


def test_hashing_by_url_is_off_by_default(
    node: tuple[str, dict[str, str]], media: MediaServer
) -> None:
    url, auth = node
    for target in (media.url, "https://example.org/a.jpg"):
        r = httpx.post(f"{url}/v1/hash/url", headers=auth, json={"url": target}, timeout=30)
        assert r.status_code == 403 and r.json()["error"]["code"] == "fetch_disabled"
    assert media.requests == 0


@pytest.mark.parametrize(
    ("target", "reason"),
    [
        ("http://127.0.0.1:{port}/a.jpg", "loopback"),
        ("http://localhost:{port}/a.jpg", "loopback"),
        ("http://[::1]:{port}/a.jpg", "loopback"),
        ("http://10.1.2.3/a.jpg", "private"),
        ("http://192.168.0.1/a.jpg", "private"),
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://[::ffff:127.0.0.1]:{port}/a.jpg", "loopback"),
        ("file:///etc/passwd", "http"),
    ],
)
def test_when_on_internal_addresses_are_refused_without_a_connection(
    tmp_path: Path, media: MediaServer, target: str, reason: str
) -> None:
    port = media.url.split(":")[2].split("/")[0]
    for url, auth in _node(tmp_path, fetch_urls_enabled=True):
        r = httpx.post(
            f"{url}/v1/hash/url",
            headers=auth,
            json={"url": target.format(port=port)},
            timeout=30,
        )
        assert r.status_code == 422, r.text
        assert r.json()["error"]["code"] == "fetch_refused"
        assert reason in r.json()["error"]["message"]
    assert media.requests == 0


def test_an_allow_listed_server_is_fetched_and_hashed_like_an_upload(
    tmp_path: Path, media: MediaServer
) -> None:
    for url, auth in _node(tmp_path, fetch_urls_enabled=True, fetch_allow_cidrs=["127.0.0.0/8"]):
        with httpx.Client(base_url=url, headers=auth, timeout=30) as client:
            by_url = client.post("/v1/hash/url", json={"url": media.url})
            assert by_url.status_code == 200, by_url.text
            uploaded = client.post("/v1/hash", files={"file": ("a.jpg", jpeg(7))})
        assert by_url.json()["url"] == media.url
        assert by_url.json()["media_kind"] == "image"
        assert by_url.json()["signals"] == uploaded.json()["signals"]
        assert "pdq" in {s["type"] for s in by_url.json()["signals"]}
    assert media.requests == 1


def test_a_fetch_over_fetch_max_bytes_is_refused(tmp_path: Path, media: MediaServer) -> None:
    for url, auth in _node(
        tmp_path, fetch_urls_enabled=True, fetch_allow_cidrs=["127.0.0.0/8"], fetch_max_bytes=1000
    ):
        r = httpx.post(f"{url}/v1/hash/url", headers=auth, json={"url": media.url}, timeout=30)
        assert r.status_code == 422 and r.json()["error"]["code"] == "fetch_limit_exceeded"


def test_a_bank_named_to_match_against_never_leaks_after_its_distribution_narrows(
    tmp_path: Path,
) -> None:
    db = Database(f"sqlite:///{tmp_path / 'tessera.db'}")
    db.migrate()
    store = Store(db, node_org="test-org")
    orgs = Orgs(store)
    orgs.add("m1", Tier.MEMBER)
    orgs.add("m2", Tier.MEMBER)
    app = create_app(node_settings(tmp_path, token_cache_s=0.5), store=store)
    md5 = "0123456789abcdef0123456789abcdef"
    query = {"type": "md5", "value": md5, "bank": "shared"}
    try:
        with run_server(app) as url, httpx.Client(base_url=url, timeout=30) as c:
            m1, m2 = orgs.auth("m1"), orgs.auth("m2")
            c.post("/v1/banks", headers=m1, json={"name": "shared", "distribution": "members"})
            entry = {"signals": [{"type": "md5", "value": md5}]}
            assert c.post("/v1/banks/shared/entries", headers=m1, json=entry).status_code == 201
            app.state.node.matcher.refresh()
            r = c.get("/v1/match/signal", headers=m2, params=query)
            assert len(r.json()["matches"]) == 1
            r = c.patch("/v1/banks/shared", headers=m1, json={"distribution": "owner"})
            assert r.status_code == 200
            # Within the cache's time the name may still resolve, but no match is shown...
            r = c.get("/v1/match/signal", headers=m2, params=query)
            assert r.status_code == 404 or r.json()["matches"] == []
            # ...and after it, the bank does not exist for m2.
            time.sleep(0.6)
            r = c.get("/v1/match/signal", headers=m2, params=query)
            assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
            assert len(c.get("/v1/match/signal", headers=m1, params=query).json()["matches"]) == 1
    finally:
        db.dispose()
