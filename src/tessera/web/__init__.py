"""The review and curation pages: server-rendered HTML at ``/web``, over the API's services.

Pages (``tessera.web.router``; the app mounts it with ``create_app(..., extra_routers=[router])``):

========================== ==================================================================
``/web/signin``            sign in with a token (kept in an HttpOnly, SameSite=Strict cookie)
``/web/queue``             the review queue: open and reopened cases, soonest deadline first
``/web/cases/{uuid}``      a case: preview (blurred until revealed), matches with provenance
                           and opinions, notes, actions, assignment, complaints, and the
                           decision (keyboard shortcuts)
``/web/complaints``        open complaints with live countdowns, linking to their cases
``/web/banks``             the banks the organisation may see; a bank's entries; an entry with
                           its opinion history and a dispute form
``/web/policies``          the organisation's match policy for each bank it may see
``/web/orders``            removal orders with live countdowns; act, not actioned, informed
``/web/actions``           the dead-letter list of webhook actions, with retry
``/web/reports``           the transparency report for a period, and its downloads
``/web/peers``             the peers this node pulls from and their sync status (admin)
========================== ==================================================================

How a page is served: ``session`` resolves the cookie's token through the node's token authority
(the API's own check) and checks the scope; the page module asks ``services.access`` and the
review modules exactly as the API routes do; ``render`` fills a Jinja2 template (autoescaped) and
adds the security headers (CSP ``script-src 'self'``: the only script is ``static/tessera.js``).
Forms are POST only and carry a CSRF token; after a form the browser is redirected (303).

Every page shows a banner while an incident is active on a bank the viewer may see: each route
first notes the serving node for the request (``_note_node``, an ``async`` dependency, so the
note stays in the request's context and reaches the page's worker thread), and the base template
asks ``active_incidents(viewer)`` through it.
"""

from __future__ import annotations

from contextvars import ContextVar

from fastapi import APIRouter, Depends

from tessera.api.deps import Node, NodeDep
from tessera.review import incidents
from tessera.review.incidents import Incident
from tessera.web import (
    bank_pages,
    complaint_pages,
    ops_pages,
    pages,
    policy_pages,
    report_pages,
    review_pages,
)
from tessera.web.render import ENV
from tessera.web.session import Viewer

_NODE: ContextVar[Node | None] = ContextVar("tessera_web_node", default=None)


async def _note_node(node: NodeDep) -> None:
    _NODE.set(node)


def active_incidents(viewer: Viewer | None) -> list[Incident]:
    """The active incidents on banks ``viewer`` may see (none outside a signed-in request)."""
    node = _NODE.get()
    if viewer is None or node is None:
        return []
    return incidents.active(node.store, viewer.who)


ENV.globals["active_incidents"] = active_incidents

router = APIRouter(include_in_schema=False)
for _pages in (
    pages,
    review_pages,
    complaint_pages,
    bank_pages,
    policy_pages,
    ops_pages,
    report_pages,
):
    router.include_router(_pages.router, dependencies=[Depends(_note_node)])

__all__ = ["active_incidents", "router"]
