"""Hashing by URL: real HTTP servers on loopback, and the address classifier against ipaddress."""

from __future__ import annotations

import ipaddress
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tessera.errors import (
    FetchDisabled,
    FetchError,
    FetchLimitExceeded,
    FetchRefused,
    InputError,
    InvalidSetting,
)
from tessera.services.fetch import blocked_reason, embedded_ipv4, fetch_url
from tessera.settings import Settings

Route = Callable[[BaseHTTPRequestHandler], None]


class _Server:
    """A threaded HTTP server on 127.0.0.1 answering from a table of routes."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.seen_hosts: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
                outer.seen_hosts.append(self.headers.get("Host", ""))
                route = outer.routes.get(self.path.split("?")[0])
                if route is None:
                    self.send_error(404)
                    return
                try:
                    route(self)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up on purpose

            def log_message(self, *args: Any) -> None:
                del args

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


@pytest.fixture
def server() -> Iterator[_Server]:
    srv = _Server()
    srv.thread.start()
    yield srv
    srv.httpd.shutdown()
    srv.httpd.server_close()


def _body(content: bytes, content_type: str = "image/jpeg", length: int | None = None) -> Route:
    def route(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", content_type)
        h.send_header("Content-Length", str(len(content) if length is None else length))
        h.end_headers()
        h.wfile.write(content)

    return route


def _redirect(location: str, status: int = 302) -> Route:
    def route(h: BaseHTTPRequestHandler) -> None:
        h.send_response(status)
        h.send_header("Location", location)
        h.send_header("Content-Length", "0")
        h.end_headers()

    return route


def _settings(**overrides: Any) -> Settings:
    base: dict[str, Any] = {
        "fetch_urls_enabled": True,
        "fetch_allow_cidrs": ["127.0.0.0/8"],
        "fetch_connect_timeout_s": 2.0,
        "fetch_read_timeout_s": 0.5,
        "fetch_total_timeout_s": 3.0,
    }
    return Settings(**(base | overrides))


JPEG = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8


# -- the switch and the URL itself ---------------------------------------------------------------


def test_fetching_is_off_by_default(server: _Server) -> None:
    server.routes["/a.jpg"] = _body(JPEG)
    assert Settings().fetch_urls_enabled is False
    with pytest.raises(FetchDisabled, match="turned off"):
        fetch_url(server.url("/a.jpg"), Settings(fetch_allow_cidrs=["127.0.0.0/8"]))
    assert server.seen_hosts == []  # refused before any connection


def test_loopback_is_refused_when_on_but_not_allow_listed(server: _Server) -> None:
    server.routes["/a.jpg"] = _body(JPEG)
    with pytest.raises(FetchRefused, match="loopback address 127.0.0.1"):
        fetch_url(server.url("/a.jpg"), _settings(fetch_allow_cidrs=[]))
    assert server.seen_hosts == []


def test_an_allow_listed_loopback_server_is_fetched(server: _Server) -> None:
    server.routes["/a.jpg"] = _body(JPEG, "image/jpeg; charset=binary")
    fetched = fetch_url(server.url("/a.jpg"), _settings())
    assert fetched.content == JPEG
    assert fetched.url == server.url("/a.jpg") and fetched.content_type == "image/jpeg"


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://example.com/a.jpg",
        "gopher://127.0.0.1/",
        "http:///no-host",
        "http://user:secret@127.0.0.1/a.jpg",
        "not a url at all",
    ],
)
def test_only_plain_http_and_https_urls_are_fetched(url: str) -> None:
    with pytest.raises(FetchRefused):
        fetch_url(url, _settings())


def test_a_name_is_connected_by_the_address_that_was_checked(server: _Server) -> None:
    """The name resolves once; the request goes to that IP with the name in the Host header."""
    server.routes["/a.jpg"] = _body(JPEG)
    answers = iter([["127.0.0.1"], ["10.9.9.9"]])  # a rebinding resolver: second answer differs
    calls: list[tuple[str, int]] = []

    def resolve(host: str, port: int) -> list[str]:
        calls.append((host, port))
        return next(answers)

    url = f"http://media.example:{server.port}/a.jpg"
    fetched = fetch_url(url, _settings(), resolve=resolve)
    assert fetched.content == JPEG and fetched.url == url
    assert calls == [("media.example", server.port)]
    assert server.seen_hosts == [f"media.example:{server.port}"]


def test_a_name_with_any_internal_address_is_refused() -> None:
    def resolve(host: str, port: int) -> list[str]:
        del host, port
        return ["93.184.216.34", "169.254.169.254"]  # one public, one cloud metadata

    with pytest.raises(FetchRefused, match="link-local address 169.254.169.254"):
        fetch_url("http://mixed.example/a.jpg", _settings(), resolve=resolve)


def test_a_name_that_does_not_resolve_is_a_fetch_error() -> None:
    with pytest.raises(FetchError, match="cannot resolve"):
        fetch_url("http://no-such-host.invalid/a.jpg", _settings())


def test_a_bad_allow_list_entry_is_an_invalid_setting() -> None:
    with pytest.raises(InvalidSetting, match="'10.0.0.0/33' is not a CIDR"):
        fetch_url("http://127.0.0.1/", _settings(fetch_allow_cidrs=["10.0.0.0/33"]))


# -- redirects ---------------------------------------------------------------------------------


def test_redirects_are_followed_and_each_hop_checked(server: _Server) -> None:
    server.routes["/final.jpg"] = _body(JPEG)
    server.routes["/hop2"] = _redirect("/final.jpg", 301)
    server.routes["/hop1"] = _redirect(server.url("/hop2"), 307)
    fetched = fetch_url(server.url("/hop1"), _settings())
    assert fetched.content == JPEG and fetched.url == server.url("/final.jpg")


@pytest.mark.parametrize(
    "target",
    [
        "http://10.0.0.1/a.jpg",
        "http://192.168.1.1/a.jpg",
        "http://[::1]/a.jpg",
        "http://[::ffff:10.0.0.1]/a.jpg",
        "http://169.254.169.254/latest/meta-data/",
        "file:///etc/passwd",
    ],
)
def test_a_redirect_to_an_internal_address_is_refused(server: _Server, target: str) -> None:
    server.routes["/go"] = _redirect(target)
    with pytest.raises(FetchRefused):
        fetch_url(server.url("/go"), _settings())


def test_too_many_redirects_are_refused(server: _Server) -> None:
    server.routes["/loop"] = _redirect("/loop")
    with pytest.raises(FetchLimitExceeded, match="more than 3 redirects"):
        fetch_url(server.url("/loop"), _settings(fetch_max_redirects=3))
    assert len(server.seen_hosts) == 4


# -- limits on what comes back -----------------------------------------------------------------


def test_a_body_over_the_size_limit_is_refused(server: _Server) -> None:
    big = b"\0" * 5000
    server.routes["/declared"] = _body(big)
    server.routes["/undeclared"] = _body(big, length=10)  # lies about its length: cut off anyway

    def chunked(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "video/mp4")
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        for _ in range(10):
            h.wfile.write(b"3e8\r\n" + b"\1" * 1000 + b"\r\n")
        h.wfile.write(b"0\r\n\r\n")

    server.routes["/chunked"] = chunked
    settings = _settings(fetch_max_bytes=4096)
    with pytest.raises(FetchLimitExceeded, match="5000 bytes is over the limit of 4096"):
        fetch_url(server.url("/declared"), settings)
    with pytest.raises(FetchLimitExceeded, match="over the limit of 4096"):
        fetch_url(server.url("/chunked"), settings)
    assert fetch_url(server.url("/undeclared"), settings).content == big[:10]
    with pytest.raises(FetchLimitExceeded, match="limit of 100"):
        fetch_url(server.url("/declared"), _settings(max_file_bytes=100))


def test_a_server_that_stalls_is_cut_off(server: _Server) -> None:
    def stall(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "image/png")
        h.send_header("Content-Length", "1000")
        h.end_headers()
        h.wfile.write(b"x")
        h.wfile.flush()
        time.sleep(2)

    server.routes["/stall"] = stall
    started = time.monotonic()
    with pytest.raises(FetchLimitExceeded, match="stopped sending"):
        fetch_url(server.url("/stall"), _settings())
    assert time.monotonic() - started < 1.5


def test_a_slow_drip_is_cut_off_by_the_total_limit(server: _Server) -> None:
    def drip(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "image/png")
        h.send_header("Content-Length", "1000")
        h.end_headers()
        for _ in range(1000):
            h.wfile.write(b"x")
            h.wfile.flush()
            time.sleep(0.1)  # under the read timeout each time

    server.routes["/drip"] = drip
    started = time.monotonic()
    with pytest.raises(FetchLimitExceeded, match="longer than allowed"):
        fetch_url(server.url("/drip"), _settings(fetch_total_timeout_s=0.6))
    assert time.monotonic() - started < 1.5


def test_content_type_and_status_are_checked(server: _Server) -> None:
    server.routes["/page"] = _body(b"<html></html>", "text/html")
    server.routes["/none"] = _body(b"abc", "")
    with pytest.raises(FetchRefused, match="content type 'text/html'"):
        fetch_url(server.url("/page"), _settings())
    with pytest.raises(FetchError, match="answered 404"):
        fetch_url(server.url("/missing"), _settings())
    assert fetch_url(server.url("/none"), _settings()).content_type == "application/octet-stream"
    custom = _settings(fetch_content_types=["text/*"])
    assert fetch_url(server.url("/page"), custom).content == b"<html></html>"


def test_every_fetch_error_is_an_input_error() -> None:
    for error in (FetchDisabled, FetchRefused, FetchLimitExceeded):
        assert issubclass(error, FetchError) and issubclass(error, InputError)


# -- the classifier ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.0.1", "private"),
        ("fd00::1", "private"),
        ("4000::1", "reserved"),
        ("100.64.0.1", "shared"),
        ("::ffff:127.0.0.1", "loopback address 127.0.0.1 (inside ::ffff:7f00:1)"),
        ("2002:a00:1::", "private address 10.0.0.1 (inside 2002:a00:1::)"),
        ("64:ff9b::a9fe:a9fe", "link-local address 169.254.169.254"),
        ("2001:0:4136:e378:8000:63bf:f5ff:fffe", "private address 10.0.0.1"),  # Teredo
    ],
)
def test_internal_addresses_are_blocked_with_their_class(address: str, reason: str) -> None:
    found = blocked_reason(ipaddress.ip_address(address))
    assert found is not None and reason in found


@pytest.mark.parametrize("address", ["93.184.216.34", "2606:2800:220:1::", "::ffff:8.8.8.8"])
def test_public_addresses_are_not_blocked(address: str) -> None:
    assert blocked_reason(ipaddress.ip_address(address)) is None


def _internal_by_ipaddress(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return (
        address.is_unspecified
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_private
        or address.is_reserved
        or not address.is_global
    )


_special_v6 = st.sampled_from(["::ffff:0:0/96", "2002::/16", "64:ff9b::/96", "2001::/32"]).flatmap(
    lambda net: st.integers(0, 2 ** (128 - int(net.split("/")[1])) - 1).map(
        lambda offset: ipaddress.IPv6Address(
            int(ipaddress.IPv6Network(net).network_address) + offset
        )
    )
)
_addresses = st.ip_addresses(v=4) | st.ip_addresses(v=6) | _special_v6


@given(_addresses)
def test_the_classifier_agrees_with_the_ipaddress_rules(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address,
) -> None:
    inner = embedded_ipv4(address) if isinstance(address, ipaddress.IPv6Address) else None
    expected = _internal_by_ipaddress(inner if inner is not None else address)
    assert (blocked_reason(address) is not None) == expected
