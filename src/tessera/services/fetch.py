"""Hashing by URL: fetch a URL's content without letting the URL reach inside the network.

A node that fetches any URL it is given can be turned against its own network (server-side
request forgery): ``http://127.0.0.1:5432/``, ``http://169.254.169.254/`` (cloud metadata), a
public name that resolves to ``10.0.0.5``, or a public page that redirects to one. So fetching is
off unless ``fetch_urls_enabled``, and ``fetch_url`` goes:

1. the URL must be ``http`` or ``https``, with a host and no ``user:password@``;
2. the host is resolved (an IP literal is taken as is) and *every* address it resolves to is
   classified (``blocked_reason``): loopback, private, link-local, multicast, reserved,
   unspecified, shared (100.64/10) or otherwise not global — and the same for the IPv4 address
   inside an IPv4-mapped, 6to4, Teredo or NAT64 (64:ff9b::/96) IPv6 address. One such address
   refuses the URL, unless it lies in a range of ``fetch_allow_cidrs``;
3. the request goes to the address that was checked, not to the name: the URL's host is replaced
   by the IP, the ``Host`` header and TLS SNI (and certificate check) keep the name, so a DNS
   answer that changes between check and connect (rebinding) changes nothing. Proxies from the
   environment are ignored: a proxy would connect by name;
4. a redirect is not followed by the client: its target goes through steps 1–3 again, at most
   ``fetch_max_redirects`` times;
5. the answer must be 2xx with a media type in ``fetch_content_types``; the body is read in chunks
   and refused once it passes ``min(fetch_max_bytes, max_file_bytes)`` (at once when
   Content-Length says so). Connect and read timeouts apply to each step, and the whole fetch
   stops at ``fetch_total_timeout_s``.

Errors are FetchError subclasses (see errors.py): FetchDisabled, FetchRefused, FetchLimitExceeded.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urljoin

import httpx

from tessera.errors import (
    FetchDisabled,
    FetchError,
    FetchLimitExceeded,
    FetchRefused,
    InvalidSetting,
)
from tessera.settings import Settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Sequence[str]]
"""Host name and port to the IP addresses it resolves to (tests pass their own)."""

_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_SHARED = ipaddress.IPv4Network("100.64.0.0/10")
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_USER_AGENT = "tessera-fetch/1"
_GET_HEADERS = {
    "User-Agent": _USER_AGENT,
    "Accept-Encoding": "identity",  # the bytes as stored: what the hash must be of
}


@dataclass(frozen=True, slots=True)
class FetchedContent:
    """What a URL answered: its body, the final URL after redirects, and its media type."""

    content: bytes
    url: str
    content_type: str


def fetch_url(url: str, settings: Settings, *, resolve: Resolver | None = None) -> FetchedContent:
    """Fetch a URL's content for hashing, refusing internal addresses; FetchError says why."""
    if not settings.fetch_urls_enabled:
        raise FetchDisabled("hashing by URL is turned off on this node (fetch_urls_enabled)")
    allowed = parse_cidrs(settings.fetch_allow_cidrs)
    max_bytes = min(settings.fetch_max_bytes, settings.max_file_bytes)
    deadline = time.monotonic() + settings.fetch_total_timeout_s
    timeout = httpx.Timeout(
        connect=settings.fetch_connect_timeout_s,
        read=settings.fetch_read_timeout_s,
        write=settings.fetch_read_timeout_s,
        pool=settings.fetch_connect_timeout_s,
    )
    current = url
    # No kept-alive connections: a connection made with one name's SNI must never carry another
    # name's request to the same IP (a redirect between two names on one address).
    limits = httpx.Limits(max_keepalive_connections=0)
    with httpx.Client(
        timeout=timeout, limits=limits, follow_redirects=False, trust_env=False
    ) as client:
        for _hop in range(settings.fetch_max_redirects + 1):
            if time.monotonic() > deadline:
                raise FetchLimitExceeded(f"{url}: the fetch took longer than allowed")
            request = pinned_request(
                client, "GET", current, resolve or system_resolve, allowed, headers=_GET_HEADERS
            )
            try:
                response = client.send(request, stream=True)
            except httpx.TimeoutException as e:
                raise FetchLimitExceeded(f"{current}: no answer in time ({e})") from None
            except httpx.HTTPError as e:
                raise FetchError(f"{current}: cannot fetch ({e})") from None
            try:
                if response.status_code in _REDIRECTS and "location" in response.headers:
                    current = urljoin(current, response.headers["location"])
                    continue
                _check_response(current, response, settings.fetch_content_types, max_bytes)
                content = _read_body(current, response, max_bytes, deadline)
                return FetchedContent(content, current, _media_type(response))
            finally:
                response.close()
    raise FetchLimitExceeded(f"{url}: more than {settings.fetch_max_redirects} redirects")


def parse_cidrs(cidrs: Sequence[str], setting: str = "fetch_allow_cidrs") -> list[IPNetwork]:
    """An allow-list setting as networks; InvalidSetting names a bad entry."""
    networks: list[IPNetwork] = []
    for cidr in cidrs:
        try:
            networks.append(ipaddress.ip_network(cidr.strip(), strict=False))
        except ValueError:
            raise InvalidSetting(f"{setting}: {cidr!r} is not a CIDR range") from None
    return networks


