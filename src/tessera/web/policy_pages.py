"""The match policies page: what a match in each bank does for the signed-in organisation.

Scope ``review``. ``/web/policies`` lists every bank the organisation may see (the same rule as
the bank browser, ``services.access.may_see``) with its policy from ``review.policies``: the
default ``review`` where none was chosen, else the mode chosen (``auto_action`` with its rollout
share, shadow flag and action; ``log_only``; ``allow_list``), and who chose it and when.

Each bank has a form (``POST /web/policies/{bank}``) that sets the policy through
``policies.set_policy``, which audits the change. The form always carries the rollout, shadow
and action fields; rollout and shadow only mean something for ``auto_action``, so for the other
modes they are stored as their defaults (the whole share, not in shadow) rather than refused.
A bank the organisation may not see answers 404 like a missing one.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from tessera.api.deps import NodeDep
from tessera.errors import InputError
from tessera.review import policies
from tessera.review.records import ActionKind, MatchMode
from tessera.services.access import may_see
from tessera.web.bank_pages import visible_bank
from tessera.web.render import WebRoute, render, see_other
from tessera.web.session import ReviewViewer

router = APIRouter(route_class=WebRoute, include_in_schema=False)

MODES = [(m.value, m.value.replace("_", " ")) for m in MatchMode]
ACTIONS = [ActionKind.REMOVE.value, ActionKind.RESTRICT.value, ActionKind.PRESERVE.value]


def _mode(value: str) -> MatchMode:
    try:
        return MatchMode(value)
    except ValueError:
        names = ", ".join(m.value for m in MatchMode)
        raise InputError(f"unknown match mode {value!r}: use {names}") from None


def _action(value: str) -> ActionKind:
    if value not in ACTIONS:
        raise InputError(f"unknown action {value!r}: use {', '.join(ACTIONS)}")
    return ActionKind(value)


@router.get("/web/policies")
def policies_page(node: NodeDep, viewer: ReviewViewer) -> Response:
    """Every bank the organisation may see, with its match policy and a form to change it."""
    shown = [b for b, _counts in node.store.list_banks() if may_see(viewer.who, b)]
    chosen = {p.bank_uuid: p for p in policies.list_policies(node.store.db, viewer.org)}
    rows = [(b, chosen.get(b.uuid) or policies.default_policy(viewer.org, b.uuid)) for b in shown]
    return render(viewer, "policies.html", rows=rows, modes=MODES, actions=ACTIONS)


@router.post("/web/policies/{bank}")
def set_policy(
    node: NodeDep,
    viewer: ReviewViewer,
    request: Request,
    bank: str,
    csrf: Annotated[str, Form(max_length=100)],
    mode: Annotated[str, Form(max_length=20)],
    rollout: Annotated[float, Form(ge=0.0, le=1.0)] = 1.0,
    shadow: Annotated[str, Form(max_length=5)] = "",
    action: Annotated[str, Form(max_length=20)] = ActionKind.REMOVE.value,
) -> Response:
    """Set the organisation's policy for a bank it may see (audited)."""
    viewer.check_csrf(request, csrf)
    found = visible_bank(node, viewer, bank)
    chosen = _mode(mode)
    automatic = chosen is MatchMode.AUTO_ACTION
    policies.set_policy(
        node.store.db,
        org=viewer.org,
        bank_uuid=found.uuid,
        bank_name=found.name,
        mode=chosen,
        actor=viewer.actor,
        rollout=rollout if automatic else 1.0,
        shadow=bool(shadow) and automatic,
        action=_action(action),
    )
    return see_other(f"/web/policies#policy-{found.uuid}")
