"""Actions: the caller's webhook endpoint, its queue of actions and its dead-letter list.

Scope ``review``; every route acts on the calling organisation's own endpoint and actions only
(another organisation's action answers 404 like a missing one). ``PUT /v1/webhook`` returns the
signing secret once; no route shows it again.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from tessera.api.deps import NodeDep, ReviewOrg
from tessera.api.errors import ERROR_RESPONSES
from tessera.api.schemas import Strict
from tessera.errors import NotFound
from tessera.review import actions as action_service
from tessera.review.actions import MAX_URL, Action, Webhook
from tessera.review.records import ActionState
from tessera.services.access import Principal

router = APIRouter(prefix="/v1", tags=["actions"], responses=ERROR_RESPONSES)


class WebhookIn(Strict):
    """The organisation's endpoint: an http(s) URL without credentials."""

    url: str = Field(min_length=1, max_length=MAX_URL, examples=["https://platform.example/hook"])


class WebhookOut(BaseModel):
    """An endpoint as stored (never its secret)."""

    url: str
    enabled: bool
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, hook: Webhook) -> WebhookOut:
        """From a webhook."""
        return cls(
            url=hook.url,
            enabled=hook.enabled,
            created_at=hook.created_at,
            updated_at=hook.updated_at,
        )


class WebhookSetOut(BaseModel):
    """The endpoint just set, and its signing secret: shown this once."""

    webhook: WebhookOut
    secret: str


class ActionOut(BaseModel):
    """One action and how its delivery goes."""

    id: str
    kind: str
    content_ref: str
    case: str | None
    automated: bool
    created_at: datetime
    payload: dict[str, Any]
    state: ActionState
    attempts: int
    next_attempt_at: datetime | None
    last_error: str
    delivered_at: datetime | None

    @classmethod
    def of(cls, a: Action) -> ActionOut:
        """From an action."""
        return cls(
            id=a.uuid,
            kind=a.kind,
            content_ref=a.content_ref,
            case=a.case_uuid,
            automated=a.automated,
            created_at=a.created_at,
            payload=a.payload,
            state=a.state,
            attempts=a.attempts,
            next_attempt_at=a.next_attempt_at,
            last_error=a.last_error,
            delivered_at=a.delivered_at,
        )


def _actor(who: Principal) -> str:
    return f"token:{who.token_prefix}" if who.token_prefix else who.org


def _own_webhook(node: NodeDep, who: Principal) -> Webhook:
    hook = action_service.get_webhook(node.store.db, who.org)
    if hook is None:
        raise NotFound(f"organisation {who.org!r} has no webhook")
    return hook


@router.get("/webhook")
def show_webhook(node: NodeDep, who: ReviewOrg) -> WebhookOut:
    """The caller's endpoint (404 when none is set)."""
    return WebhookOut.of(_own_webhook(node, who))


@router.put("/webhook")
def set_webhook(node: NodeDep, who: ReviewOrg, body: WebhookIn) -> WebhookSetOut:
    """Set (or replace) the caller's endpoint with a new secret, returned this once."""
    secret = action_service.set_webhook(node.store.db, who.org, body.url, actor=_actor(who))
    return WebhookSetOut(webhook=WebhookOut.of(_own_webhook(node, who)), secret=secret)


@router.delete("/webhook")
def disable_webhook(node: NodeDep, who: ReviewOrg) -> WebhookOut:
    """Stop deliveries to the caller's endpoint; its actions wait, pending, for a new one."""
    return WebhookOut.of(action_service.disable_webhook(node.store.db, who.org, actor=_actor(who)))


@router.get("/actions")
def list_actions(
    node: NodeDep,
    who: ReviewOrg,
    state: Annotated[
        ActionState | None, Query(description="Only this state (dead: the dead-letter list).")
    ] = None,
    case: Annotated[
        str | None, Query(max_length=36, description="Only the actions of this case (its uuid).")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[ActionOut]:
    """The caller's actions, newest first."""
    found = action_service.list_actions(
        node.store.db, who.org, state=state, case_uuid=case, limit=limit
    )
    return [ActionOut.of(a) for a in found]


@router.post("/actions/{action}/retry")
def retry_action(node: NodeDep, who: ReviewOrg, action: str) -> ActionOut:
    """Send a dead action again: pending, due now, attempts reset, the same id (409 if not dead)."""
    return ActionOut.of(action_service.retry(node.store.db, who.org, action, actor=_actor(who)))
