"""Banks: list and show the banks the caller may see; create, change and delete its own.

A bank the caller may not see answers 404 exactly like a missing one; one it may see but not
curate answers 403.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, status

from tessera.api.deps import ContributeOrg, CurrentOrg, Node, NodeDep
from tessera.api.errors import ERROR_RESPONSES
from tessera.api.schemas import BankIn, BankOut, BankPatch
from tessera.errors import Forbidden, InputError
from tessera.services.access import Principal, may_create_bank, may_curate, may_see
from tessera.services.banks import parse_thresholds
from tessera.store.orgs import GROUP_PREFIX, check_distribution
from tessera.store.records import Bank

router = APIRouter(prefix="/v1/banks", tags=["banks"], responses=ERROR_RESPONSES)


def curated_bank(node: Node, who: Principal, name: str) -> Bank:
    """The bank if ``who`` may curate it: 404 when hidden, 403 when only visible."""
    bank = node.visible_bank(who, name)
    if not may_curate(who, bank, node.store.node_id):
        raise Forbidden(f"organisation {who.org!r} may not change bank {name!r}")
    return bank


def _check_distribution(node: Node, value: str) -> str:
    check_distribution(value)
    if value.startswith(GROUP_PREFIX) and value[len(GROUP_PREFIX) :] not in node.orgs.list_groups():
        raise InputError(f"no sharing group {value[len(GROUP_PREFIX) :]!r} on this node")
    return value


def _thresholds(values: dict[str, int]) -> dict[str, int]:
    return parse_thresholds(f"{k}={v}" for k, v in values.items())


@router.get("")
def list_banks(node: NodeDep, who: CurrentOrg) -> list[BankOut]:
    """The banks the caller may see, with entry counts by status."""
    return [BankOut.of(b, counts) for b, counts in node.store.list_banks() if may_see(who, b)]


@router.post("", status_code=status.HTTP_201_CREATED)
def create_bank(node: NodeDep, who: ContributeOrg, body: BankIn) -> BankOut:
    """Create a bank owned by the caller's organisation (coordinators and members)."""
    if not may_create_bank(who):
        raise Forbidden(f"an organisation of tier {who.tier.value} cannot own banks")
    bank = node.store.create_bank(
        body.name,
        description=body.description,
        labels=body.labels,
        inclusion_criterion=body.inclusion_criterion,
        distribution=_check_distribution(node, body.distribution),
        thresholds=_thresholds(body.thresholds),
        owner_org=who.org,
        actor=who.org,
    )
    return BankOut.of(bank, {})


@router.get("/{bank}")
def show_bank(node: NodeDep, who: CurrentOrg, bank: str) -> BankOut:
    """One bank the caller may see, with entry counts by status."""
    found = node.visible_bank(who, bank)
    counts = next((c for b, c in node.store.list_banks() if b.uuid == found.uuid), {})
    return BankOut.of(found, counts)


@router.patch("/{bank}")
def update_bank(node: NodeDep, who: ContributeOrg, bank: str, body: BankPatch) -> BankOut:
    """Change a bank's settings (its distribution too); the caller must curate it."""
    curated_bank(node, who, bank)
    fields: dict[str, Any] = body.model_dump(exclude_none=True)
    if "distribution" in fields:
        _check_distribution(node, fields["distribution"])
    if "thresholds" in fields:
        fields["thresholds"] = _thresholds(fields["thresholds"])
    if not fields:
        raise InputError("nothing to change")
    return BankOut.of(node.store.update_bank(bank, actor=who.org, **fields))


@router.delete("/{bank}")
def delete_bank(node: NodeDep, who: ContributeOrg, bank: str) -> dict[str, int]:
    """Delete a bank and all its entries (peers receive the deletion)."""
    curated_bank(node, who, bank)
    return {"deleted_entries": node.store.delete_bank(bank, actor=who.org)}
