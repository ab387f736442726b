"""The access policy: what an organisation may see and do, from its tier and a bank's distribution.

This is the one place these rules live; the API, the change feed and sync all ask here.

Tiers (DESIGN.md, Participants):

- ``coordinator`` admits organisations (``admin``), curates shared banks — it may contribute to
  and change any bank on this node that is shared beyond its owner — and sees all feedback;
- ``member`` creates banks and contributes to the banks it owns (co-curation of another member's
  bank is not offered: the owner or a coordinator curates), consumes banks shared with members,
  gives feedback;
- ``observer`` consumes banks shared with observers and gives feedback; it cannot contribute;
- ``partner`` consumes only banks shared with ``all`` or with a sharing group it is in, and gives
  feedback on them (any consumer may dispute an entry).

Distribution levels and who sees a bank besides its owner organisation:

==================== ========================================================================
``owner``            nobody else (not even a coordinator)
``members``          coordinators and members
``members_observers`` coordinators, members and observers
``all``              every organisation, partners included
``group:<name>``     coordinators, and organisations in that sharing group (of any tier)
==================== ========================================================================

Banks mirrored from a peer (``origin_node`` is another node) are read-only here except opinions.
Opinions: the bank's owner organisation and coordinators see every opinion on its entries; other
organisations see their own opinions and the rolled-up status and counts.

Token scopes say what a token is for; a tier caps them (``TIER_SCOPES``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tessera.errors import Forbidden, InputError
from tessera.store.orgs import GROUP_PREFIX
from tessera.store.records import Bank, Scope, Tier

TIER_SCOPES: dict[Tier, frozenset[Scope]] = {
    Tier.COORDINATOR: frozenset(Scope),
    Tier.MEMBER: frozenset({Scope.MATCH, Scope.CONTRIBUTE, Scope.REVIEW, Scope.SYNC}),
    Tier.OBSERVER: frozenset({Scope.MATCH, Scope.REVIEW, Scope.SYNC}),
    Tier.PARTNER: frozenset({Scope.MATCH, Scope.REVIEW, Scope.SYNC}),
}

_SEEN_BY: dict[str, frozenset[Tier]] = {
    "owner": frozenset(),
    "members": frozenset({Tier.COORDINATOR, Tier.MEMBER}),
    "members_observers": frozenset({Tier.COORDINATOR, Tier.MEMBER, Tier.OBSERVER}),
    "all": frozenset(Tier),
}


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: an organisation, its tier, its token's scopes and its sharing groups."""

    org: str
    tier: Tier
    scopes: frozenset[Scope]
    groups: frozenset[str] = field(default_factory=frozenset)
    token_prefix: str | None = None

    def has(self, scope: Scope) -> bool:
        """Whether the token carries ``scope``."""
        return scope in self.scopes

    def require(self, scope: Scope) -> None:
        """Forbidden unless the token carries ``scope``."""
        if scope not in self.scopes:
            raise Forbidden(f"this token lacks the {scope.value!r} scope")


def sees_distribution(who: Principal, owner_org: str, distribution: str) -> bool:
    """Whether ``who`` may see a bank owned by ``owner_org`` at this distribution level.

    Takes the raw values so the change feed can ask about a bank's previous distribution.
    """
    if who.org == owner_org:
        return True
    if distribution.startswith(GROUP_PREFIX):
        return who.tier is Tier.COORDINATOR or distribution[len(GROUP_PREFIX) :] in who.groups
    return who.tier in _SEEN_BY.get(distribution, frozenset())


def may_see(who: Principal, bank: Bank) -> bool:
    """Whether ``who`` may see the bank, its entries, and matches against it."""
    return sees_distribution(who, bank.owner_org, bank.distribution)


def may_create_bank(who: Principal) -> bool:
    """Whether ``who``'s tier may own banks (coordinators and members)."""
    return who.tier in (Tier.COORDINATOR, Tier.MEMBER)


def may_curate(who: Principal, bank: Bank, node_id: str) -> bool:
    """Whether ``who`` may add, label, retire or delete entries and change or delete the bank."""
    if bank.origin_node and bank.origin_node != node_id:
        return False  # a mirror of another node's bank: its owner curates it there
    if who.org == bank.owner_org:
        return may_create_bank(who)
    return who.tier is Tier.COORDINATOR and bank.distribution != "owner"


def may_give_opinion(who: Principal, bank: Bank) -> bool:
    """Whether ``who`` may confirm, reject or dispute entries of the bank (any consumer may)."""
    return may_see(who, bank)


def may_see_all_opinions(who: Principal, bank: Bank) -> bool:
    """Whether ``who`` sees every org's opinions on the bank's entries (else only its own)."""
    return may_see(who, bank) and (who.tier is Tier.COORDINATOR or who.org == bank.owner_org)


def may_administer(who: Principal) -> bool:
    """Whether ``who`` may admit organisations, issue tokens and manage sharing groups."""
    return who.tier is Tier.COORDINATOR and who.has(Scope.ADMIN)


def check_scopes(tier: Tier, scopes: frozenset[Scope]) -> None:
    """InputError when a token of an organisation of ``tier`` would carry a scope its tier lacks."""
    extra = scopes - TIER_SCOPES[tier]
    if extra:
        names = ", ".join(sorted(s.value for s in extra))
        raise InputError(f"an organisation of tier {tier.value} cannot hold scope(s): {names}")
