"""Writing, sealing and verifying the tamper-evident audit log.

Writing never waits for other writers: ``record`` adds the event row to the
business transaction (no sequence number yet), so an action commits only with
its events and a failed audit write fails the action.

Sealing happens just after, in the sealer (``seal``; run by ``exchange worker``,
by the embedded server's background thread and on demand): under one lock it
gives every committed, unsealed event the next sequence number, its leaf hash
(RFC 9162: SHA-256(0x00 ‖ event)) and its chain hash, and extends the Merkle
tree whose frontier lives in the head row. ``checkpoint`` signs the tree's size,
root and chain head with the service key (JWS) at least every minute while
events arrive, and on demand.

Verification recomputes every leaf, the chain and every checkpoint's root, and
names the first event that does not fit: altered, deleted, inserted, reordered,
or a tail cut off.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import unicodedata
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, cast

from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlalchemy import Table, bindparam, event, func, insert, select, text, update
from sqlalchemy.orm import Session, SessionTransaction

from adapters.db import rfc3339, utcnow
from adapters.keys import SIGNING_ALG, KeyStore
from consent.vocabulary import AUDIT_OUTCOMES
from exchange.audit import merkle
from exchange.audit.models import GENESIS_HASH, AuditCheckpoint, AuditEvent, AuditHead
from exchange.errors import Conflict
from exchange.policy import Identity

CHECKPOINT_TYP = "audit-checkpoint+jws"

# What a leaf covers, in a fixed order; adding a field is a new log version.
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

    @classmethod
    def of(cls, identity: Identity) -> Actor:
        """The audit columns of ``identity`` (the service itself belongs to no organization)."""
        return cls(
            organization=identity.organization or None,
            client_id=identity.client_id or None,
            username=identity.username,
            request_id=identity.request_id,
        )


def escape(value: str | None, limit: int) -> str | None:
    """Control characters (newlines included) stored as visible escapes: no log injection."""
    if value is None:
        return None
    if value.isprintable():  # the common case: nothing to escape (no Cc, Zl, Zp in it)
        return value[:limit]
    cleaned = "".join(
        f"\\u{ord(char):04x}" if unicodedata.category(char) in ("Cc", "Zl", "Zp") else char
        for char in value
    )
    return cleaned[:limit]


def record(
    session: Session,
    who: Actor | Identity,
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
    """Add an audit event to the session's transaction (sealed into the log just after commit);
    ``who`` acts: an identity, or an actor where no identity is established yet.

    The events of one transaction are written together when it commits, as one multi-row
    INSERT (``_write_pending``): in the same transaction as the change they describe, so a
    failed audit write still fails the action, and a rollback drops them with it."""
    if outcome not in AUDIT_OUTCOMES:
        raise ValueError(f"audit outcome must be one of {AUDIT_OUTCOMES}")
    actor = who if isinstance(who, Actor) else Actor.of(who)
    if not session.in_transaction():
        session.begin()  # no SQL yet; ending it without a commit drops the events
    session.info.setdefault(PENDING, []).append(
        {
            "occurred_at": rfc3339(utcnow()),
            "request_id": escape(actor.request_id, 64),
            "actor_organization": escape(actor.organization, 64),
            "actor_client": escape(actor.client_id, 128),
            "actor_user": escape(actor.username, 128),
            "action": escape(action, 64),
            "outcome": outcome,
            "resource_type": escape(resource_type, 64),
            "resource_id": escape(resource_id, 128),
            "client_ref": escape(client_ref, 64),
            "basis_type": escape(basis_type, 16),
            "basis_ref": escape(basis_ref, 200),
            "reason": escape(reason, 500),
        }
    )


# The session.info keys of the events recorded in the current transaction, not yet written,
# and of how many there were when each open savepoint began.
PENDING = "audit.pending"
MARKS = "audit.savepoint_marks"
# A Core insert of plain rows: no ORM objects, no RETURNING, one executemany.
AUDIT_INSERT = insert(cast(Table, AuditEvent.__table__))


@event.listens_for(Session, "before_commit")
def _write_pending(session: Session) -> None:
    """Write the transaction's audit events in one statement, just before it commits (a
    savepoint's release keeps them for the transaction's own commit)."""
    if session.in_nested_transaction():
        return
    pending = session.info.pop(PENDING, None)
    if pending:
        session.execute(AUDIT_INSERT, pending)


@event.listens_for(Session, "after_transaction_create")
def _mark_savepoint(session: Session, transaction: SessionTransaction) -> None:
    if transaction.nested:
        session.info.setdefault(MARKS, {})[transaction] = len(session.info.get(PENDING, ()))


@event.listens_for(Session, "after_soft_rollback")
def _drop_savepoints_events(session: Session, previous: SessionTransaction) -> None:
    """A savepoint rolled back drops the events recorded since it began."""
    mark = session.info.get(MARKS, {}).pop(previous, None)
    if mark is not None and PENDING in session.info:
        del session.info[PENDING][mark:]


@event.listens_for(Session, "after_transaction_end")
def _drop_pending(session: Session, transaction: SessionTransaction) -> None:
    """A transaction that ends without committing (rolled back, closed) drops its events."""
    if transaction.parent is None:
        session.info.pop(PENDING, None)
        session.info.pop(MARKS, None)


CONTENT_FIELDS = HASHED_FIELDS[1:]


CANONICAL_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def _flat_encoder() -> Callable[[Sequence[Any]], str]:
    """``CANONICAL_ENCODER.encode`` for a flat sequence of strings, integers and None.

    ``JSONEncoder.encode`` builds a new C encoder on every call, which is most of its cost on
    a 14-field event; this builds it once, with the arguments ``JSONEncoder.iterencode``
    passes. It is used only if it writes the very same text on a probe that takes every
    escaping path, else (another Python, another signature) the plain encoder is."""
    # Not in typeshed, but part of every CPython's json.encoder (None without the C speedups).
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:
        return CANONICAL_ENCODER.encode
    try:
        iterencode = make(
            None,  # no circular-reference markers: the sequence is flat
            CANONICAL_ENCODER.default,
            json.encoder.encode_basestring,  # ensure_ascii=False
            None,  # indent
            ":",
            ",",
            False,  # sort_keys
            False,  # skipkeys
            True,  # allow_nan
        )
        join = "".join

        def encode(fields: Sequence[Any]) -> str:
            return join(iterencode(fields, 0))

        probe = (7, 'q"\\\n\x01\x7f\u2028é😀', None, "")
        if encode(probe) == CANONICAL_ENCODER.encode(probe):
            return encode
    except (TypeError, ValueError):
        pass
    return CANONICAL_ENCODER.encode


_encode = _flat_encoder()


def canonical(fields: Mapping[str, Any]) -> bytes:
    """The bytes a leaf hash covers: the hashed fields as a compact JSON array."""
    return _encode([fields.get(name) for name in HASHED_FIELDS]).encode()


def event_fields(row: AuditEvent) -> dict[str, Any]:
    return {name: getattr(row, name) for name in HASHED_FIELDS}


def chain(prev_hash: str, leaf: bytes) -> str:
    return hashlib.sha256(bytes.fromhex(prev_hash) + leaf).hexdigest()


# --- sealing ------------------------------------------------------------------------------


def _lock_head(session: Session) -> AuditHead:
    # The UPDATE takes the lock (PostgreSQL row lock, SQLite write lock) before the head is
    # read: sealers queue, writers never touch this row.
    session.execute(update(AuditHead).where(AuditHead.id == 1).values(seq=AuditHead.seq))
    head = session.execute(select(AuditHead).where(AuditHead.id == 1)).scalar_one_or_none()
    if head is None:
        head = AuditHead(id=1, seq=0, hash=GENESIS_HASH, frontier=[])
        session.add(head)
        session.flush()
    return head


class LogDamaged(Conflict):
    """A sealed event lies beyond the sealer's head: someone wrote past the service."""

    def __init__(self, stray: int, head: int) -> None:
        super().__init__(
            f"Event {stray} lies beyond the last sealed event ({head}); sealing stops until the "
            "log is investigated (exchange audit verify).",
            code="audit_log_damaged",
        )


