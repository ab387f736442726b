"""The operations pages: removal orders with their countdowns, webhook actions, peers.

- ``/web/orders`` (scope ``review``): the organisation's removal orders, open ones soonest
  deadline first. Each open order's countdown is written by the server and then ticked by the
  page's script from the deadline the server gave (corrected for the browser's clock by the
  server time the page carries); past the deadline it turns red and counts up. Forms record a new
  order (received now, unless a time is given), act on one (remove or restrict), record why one
  is not actioned, and record that the uploader was informed (a flag and a time, nothing else).
- ``/web/actions`` (scope ``review``): the dead-letter list by default (webhook actions that gave
  up, with their last error) with a retry button each, or the actions in another state.
- ``/web/peers`` (coordinator with ``admin``: the peers are the node's, not an organisation's):
  each peer's URL, remote node, pull and push cursors, last sync and last error; never the
  token this node presents there.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response

from tessera.api.deps import NodeDep
from tessera.errors import Forbidden, InputError
from tessera.review import actions, cases, orders
from tessera.review.orders import NotActionedReason, OrderState
from tessera.review.records import ActionKind, ActionState
from tessera.services.access import may_administer
from tessera.store.peers import PeerStore
from tessera.web.render import WebRoute, render, see_other
from tessera.web.session import CurrentViewer, ReviewViewer

router = APIRouter(route_class=WebRoute, include_in_schema=False)

REASONS = [(r.value, r.value.replace("_", " ")) for r in NotActionedReason]


def _order_state(value: str | None) -> OrderState | None:
    if not value or value == "all":
        return None
    try:
        return OrderState(value)
    except ValueError:
        names = ", ".join(["all", *(s.value for s in OrderState)])
        raise InputError(f"unknown order state {value!r}: use {names}") from None


def _received(value: str) -> datetime | None:
    """A received time from the form (ISO 8601, UTC when it names no zone); None when empty."""
    if not value.strip():
        return None
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError:
        raise InputError(f"received at must be a date and time, got {value[:50]!r}") from None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


@router.get("/web/orders")
def orders_page(
    node: NodeDep,
    viewer: ReviewViewer,
    state: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    """The organisation's removal orders with live countdowns."""
    found = orders.list_orders(node.store.db, viewer.org, state=_order_state(state), limit=200)
    return render(
        viewer,
        "orders.html",
        orders=found,
        state=state or "all",
        states=[s.value for s in OrderState],
        reasons=REASONS,
        deadline_s=node.settings.removal_order_deadline_s,
    )


@router.post("/web/orders")
def record_order(
    node: NodeDep,
    viewer: ReviewViewer,
    request: Request,
    csrf: Annotated[str, Form(max_length=100)],
    authority: Annotated[str, Form(max_length=orders.MAX_TEXT)],
    legal_reference: Annotated[str, Form(max_length=orders.MAX_TEXT)],
    content_ref: Annotated[str, Form(max_length=cases.MAX_CONTENT_REF_CHARS)],
    received_at: Annotated[str, Form(max_length=50)] = "",
    note: Annotated[str, Form(max_length=orders.MAX_NOTE)] = "",
) -> Response:
    """Record a removal order addressed to the organisation."""
    viewer.check_csrf(request, csrf)
    orders.record_order(
        node.store,
        node.settings,
        org=viewer.org,
        authority=authority,
        legal_reference=legal_reference,
        content_ref=content_ref,
        received_at=_received(received_at),
        note=note,
        actor=viewer.actor,
    )
    return see_other("/web/orders")


@router.post("/web/orders/{order_uuid}/act")
def act_on_order(
    node: NodeDep,
    viewer: ReviewViewer,
    request: Request,
    order_uuid: str,
    csrf: Annotated[str, Form(max_length=100)],
    action: Annotated[str, Form(max_length=20)] = ActionKind.REMOVE.value,
) -> Response:
    """Execute the order: queue the takedown for the platform's webhook."""
    viewer.check_csrf(request, csrf)
    if action not in (ActionKind.REMOVE.value, ActionKind.RESTRICT.value):
        raise InputError("a removal order is executed by removing or restricting the content")
    orders.act_on_order(
        node.store,
        org=viewer.org,
        order_uuid=order_uuid,
        actor=viewer.actor,
        action=ActionKind(action),
    )
    return see_other("/web/orders")


@router.post("/web/orders/{order_uuid}/not-actioned")
def not_actioned(
    node: NodeDep,
    viewer: ReviewViewer,
    request: Request,
    order_uuid: str,
    csrf: Annotated[str, Form(max_length=100)],
    reason: Annotated[str, Form(max_length=40)],
    explanation: Annotated[str, Form(max_length=orders.MAX_NOTE)] = "",
) -> Response:
    """Record why the order is not executed."""
    viewer.check_csrf(request, csrf)
    try:
        why = NotActionedReason(reason)
    except ValueError:
        names = ", ".join(r.value for r in NotActionedReason)
        raise InputError(f"unknown reason {reason!r}: use {names}") from None
    orders.not_actioned(
        node.store,
        org=viewer.org,
        order_uuid=order_uuid,
        reason=why,
        explanation=explanation,
        actor=viewer.actor,
    )
    return see_other("/web/orders")


@router.post("/web/orders/{order_uuid}/informed")
def uploader_informed(
    node: NodeDep,
    viewer: ReviewViewer,
    request: Request,
    order_uuid: str,
    csrf: Annotated[str, Form(max_length=100)],
) -> Response:
    """Record that the uploader was informed of the removal."""
    viewer.check_csrf(request, csrf)
    orders.inform_uploader(node.store, org=viewer.org, order_uuid=order_uuid, actor=viewer.actor)
    return see_other("/web/orders")


@router.get("/web/actions")
def actions_page(
    node: NodeDep,
    viewer: ReviewViewer,
    state: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    """The dead-letter list (or the actions in another state), newest first."""
    chosen = state or ActionState.DEAD.value
    found = actions.list_actions(node.store.db, viewer.org, state=chosen, limit=200)
    return render(
        viewer,
        "actions.html",
        actions=found,
        state=chosen,
        states=[s.value for s in ActionState],
        webhook=actions.get_webhook(node.store.db, viewer.org),
    )


@router.post("/web/actions/{action_uuid}/retry")
def retry_action(
    node: NodeDep,
    viewer: ReviewViewer,
    request: Request,
    action_uuid: str,
    csrf: Annotated[str, Form(max_length=100)],
) -> Response:
    """Send a dead action again (pending, due now, the same idempotency key)."""
    viewer.check_csrf(request, csrf)
    actions.retry(node.store.db, viewer.org, action_uuid, actor=viewer.actor)
    return see_other("/web/actions")


@router.get("/web/peers")
def peers_page(node: NodeDep, viewer: CurrentViewer) -> Response:
    """The nodes this node pulls from and how their sync goes (administrators only)."""
    if not may_administer(viewer.who):
        raise Forbidden("the peers are shown to the node's coordinator (a token with 'admin')")
    return render(
        viewer,
        "peers.html",
        peers=PeerStore(node.store.db).list(),
        node_id=node.store.node_id,
        latest_seq=node.store.latest_seq(),
        matcher_cursor=node.matcher.cursor,
    )
