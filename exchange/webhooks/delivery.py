"""Delivering notifications: relay from the outbox to a Redis stream, send from a consumer
group, retry with exponential backoff and jitter, dead-letter after the retry window.

The database row is the truth; the stream only says "this one is due now". So a
notification survives a lost stream message, a crashed worker or a Redis restart:

1. ``relay`` puts due rows on the stream (``XADD``) and marks them relayed. A row relayed
   long ago and still pending (the message or its worker was lost) is relayed again.
2. ``consume`` reads the stream as one member of the ``senders`` group (``XREADGROUP``),
   and takes over messages another member left unacknowledged (``XAUTOCLAIM``).
3. ``deliver`` claims the row in a short transaction (a lease on ``next_attempt_at``, so a
   duplicate message finds it taken), POSTs the signed notification outside any
   transaction, then records the outcome. Delivery is at least once; the event id lets the
   receiver drop a repeat.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import random
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import redis as redis_lib
import requests
from joserfc import jws
from sqlalchemy import or_, select

from adapters.addresses import UnsafeAddress, check_url
from adapters.db import Database, rfc3339, utcnow
from adapters.keys import KeyStore
from exchange.registry.models import Organization
from exchange.unit import WORKER, unit_of_work
from exchange.webhooks.models import DEAD, DELIVERED, PENDING, WebhookDelivery

log = logging.getLogger(__name__)

STREAM = "exchange:webhooks"
GROUP = "senders"
DEAD_LETTERS = "exchange:webhooks:dead-letters"
DEAD_LETTERS_KEPT = 10_000
SIGNING_ALG = "ES256"
NOTIFICATION_TYP = "handover-event+jwt"
LEASE = dt.timedelta(seconds=60)  # longer than any one attempt
STALE_RELAY = dt.timedelta(minutes=5)  # a relayed row not delivered by then is relayed again
FIRST_DELAY = 30.0  # seconds before the first retry
LONGEST_DELAY = 3 * 3600.0  # no wait between attempts grows beyond this
CLAIM_IDLE_MS = 60_000  # a stream message unacknowledged this long is taken over


@dataclass(frozen=True)
class Policy:
    """How deliveries behave; from the configuration."""

    timeout: float
    retry_window: dt.timedelta
    allow_loopback: bool

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Policy:
        return cls(
            timeout=float(config["WEBHOOK_TIMEOUT"]),
            retry_window=dt.timedelta(hours=config["WEBHOOK_RETRY_HOURS"]),
            allow_loopback=bool(config["WEBHOOK_ALLOW_LOOPBACK"]),
        )


def backoff(attempt: int, rng: Callable[[float, float], float] = random.uniform) -> float:
    """Seconds to wait after failed ``attempt`` (1, 2, ...): doubling from FIRST_DELAY up to
    LONGEST_DELAY, with jitter over the upper half so retries of many failures spread out."""
    ceiling = min(LONGEST_DELAY, FIRST_DELAY * 2 ** max(0, attempt - 1))
    return rng(ceiling / 2, ceiling)


def ensure_group(redis: redis_lib.Redis) -> None:
    try:
        redis.xgroup_create(STREAM, GROUP, id="0", mkstream=True)
    except redis_lib.ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


def relay(db: Database, redis: redis_lib.Redis, limit: int = 200) -> int:
    """Put due notifications on the stream; how many."""
    now = utcnow()
    with unit_of_work(db.sessions, WORKER, "webhook.deliver") as uow:
        session = uow.session
        rows = list(
            session.execute(
                select(WebhookDelivery)
                .where(
                    WebhookDelivery.status == PENDING,
                    WebhookDelivery.next_attempt_at <= now,
                    or_(
                        WebhookDelivery.relayed_at.is_(None),
                        WebhookDelivery.relayed_at < now - STALE_RELAY,
                    ),
                )
                .order_by(WebhookDelivery.next_attempt_at)
                .limit(limit)
                .with_for_update(skip_locked=True)
            ).scalars()
        )
        for row in rows:
            redis.xadd(STREAM, {"id": row.id}, maxlen=1_000_000, approximate=True)
            row.relayed_at = now
    return len(rows)


def consume(
    db: Database,
    redis: redis_lib.Redis,
    keys: KeyStore,
    policy: Policy,
    consumer: str,
    block_ms: int | None,
    count: int = 50,
) -> int:
    """Deliver what the stream holds for this consumer; how many messages were handled."""
    ensure_group(redis)
    handled = 0
    claimed = cast(
        list[Any],
        redis.xautoclaim(STREAM, GROUP, consumer, min_idle_time=CLAIM_IDLE_MS, count=count),
    )
    messages: list[tuple[Any, dict[Any, Any]]] = list(claimed[1])
    read = cast(
        list[Any] | None,
        redis.xreadgroup(GROUP, consumer, {STREAM: ">"}, count=count, block=block_ms),
    )
    for _stream, entries in read or []:
        messages.extend(entries)
    for message_id, fields in messages:
        if fields:  # an entry trimmed from the stream comes back empty
            raw = fields.get(b"id") or fields.get("id")
            delivery_id = raw.decode() if isinstance(raw, bytes) else str(raw)
            deliver(db, redis, keys, policy, delivery_id)
        redis.xack(STREAM, GROUP, message_id)
        handled += 1
    return handled


def deliver(
    db: Database, redis: redis_lib.Redis, keys: KeyStore, policy: Policy, delivery_id: str
) -> str | None:
    """One attempt at one notification; its status afterwards, None if it was not due."""
    claim = _claim(db, delivery_id)
    if claim is None:
        return None
    url, notification, attempt = claim
    status, error = _post(url, notification, keys, policy)
    now = utcnow()
    with unit_of_work(db.sessions, WORKER, "webhook.deliver") as uow:
        session = uow.session
        row = session.get(WebhookDelivery, delivery_id, with_for_update=True)
        if row is None:  # pragma: no cover - rows are never deleted
            return None
        row.last_attempt_at, row.last_status, row.last_error = now, status, error
        row.relayed_at = None
        if error is None:
            row.status, row.delivered_at = DELIVERED, now
            return DELIVERED
        delay = dt.timedelta(seconds=backoff(attempt))
        if now + delay > row.window_started_at + policy.retry_window:
            row.status = DEAD
            redis.lpush(DEAD_LETTERS, row.id)
            redis.ltrim(DEAD_LETTERS, 0, DEAD_LETTERS_KEPT - 1)
            log.warning(
                "notification dead-lettered",
                extra={"delivery": row.id, "organization": row.organization_id},
            )
            return DEAD
        row.next_attempt_at = now + delay
        return PENDING


def _claim(db: Database, delivery_id: str) -> tuple[str | None, dict[str, Any], int] | None:
    now = utcnow()
    with unit_of_work(db.sessions, WORKER, "webhook.deliver") as uow:
        session = uow.session
        row = session.get(WebhookDelivery, delivery_id, with_for_update=True)
        if row is None or row.status != PENDING or row.next_attempt_at > now:
            return None  # delivered, dead, or another worker holds the lease
        row.attempts += 1
        row.next_attempt_at = now + LEASE
        organization = session.get(Organization, row.organization_id)
        url = organization.webhook_url if organization is not None else None
        return url, _notification(row, now), row.attempts


def _notification(row: WebhookDelivery, now: dt.datetime) -> dict[str, Any]:
    return {
        "id": row.id,
        "type": row.event_type,
        "organization": row.organization_id,
        "occurred_at": rfc3339(row.created_at),
        "iat": int(now.timestamp()),
        "attempt": row.attempts,
        "data": row.data,
    }


def sign(notification: dict[str, Any], keys: KeyStore) -> str:
    """The notification as a compact JWS signed with the service key (see the JWKS)."""
    key = keys.signing_key
    payload = json.dumps(notification, separators=(",", ":"), sort_keys=True).encode()
    header = {"alg": SIGNING_ALG, "kid": key.kid, "typ": NOTIFICATION_TYP}
    return jws.serialize_compact(header, payload, key, algorithms=[SIGNING_ALG])


def _post(
    url: str | None, notification: dict[str, Any], keys: KeyStore, policy: Policy
) -> tuple[int | None, str | None]:
    """(HTTP status, error) of one POST; error None means delivered (2xx)."""
    if not url:
        return None, "the organization has no webhook_url"
    try:
        check_url(url, policy.allow_loopback)
    except UnsafeAddress as exc:
        return None, f"refused address: {exc}"[:300]
    try:
        response = requests.post(
            url,
            data=sign(notification, keys),
            headers={
                "Content-Type": "application/jose",
                "Webhook-Id": notification["id"],
                "Webhook-Timestamp": str(notification["iat"]),
            },
            timeout=policy.timeout,
            allow_redirects=False,  # a redirect could lead anywhere; it counts as a failure
        )
        response.close()
    except (OSError, requests.RequestException) as exc:
        return None, f"{type(exc).__name__}"
    if 200 <= response.status_code < 300:
        return response.status_code, None
    return response.status_code, f"HTTP {response.status_code}"


def run_once(
    db: Database,
    redis: redis_lib.Redis,
    keys: KeyStore,
    policy: Policy,
    consumer: str,
    block_ms: int | None = None,
) -> dict[str, int]:
    """Relay what is due, then deliver what the stream holds (one round of the worker)."""
    relayed = relay(db, redis)
    delivered = consume(db, redis, keys, policy, consumer, block_ms)
    return {"relayed": relayed, "handled": delivered}


def consumer_name() -> str:
    """This process's name in the consumer group."""
    import os

    return f"{socket.gethostname()}-{os.getpid()}"


def reschedule(row: WebhookDelivery) -> None:
    """A manual retry: due at once, with a fresh retry window."""
    now = utcnow()
    row.status = PENDING
    row.next_attempt_at = now
    row.window_started_at = now
    row.relayed_at = None