def seal_mac(key: bytes, chain_hash: bytes) -> str:
    """The event's seal: HMAC-SHA256 of its chain hash under the audit seal key."""
    return hmac.digest(key, chain_hash, "sha256").hex()


def _hmac_pads(key: bytes) -> tuple[Any, Any]:
    """HMAC-SHA256 under ``key`` (RFC 2104) as the two SHA-256 states that have absorbed the
    padded key: per event, ``outer.copy()`` fed ``inner.copy()``'s digest of the message is
    ``seal_mac``, in half the time of copying an ``hmac`` object."""
    block = hashlib.sha256().block_size
    if len(key) > block:
        key = hashlib.sha256(key).digest()
    key = key.ljust(block, b"\0")
    inner = hashlib.sha256(bytes(byte ^ 0x36 for byte in key))
    outer = hashlib.sha256(bytes(byte ^ 0x5C for byte in key))
    return inner, outer


# The mapped class types its table as a FromClause; it is the Table.
_EVENTS: Table = AuditEvent.__table__  # type: ignore[assignment]


def _unsealed(session: Session, batch: int) -> Iterator[Sequence[Any]]:
    """Committed unsealed events in id order, ``(id, *CONTENT_FIELDS)``, batch by batch.

    Each batch starts after the last id of the one before: asking again for "the first
    unsealed rows" would walk, every time, the index entries of the rows this transaction
    has just sealed (they stay in the partial index until vacuum), which made sealing a
    large backlog quadratic. An event committed meanwhile with a lower id is sealed next time.
    """
    query = (
        select(_EVENTS.c.id, *(_EVENTS.c[name] for name in CONTENT_FIELDS))
        .where(_EVENTS.c.seq.is_(None))
        .order_by(_EVENTS.c.id)
        .limit(batch)
    )
    last = 0
    while rows := session.execute(query.where(_EVENTS.c.id > last)).all():
        yield rows
        last = rows[-1][0]


