"""Webhook delivery: sign and POST due actions to each organisation's endpoint, with retries.

One pass (``deliver_due``), safe to run in several processes at once:

1. claim: in one write transaction (the store serialises writers), pick up to ``limit`` due
   actions (``pending``, ``next_attempt_at <= now``, of an organisation whose endpoint is
   enabled) and push their ``next_attempt_at`` past the time their sends can take (a lease). Another
   pass does not see them as due; should this process die, they become due again when the lease
   ends and go out again with the same idempotency key;
2. send: POST each action's JSON body (``Action.body``) with the headers below, a few at a time.
   Every phase of a request (connect, send, each read) is bounded by ``webhook_timeout_s``;
   redirects are not followed; the answer's body is not read;
3. record: a 2xx answer marks the action ``delivered``. Anything else is a failed attempt:
   ``attempts + 1``, ``last_error`` (the status or the transport error, never the answer's body),
   and the next attempt after ``min(webhook_backoff_s * 2^(attempts-1), webhook_backoff_max_s)``
   less up to a quarter of jitter (a 429 or 503 ``Retry-After`` stretches it, up to the cap).
   After ``webhook_max_attempts`` the action is ``dead`` (the dead-letter list). Answers a retry
   of the same body cannot change (400, 410 Gone, 413, 422) make it dead at once; 401, 403, 404
   and 405 are retried, as they are usually an endpoint being deployed or its secret rotated.
   A stale lease's outcome (another pass already recorded this attempt) is ignored.

Headers of every request:

- ``Tessera-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" keyed by the secret>``
  (``verify_signature`` is the receiver's check; refuse a ``t`` too far from now);
- ``Idempotency-Key``: the action's uuid, the same on every attempt (the receiver applies it once);
- ``Tessera-Event``: the action's kind (``remove``, ..., ``incident.declared``);
- ``Tessera-Attempt``: 1 for the first attempt, 2 for the second, ...

Deliveries are not ordered: a receiver that gets two actions for one content reference should
apply the one with the later ``created_at`` last.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import math
import random
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx

from tessera.errors import FetchError, FetchRefused
from tessera.review import audit
from tessera.review.actions import Action, action_from_row, action_select
from tessera.review.records import ActionState
from tessera.services.fetch import IPNetwork, parse_cidrs, pinned_request, system_resolve
from tessera.settings import Settings
from tessera.store.db import Database, utcnow
from tessera.store.review_tables import actions, webhooks

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "Tessera-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
EVENT_HEADER = "Tessera-Event"
ATTEMPT_HEADER = "Tessera-Attempt"
GIVE_UP_STATUSES = frozenset({400, 410, 413, 422})
"""Answers that make an action dead at once: the receiver refuses this body for good."""
_USER_AGENT = "tessera-webhook/1"
_SENDERS = 4
_ERROR_CHARS = 300
_DELIVERER = "delivery"


# -- signatures ----------------------------------------------------------------------------------


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The ``Tessera-Signature`` header value of ``body`` sent at ``timestamp`` (unix seconds)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify_signature(
    secret: str, header: str, body: bytes, tolerance_s: float = 300.0, *, now: float | None = None
) -> bool:
    """Whether ``header`` signs ``body`` with ``secret`` at a time within ``tolerance_s`` of now."""
    timestamp: int | None = None
    macs: list[str] = []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t" and value.isdigit():
            timestamp = int(value)
        elif name == "v1":
            macs.append(value)
    if timestamp is None or not macs:
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance_s:
        return False
    expected = sign(secret, timestamp, body).rpartition("v1=")[2]
    return any(hmac.compare_digest(expected, mac) for mac in macs)


def body_bytes(action: Action) -> bytes:
    """The exact bytes POSTed for ``action`` (the same on every attempt)."""
    return json.dumps(action.body(), sort_keys=True, separators=(",", ":")).encode()


def backoff_delay(attempts: int, settings: Settings, jitter: float | None = None) -> float:
    """Seconds to wait after ``attempts`` failed attempts (jitter in [0, 1): up to -25%)."""
    raw = settings.webhook_backoff_s * 2.0 ** min(max(attempts - 1, 0), 60)
    capped = min(raw, settings.webhook_backoff_max_s)
    return capped * (1.0 - 0.25 * (random.random() if jitter is None else jitter))


# -- one pass ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DeliveryCounts:
    """What one pass did: actions delivered, failed attempts (dead ones included), now dead."""

    delivered: int = 0
    failed: int = 0
    dead: int = 0

    @property
    def claimed(self) -> int:
        """Actions the pass sent."""
        return self.delivered + self.failed


@dataclass(frozen=True, slots=True)
class _Claim:
    action: Action
    url: str
    secret: str
    lease: datetime


@dataclass(frozen=True, slots=True)
class _Outcome:
    claim: _Claim
    status: int | None
    error: str
    retry_after: float | None = None
    refused: bool = False

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def final(self) -> bool:
        return self.refused or self.status in GIVE_UP_STATUSES


def new_client(settings: Settings) -> httpx.Client:
    """An HTTP client for deliveries: ``webhook_timeout_s`` per phase, no redirects, no proxies.

    Requests go to the checked IP of the endpoint's host (``pinned_request``), so no connection
    is kept alive: one made with one name's TLS SNI must never carry another name's request.
    """
    return httpx.Client(
        timeout=httpx.Timeout(settings.webhook_timeout_s),
        limits=httpx.Limits(max_keepalive_connections=0),
        follow_redirects=False,
        trust_env=False,
        headers={"User-Agent": _USER_AGENT},
    )


def deliver_due(
    db: Database, settings: Settings, client: httpx.Client | None = None, *, limit: int = 100
) -> DeliveryCounts:
    """Claim, send and record up to ``limit`` due actions; what happened, counted."""
    allowed = parse_cidrs(settings.webhook_allow_cidrs, "webhook_allow_cidrs")
    claims = _claim(db, settings, limit)
    if not claims:
        return DeliveryCounts()
    sender = client or new_client(settings)
    try:
        with ThreadPoolExecutor(max_workers=min(_SENDERS, len(claims))) as pool:
            outcomes = list(pool.map(lambda c: _send(sender, c, allowed), claims))
    finally:
        if client is None:
            sender.close()
    return _record(db, settings, outcomes)


def _claim(db: Database, settings: Settings, limit: int) -> list[_Claim]:
    now = utcnow()
    query = (
        action_select()
        .add_columns(webhooks.c.url.label("webhook_url"), webhooks.c.secret.label("secret"))
        .join(webhooks, webhooks.c.org == actions.c.org)
        .where(
            actions.c.state == ActionState.PENDING.value,
            actions.c.next_attempt_at <= now,
            webhooks.c.enabled.is_(True),
        )
        .order_by(actions.c.next_attempt_at, actions.c.id)
        .limit(limit)
    )
    claims: list[_Claim] = []
    with db.write() as conn:
        rows = conn.execute(query).all()
        # Each send may take a connect, a write and a read timeout; _SENDERS run at once.
        rounds = math.ceil(len(rows) / _SENDERS) + 1
        lease = now + timedelta(seconds=3 * settings.webhook_timeout_s * rounds + 30)
        for row in rows:
            taken = conn.execute(
                actions.update()
                .where(
                    actions.c.uuid == row.uuid,
                    actions.c.state == ActionState.PENDING.value,
                    actions.c.next_attempt_at == row.next_attempt_at,
                )
                .values(next_attempt_at=lease)
            )
            if taken.rowcount == 1:
                claims.append(_Claim(action_from_row(row), row.webhook_url, row.secret, lease))
    return claims


def _send(client: httpx.Client, claim: _Claim, allowed: Sequence[IPNetwork]) -> _Outcome:
    action = claim.action
    body = body_bytes(action)
    headers = {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: sign(claim.secret, int(time.time()), body),
        IDEMPOTENCY_HEADER: action.uuid,
        EVENT_HEADER: action.kind,
        ATTEMPT_HEADER: str(action.attempts + 1),
    }
    try:
        request = pinned_request(
            client, "POST", claim.url, system_resolve, allowed, headers=headers, content=body
        )
    except FetchRefused as e:  # an internal address outside webhook_allow_cidrs: never sent
        return _Outcome(claim, None, f"{e} (webhook_allow_cidrs)"[:_ERROR_CHARS], refused=True)
    except FetchError as e:
        return _Outcome(claim, None, str(e)[:_ERROR_CHARS])
    try:
        response = client.send(request, stream=True)
    except httpx.TimeoutException as e:
        return _Outcome(claim, None, f"no answer in time ({type(e).__name__})")
    except (httpx.HTTPError, httpx.InvalidURL) as e:
        return _Outcome(claim, None, f"{type(e).__name__}: {e}"[:_ERROR_CHARS])
    except Exception as e:  # whatever an odd URL or answer raises is this attempt's failure
        log.warning("webhook delivery of %s failed unexpectedly", action.uuid, exc_info=True)
        return _Outcome(claim, None, f"{type(e).__name__}: {e}"[:_ERROR_CHARS])
    response.close()
    status = response.status_code
    if 200 <= status < 300:
        return _Outcome(claim, status, "")
    error = f"HTTP {status} {response.reason_phrase}".strip()
    if 300 <= status < 400:
        error += " (redirects are not followed)"
    return _Outcome(claim, status, error[:_ERROR_CHARS], _retry_after(response))


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "")
    if response.status_code in (429, 503) and value.strip().isdigit():
        return float(value.strip())
    return None


def _record(db: Database, settings: Settings, outcomes: list[_Outcome]) -> DeliveryCounts:
    delivered = failed = dead = 0
    with db.write() as conn:
        for outcome in outcomes:
            action = outcome.claim.action
            attempt = action.attempts + 1
            now = utcnow()
            gives_up = outcome.final or attempt >= settings.webhook_max_attempts
            values: dict[str, object] = {"attempts": attempt, "last_error": outcome.error}
            if outcome.ok:
                values |= {"state": ActionState.DELIVERED.value, "delivered_at": now}
                values |= {"next_attempt_at": None}
            elif gives_up:
                values |= {"state": ActionState.DEAD.value, "next_attempt_at": None}
            else:
                delay = backoff_delay(attempt, settings)
                if outcome.retry_after is not None:
                    delay = max(delay, min(outcome.retry_after, settings.webhook_backoff_max_s))
                values |= {"next_attempt_at": now + timedelta(seconds=delay)}
            done = conn.execute(
                actions.update()
                .where(
                    actions.c.uuid == action.uuid,
                    actions.c.state == ActionState.PENDING.value,
                    actions.c.attempts == action.attempts,
                    actions.c.next_attempt_at == outcome.claim.lease,
                )
                .values(**values)
            )
            if done.rowcount != 1:
                continue  # the lease ran out and another pass took this attempt over
            subject = f"action:{action.uuid}"
            events: list[tuple[str, dict[str, object]]]
            if outcome.ok:
                delivered += 1
                events = [("action.delivered", {"attempt": attempt, "status": outcome.status})]
            else:
                failed += 1
                failure: dict[str, object] = {"attempt": attempt, "status": outcome.status}
                events = [("action.attempt_failed", failure | {"error": outcome.error})]
                if gives_up:
                    dead += 1
                    events.append(("action.dead", {"attempts": attempt}))
            for kind, event in events:
                audit.append(
                    conn, org=action.org, actor=_DELIVERER, kind=kind, subject=subject, detail=event
                )
    return DeliveryCounts(delivered, failed, dead)


# -- in the background ---------------------------------------------------------------------------


class DeliveryWorker:
    """Runs ``deliver_due`` every ``webhook_interval_s`` seconds on a thread (0: never)."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        self.interval_s = settings.webhook_interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._client: httpx.Client | None = None

    def start(self) -> None:
        """Start delivering (a no-op when the interval is 0 or it already runs)."""
        if self.interval_s <= 0 or self._thread is not None:
            return
        self._stop.clear()
        self._client = new_client(self.settings)
        self._thread = threading.Thread(
            target=self._run, args=(self._client,), name="tessera-webhooks", daemon=True
        )
        self._thread.start()

    def _run(self, client: httpx.Client) -> None:
        while not self._stop.is_set():
            busy = False
            try:
                counts = deliver_due(self.db, self.settings, client)
                busy = counts.claimed > 0
                if counts.dead:
                    log.warning("%d webhook action(s) went to the dead-letter list", counts.dead)
            except Exception:  # a database hiccup must not end deliveries for good
                log.exception("delivering webhook actions failed; retrying")
            # A pass that sent something may have left more due: look again at once.
            if not busy:
                self._stop.wait(self.interval_s)

    def stop(self) -> None:
        """Stop delivering (the pass under way finishes) and close the connections."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._client is not None:
            self._client.close()
            self._client = None
