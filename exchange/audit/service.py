"""Writing and verifying the hash-chained audit log.

``record`` queues an event on the session; just before that session commits,
the queued events are appended to the chain (head row locked, sequence and
hashes assigned) in the same transaction. So an action commits only with its
events, and a failed audit write fails the action.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event, select, update
from sqlalchemy.orm import Session

from adapters.db import rfc3339, utcnow
from exchange.audit.models import GENESIS_HASH, AuditEvent, AuditHead

PENDING = "exchange.audit.pending"
OUTCOMES = ("allowed", "denied")

# The fields a hash covers, in a fixed order; adding one is a new chain version.
HASHED_FIELDS = (
    "seq",
    "occurred_at",
    "request_id",
    "actor_organization",
    "actor_client",
    "actor_user",
    "action",
    "outcome",
    "resource_type",
    "resource_id",
    "client_ref",
    "basis_type",
    "basis_ref",
    "reason",
)


@dataclass(frozen=True)
class Actor:
    """Who acts: the machine client, its organization, the person, and the request."""

    organization: str | None = None
    client_id: str | None = None
    username: str | None = None
    request_id: str | None = None


def record(
    session: Session,
    actor: Actor,
    action: str,
    outcome: str = "allowed",
    *,
    resource_type: str | None = None,
    resource_id: str | None = None,
    client_ref: str | None = None,
    basis_type: str | None = None,
    basis_ref: str | None = None,
    reason: str | None = None,
) -> None:
    """Queue an audit event; it is written in the session's transaction when it commits."""
    if outcome not in OUTCOMES:
        raise ValueError(f"audit outcome must be one of {OUTCOMES}")
    session.info.setdefault(PENDING, []).append(
        {
            "occurred_at": rfc3339(utcnow()),
            "request_id": actor.request_id,
            "actor_organization": actor.organization,
            "actor_client": actor.client_id,
            "actor_user": actor.username,
            "action": action,
            "outcome": outcome,
            "resource_type": resource_type,
            "resource_id": resource_id,
            "client_ref": client_ref,
            "basis_type": basis_type,
            "basis_ref": basis_ref,
            "reason": reason[:500] if reason else None,
        }
    )


def discard_pending(session: Session) -> None:
    """Forget queued events (their action is being rolled back)."""
    session.info.pop(PENDING, None)


def event_hash(prev_hash: str, fields: dict[str, Any]) -> str:
    """SHA-256 over the previous hash and the canonical JSON of the hashed fields."""
    canonical = json.dumps(
        [fields.get(name) for name in HASHED_FIELDS], ensure_ascii=False, separators=(",", ":")
    )
    return hashlib.sha256(prev_hash.encode() + b"\n" + canonical.encode()).hexdigest()


def _append(session: Session, events: list[dict[str, Any]]) -> None:
    # The UPDATE takes the write lock (PostgreSQL row lock, SQLite database lock)
    # before the head is read, so concurrent appenders queue instead of forking the chain.
    session.execute(update(AuditHead).where(AuditHead.id == 1).values(seq=AuditHead.seq))
    head = session.execute(select(AuditHead).where(AuditHead.id == 1)).scalar_one_or_none()
    if head is None:
        head = AuditHead(id=1, seq=0, hash=GENESIS_HASH)
        session.add(head)
    seq, prev = head.seq, head.hash
    for fields in events:
        seq += 1
        fields = {**fields, "seq": seq}
        digest = event_hash(prev, fields)
        session.add(AuditEvent(**fields, prev_hash=prev, hash=digest))
        prev = digest
    head.seq, head.hash = seq, prev
    session.flush()


@event.listens_for(Session, "before_commit")
def _seal_pending(session: Session) -> None:
    events = session.info.pop(PENDING, None)
    if events:
        _append(session, events)


@event.listens_for(Session, "after_soft_rollback")
def _drop_pending(session: Session, previous_transaction: Any) -> None:
    # A savepoint rolled back inside a request undoes only its own work; the events
    # queued for the rest of the transaction still belong to it.
    if not previous_transaction.nested:
        discard_pending(session)


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    verified_through: int
    first_bad_seq: int | None
    events: int


def verify_chain(session: Session, batch: int = 5000) -> ChainReport:
    """Recompute the chain from the start; report the first event that does not fit."""
    prev, expected_seq, count = GENESIS_HASH, 1, 0
    last = 0
    while True:
        rows = session.execute(
            select(AuditEvent).where(AuditEvent.seq > last).order_by(AuditEvent.seq).limit(batch)
        ).scalars()
        chunk = list(rows)
        if not chunk:
            break
        for row in chunk:
            fields = {name: getattr(row, name) for name in HASHED_FIELDS}
            if (
                row.seq != expected_seq
                or row.prev_hash != prev
                or event_hash(prev, fields) != row.hash
            ):
                return ChainReport(False, expected_seq - 1, expected_seq, count)
            prev, expected_seq, count = row.hash, expected_seq + 1, count + 1
        last = chunk[-1].seq
    head = session.get(AuditHead, 1)
    if head is not None and (head.seq != expected_seq - 1 or head.hash != prev):
        # The tail was cut off (or the head was rewritten): the first missing event is bad.
        return ChainReport(False, expected_seq - 1, expected_seq, count)
    return ChainReport(True, expected_seq - 1, None, count)
