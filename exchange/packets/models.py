"""Packet tables: the packet (content only encrypted), its history, idempotency records."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Select,
    String,
    Text,
    or_,
    select,
)
from sqlalchemy.orm import Mapped, WriteOnlyMapped, mapped_column, relationship

from adapters.db import Base, UTCDateTime, utcnow


class Packet(Base):
    """One hand-over. The original JWS (with the identity code and every section) is stored
    only inside ``ciphertext``; the rest is the metadata lists and decisions need."""

    __tablename__ = "packet"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("client.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    purpose: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    sender_org: Mapped[str] = mapped_column(ForeignKey("organization.id"))
    sender_user: Mapped[str] = mapped_column(String(128))
    recipient_org: Mapped[str] = mapped_column(ForeignKey("organization.id"))
    recipient_user: Mapped[str | None] = mapped_column(String(128))
    respond_by: Mapped[dt.date | None] = mapped_column(Date)
    case_reference: Mapped[str | None] = mapped_column(String(100))
    categories: Mapped[list[str]] = mapped_column(JSON)
    basis: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    warnings: Mapped[list[dict[str, str]]] = mapped_column(JSON)
    payload_sha256: Mapped[str] = mapped_column(String(64))
    # The payload's SHA-256 again, unique per sender: a re-sent packet is never a second
    # hand-over (NULL for packets stored before duplicates were refused).
    dedupe_sha256: Mapped[str | None] = mapped_column(String(64))
    signing_kid: Mapped[str] = mapped_column(String(200))
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary)
    kek_version: Mapped[int] = mapped_column(Integer)
    receipt: Mapped[str] = mapped_column(Text)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    decided_by_user: Mapped[str | None] = mapped_column(String(128))
    decline_reason: Mapped[str | None] = mapped_column(String(1000))
    # The read-back at acceptance: the plan's action ids the receiver acknowledged (NULL for
    # packets accepted before read-back existed, and until acceptance), and the receiver's
    # synthesis sealed under the packet's data key (so it is re-wrapped and shredded with it).
    acknowledged_actions: Mapped[list[str] | None] = mapped_column(JSON)
    synthesis_ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary)
    # Escorted transfer (saattaen vaihto), on the transfer itself: after acceptance the
    # sender organization (``escort_worker``) stays on until the receiver (``first_contact_worker``)
    # records the first contact. ``first_contact_by`` comes from the payload or is set at
    # acceptance; NULL on transfers accepted before escorts existed (no escort).
    first_contact_by: Mapped[dt.date | None] = mapped_column(Date)
    escort_worker: Mapped[str | None] = mapped_column(String(128))
    first_contact_worker: Mapped[str | None] = mapped_column(String(128))
    first_contact_on: Mapped[dt.date | None] = mapped_column(Date)
    first_contact_mode: Mapped[str | None] = mapped_column(String(16))
    first_contact_recorded_by: Mapped[str | None] = mapped_column(String(128))
    # When the worker raised the first_contact_missing escalation (and notified the sender).
    first_contact_missing_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # Retention: the data key and ciphertext are destroyed; metadata and audit stay.
    shredded_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    # Written to, never loaded with the packet: a read of the packet or a page of the inbox
    # needs none of it (``PacketService.events`` selects the history).
    events: WriteOnlyMapped[PacketEvent] = relationship(
        back_populates="packet",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="PacketEvent.id",
    )

    __table_args__ = (
        # A box page's keyset order (newest first, the id breaking ties; read backwards).
        Index("ix_packet_recipient_box", "recipient_org", "received_at", "id"),
        Index("ix_packet_sender_box", "sender_org", "received_at", "id"),
        Index("ix_packet_status_respond_by", "status", "respond_by"),
        Index("ix_packet_status_first_contact_by", "status", "first_contact_by"),
        Index("uq_packet_sender_org_dedupe_sha256", "sender_org", "dedupe_sha256", unique=True),
    )


def packets_party_to(organization: str) -> Select[str]:
    """The ids of the packets ``organization`` sent or received (the sender and recipient
    indexes, combined)."""
    return select(Packet.id).where(
        or_(Packet.sender_org == organization, Packet.recipient_org == organization)
    )


class PacketEvent(Base):
    """One step of a packet's life: sent, delivered, accepted, declined, withdrawn, expired,
    blocked, reassigned; after an accepted transfer first_contact and escalated."""

    __tablename__ = "packet_event"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    packet_id: Mapped[str] = mapped_column(ForeignKey("packet.id"), index=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    action: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    organization_id: Mapped[str | None] = mapped_column(String(64))
    username: Mapped[str | None] = mapped_column(String(128))
    reason: Mapped[str | None] = mapped_column(String(1000))

    packet: Mapped[Packet] = relationship(back_populates="events")


class IdempotencyRecord(Base):
    """A submission's stored answer, keyed by the client's ``Idempotency-Key``; written in the
    same transaction as the packet, so a retry can never make a second one."""

    __tablename__ = "idempotency_record"

    oauth_client: Mapped[str] = mapped_column(String(128), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    request_sha256: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    response: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