# PostgreSQL: one statement per batch. The new values travel as array literals (a join of
# hex strings costs next to nothing, where adapting a list costs microseconds per element)
# and are joined on the primary key within the batch's id range, so that the planner never
# scans the whole table for the join. An executemany would run one UPDATE per event.
_WRITE_SEALS_POSTGRESQL = text(
    """
    UPDATE audit_event AS event
    SET seq = new.seq, leaf_hash = new.leaf_hash, hash = new.hash, seal_mac = new.seal_mac
    FROM unnest(CAST(:id AS bigint[]), CAST(:seq AS bigint[]), CAST(:leaf_hash AS text[]),
                CAST(:hash AS text[]), CAST(:seal_mac AS text[]))
         AS new(id, seq, leaf_hash, hash, seal_mac)
    WHERE event.id = new.id AND event.id BETWEEN :first_id AND :last_id
    """
)
# Elsewhere (SQLite): one executemany of an UPDATE by primary key.
_WRITE_SEALS = (
    update(_EVENTS)
    .where(_EVENTS.c.id == bindparam("b_id"))
    .values(
        seq=bindparam("b_seq"),
        leaf_hash=bindparam("b_leaf_hash"),
        hash=bindparam("b_hash"),
        seal_mac=bindparam("b_seal_mac"),
    )
)


def _seals_statement(dialect: str, columns: dict[str, list[Any]]) -> tuple[Any, Any]:
    """The statement and parameters that store seq, leaf_hash, hash and seal_mac of a batch
    (ids ascending), given column by column."""
    if dialect == "postgresql":
        # Integers and hex digits need no quoting in an array literal.
        arrays = {name: "{" + ",".join(map(str, values)) + "}" for name, values in columns.items()}
        ids = columns["id"]
        return _WRITE_SEALS_POSTGRESQL, {**arrays, "first_id": ids[0], "last_id": ids[-1]}
    names = [f"b_{name}" for name in columns]
    rows = zip(*columns.values(), strict=True)
    return _WRITE_SEALS, [dict(zip(names, row, strict=True)) for row in rows]


