"""The auditor's queries: search, export, verification, checkpoints and proofs."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, or_, select, true, union_all
from sqlalchemy.orm import aliased

from adapters.db import rfc3339, utcnow
from adapters.keys import KeyStore
from consent.identifiers import InvalidIdentifier, normalize_hetu
from consent.vocabulary import SUPERVISOR
from exchange.audit import merkle
from exchange.audit import service as log
from exchange.audit.export import EXPORT_FIELDS, PLAIN, CsvForm, csv_chunks
from exchange.audit.models import AuditCheckpoint, AuditEvent
from exchange.consents.models import consents_party_to
from exchange.errors import Denial, FieldError, Invalid, NotFound
from exchange.packets.models import packets_party_to
from exchange.policy import Identity
from exchange.registry.models import Organization
from exchange.unit import UnitOfWork

# What a search by an identity code nobody has becomes: it matches no event, and says so
# in the search's own audit event without the code.
NO_SUCH_CLIENT = "no client has the identity code searched for"
# Anything shaped like an identity code (valid or not) is treated as one: a mistyped code is
# as personal as a correct one.
_HETU_LIKE = re.compile(r"^\s*[0-9]{6}[-+A-FU-Y][0-9]{3}[0-9A-Y]\s*$", re.IGNORECASE)


def looks_like_hetu(value: str) -> bool:
    return bool(_HETU_LIKE.match(value))


EXPORT_BATCH = 2000
# The auditor's start page: the refusals of the last week, at most this many.
RECENT_DAYS = 7
RECENT_LIMIT = 100
DENIED = "denied"


# The resource types whose ``resource_id`` is a packet id, and those whose id is a consent id.
PACKET_RESOURCES = ("packet", "packet_events")
CONSENT_RESOURCES = ("consent", "consent_receipt")


@dataclass(frozen=True)
class Scope:
    """Which events an auditor sees: with ``organization`` None (a supervisor's auditor) the
    whole log; otherwise the events of that organization's people and systems, and every event
    about a packet or consent it is party to (whoever acted: who read what it sent)."""

    organization: str | None

    def branches(self, actor_organization: str | None = None) -> list[ColumnElement[bool]]:
        """The scope as disjoint conditions, each one an index can answer on its own; with
        ``actor_organization`` (the search's ``organization`` filter), only events by it."""
        own = self.organization
        if own is None:
            return (
                [AuditEvent.actor_organization == actor_organization]
                if actor_organization
                else [true()]
            )
        if actor_organization == own:
            return [AuditEvent.actor_organization == own]
        others = (
            AuditEvent.actor_organization == actor_organization
            if actor_organization is not None
            else or_(AuditEvent.actor_organization.is_(None), AuditEvent.actor_organization != own)
        )
        about = [
            and_(
                others,
                AuditEvent.resource_type.in_(PACKET_RESOURCES),
                AuditEvent.resource_id.in_(packets_party_to(own)),
            ),
            and_(
                others,
                AuditEvent.resource_type.in_(CONSENT_RESOURCES),
                AuditEvent.resource_id.in_(consents_party_to(own)),
            ),
        ]
        return (
            about
            if actor_organization is not None
            else [AuditEvent.actor_organization == own, *about]
        )

    def contains(self) -> ColumnElement[bool]:
        """The scope as one condition (for a single event)."""
        return or_(*self.branches())


class AuditQueries:
    """An auditor's view of the log (``Scope``): its own organization's events and those about
    the packets and consents it is party to, or all of it for a supervisor's auditor; every
    search, export, verification and proof is itself audited."""

    def __init__(self, uow: UnitOfWork, keys: KeyStore, issuer: str) -> None:
        self.uow = uow
        self.session = uow.session
        self.keys = keys
        self.issuer = issuer

    # --- searching ----------------------------------------------------------------------

    def scope(self, identity: Identity) -> Scope:
        """What ``identity``'s auditor may see of the log."""
        organization = self.session.get(Organization, identity.organization)
        if organization is not None and organization.kind == SUPERVISOR:
            return Scope(None)
        return Scope(identity.organization)

    def _filters(self, args: dict[str, Any]) -> list[ColumnElement[bool]]:
        filters: list[ColumnElement[bool]] = [AuditEvent.seq.is_not(None)]
        if "client_id" in args:
            filters.append(AuditEvent.client_ref == args["client_id"])
        if "actor" in args:
            filters.append(
                or_(
                    AuditEvent.actor_user == args["actor"], AuditEvent.actor_client == args["actor"]
                )
            )
        for name in ("action", "outcome"):
            if name in args:
                filters.append(getattr(AuditEvent, name) == args[name])
        if "from_" in args:
            filters.append(AuditEvent.occurred_at >= rfc3339(args["from_"]))
        if "to" in args:
            filters.append(AuditEvent.occurred_at < rfc3339(args["to"]))
        return filters

    def _query(
        self, scope: Scope, args: dict[str, Any], after: int | None, limit: int
    ) -> Select[AuditEvent]:
        """The first ``limit`` matches in the scope after sequence number ``after``, in log
        order. Each branch of the scope is its own ordered, limited query (so each uses its
        index and stops early), and the branches are merged: a UNION ALL, as they are
        disjoint."""
        filters = self._filters(args)
        if after is not None:
            filters.append(AuditEvent.seq > after)
        branches = [
            select(AuditEvent).where(branch, *filters).order_by(AuditEvent.seq).limit(limit)
            for branch in scope.branches(args.get("organization"))
        ]
        if len(branches) == 1:
            return branches[0]
        merged = union_all(*(select(branch.subquery()) for branch in branches)).subquery()
        event = aliased(AuditEvent, merged)
        return select(event).order_by(merged.c.seq).limit(limit)

    def audit_search(self, identity: Identity, args: dict[str, Any]) -> None:
        """An auditor's search is itself an audited read. A client named by identity code is
        turned into the opaque id first (in ``args``, so the search uses it too): the code is
        never written to the log, not even when no client has it."""
        named = args.get("client_id")
        if named is not None and looks_like_hetu(named):
            from exchange.clients.service import ClientService

            try:
                client = ClientService(self.uow, self.keys).find(normalize_hetu(named.upper()))
            except InvalidIdentifier:
                client = None
            args["client_id"] = client.id if client is not None else NO_SUCH_CLIENT
        shown = {
            k: (v.isoformat() if hasattr(v, "isoformat") else v)
            for k, v in args.items()
            if k != "cursor"
        }
        log.record(
            self.session,
            identity,
            "audit.read",
            resource_type="audit_events",
            client_ref=args.get("client_id"),
            reason=json.dumps(shown, sort_keys=True),
        )

    def page(self, identity: Identity, args: dict[str, Any]) -> dict[str, Any]:
        limit = args["limit"]
        after = int(args["cursor"]) if "cursor" in args else None
        query = self._query(self.scope(identity), args, after, limit + 1)
        rows = list(self.session.execute(query).scalars())
        next_cursor = str(rows[limit - 1].seq) if len(rows) > limit else None
        return {"items": rows[:limit], "next_cursor": next_cursor}

    def export(
        self, identity: Identity, args: dict[str, Any], form: CsvForm = PLAIN
    ) -> tuple[Iterator[str], str]:
        """Every match as CSV (written in ``form``) or JSON lines, produced batch by batch
        (never all in memory)."""
        scope = self.scope(identity)
        session = self.session

        def rows() -> Iterator[AuditEvent]:
            # The stream runs after the request's unit of work has ended: its reads open a
            # transaction of their own, which must end with the stream, finished or abandoned
            # (an open one would hold a connection, and on SQLite the write lock).
            last = 0
            try:
                while True:
                    batch = list(
                        session.execute(self._query(scope, args, last, EXPORT_BATCH)).scalars()
                    )
                    if not batch:
                        return
                    yield from batch
                    last = batch[-1].seq or last
                    session.expunge_all()
            finally:
                session.close()

        if args["format"] == "jsonl":

            def lines() -> Iterator[str]:
                for row in rows():
                    yield (
                        json.dumps(
                            {name: getattr(row, name) for name in EXPORT_FIELDS}, ensure_ascii=False
                        )
                        + "\n"
                    )

            return lines(), "application/x-ndjson"

        return csv_chunks(rows(), form), "text/csv"

    def recent_denials(
        self, identity: Identity, days: int = RECENT_DAYS, limit: int = RECENT_LIMIT
    ) -> list[AuditEvent]:
        """The refusals of the last ``days`` days in the auditor's scope, newest first (at
        most ``limit``); pending events are sealed first so the newest are included. Audited
        as a search of the log."""
        with suppress(log.LogDamaged):  # the verification on the audit page names the damage
            log.seal(self.session, keys=self.keys)
        since = rfc3339(utcnow() - dt.timedelta(days=days))
        filters = [
            AuditEvent.seq.is_not(None),
            AuditEvent.outcome == DENIED,
            AuditEvent.occurred_at >= since,
        ]
        branches = [
            select(AuditEvent).where(branch, *filters).order_by(AuditEvent.seq.desc()).limit(limit)
            for branch in self.scope(identity).branches()
        ]
        query = branches[0]
        if len(branches) > 1:
            merged = union_all(*(select(branch.subquery()) for branch in branches)).subquery()
            event = aliased(AuditEvent, merged)
            query = select(event).order_by(merged.c.seq.desc()).limit(limit)
        log.record(
            self.session,
            identity,
            "audit.read",
            resource_type="audit_events",
            reason=json.dumps({"outcome": DENIED, "from": since}, sort_keys=True),
        )
        return list(self.session.execute(query).scalars())

    # --- integrity ----------------------------------------------------------------------

    def verify(self, identity: Identity, kept: str | None = None) -> log.Report:
        """Seal what is pending, then recompute the log; ``kept`` is a checkpoint JWS the
        auditor saved earlier, which the log must still contain (a wipe or cut shows)."""
        extra = []
        if kept is not None:
            try:
                extra.append(log.read_checkpoint(kept, self.keys.verification_keys()))
            except ValueError as exc:
                raise Invalid(
                    "The checkpoint is not one this service signed.",
                    errors=[FieldError("checkpoint", str(exc))],
                ) from exc
        with suppress(log.LogDamaged):  # nothing more is sealed; the report names the damage
            log.seal(self.session, keys=self.keys)
        report = log.verify(self.session, self.keys, extra_checkpoints=extra)
        log.record(
            self.session,
            identity,
            "audit.read",
            resource_type="audit_verify",
            reason=f"ok={report.ok}",
        )
        return report

    def checkpoints(self, identity: Identity) -> list[AuditCheckpoint]:
        log.record(self.session, identity, "audit.read", resource_type="audit_checkpoints")
        return list(
            self.session.execute(
                select(AuditCheckpoint).order_by(AuditCheckpoint.tree_size.desc())
            ).scalars()
        )

    def checkpoint_now(self, identity: Identity) -> AuditCheckpoint:
        log.record(
            self.session,
            identity,
            "audit.read",
            resource_type="audit_checkpoint",
            reason="on demand",
        )
        self.session.flush()
        made = log.checkpoint(self.session, self.keys, self.issuer, force=True)
        if made is not None:
            return made
        latest = self.session.execute(
            select(AuditCheckpoint).order_by(AuditCheckpoint.tree_size.desc()).limit(1)
        ).scalar_one()
        return latest

    def _checkpoint_at(self, size: int | None) -> AuditCheckpoint:
        query = select(AuditCheckpoint)
        query = (
            query.where(AuditCheckpoint.tree_size == size)
            if size
            else query.order_by(AuditCheckpoint.tree_size.desc())
        )
        found = self.session.execute(query.limit(1)).scalar_one_or_none()
        if found is None:
            raise NotFound("No signed checkpoint of that size.", code="checkpoint_not_found")
        return found

    def inclusion(self, identity: Identity, seq: int, tree_size: int | None) -> dict[str, Any]:
        event = self.session.execute(
            select(AuditEvent).where(AuditEvent.seq == seq, self.scope(identity).contains())
        ).scalar_one_or_none()
        if event is None or event.leaf_hash is None:
            raise self.uow.refuse(
                NotFound("No such event.", code="event_not_found"),
                Denial("audit.read", "audit_event", str(seq)),
            )
        point = self._checkpoint_at(tree_size)
        if seq > point.tree_size:
            raise Invalid(
                "The event is newer than that checkpoint.",
                errors=[FieldError("tree_size", f"Must be at least {seq}.")],
            )
        leaves = log.leaf_hashes(self.session, point.tree_size)
        proof = merkle.inclusion_proof(leaves, seq - 1, point.tree_size)
        log.record(
            self.session, identity, "audit.read", resource_type="audit_proof", resource_id=str(seq)
        )
        return {
            "seq": seq,
            "leaf_index": seq - 1,
            "leaf_hash": event.leaf_hash,
            "tree_size": point.tree_size,
            "root_hash": point.root_hash,
            "proof": [node.hex() for node in proof],
            "checkpoint": point.jws,
        }

    def consistency(self, identity: Identity, old: int, new: int) -> dict[str, Any]:
        if old > new:
            raise Invalid(
                "'from' must not be larger than 'to'.",
                errors=[FieldError("from", "Larger than 'to'.")],
            )
        first, second = self._checkpoint_at(old), self._checkpoint_at(new)
        leaves = log.leaf_hashes(self.session, new)
        proof = merkle.consistency_proof(leaves, old, new)
        log.record(
            self.session,
            identity,
            "audit.read",
            resource_type="audit_consistency",
            resource_id=f"{old}-{new}",
        )
        return {
            "from_": old,
            "to": new,
            "from_root": first.root_hash,
            "to_root": second.root_hash,
            "proof": [node.hex() for node in proof],
        }
