"""Administration (coordinators with the ``admin`` scope): organisations, tokens, sharing groups;
and ``/v1/me`` for any token."""

from __future__ import annotations

from fastapi import APIRouter, status

from tessera.api.deps import AdminOrg, CurrentOrg, NodeDep
from tessera.api.errors import ERROR_RESPONSES
from tessera.api.schemas import GroupIn, GroupOut, MeOut, OrgIn, OrgOut, TokenIn, TokenOut
from tessera.services import orgs as org_service

router = APIRouter(prefix="/v1", tags=["administration"], responses=ERROR_RESPONSES)


@router.get("/me")
def me(node: NodeDep, who: CurrentOrg) -> MeOut:
    """The calling organisation, its tier, this token's scopes and its sharing groups."""
    return MeOut(
        org=who.org,
        tier=who.tier.value,
        scopes=sorted(s.value for s in who.scopes),
        groups=sorted(who.groups),
        node=node.store.node_id,
    )


@router.get("/orgs")
def list_orgs(node: NodeDep, who: AdminOrg) -> list[OrgOut]:
    """Every organisation admitted to this node, with its sharing groups."""
    del who
    groups = node.orgs.list_groups()
    return [
        OrgOut.of(o, sorted(g for g, members in groups.items() if o.name in members))
        for o in node.orgs.list_orgs()
    ]


@router.post("/orgs", status_code=status.HTTP_201_CREATED)
def create_org(node: NodeDep, who: AdminOrg, body: OrgIn) -> OrgOut:
    """Admit an organisation with a tier."""
    del who
    return OrgOut.of(org_service.create_org(node.orgs, body.name, body.tier), [])


@router.get("/orgs/{org}/tokens")
def list_tokens(node: NodeDep, who: AdminOrg, org: str) -> list[TokenOut]:
    """An organisation's tokens (prefixes and scopes; never the secrets)."""
    del who
    return [TokenOut.of(t) for t in node.orgs.list_tokens(org)]


@router.post("/orgs/{org}/tokens", status_code=status.HTTP_201_CREATED)
def create_token(node: NodeDep, who: AdminOrg, org: str, body: TokenIn) -> TokenOut:
    """Issue a token for an organisation; the secret is in this answer only."""
    del who
    issued = org_service.issue_token(node.orgs, org, body.scopes, body.note)
    return TokenOut.of(issued.info, issued.secret)


@router.delete("/tokens/{prefix}")
def revoke_token(node: NodeDep, who: AdminOrg, prefix: str) -> TokenOut:
    """Revoke a token; this node refuses it from now on."""
    del who
    return TokenOut.of(node.tokens.revoke(prefix))


@router.get("/groups")
def list_groups(node: NodeDep, who: AdminOrg) -> list[GroupOut]:
    """Every sharing group with its members."""
    del who
    return [GroupOut(name=g, members=m) for g, m in node.orgs.list_groups().items()]


@router.post("/groups", status_code=status.HTTP_201_CREATED)
def create_group(node: NodeDep, who: AdminOrg, body: GroupIn) -> GroupOut:
    """Create a sharing group (banks shared with ``group:<name>`` reach its members)."""
    del who
    node.orgs.create_group(body.name)
    return GroupOut(name=body.name, members=[])


def _group(node: NodeDep, name: str) -> GroupOut:
    return GroupOut(name=name, members=node.orgs.list_groups().get(name, []))


@router.put("/groups/{group}/members/{org}")
def add_member(node: NodeDep, who: AdminOrg, group: str, org: str) -> GroupOut:
    """Put an organisation in a sharing group."""
    del who
    node.orgs.set_group_member(group, org, True)
    node.tokens.forget()
    return _group(node, group)


@router.delete("/groups/{group}/members/{org}")
def remove_member(node: NodeDep, who: AdminOrg, group: str, org: str) -> GroupOut:
    """Take an organisation out of a sharing group."""
    del who
    node.orgs.set_group_member(group, org, False)
    node.tokens.forget()
    return _group(node, group)
