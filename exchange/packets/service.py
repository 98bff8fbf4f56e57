"""Packet service: submission, reading with the legal basis re-checked, the lifecycle.

A packet is accepted only when every section has a legal basis (a consent in
force or a statute); the basis is checked again on every read and action, and a
packet whose basis is gone is blocked. The sender's original JWS (identity code
and sections included) is stored only encrypted, under a per-packet data key.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from marshmallow import ValidationError
from sqlalchemy import Table, and_, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import load_only

from adapters import envelope
from adapters.crypto import DecryptionError
from adapters.db import insert_unless_exists, rfc3339, utcnow
from adapters.keys import KeyStore
from adapters.pagination import Page, newest_first
from consent.decision import Decision, DisclosureRequest, decide
from consent.model import ConsentRecord, local_date
from consent.statutes import StatuteTable
from consent.vocabulary import SUPERVISOR, TRANSFER
from exchange import audit, policy
from exchange.config import SETTINGS
from exchange.consents.models import Consent
from exchange.consents.service import consent_records, to_record
from exchange.continuity.escort import EscortService
from exchange.continuity.service import ContinuityService, named_client
from exchange.errors import Conflict, Corrupted, Denial, FieldError, Forbidden, Invalid, NotFound
from exchange.packets import lifecycle
from exchange.packets.lifecycle import PacketTransitionError
from exchange.packets.models import IdempotencyRecord, Packet, PacketEvent
from exchange.packets.presenters import META_COLUMNS
from exchange.packets.signing import sign_receipt, verify_packet
from exchange.periods.models import ServicePeriod
from exchange.policy import Identity
from exchange.registry.cache import OrganizationEntry, RegistryCache, RegistryView, UserEntry
from exchange.registry.service import supervisor_errors
from exchange.unit import UnitOfWork
from exchange.webhooks.outbox import notify
from schemas import flatten_errors, strictjson
from schemas.packets import PacketPayload
from schemas.sections import SYNTHESIS_MAX_LENGTH, check_sections, plan_actions

# Who blocks a packet whose legal basis is gone when a read or an action finds it so.
SYSTEM = Identity.service("system")
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Submitted:
    status_code: int
    body: dict[str, Any]


@dataclass(frozen=True)
class Opened:
    packet: Packet
    sections: list[dict[str, Any]]
    jws: str


@dataclass(frozen=True)
class ReadBack:
    """What the receiver reads back when accepting: the plan's action ids, and optionally
    the hand-over in their own words (client data: stored only sealed)."""

    acknowledged_actions: tuple[str, ...] = ()
    synthesis: str | None = None


# The envelope part of a packet that holds the receiver's synthesis.
SYNTHESIS_PART = "synthesis"


# Who hears of a packet's new status: the party that did not cause it.
NOTIFIED: dict[str, Callable[[Packet], list[str]]] = {
    lifecycle.ACCEPTED: lambda row: [row.sender_org],
    lifecycle.DECLINED: lambda row: [row.sender_org],
    lifecycle.EXPIRED: lambda row: [row.sender_org],
    lifecycle.WITHDRAWN: lambda row: [row.recipient_org],
    lifecycle.BLOCKED: lambda row: [row.sender_org, row.recipient_org],
}


# Built once: a schema holds no state between loads.
PACKET_PAYLOAD = PacketPayload()
PACKET_TABLE = cast(Table, Packet.__table__)


def request_digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


class PacketService:
    def __init__(
        self,
        uow: UnitOfWork,
        keys: KeyStore,
        statutes: StatuteTable,
        first_contact_days: int = SETTINGS["FIRST_CONTACT_DAYS"].default,
        registry: RegistryView | None = None,
    ) -> None:
        self.uow = uow
        self.session = uow.session
        self.keys = keys
        # Organizations and people as the process caches them (a private cache otherwise).
        self.registry = registry or RegistryCache().view(self.session)
        self.statutes = statutes
        self.first_contact_days = first_contact_days
        self.continuity = ContinuityService(uow)
        self.escorts = EscortService(uow)

    # --- legal basis ------------------------------------------------------------------

    def _organization(self, organization_id: str) -> OrganizationEntry:
        """A registered organization the packet names (the foreign keys keep them)."""
        found = self.registry.organization(organization_id)
        if found is None:
            raise LookupError(f"organization {organization_id!r} is not registered")
        return found

    def _parties_of(self, row: Packet) -> tuple[OrganizationEntry, OrganizationEntry]:
        return self._organization(row.sender_org), self._organization(row.recipient_org)

    def _decide(
        self,
        client_id: str,
        sender: OrganizationEntry,
        recipient: OrganizationEntry,
        purpose: str,
        categories: list[str],
        records: list[ConsentRecord] | None = None,
    ) -> Decision:
        """The decision on ``categories``, over the client's consent records (``records``
        when the caller loaded them already)."""
        return decide(
            consent_records(self.session, client_id) if records is None else records,
            self.statutes,
            DisclosureRequest(
                source=sender.id,
                source_kind=sender.kind,
                recipient=recipient.id,
                recipient_kind=recipient.kind,
                purpose=purpose,
                categories=tuple(categories),
                at=utcnow(),
            ),
        )

    def _recheck(self, row: Packet, action: str) -> Decision:
        """The basis now; when any section lost it, refuse and block the packet (persisted)."""
        sender, recipient = (
            self._organization(row.sender_org),
            self._organization(row.recipient_org),
        )
        decision = self._decide(row.client_id, sender, recipient, row.purpose, row.categories)
        if not decision.allowed:
            refused = [d.category for d in decision.decisions if not d.allowed]
            packet_id = row.id
            reason = f"legal basis gone for {', '.join(refused)}"
            # The refusal rolls the request back; the block must persist all the same.
            self.uow.after_refusal(lambda: self.block(SYSTEM, packet_id, reason))
            raise self.uow.refuse(
                Forbidden(
                    "The legal basis for this packet is gone (consent withdrawn or expired); "
                    "it is blocked.",
                    code="consent_withdrawn",
                    extra={
                        "missing": [{"category": c, "reason": "consent_withdrawn"} for c in refused]
                    },
                ),
                Denial(
                    action,
                    "packet",
                    packet_id,
                    client_ref=row.client_id,
                    reason="consent_withdrawn",
                ),
            )
        return decision

    # --- submission ---------------------------------------------------------------------

    def submit(
        self, identity: Identity, token: str, idempotency_key: str | None, body: bytes
    ) -> Submitted:
        """Verify, check, encrypt and store a packet the caller's organization sends (through
        its system, ``identity.client_id``); with an ``Idempotency-Key`` a retry gets the
        stored answer (same body) or 422 (another body)."""
        oauth_client = identity.client_id
        digest = request_digest(body)
        if idempotency_key is not None:
            stored = self.session.get(IdempotencyRecord, (oauth_client, idempotency_key))
            if stored is not None:
                return self._replay(stored, digest)
        race = IdempotentRace(oauth_client, idempotency_key, digest) if idempotency_key else None
        result = self._submit(identity, token, race)
        if idempotency_key is not None:
            try:
                with self.session.begin_nested():
                    self.session.add(
                        IdempotencyRecord(
                            oauth_client=oauth_client,
                            key=idempotency_key,
                            request_sha256=digest,
                            status_code=result.status_code,
                            response=result.body,
                        )
                    )
            except IntegrityError as exc:
                # Another request with this key committed first: theirs is the packet.
                raise IdempotentRace(oauth_client, idempotency_key, digest) from exc
        return result

    def _refuse_duplicate(
        self, organization: str, payload_sha256: str, race: IdempotentRace | None
    ) -> None:
        """409 ``duplicate_packet`` naming the stored packet when this payload was sent before.
        A retry with the first sending's ``Idempotency-Key`` is answered before this; one that
        raced the first sending (``race``) is answered with its stored answer instead."""
        existing = self.session.execute(
            select(Packet.id).where(
                Packet.sender_org == organization, Packet.dedupe_sha256 == payload_sha256
            )
        ).scalar_one_or_none()
        if existing is not None and race is not None:
            stored = self.session.get(IdempotencyRecord, (race.oauth_client, race.key))
            if stored is not None:
                raise race
        if existing is not None:
            raise self.uow.refuse(
                Conflict(
                    "This signed packet was sent already; it is stored once.",
                    code="duplicate_packet",
                    extra={"existing_id": existing},
                ),
                Denial("packet.send", "packet", existing, reason="duplicate_packet"),
            )

    def _replay(self, stored: IdempotencyRecord, digest: str) -> Submitted:
        if stored.request_sha256 != digest:
            raise Invalid(
                "This Idempotency-Key was used with a different body.",
                code="idempotency_key_reused",
                errors=[FieldError("Idempotency-Key", "Used before with a different body.")],
            )
        return Submitted(stored.status_code, dict(stored.response))

    def replay_committed(self, oauth_client: str, key: str, digest: str) -> Submitted:
        """After losing a race on the key: the winner's answer."""
        stored = self.session.get(IdempotencyRecord, (oauth_client, key))
        if stored is None:
            raise Conflict(
                "A request with this Idempotency-Key is still in progress.",
                code="idempotency_in_flight",
            )
        return self._replay(stored, digest)

    def _submit(self, identity: Identity, token: str, race: IdempotentRace | None) -> Submitted:
        organization = identity.organization
        sender = self._organization(organization)
        verified = verify_packet(token, sender.keys)
        payload_sha256 = hashlib.sha256(verified.payload).hexdigest()
        raw = strictjson.loads(verified.payload)
        try:
            payload: dict[str, Any] = PACKET_PAYLOAD.load(raw)
        except ValidationError as exc:
            raise Invalid(
                "The packet has invalid fields.", errors=flatten_errors(exc.messages)
            ) from exc
        if payload["from_"]["organization"] != organization:
            raise self.uow.refuse(
                Forbidden(
                    "from.organization must be your own organization.", code="sender_mismatch"
                ),
                Denial("packet.send", reason="sender_mismatch"),
            )
        today = local_date(utcnow())
        try:
            sections, warnings = check_sections(payload["sections"], today=today)
        except ValidationError as exc:
            raise Invalid(
                "The packet has invalid sections.", errors=flatten_errors(exc.messages)
            ) from exc
        recipient, worker = self._check_parties(payload, organization)
        if payload["kind"] == TRANSFER and payload["respond_by"] < today:
            raise Invalid(
                "The deadline has passed.",
                errors=[FieldError("respond_by", "Must not be in the past.")],
            )
        client = named_client(self.uow, self.keys, identity, payload["client"], with_consents=True)
        self._check_period_references(sections, client.id, organization)
        categories = list(dict.fromkeys(section["type"] for section in sections))
        decision = self._decide(
            client.id,
            sender,
            recipient,
            payload["purpose"],
            categories,
            [to_record(consent) for consent in client.consents],
        )
        if not decision.allowed:
            missing = [
                {"category": d.category, "reason": d.reason_code}
                for d in decision.decisions
                if not d.allowed
            ]
            raise self.uow.refuse(
                Forbidden(
                    "A section has no legal basis; nothing was sent.",
                    code="consent_missing",
                    extra={"missing": missing},
                ),
                Denial(
                    "packet.send",
                    "client",
                    client.id,
                    client_ref=client.id,
                    reason="consent_missing",
                ),
            )
        if payload["kind"] == TRANSFER:
            self.continuity.hold_for_transfer(identity, client.id, worker.username)

        now = utcnow()
        packet_id = str(uuid.uuid4())
        sealed = envelope.encrypt(self.keys, packet_id, client.id, token.encode())
        receipt_document = {
            "packet_id": packet_id,
            "payload_sha256": payload_sha256,
            "received_at": rfc3339(now),
            "from": {"organization": organization, "worker": worker.username},
            "to": {"organization": recipient.id, "worker": payload["to"].get("worker")},
            "kind": payload["kind"],
            "status": lifecycle.SENT,
            "iss": "handover-exchange",
        }
        receipt = sign_receipt(receipt_document, self.keys)
        row = {
            "id": packet_id,
            "client_id": client.id,
            "kind": payload["kind"],
            "purpose": payload["purpose"],
            "status": lifecycle.SENT,
            "sender_org": organization,
            "sender_user": worker.username,
            "recipient_org": recipient.id,
            "recipient_user": payload["to"].get("worker"),
            "respond_by": payload.get("respond_by"),
            "first_contact_by": payload.get("first_contact_by"),
            "case_reference": payload.get("case_reference"),
            "categories": categories,
            "basis": [self._basis(d) for d in decision.decisions],
            "warnings": warnings,
            "payload_sha256": payload_sha256,
            "dedupe_sha256": payload_sha256,
            "signing_kid": verified.header["kid"][:200],
            "ciphertext": sealed.ciphertext,
            "wrapped_key": sealed.wrapped_key,
            "kek_version": sealed.kek_version,
            "receipt": receipt,
            "received_at": now,
        }
        # The unique (sender, payload) index decides a duplicate, also against a concurrent
        # request with the same packet (whose commit the insert waits for).
        if not insert_unless_exists(
            self.session, PACKET_TABLE, row, ("sender_org", "dedupe_sha256")
        ):
            self._refuse_duplicate(organization, payload_sha256, race)
            raise Conflict("The packet is being stored already.", code="duplicate_packet")
        self.session.add(
            PacketEvent(
                packet_id=packet_id,
                at=now,
                action="sent",
                status=lifecycle.SENT,
                organization_id=organization,
                username=worker.username,
            )
        )
        self._audit_with_basis(identity, "packet.send", packet_id, client.id, decision)
        notify(
            self.session,
            [recipient.id],
            "packet.received",
            {"packet_id": packet_id},
            registry=self.registry,
        )
        return Submitted(
            201,
            {"id": packet_id, "status": lifecycle.SENT, "receipt": receipt, "warnings": warnings},
        )

    @staticmethod
    def _basis(item: Any) -> dict[str, Any]:
        return {
            "category": item.category,
            "basis": item.basis,
            "consent_id": item.consent_id,
            "statute": item.statute,
        }

    def _audit_with_basis(
        self, identity: Identity, action: str, packet_id: str, client_id: str, decision: Decision
    ) -> None:
        for item in decision.decisions:
            audit.record(
                self.session,
                identity,
                action,
                resource_type="packet",
                resource_id=packet_id,
                client_ref=client_id,
                basis_type=item.basis,
                basis_ref=item.statute if item.basis == "statute" else item.consent_id,
                reason=item.category,
            )

    def _check_parties(
        self, payload: dict[str, Any], organization: str
    ) -> tuple[OrganizationEntry, UserEntry]:
        errors = []
        worker = self.registry.user(payload["from_"]["worker"])
        if worker is None or not worker.active or worker.organization_id != organization:
            errors.append(FieldError("from.worker", "Not an active worker of your organization."))
        # A supervisor holds no packets:send; this also holds for a client row written past
        # the registry loader.
        errors += supervisor_errors(
            [("from.organization", self.registry.organization(organization))]
        )
        recipient = self.registry.organization(payload["to"]["organization"])
        if recipient is None:
            errors.append(FieldError("to.organization", "Unknown organization."))
        elif recipient.kind == SUPERVISOR:
            errors += supervisor_errors([("to.organization", recipient)])
        elif recipient.id == organization:
            errors.append(FieldError("to.organization", "Send to another organization."))
        elif "worker" in payload["to"]:
            addressee = self.registry.user(payload["to"]["worker"])
            if (
                addressee is None
                or not addressee.active
                or addressee.organization_id != recipient.id
                or not policy.may_hold_lead(addressee.roles)
            ):
                errors.append(FieldError("to.worker", "Not an active worker of the recipient."))
        if errors or recipient is None or worker is None:
            raise Invalid("The packet's parties are not valid.", errors=errors)
        return recipient, worker

    def _check_period_references(
        self, sections: list[dict[str, Any]], client_id: str, organization: str
    ) -> None:
        """A ``service_period`` section may name a recorded period: the sender's own, of
        this client."""
        errors = []
        for index, section in enumerate(sections):
            period_id = section.get("period_id") if section["type"] == "service_period" else None
            if period_id is None:
                continue
            period = self.session.get(ServicePeriod, period_id)
            if period is None or (period.client_id, period.organization_id) != (
                client_id,
                organization,
            ):
                errors.append(
                    FieldError(
                        f"sections[{index}].period_id",
                        "Not a service period your organization recorded for this client.",
                    )
                )
        if errors:
            raise Invalid("A section names an unknown service period.", errors=errors)

    # --- reading ------------------------------------------------------------------------

    def visible(
        self, identity: Identity, packet_id: str, action: str, *, lock: bool = False
    ) -> Packet:
        """The packet if the caller's organization sent or received it; otherwise 404
        (audited). With ``lock`` the row stays locked until commit, so transitions of one
        packet queue up."""
        organization = identity.organization
        query = select(Packet).where(
            Packet.id == packet_id,
            or_(Packet.sender_org == organization, Packet.recipient_org == organization),
        )
        if lock:
            query = query.with_for_update()
        row = self.session.execute(
            query.execution_options(populate_existing=True)
        ).scalar_one_or_none()
        if row is None:
            raise self.uow.refuse(
                NotFound("No such packet.", code="packet_not_found"),
                Denial(action, "packet", packet_id[:128]),
            )
        return row

    def status_of(self, row: Packet) -> str:
        return lifecycle.status_at(row.status, row.respond_by, local_date(utcnow()))

    def waiting(self, identity: Identity) -> list[Packet]:
        """Open packets addressed to the caller's organization, the most urgent first."""
        today = local_date(utcnow())
        rows = self.session.execute(
            select(Packet)
            .where(Packet.recipient_org == identity.organization, Packet.status.in_(lifecycle.OPEN))
            .order_by(Packet.respond_by, Packet.received_at)
        ).scalars()
        return [
            row
            for row in rows
            if lifecycle.status_at(row.status, row.respond_by, today) in lifecycle.OPEN
        ]

    def read(self, identity: Identity, packet_id: str) -> Opened:
        """Decrypted sections and the original JWS; the basis is checked again first."""
        organization = identity.organization
        row = self.visible(identity, packet_id, "packet.read")
        if row.shredded_at is not None:
            raise NotFound(
                "The packet's content was destroyed when its retention period ended.",
                code="packet_content_shredded",
            )
        decision = self._recheck(row, "packet.read")
        token = self._open(row)
        if organization == row.recipient_org and self.status_of(row) == lifecycle.SENT:
            now = utcnow()
            row.status, row.delivered_at = lifecycle.DELIVERED, now
            row.events.add(
                PacketEvent(
                    at=now,
                    action="delivered",
                    status=row.status,
                    organization_id=organization,
                    username=identity.username,
                )
            )
        self._audit_with_basis(identity, "packet.read", row.id, row.client_id, decision)
        return Opened(row, _sections_of(token), token)

    def _open(self, row: Packet, action: str = "packet.read") -> str:
        """The original JWS out of its envelope; an integrity failure is an operator matter."""
        try:
            sealed = envelope.Sealed(row.ciphertext, row.wrapped_key, row.kek_version)
            return envelope.decrypt(self.keys, row.id, row.client_id, sealed).decode()
        except (DecryptionError, KeyError) as exc:
            log.error("packet %s does not decrypt: its stored content or key was altered", row.id)
            raise self.uow.refuse(
                Corrupted(
                    "The packet's stored content fails its integrity check; operators are alerted.",
                    code="packet_integrity_failed",
                ),
                Denial(
                    action,
                    "packet",
                    row.id,
                    client_ref=row.client_id,
                    reason="integrity_failed",
                ),
            ) from exc

    def _sealed(self, row: Packet) -> envelope.Sealed:
        return envelope.Sealed(row.ciphertext, row.wrapped_key, row.kek_version)

    def read_back(self, row: Packet) -> ReadBack | None:
        """The read-back of an accepted packet as the parties see it; None when there is none
        (not accepted, or accepted before read-back existed). The synthesis is withheld when
        the packet's content is shredded or its legal basis is gone, like the content."""
        if row.acknowledged_actions is None:
            return None
        synthesis = None
        if row.synthesis_ciphertext and row.shredded_at is None and self._basis_holds(row):
            try:
                synthesis = envelope.decrypt_part(
                    self.keys,
                    row.id,
                    row.client_id,
                    SYNTHESIS_PART,
                    self._sealed(row),
                    row.synthesis_ciphertext,
                ).decode()
            except (DecryptionError, KeyError):
                log.error("packet %s: the synthesis does not decrypt", row.id)
        return ReadBack(tuple(row.acknowledged_actions), synthesis)

    def _basis_holds(self, row: Packet) -> bool:
        sender, recipient = (
            self._organization(row.sender_org),
            self._organization(row.recipient_org),
        )
        return self._decide(row.client_id, sender, recipient, row.purpose, row.categories).allowed

    def events(self, identity: Identity, packet_id: str) -> list[PacketEvent]:
        row = self.visible(identity, packet_id, "packet.read")
        audit.record(
            self.session,
            identity,
            "packet.read",
            resource_type="packet_events",
            resource_id=row.id,
            client_ref=row.client_id,
        )
        return list(self.session.scalars(row.events.select()))

    def list_box(self, identity: Identity, args: dict[str, Any]) -> Page[Packet]:
        """Inbox (received) or outbox (sent) of the caller's organization: metadata only,
        newest first."""
        organization = identity.organization
        mine = (
            Packet.recipient_org == organization
            if args["box"] == "inbox"
            else Packet.sender_org == organization
        )
        # Metadata only: the ciphertext (about 10 KB a packet) and the receipt stay behind.
        query = select(Packet).where(mine).options(load_only(*META_COLUMNS, raiseload=True))
        today = local_date(utcnow())
        status = args.get("status")
        overdue = and_(
            Packet.status.in_(lifecycle.OPEN),
            Packet.respond_by.is_not(None),
            Packet.respond_by < today,
        )
        if status == lifecycle.EXPIRED:
            query = query.where(or_(Packet.status == lifecycle.EXPIRED, overdue))
        elif status in lifecycle.OPEN:
            query = query.where(Packet.status == status, ~overdue)
        elif status:
            query = query.where(Packet.status == status)
        for name in ("client_id", "kind"):
            if name in args:
                query = query.where(getattr(Packet, name) == args[name])
        page = newest_first(
            self.session, query, Packet.received_at, Packet.id, args["limit"], args.get("cursor")
        )
        audit.record(
            self.session,
            identity,
            "packet.read",
            resource_type=f"packet_{args['box']}",
            resource_id=str(len(page.items)),
            client_ref=args.get("client_id"),
        )
        return page

    # --- lifecycle ----------------------------------------------------------------------

    def _require_open(self, row: Packet, action: str, audit_action: str) -> None:
        try:
            lifecycle.require_open(row.status, row.respond_by, local_date(utcnow()), action)
        except PacketTransitionError as exc:
            raise self.uow.refuse(
                Conflict(exc.message, code=exc.code),
                Denial(audit_action, "packet", row.id, client_ref=row.client_id, reason=exc.code),
            ) from exc

    def _record(
        self,
        identity: Identity,
        row: Packet,
        status: str,
        action: str,
        audit_action: str,
        reason: str | None = None,
    ) -> None:
        now = utcnow()
        row.status = status
        row.events.add(
            PacketEvent(
                at=now,
                action=action,
                status=status,
                organization_id=identity.organization or None,
                username=identity.username,
                reason=reason,
            )
        )
        audit.record(
            self.session,
            identity,
            audit_action,
            resource_type="packet",
            resource_id=row.id,
            client_ref=row.client_id,
            reason=reason,
        )
        told = NOTIFIED.get(status)
        if told is not None:
            notify(self.session, told(row), f"packet.{status}", {"packet_id": row.id})

    def accept(self, identity: Identity, packet_id: str, read_back: ReadBack) -> Packet:
        """The recipient takes the packet, reading back every plan action; for a transfer the
        acting user becomes the lead."""
        organization, username = identity.organization, identity.person
        row = self.visible(identity, packet_id, "packet.accept", lock=True)
        self._only_recipient(row, organization, "packet.accept")
        self._require_open(row, "accept", "packet.accept")
        self._recheck(row, "packet.accept")
        self._store_read_back(row, read_back)
        if row.kind == TRANSFER:
            self.continuity.take_over(identity, row.client_id, row.sender_org, row.id)
            # Escorted transfer: the sender stays on until the receiver's first contact.
            self.escorts.begin(identity, row, self.first_contact_days)
        row.decided_at, row.decided_by_user = utcnow(), username
        self._record(identity, row, lifecycle.ACCEPTED, "accepted", "packet.accept")
        return row

    def _actions(self, row: Packet, action: str = "packet.accept") -> list[dict[str, Any]]:
        """The actions of the packet's plan sections (the stored JWS is opened for them)."""
        if row.shredded_at is not None:
            raise self.uow.refuse(
                NotFound(
                    "The packet's content was destroyed when its retention period ended.",
                    code="packet_content_shredded",
                ),
                Denial(
                    action, "packet", row.id, client_ref=row.client_id, reason="content_shredded"
                ),
            )
        return plan_actions(_sections_of(self._open(row, action)))

    def _store_read_back(self, row: Packet, read_back: ReadBack) -> None:
        """Refuse (nothing moves) unless every plan action is acknowledged, and no other id;
        then keep the read-back, the synthesis sealed under the packet's data key. The same
        rule holds for ``information`` packets: a plan's actions are read back either way."""
        synthesis = read_back.synthesis
        if synthesis is not None and not (
            synthesis.strip() and len(synthesis) <= SYNTHESIS_MAX_LENGTH
        ):
            raise Invalid(
                "The synthesis is too long or empty; nothing was accepted.",
                errors=[FieldError("synthesis", f"Use 1 to {SYNTHESIS_MAX_LENGTH} characters.")],
            )
        expected = [str(action["id"]) for action in self._actions(row)]
        given = list(dict.fromkeys(read_back.acknowledged_actions))
        missing = [action_id for action_id in expected if action_id not in given]
        unknown = [action_id for action_id in given if action_id not in expected]
        if missing or unknown:
            errors = [
                FieldError("acknowledged_actions", f"{label}: {', '.join(ids)}.")
                for label, ids in (("Not acknowledged", missing), ("Not in the plan", unknown))
                if ids
            ]
            raise self.uow.refuse(
                Invalid(
                    "The read-back is incomplete: acknowledge every action of the plan, and "
                    "only those; nothing was accepted.",
                    code="read_back_incomplete",
                    errors=errors,
                    extra={"missing": missing, "unknown": unknown},
                ),
                Denial(
                    "packet.accept",
                    "packet",
                    row.id,
                    client_ref=row.client_id,
                    reason="read_back_incomplete",
                ),
            )
        row.acknowledged_actions = expected
        row.synthesis_ciphertext = (
            envelope.encrypt_part(
                self.keys,
                row.id,
                row.client_id,
                SYNTHESIS_PART,
                self._sealed(row),
                synthesis.encode(),
            )
            if synthesis
            else None
        )

    def first_contact(self, identity: Identity, packet_id: str, date: dt.date, mode: str) -> Packet:
        """The receiver of an accepted transfer met the client: the sender's escort ends."""
        row = self.visible(identity, packet_id, "packet.first_contact", lock=True)
        self._only_recipient(row, identity.organization, "packet.first_contact")
        return self.escorts.record_first_contact(identity, row, date, mode)

    def decline(self, identity: Identity, packet_id: str, reason: str) -> Packet:
        """The recipient refuses, with a reason; a transfer's sender keeps the lead."""
        organization = identity.organization
        row = self.visible(identity, packet_id, "packet.decline", lock=True)
        self._only_recipient(row, organization, "packet.decline")
        self._require_open(row, "decline", "packet.decline")
        row.decided_at, row.decided_by_user, row.decline_reason = (
            utcnow(),
            identity.person,
            reason,
        )
        self._record(identity, row, lifecycle.DECLINED, "declined", "packet.decline", reason)
        return row

    def withdraw(self, identity: Identity, packet_id: str) -> Packet:
        """The sender takes the packet back before it is accepted."""
        row = self.visible(identity, packet_id, "packet.withdraw", lock=True)
        if row.sender_org != identity.organization:
            raise self.uow.refuse(
                Forbidden("Only the sender can withdraw a packet.", code="not_the_sender"),
                Denial(
                    "packet.withdraw",
                    "packet",
                    row.id,
                    client_ref=row.client_id,
                    reason="not_the_sender",
                ),
            )
        self._require_open(row, "withdraw", "packet.withdraw")
        self._record(identity, row, lifecycle.WITHDRAWN, "withdrawn", "packet.withdraw")
        return row

    def _only_recipient(self, row: Packet, organization: str, action: str) -> None:
        if row.recipient_org != organization:
            raise self.uow.refuse(
                Forbidden("Only the recipient can do this.", code="not_the_recipient"),
                Denial(
                    action, "packet", row.id, client_ref=row.client_id, reason="not_the_recipient"
                ),
            )

    def block(self, identity: Identity, packet_id: str, reason: str) -> bool:
        """Block an open packet whose legal basis is gone; False when it was not open."""
        row = self.session.get(Packet, packet_id, with_for_update=True, populate_existing=True)
        if row is None or self.status_of(row) not in lifecycle.OPEN:
            return False
        self._record(identity, row, lifecycle.BLOCKED, "blocked", "packet.block", reason)
        return True

    def on_consent_withdrawn(self, identity: Identity, consent: Consent) -> int:
        """Block every open packet of the client that relied on ``consent``."""
        rows = self.session.execute(
            select(Packet).where(
                Packet.client_id == consent.client_id, Packet.status.in_(lifecycle.OPEN)
            )
        ).scalars()
        blocked = 0
        for row in rows:
            if any(item.get("consent_id") == consent.id for item in row.basis):
                blocked += self.block(identity, row.id, f"consent {consent.id} withdrawn")
        return blocked

    def expire_overdue(self, identity: Identity) -> int:
        """Record ``expired`` for open packets past their deadline (the worker's job; reads
        already compute it)."""
        today = local_date(utcnow())
        rows = self.session.execute(
            select(Packet).where(Packet.status.in_(lifecycle.OPEN), Packet.respond_by < today)
        ).scalars()
        count = 0
        for row in rows:
            self._record(
                identity,
                row,
                lifecycle.EXPIRED,
                "expired",
                "packet.expire",
                f"respond_by {row.respond_by} passed",
            )
            count += 1
        return count

    def shred_expired(self, identity: Identity, retention_days: int) -> int:
        """Crypto-shred the content of packets received more than ``retention_days`` ago."""
        cutoff = utcnow() - dt.timedelta(days=retention_days)
        rows = self.session.execute(
            select(Packet).where(Packet.received_at < cutoff, Packet.shredded_at.is_(None))
        ).scalars()
        count = 0
        for row in rows:
            row.ciphertext, row.wrapped_key, row.shredded_at = b"", b"", utcnow()
            # Sealed under the destroyed data key already; the ciphertext goes too.
            row.synthesis_ciphertext = None
            row.events.add(
                PacketEvent(
                    at=row.shredded_at,
                    action="shredded",
                    status=row.status,
                    reason="retention period ended",
                )
            )
            audit.record(
                self.session,
                identity,
                "packet.shred",
                resource_type="packet",
                resource_id=row.id,
                client_ref=row.client_id,
            )
            count += 1
        return count

    def rewrap_all(self, progress: Callable[[int, int], None] | None = None) -> int:
        """Wrap every older packet's data key with the current KEK (after ``keys rotate``);
        ``progress``, if given, hears ``(packets done, packets to do)`` after each."""
        rows = list(
            self.session.execute(
                select(Packet).where(
                    Packet.kek_version < self.keys.kek_version, Packet.shredded_at.is_(None)
                )
            ).scalars()
        )
        count = 0
        for row in rows:
            sealed = envelope.rewrap(
                self.keys, row.id, envelope.Sealed(row.ciphertext, row.wrapped_key, row.kek_version)
            )
            row.wrapped_key, row.kek_version = sealed.wrapped_key, sealed.kek_version
            count += 1
            if progress is not None:
                progress(count, len(rows))
        return count


def _sections_of(token: str) -> list[dict[str, Any]]:
    """The sections of a stored (verified) compact JWS."""
    body = token.split(".")[1]
    payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    return list(payload["sections"])


class IdempotentRace(Exception):
    """Two submissions with one Idempotency-Key raced; the view answers with the winner's."""

    def __init__(self, oauth_client: str, key: str, digest: str) -> None:
        super().__init__(key)
        self.oauth_client, self.key, self.digest = oauth_client, key, digest
