"""The review and curation pages: server-rendered HTML at ``/web``, over the API's services.

Pages (``tessera.web.router``; the app mounts it with ``create_app(..., extra_routers=[router])``):

========================== ==================================================================
``/web/signin``            sign in with a token (kept in an HttpOnly, SameSite=Strict cookie)
``/web/queue``             the review queue: open and reopened cases, soonest deadline first
``/web/cases/{uuid}``      a case: preview (blurred until revealed), matches with provenance
                           and opinions, notes, actions, and the decision (keyboard shortcuts)
``/web/banks``             the banks the organisation may see; a bank's entries; an entry with
                           its opinion history and a dispute form
``/web/orders``            removal orders with live countdowns; act, not actioned, informed
``/web/actions``           the dead-letter list of webhook actions, with retry
``/web/peers``             the peers this node pulls from and their sync status (admin)
========================== ==================================================================

How a page is served: ``session`` resolves the cookie's token through the node's token authority
(the API's own check) and checks the scope; the page module asks ``services.access`` and the
review modules exactly as the API routes do; ``render`` fills a Jinja2 template (autoescaped) and
adds the security headers (CSP ``script-src 'self'``: the only script is ``static/tessera.js``).
Forms are POST only and carry a CSRF token; after a form the browser is redirected (303).
"""

from __future__ import annotations

from fastapi import APIRouter

from tessera.web import bank_pages, ops_pages, pages, review_pages

router = APIRouter(include_in_schema=False)
for _pages in (pages, review_pages, bank_pages, ops_pages):
    router.include_router(_pages.router)

__all__ = ["router"]
