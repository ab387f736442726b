"""The pages' entry points: sign in and out, the home page, and the script and style sheet.

``/`` and ``/web/`` send a signed-in browser to the review queue (or the bank browser when its
token lacks the ``review`` scope), and everyone else to ``/web/signin``. The script, the style
sheet and the icon are files of this package served from ``/web/static/``: no other origin is
ever loaded.
"""

from __future__ import annotations

from importlib import resources
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response

from tessera.api.deps import NodeDep
from tessera.errors import NotFound, Unauthenticated
from tessera.store.records import Scope
from tessera.web.render import WebRoute, render, see_other
from tessera.web.session import (
    MAX_TOKEN_CHARS,
    CurrentViewer,
    check_signin_form,
    new_signin_nonce,
    sign_in,
    sign_out,
    start_signin,
)

router = APIRouter(route_class=WebRoute, include_in_schema=False)

# The sign-in page says why it is shown in its own words only: a link cannot make it say anything.
WHY = {
    "required": "Sign in to see that page.",
    "ended": "Your session ended (it expired, or its token was revoked): sign in again.",
}
STATIC = {
    "tessera.js": "text/javascript; charset=utf-8",
    "tessera.css": "text/css; charset=utf-8",
    "favicon.svg": "image/svg+xml",
}


def safe_next(target: str | None) -> str:
    """``target`` if it is a page of this site (never another origin), else the home page."""
    if not target or not target.startswith("/web/") or target.startswith("/web//"):
        return "/web/"
    if "\\" in target or any(ord(c) < 32 for c in target):
        return "/web/"
    return target


@router.get("/")
def root() -> Response:
    """The node's root: the pages."""
    return see_other("/web/")


@router.get("/web")
@router.get("/web/")
def home(viewer: CurrentViewer) -> Response:
    """The review queue, or the bank browser for a token without the review scope."""
    return see_other("/web/queue" if viewer.may(Scope.REVIEW) else "/web/banks")


@router.get("/web/signin")
def signin_page(
    request: Request,
    next: Annotated[str | None, Query(max_length=2000)] = None,
    why: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    """The sign-in form."""
    nonce = new_signin_nonce()
    reason = WHY.get(why or "", "")
    page = render(None, "signin.html", next=safe_next(next), why=reason, nonce=nonce)
    start_signin(page, request, nonce)
    return page


@router.post("/web/signin")
def signin(
    node: NodeDep,
    request: Request,
    token: Annotated[str, Form(max_length=MAX_TOKEN_CHARS)],
    nonce: Annotated[str, Form(max_length=100)],
    next: Annotated[str, Form(max_length=2000)] = "/web/",
) -> Response:
    """Check the token and start a session."""
    check_signin_form(request, nonce)
    response = see_other(safe_next(next))
    try:
        sign_in(node, request, response, token)
    except Unauthenticated as e:
        fresh = new_signin_nonce()
        page = render(
            None, "signin.html", status=401, next=safe_next(next), why=str(e), nonce=fresh
        )
        start_signin(page, request, fresh)
        return page
    return response


@router.post("/web/signout")
def signout(
    viewer: CurrentViewer, request: Request, csrf: Annotated[str, Form(max_length=100)]
) -> Response:
    """End the session."""
    viewer.check_csrf(request, csrf)
    response = see_other("/web/signin")
    sign_out(response, request)
    return response


@router.get("/web/static/{name}")
def static(name: str) -> Response:
    """The pages' script and style sheet."""
    media_type = STATIC.get(name)
    if media_type is None:
        raise NotFound(f"no static file {name!r}")
    data = resources.files("tessera.web").joinpath("static", name).read_bytes()
    return Response(data, media_type=media_type, headers={"Cache-Control": "no-cache"})