class _Chain:
    """The sealer's running state: the last sequence number, the chain head and the tree."""

    def __init__(self, head: AuditHead, key: bytes) -> None:
        self.seq = head.seq
        self.link = bytes.fromhex(head.hash)
        self.tree = merkle.TreeBuilder.from_frontier(
            head.seq, [bytes.fromhex(h) for h in head.frontier]
        )
        self._pads = _hmac_pads(key)

    def seal(self, rows: Sequence[Any]) -> dict[str, list[Any]]:
        """Sequence and hash ``(id, *CONTENT_FIELDS)`` rows: the values to store, by column.

        The hot loop: per event the bytes of canonical(), leaf_hash(), chain() and
        seal_mac(), one JSON encoding, two SHA-256 and an HMAC from copies of the keyed states.
        """
        encode, sha256, leaf_prefix = _encode, hashlib.sha256, merkle.LEAF_PREFIX
        (inner, outer), seq, link = self._pads, self.seq, self.link
        leaves: list[bytes] = []
        links: list[str] = []
        stamps: list[str] = []
        for row in rows:
            seq += 1
            leaf = sha256(leaf_prefix + encode((seq, *row[1:])).encode()).digest()
            link = sha256(link + leaf).digest()
            digest = inner.copy()
            digest.update(link)
            stamp = outer.copy()
            stamp.update(digest.digest())
            leaves.append(leaf)
            links.append(link.hex())
            stamps.append(stamp.hexdigest())
        self.tree.extend(leaves)
        columns = {
            "id": [row[0] for row in rows],
            "seq": list(range(self.seq + 1, seq + 1)),
            "leaf_hash": [leaf.hex() for leaf in leaves],
            "hash": links,
            "seal_mac": stamps,
        }
        self.seq, self.link = seq, link
        return columns


def seal(session: Session, keys: KeyStore, batch: int = 5000) -> int:
    """Sequence, hash and chain every committed unsealed event; the caller commits.

    Refuses (``LogDamaged``) when a sealed row already lies beyond the head: continuing
    would chain new events onto a forgery or collide with its sequence number."""
    head = _lock_head(session)
    stray = session.execute(
        select(func.min(AuditEvent.seq)).where(AuditEvent.seq > head.seq)
    ).scalar()
    if stray is not None:
        raise LogDamaged(int(stray), head.seq)
    state = _Chain(head, keys.audit_seal_key)
    connection = session.connection()
    dialect = connection.dialect.name
    # The database stores one batch while the next is hashed: one writer thread, and the
    # connection used by one thread at a time (the next batch is read only once the writer
    # is done), so the statements run in the same order as without it.
    batches = _unsealed(session, batch)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="audit-seal") as writer:
        stored: Future[Any] | None = None
        rows = next(batches, None)
        while rows is not None:
            statement, parameters = _seals_statement(dialect, state.seal(rows))
            if stored is not None:
                stored.result()
            rows = next(batches, None)
            stored = writer.submit(connection.execute, statement, parameters)
        if stored is not None:
            stored.result()
    total = state.seq - head.seq
    head.seq, head.hash = state.seq, state.link.hex()
    head.frontier = [node.hex() for node in state.tree.frontier]
    session.flush()
    return total


def checkpoint(
    session: Session, keys: KeyStore, issuer: str, *, min_interval: int = 60, force: bool = False
) -> AuditCheckpoint | None:
    """Seal, then sign the tree if it grew and the last checkpoint is ``min_interval`` s old."""
    seal(session, keys=keys)
    head = _lock_head(session)
    last = session.execute(
        select(AuditCheckpoint).order_by(AuditCheckpoint.tree_size.desc()).limit(1)
    ).scalar_one_or_none()
    now = utcnow()
    if last is not None:
        if last.tree_size == head.seq:
            return None
        if not force and (now - last.created_at).total_seconds() < min_interval:
            return None
    if head.seq == 0:
        return None
    builder = merkle.TreeBuilder.from_frontier(head.seq, [bytes.fromhex(h) for h in head.frontier])
    body = {
        "iss": issuer,
        "tree_size": head.seq,
        "root_hash": builder.root().hex(),
        "chain_hash": head.hash,
        "timestamp": rfc3339(now),
    }
    key = keys.signing_key
    signed = jws.serialize_compact(
        {"alg": SIGNING_ALG, "kid": key.kid, "typ": CHECKPOINT_TYP},
        json.dumps(body, separators=(",", ":"), sort_keys=True).encode(),
        key,
        algorithms=[SIGNING_ALG],
    )
    row = AuditCheckpoint(
        tree_size=head.seq,
        root_hash=body["root_hash"],
        chain_hash=head.hash,
        created_at=now,
        jws=signed,
    )
    session.add(row)
    session.flush()
    _offer_to_every_organization(session, row)
    return row


