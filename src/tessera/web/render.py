"""How the review pages are rendered and guarded: templates, security headers, error pages.

Every route of the pages uses ``WebRoute``, which:

1. runs the route (its dependencies resolve the session and check scopes, as the API's do);
2. turns a missing or ended session into a redirect to the sign-in page, and Tessera's errors
   (and malformed forms) into an HTML error page with the status the API would answer
   (403 forbidden, 404 not found or not visible, 409 conflict, 422 bad input);
3. adds the security headers to every answer: a Content-Security-Policy that allows scripts,
   styles and images from the node itself only (no inline script or style, no other origin, no
   framing), ``nosniff``, no referrer to other sites, and ``Cache-Control: no-store`` on pages
   and previews.

Templates are Jinja2 with autoescape on for every template: whatever a bank, entry, note or peer
carries is shown as text, never as markup.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from tessera import errors
from tessera.web.session import SignInRequired, Viewer

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}

# Most specific first, as the API maps them (api.errors).
_STATUS: list[tuple[type[errors.TesseraError], int, str]] = [
    (errors.Unauthenticated, 401, "Not signed in"),
    (errors.Forbidden, 403, "Not allowed"),
    (errors.MediaLimitExceeded, 413, "Too large"),
    (errors.InputError, 422, "Cannot use that"),
    (errors.NotFound, 404, "Not found"),
    (errors.Conflict, 409, "Not in that state"),
    (errors.StoreError, 503, "Store unavailable"),
]


def _when(value: datetime | None) -> str:
    if value is None:
        return "—"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _iso(value: datetime | None) -> str:
    return value.astimezone(UTC).isoformat(timespec="milliseconds") if value is not None else ""


def _left(value: datetime | None) -> str:
    """Time left until ``value`` as the countdown script writes it (negative: overdue)."""
    if value is None:
        return "—"
    seconds = int((value - datetime.now(UTC)).total_seconds())
    sign = "overdue " if seconds < 0 else ""
    seconds = abs(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{sign}{hours:d}:{minutes:02d}:{secs:02d}"


def _overdue(value: datetime | None) -> bool:
    return value is not None and value <= datetime.now(UTC)


def _path(value: str) -> str:
    return quote(value, safe="")


ENV = Environment(
    loader=PackageLoader("tessera.web", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
ENV.filters.update(when=_when, iso=_iso, left=_left, path=_path)
ENV.tests.update(overdue=_overdue)
ENV.globals.update(now_iso=lambda: _iso(datetime.now(UTC)))


def render(
    viewer: Viewer | None, template: str, *, status: int = 200, **context: Any
) -> HTMLResponse:
    """A page from ``template`` with ``context``, for ``viewer`` (None on the sign-in page)."""
    html = ENV.get_template(template).render(viewer=viewer, **context)
    return HTMLResponse(html, status_code=status)


def see_other(url: str) -> RedirectResponse:
    """Send the browser to ``url`` (after a form: a GET, so reloading never posts twice)."""
    return RedirectResponse(url, status_code=303)


def _error_page(status: int, title: str, message: str) -> HTMLResponse:
    return render(None, "error.html", status=status, title=title, message=message)


def _signin_redirect(request: Request, why: str) -> Response:
    target = request.url.path if request.method == "GET" else "/web/"
    if request.method == "GET" and request.url.query:
        target += f"?{request.url.query}"
    return see_other(f"/web/signin?next={quote(target, safe='')}&why={quote(why, safe='')}")


def _error_response(request: Request, error: Exception) -> Response:
    if isinstance(error, SignInRequired):
        return _signin_redirect(request, error.why)
    if isinstance(error, RequestValidationError):
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ())[1:]) or 'form'}: {e.get('msg', '')}"
            for e in error.errors()
        )
        return _error_page(422, "Cannot use that", problems or "the form is incomplete")
    assert isinstance(error, errors.TesseraError)
    for kind, status, title in _STATUS:
        if isinstance(error, kind):
            return _error_page(status, title, str(error))
    return _error_page(400, "Cannot do that", str(error))


def secure(response: Response, headers: Mapping[str, str] = SECURITY_HEADERS) -> Response:
    """Add the security headers (and no-store unless the response set its own caching)."""
    for name, value in headers.items():
        response.headers.setdefault(name, value)
    response.headers.setdefault("Cache-Control", "no-store")
    return response


class WebRoute(APIRoute):
    """A route of the pages: HTML error pages, sign-in redirects, and the security headers."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """The route's handler, guarded as the module docstring says."""
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                response = await handler(request)
            except (errors.TesseraError, RequestValidationError) as e:
                response = _error_response(request, e)
            return secure(response)

        return guarded