def blocked_reason(address: IPAddress) -> str | None:
    """Why a URL fetch may not connect to ``address`` (None when it is a public address)."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = embedded_ipv4(address)
        if embedded is not None:
            inner = blocked_reason(embedded)
            if inner is not None:
                return f"{inner} (inside {address})"
            return None
    for reason, test in (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("private", address.is_private),
        ("reserved", address.is_reserved),
        ("shared (carrier-grade NAT)", address in _SHARED),
        ("not globally reachable", not address.is_global),
    ):
        if test:
            return f"{reason} address {address}"
    return None


def embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv4-mapped, 6to4, Teredo or NAT64 IPv6 address leads to."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]  # the client; the server is reached through it
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def check_address(address: IPAddress, allowed: Sequence[IPNetwork]) -> None:
    """FetchRefused unless ``address`` is public or inside an allowed range."""
    reason = blocked_reason(address)
    if reason is None:
        return
    inner = embedded_ipv4(address) if isinstance(address, ipaddress.IPv6Address) else None
    for network in allowed:
        if address in network or (inner is not None and inner in network):
            return
    raise FetchRefused(f"refused to connect to a {reason}")


def system_resolve(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as e:
        raise FetchError(f"cannot resolve {host!r}: {e}") from None
    return [str(info[4][0]) for info in infos]


def pinned_request(
    client: httpx.Client,
    method: str,
    url: str,
    resolve: Resolver,
    allowed: Sequence[IPNetwork],
    *,
    headers: dict[str, str] | None = None,
    content: bytes | None = None,
) -> httpx.Request:
    """A request for ``url`` addressed to the checked IP of its host, with Host and SNI kept.

    FetchRefused when the URL is not plain http(s) or any address of its host is internal and
    outside ``allowed``: the connection goes to the address checked, so DNS rebinding between
    the check and the connection gains nothing.
    """
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as e:
        raise FetchRefused(f"not a URL: {url[:200]!r} ({e})") from None
    if parsed.scheme not in ("http", "https"):
        raise FetchRefused(f"only http and https URLs are fetched, not {parsed.scheme!r}")
    if not parsed.host:
        raise FetchRefused(f"the URL {url[:200]!r} has no host")
    if parsed.userinfo:
        raise FetchRefused("URLs with a user name or password are not fetched")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        addresses = [ipaddress.ip_address(parsed.host)]
    except ValueError:
        addresses = [_ip(text) for text in resolve(parsed.host, port)]
    if not addresses:
        raise FetchError(f"{parsed.host!r} resolves to no address")
    for address in addresses:
        check_address(address, allowed)
    pinned = parsed.copy_with(host=str(addresses[0]))
    extensions = {"sni_hostname": parsed.host} if parsed.scheme == "https" else {}
    sent = {"Host": parsed.netloc.decode("ascii"), **(headers or {})}
    return client.build_request(
        method, pinned, headers=sent, content=content, extensions=extensions
    )


def _ip(text: str) -> IPAddress:
    try:
        return ipaddress.ip_address(text.split("%", 1)[0])  # drop an IPv6 zone ("fe80::1%eth0")
    except ValueError:
        raise FetchError(f"the resolver answered {text!r}, which is not an IP address") from None


def _media_type(response: httpx.Response) -> str:
    raw = response.headers.get("content-type", "application/octet-stream")
    return raw.split(";", 1)[0].strip().lower() or "application/octet-stream"


def _check_response(
    url: str, response: httpx.Response, content_types: Sequence[str], max_bytes: int
) -> None:
    if not 200 <= response.status_code < 300:
        raise FetchError(f"{url}: the server answered {response.status_code}")
    media_type = _media_type(response)
    if not any(_type_matches(media_type, pattern) for pattern in content_types):
        raise FetchRefused(f"{url}: content type {media_type!r} is not one that is hashed")
    length = response.headers.get("content-length", "")
    if length.isdigit() and int(length) > max_bytes:
        raise FetchLimitExceeded(f"{url}: {length} bytes is over the limit of {max_bytes}")


def _type_matches(media_type: str, pattern: str) -> bool:
    pattern = pattern.strip().lower()
    if pattern.endswith("/*"):
        return media_type.startswith(pattern[:-1])
    return media_type == pattern


def _read_body(url: str, response: httpx.Response, max_bytes: int, deadline: float) -> bytes:
    body = bytearray()
    try:
        for chunk in response.iter_bytes():  # as they arrive: a chunk size would wait to fill it
            body += chunk
            if len(body) > max_bytes:
                raise FetchLimitExceeded(f"{url}: the body is over the limit of {max_bytes} bytes")
            if time.monotonic() > deadline:
                raise FetchLimitExceeded(f"{url}: the download took longer than allowed")
    except httpx.TimeoutException:
        raise FetchLimitExceeded(f"{url}: the server stopped sending") from None
    except httpx.HTTPError as e:
        raise FetchError(f"{url}: the download failed ({e})") from None
    return bytes(body)