def _offer_to_every_organization(session: Session, row: AuditCheckpoint) -> None:
    """Each organization receives the signed checkpoint: evidence that a later wipe or
    rewrite of the log contradicts, held outside the service's database."""
    from exchange.registry.models import Organization
    from exchange.webhooks.outbox import notify

    everyone = session.execute(select(Organization.id)).scalars()
    notify(session, everyone, "audit.checkpoint", {"tree_size": row.tree_size, "jws": row.jws})


def read_checkpoint(token: str, keys: KeySet) -> dict[str, Any]:
    """The body of a checkpoint JWS, after checking its signature (ValueError otherwise)."""
    try:
        verified = jws.deserialize_compact(token.strip(), keys, algorithms=[SIGNING_ALG])
        body = json.loads(verified.payload)
    except (JoseError, ValueError) as exc:
        raise ValueError("not a checkpoint signed by this service") from exc
    if not isinstance(body, dict) or not {"tree_size", "root_hash", "chain_hash"} <= body.keys():
        raise ValueError("not a checkpoint signed by this service")
    return body


# --- verification -----------------------------------------------------------------------


@dataclass(frozen=True)
class Report:
    ok: bool
    verified_through: int
    first_bad_seq: int | None
    events: int
    checkpoints: int
    unsealed: int
    problem: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "verified_through": self.verified_through,
            "first_bad_seq": self.first_bad_seq,
            "events": self.events,
            "checkpoints": self.checkpoints,
            "unsealed": self.unsealed,
            "problem": self.problem,
        }


_VERIFIED_COLUMNS = [
    *(_EVENTS.c[name] for name in HASHED_FIELDS),
    _EVENTS.c.leaf_hash,
    _EVENTS.c.hash,
    _EVENTS.c.seal_mac,
]


def _sealed_batches(session: Session, batch: int) -> Iterator[Sequence[Any]]:
    """Sealed events in seq order, ``(*HASHED_FIELDS, leaf_hash, hash, seal_mac)``, batch by
    batch (never all in memory), as the driver's own tuples: at a million events building
    SQLAlchemy rows costs a quarter of the verification."""
    connection = session.connection()
    query = (
        select(*_VERIFIED_COLUMNS)
        .where(_EVENTS.c.seq.is_not(None))
        .order_by(_EVENTS.c.seq)
        .limit(batch)
    )
    cursor = connection.connection.cursor()
    try:
        last = 0
        while True:
            # The only value bound into the text is the integer ``last``.
            sql = query.where(_EVENTS.c.seq > last).compile(
                dialect=connection.dialect, compile_kwargs={"literal_binds": True}
            )
            cursor.execute(str(sql))
            rows = cursor.fetchall()
            if not rows:
                return
            yield rows
            last = rows[-1][0]
    finally:
        cursor.close()


