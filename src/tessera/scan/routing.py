"""Routing scan and retro-hunt matches to review, at most once per content and match.

The review core's ``route`` joins the open case of the same content, and a match already on it
is not added twice. What could still repeat when a scan resumes after a kill between routing and
its journal mark is a second case (the first one was decided and closed since) or a second
shadow action; so before routing, ``route_once`` looks at the newest case of the content and
skips routing when every match is on it already.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tessera.review import cases
from tessera.services.matching import Match
from tessera.services.review import route
from tessera.settings import Settings
from tessera.signals.base import Signal
from tessera.store.repository import Store


@dataclass(frozen=True, slots=True)
class RouteOutcome:
    """The case the matches are on (None when policy opened none), and whether routing ran."""

    case_uuid: str | None
    routed: bool
    opened: bool = False


def route_once(
    store: Store,
    settings: Settings,
    *,
    org: str,
    content_ref: str,
    media_kind: str,
    signals: Sequence[Signal],
    matches: Sequence[Match],
    source: str,
) -> RouteOutcome:
    """Route the matches of one piece of content, unless its newest case holds them all."""
    wanted = {(m.entry_uuid, m.signal_type) for m in matches if not m.demoted}
    with store.db.read() as conn:
        existing = cases.latest_for_content(conn, org, content_ref)
    if existing is not None and wanted:
        held = {(cm.entry_uuid, cm.signal_type) for cm in existing.matches}
        if wanted <= held:
            return RouteOutcome(existing.uuid, routed=False)
    routed = route(
        store,
        settings,
        org=org,
        content_ref=content_ref,
        media_kind=media_kind,
        signals=signals,
        matches=matches,
        source=source,
    )
    if routed.case is None:
        return RouteOutcome(None, routed=True)
    opened = existing is None or routed.case.uuid != existing.uuid
    return RouteOutcome(routed.case.uuid, routed=True, opened=opened)
