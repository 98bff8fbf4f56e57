"""The auditor's queries: search, export, verification, checkpoints and proofs."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from contextlib import suppress
from typing import Any

from sqlalchemy import Select, or_, select

from adapters.db import rfc3339
from adapters.keys import KeyStore
from consent.identifiers import InvalidIdentifier, normalize_hetu
from exchange.audit import merkle
from exchange.audit import service as log
from exchange.audit.models import AuditCheckpoint, AuditEvent
from exchange.errors import Denial, FieldError, Invalid, NotFound
from exchange.policy import Identity
from exchange.unit import UnitOfWork

EXPORT_FIELDS = ("seq", *log.HASHED_FIELDS[1:], "leaf_hash")
# What a search by an identity code nobody has becomes: it matches no event, and says so
# in the search's own audit event without the code.
NO_SUCH_CLIENT = "no client has the identity code searched for"
# Anything shaped like an identity code (valid or not) is treated as one: a mistyped code is
# as personal as a correct one.
_HETU_LIKE = re.compile(r"^\s*[0-9]{6}[-+A-FU-Y][0-9]{3}[0-9A-Y]\s*$", re.IGNORECASE)


def looks_like_hetu(value: str) -> bool:
    return bool(_HETU_LIKE.match(value))


EXPORT_BATCH = 2000


class AuditQueries:
    """An auditor's view of the log: only events their own organization's people and systems
    caused; every search, export, verification and proof is itself audited."""

    def __init__(self, uow: UnitOfWork, keys: KeyStore, issuer: str) -> None:
        self.uow = uow
        self.session = uow.session
        self.keys = keys
        self.issuer = issuer

    # --- searching ----------------------------------------------------------------------

    def _query(self, organization: str, args: dict[str, Any]) -> Select[Any]:
        query = select(AuditEvent).where(
            AuditEvent.seq.is_not(None), AuditEvent.actor_organization == organization
        )
        if "client_id" in args:
            query = query.where(AuditEvent.client_ref == args["client_id"])
        if "actor" in args:
            query = query.where(
                or_(
                    AuditEvent.actor_user == args["actor"], AuditEvent.actor_client == args["actor"]
                )
            )
        for name in ("action", "outcome"):
            if name in args:
                query = query.where(getattr(AuditEvent, name) == args[name])
        if "from_" in args:
            query = query.where(AuditEvent.occurred_at >= rfc3339(args["from_"]))
        if "to" in args:
            query = query.where(AuditEvent.occurred_at < rfc3339(args["to"]))
        return query

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
        query = self._query(identity.organization, args)
        if "cursor" in args:
            query = query.where(AuditEvent.seq > int(args["cursor"]))
        limit = args["limit"]
        rows = list(self.session.execute(query.order_by(AuditEvent.seq).limit(limit + 1)).scalars())
        next_cursor = str(rows[limit - 1].seq) if len(rows) > limit else None
        return {"items": rows[:limit], "next_cursor": next_cursor}

    def export(self, identity: Identity, args: dict[str, Any]) -> tuple[Iterator[str], str]:
        """Every match as CSV or JSON lines, produced batch by batch (never all in memory)."""
        base = self._query(identity.organization, args)
        session = self.session

        def rows() -> Iterator[AuditEvent]:
            # The stream runs after the request's unit of work has ended: its reads open a
            # transaction of their own, which must end with the stream, finished or abandoned
            # (an open one would hold a connection, and on SQLite the write lock).
            last = 0
            try:
                while True:
                    batch = list(
                        session.execute(
                            base.where(AuditEvent.seq > last)
                            .order_by(AuditEvent.seq)
                            .limit(EXPORT_BATCH)
                        ).scalars()
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

        def csv_lines() -> Iterator[str]:
            buffer = io.StringIO()
            writer = csv.writer(buffer)
            writer.writerow(EXPORT_FIELDS)
            for row in rows():
                writer.writerow([_csv_safe(getattr(row, name)) for name in EXPORT_FIELDS])
                if buffer.tell() > 64_000:
                    yield buffer.getvalue()
                    buffer.seek(0)
                    buffer.truncate()
            yield buffer.getvalue()

        return csv_lines(), "text/csv"

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
            select(AuditEvent).where(
                AuditEvent.seq == seq, AuditEvent.actor_organization == identity.organization
            )
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


def _csv_safe(value: Any) -> Any:
    # A cell starting with = + - @ is a formula to a spreadsheet; prefix it so it stays text.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value
    return value