def verify(
    session: Session,
    keys: KeyStore,
    *,
    extra_checkpoints: list[dict[str, Any]] | None = None,
    batch: int = 10000,
    progress: Callable[[int, int], None] | None = None,
) -> Report:
    """Recompute leaves, chain and tree; compare with every signed checkpoint. ``progress``,
    if given, hears ``(events checked, sealed events)`` after each batch."""
    verification_keys = keys.verification_keys()
    checkpoints: list[dict[str, Any]] = []
    forged: list[str] = []
    for signed in session.execute(
        select(AuditCheckpoint).order_by(AuditCheckpoint.tree_size)
    ).scalars():
        try:
            checkpoints.append(read_checkpoint(signed.jws, verification_keys))
        except ValueError:
            # The events are still checked: a forged checkpoint says nothing about which
            # event is bad, so it names none unless the events themselves fail.
            forged.append(f"checkpoint at size {signed.tree_size} has a bad signature")
    checkpoints += extra_checkpoints or []
    checkpoints.sort(key=lambda body: int(body["tree_size"]))
    head = session.get(AuditHead, 1)
    unsealed = session.query(AuditEvent).filter(AuditEvent.seq.is_(None)).count()
    # Counting costs a query, so only when someone is watching.
    total = (
        session.query(AuditEvent).filter(AuditEvent.seq.is_not(None)).count()
        if progress is not None
        else 0
    )

    builder = merkle.TreeBuilder()
    pending = list(checkpoints)
    last_good_checkpoint = 0

    def bad(seq: int, problem: str) -> Report:
        return Report(False, seq - 1, seq, builder.size, len(checkpoints), unsealed, problem)

    # The hot loop: per event the same bytes as canonical(), leaf_hash(), chain() and
    # seal_mac(), one JSON encoding, two SHA-256 and an HMAC from copies of the keyed states.
    # The Merkle tree grows a batch at a time, stopping at each checkpoint's size.
    encode, sha256, leaf_prefix = _encode, hashlib.sha256, merkle.LEAF_PREFIX
    fields = len(HASHED_FIELDS)
    inner, outer = _hmac_pads(keys.audit_seal_key)
    link, expected, sealed_with_mac = bytes.fromhex(GENESIS_HASH), 1, False
    beyond = head.seq if head is not None else None
    for rows in _sealed_batches(session, batch):
        leaves: list[bytes] = []
        problem: tuple[int, str] | None = None
        for row in rows:
            seq = row[0]
            if beyond is not None and seq > beyond:
                problem = (seq, "an event lies beyond the last one the service sealed")
                break
            if seq != expected:
                problem = (expected, "an event is missing or out of order")
                break
            leaf = sha256(leaf_prefix + encode(row[:fields]).encode()).digest()
            if row[fields] != leaf.hex():
                problem = (expected, "an event's content was changed")
                break
            link = sha256(link + leaf).digest()
            if row[fields + 1] != link.hex():
                problem = (expected, "the hash chain is broken")
                break
            stamp = row[fields + 2]
            if stamp is not None:
                sealed_with_mac = True
                digest = inner.copy()
                digest.update(link)
                mac = outer.copy()
                mac.update(digest.digest())
                if stamp != mac.hexdigest():
                    problem = (expected, "an event and the hashes after it were rewritten")
                    break
            elif sealed_with_mac:
                problem = (expected, "an event's seal was removed")
                break
            leaves.append(leaf)
            expected += 1
        # The leaves that passed, up to each checkpoint they reach, then the rest.
        first = builder.size
        while pending and first < int(pending[0]["tree_size"]) <= first + len(leaves):
            body = pending.pop(0)
            size = int(body["tree_size"])
            builder.extend(leaves[builder.size - first : size - first])
            chain_hash = rows[size - first - 1][fields + 1]  # as stored, and verified above
            if body["root_hash"] != builder.root().hex() or body["chain_hash"] != chain_hash:
                # The stored hashes were rewritten consistently; the signed checkpoint was not.
                return Report(
                    False,
                    last_good_checkpoint,
                    last_good_checkpoint + 1,
                    builder.size,
                    len(checkpoints),
                    unsealed,
                    f"events after {last_good_checkpoint} differ from "
                    f"checkpoint {body['tree_size']}",
                )
            last_good_checkpoint = size
        builder.extend(leaves[builder.size - first :])
        if progress is not None:
            progress(builder.size, total)
        if problem is not None:
            return bad(*problem)
    size, prev = builder.size, link.hex()
    if pending:
        return bad(
            size + 1, f"the log ends at {size} but a checkpoint covers {pending[-1]['tree_size']}"
        )
    if head is not None and (head.seq != size or head.hash != prev):
        return bad(size + 1, "the log's tail was cut off")
    if forged:
        return Report(False, size, None, size, len(checkpoints), unsealed, "; ".join(forged))
    return Report(True, size, None, size, len(checkpoints), unsealed)


def leaf_hashes(session: Session, size: int) -> list[bytes]:
    """The first ``size`` leaf hashes, for proofs."""
    rows = session.execute(
        select(AuditEvent.leaf_hash)
        .where(AuditEvent.seq.is_not(None), AuditEvent.seq <= size)
        .order_by(AuditEvent.seq)
    ).scalars()
    return [bytes.fromhex(value) for value in rows if value]
