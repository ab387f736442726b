"""Sessions of the review pages: a token kept in a cookie, and CSRF tokens for every form.

Signing in (``/web/signin``):

1. ``GET`` sets a one-off sign-in cookie (random) and puts the same value in the form: the
   ``POST`` must carry both, equal (double submit), so another site cannot sign a browser in
   with the attacker's token;
2. ``POST`` resolves the token with the node's ``TokenAuthority`` (the same check as the API's
   bearer tokens: unknown and revoked tokens are refused) and sets the session cookie
   ``<expiry>.<token>``: ``HttpOnly`` (scripts never read it), ``SameSite=Strict`` (no other site
   sends it), ``Secure`` when the request came over https, ``Path=/web``, for ``web_session_s``.

Every request re-resolves the token, so revoking it ends the session at once (within the
authority's cache), and the expiry written into the cookie ends it even if a browser keeps the
cookie longer. The token is the session: nothing is stored on the server, and any process of
the node serving the same database accepts it.

Every state-changing form is a ``POST`` carrying ``csrf``, an HMAC of the session (keyed by the
token, which only the node and the signed-in browser know): a page of another site can neither
read it nor compute it. A request whose ``Origin`` header names another host is refused as well.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, Request
from fastapi.responses import Response

from tessera.api.deps import NodeDep
from tessera.errors import Forbidden, Unauthenticated
from tessera.services.access import Principal, may_administer
from tessera.store.records import Scope

SESSION_COOKIE = "tessera_session"
SIGNIN_COOKIE = "tessera_signin"
COOKIE_PATH = "/web"
MAX_TOKEN_CHARS = 200


class SignInRequired(Unauthenticated):
    """No session (``why`` is ``required``), or one that ended (``ended``): sign in."""

    def __init__(self, message: str, why: str = "required") -> None:
        super().__init__(message)
        self.why = why


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who is looking at a page: the organisation behind the session's token, and its CSRF."""

    who: Principal
    csrf: str

    @property
    def org(self) -> str:
        """The organisation signed in."""
        return self.who.org

    @property
    def actor(self) -> str:
        """Who acted, as the audit log records it (the token used, as the API records it)."""
        return f"token:{self.who.token_prefix}" if self.who.token_prefix else self.who.org

    @property
    def reviews(self) -> bool:
        """Whether the token may review (cases, decisions, orders, actions, disputes)."""
        return self.who.has(Scope.REVIEW)

    @property
    def administers(self) -> bool:
        """Whether the token administers the node (coordinator with ``admin``)."""
        return may_administer(self.who)

    def may(self, scope: Scope) -> bool:
        """Whether the session's token carries ``scope``."""
        return self.who.has(scope)

    def check_csrf(self, request: Request, presented: str) -> None:
        """Forbidden unless the form's CSRF token is this session's and the origin is ours."""
        check_origin(request)
        if not hmac.compare_digest(presented.encode(), self.csrf.encode()):
            raise Forbidden("the form has expired or came from another site: reload the page")


def is_https(request: Request) -> bool:
    """Whether the browser reached the node over https (so cookies get ``Secure``)."""
    return request.url.scheme == "https"


def check_origin(request: Request) -> None:
    """Forbidden when the request's ``Origin`` names a host other than the one it was sent to."""
    origin = request.headers.get("origin")
    if origin is None:
        return
    host = request.headers.get("host", "")
    if origin == "null" or urlsplit(origin).netloc != host:
        raise Forbidden("a form posted from another site is refused")


def _csrf_for(token: str, expires: int) -> str:
    mac = hmac.new(token.encode(), f"tessera-web-csrf:{expires}".encode(), hashlib.sha256)
    return mac.hexdigest()


def _route_of(request: Request) -> str:
    route = request.scope.get("route")
    return str(getattr(route, "path", request.url.path))


def resolve_session(node: NodeDep, request: Request) -> Viewer:
    """The viewer of a signed-in session; SignInRequired without a valid, unexpired one."""
    value = request.cookies.get(SESSION_COOKIE, "")
    stamp, _, token = value.partition(".")
    if not stamp.isdigit() or not token or len(token) > MAX_TOKEN_CHARS:
        raise SignInRequired("sign in with a token to see this page")
    expires = int(stamp)
    if expires <= time.time():
        raise SignInRequired("the session has ended: sign in again", "ended")
    try:
        who = node.tokens.resolve(token, _route_of(request))
    except Unauthenticated as e:
        raise SignInRequired(f"sign in again: {e}", "ended") from e
    return Viewer(who=who, csrf=_csrf_for(token, expires))


CurrentViewer = Annotated[Viewer, Depends(resolve_session)]


async def _reviewer(viewer: CurrentViewer) -> Viewer:
    viewer.who.require(Scope.REVIEW)
    return viewer


ReviewViewer = Annotated[Viewer, Depends(_reviewer)]
"""A viewer whose token carries the ``review`` scope (cases, decisions, actions, disputes)."""


def new_signin_nonce() -> str:
    """A fresh value for the sign-in form and cookie."""
    return secrets.token_urlsafe(24)


def start_signin(response: Response, request: Request, nonce: str) -> None:
    """Set the one-off sign-in cookie to ``nonce`` (the value the form carries back)."""
    response.set_cookie(
        SIGNIN_COOKIE,
        nonce,
        max_age=3600,
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=is_https(request),
    )


def check_signin_form(request: Request, presented: str) -> None:
    """Forbidden unless the sign-in form carries the value of the sign-in cookie."""
    check_origin(request)
    expected = request.cookies.get(SIGNIN_COOKIE, "")
    if not expected or not hmac.compare_digest(expected.encode(), presented.encode()):
        raise Forbidden("the sign-in form has expired: reload the page and sign in again")


def sign_in(node: NodeDep, request: Request, response: Response, token: str) -> Principal:
    """Check the token and set the session cookie on ``response``; Unauthenticated if bad."""
    token = token.strip()
    if not token or len(token) > MAX_TOKEN_CHARS:
        raise Unauthenticated("that is not a Tessera token")
    who = node.tokens.resolve(token, _route_of(request))
    lifetime = int(node.settings.web_session_s)
    expires = int(time.time()) + lifetime
    response.set_cookie(
        SESSION_COOKIE,
        f"{expires}.{token}",
        max_age=lifetime,
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=is_https(request),
    )
    response.delete_cookie(SIGNIN_COOKIE, path=COOKIE_PATH)
    return who


def sign_out(response: Response, request: Request) -> None:
    """Clear the session cookie on ``response``."""
    response.delete_cookie(
        SESSION_COOKIE,
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=is_https(request),
    )
