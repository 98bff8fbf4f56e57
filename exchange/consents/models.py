"""Consent tables: the immutable record, the parties that may see it, its event history."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey, Index, Select, String, Text, select
from sqlalchemy.orm import Mapped, mapped_column, relationship

from adapters.db import Base, UTCDateTime, utcnow

# The roles an organization can have on a consent; each one may see it (SPEC section 4).
RECORDER = "recorder"
APPROVER = "approver"  # approved or rejected it
# Named to approve it (``approver_organization``). It sees the consent while it waits, but is
# not involved with the client through it until it has approved it (APPROVER, once in force).
NAMED_APPROVER = "named_approver"
SOURCE = "source"
RECIPIENT = "recipient"


class Consent(Base):
    """One consent as recorded. The terms never change; only the status and its stamps do."""

    __tablename__ = "consent"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("client.id"))
    decision: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16))
    sources: Mapped[list[str]] = mapped_column(JSON)
    recipients: Mapped[list[str]] = mapped_column(JSON)
    categories: Mapped[list[str]] = mapped_column(JSON)
    purposes: Mapped[list[str]] = mapped_column(JSON)
    valid_from: Mapped[dt.date] = mapped_column(Date)
    valid_until: Mapped[dt.date] = mapped_column(Date, index=True)
    grantor_type: Mapped[str] = mapped_column(String(32))
    grantor_name: Mapped[str | None] = mapped_column(String(200))
    method: Mapped[str] = mapped_column(String(32))
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON)
    language: Mapped[str] = mapped_column(String(2))
    text_version: Mapped[str] = mapped_column(String(32))
    text_sha256: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)
    supersedes: Mapped[str | None] = mapped_column(ForeignKey("consent.id"))
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    recorded_by_org: Mapped[str] = mapped_column(ForeignKey("organization.id"))
    recorded_by_user: Mapped[str] = mapped_column(String(128))
    # Whose social worker approves or rejects a pending permit; by default the recorder's own.
    # Checked against the registry when recorded; no foreign key, as for the other stamps'
    # organizations, because SQLite cannot add one to a table that others reference.
    approver_organization: Mapped[str] = mapped_column(String(64))
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    decided_by_org: Mapped[str | None] = mapped_column(String(64))
    decided_by_user: Mapped[str | None] = mapped_column(String(128))
    decision_reason: Mapped[str | None] = mapped_column(String(1000))
    withdrawn_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    withdrawn_by_org: Mapped[str | None] = mapped_column(String(64))
    withdrawn_by_user: Mapped[str | None] = mapped_column(String(128))
    withdrawal_reason: Mapped[str | None] = mapped_column(String(1000))

    parties: Mapped[list[ConsentParty]] = relationship(
        back_populates="consent", cascade="all, delete-orphan", lazy="selectin"
    )
    events: Mapped[list[ConsentEvent]] = relationship(
        back_populates="consent",
        cascade="all, delete-orphan",
        order_by="ConsentEvent.id",
        lazy="selectin",
    )

    __table_args__ = (
        Index("ix_consent_client_id_status", "client_id", "status"),
        # The approval queue: the pending consents an organization is to decide.
        Index("ix_consent_approver_organization_status", "approver_organization", "status"),
    )


class ConsentParty(Base):
    """An organization's role on a consent; the visibility rule is a join on this table."""

    __tablename__ = "consent_party"

    consent_id: Mapped[str] = mapped_column(ForeignKey("consent.id"), primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organization.id"), primary_key=True)
    role: Mapped[str] = mapped_column(String(16), primary_key=True)

    consent: Mapped[Consent] = relationship(back_populates="parties")

    __table_args__ = (Index("ix_consent_party_organization_id", "organization_id", "consent_id"),)


def consents_party_to(organization: str) -> Select[str]:
    """The ids of the consents ``organization`` is party to: it recorded one, was named to
    approve it (``approver_organization``, a NAMED_APPROVER row written at recording), approved
    or rejected it, or is one of its sources or recipients. The one statement of that rule
    (the auditor's scope uses it); an index-only scan of ``ix_consent_party_organization_id``."""
    return select(ConsentParty.consent_id).where(ConsentParty.organization_id == organization)


class ConsentEvent(Base):
    """One step of a consent's history: recorded, approved, rejected, withdrawn."""

    __tablename__ = "consent_event"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    consent_id: Mapped[str] = mapped_column(ForeignKey("consent.id"), index=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    action: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    organization_id: Mapped[str] = mapped_column(String(64))
    username: Mapped[str] = mapped_column(String(128))
    reason: Mapped[str | None] = mapped_column(String(1000))

    consent: Mapped[Consent] = relationship(back_populates="events")


# What a legal-basis decision reads of a consent (``consents.service.to_record``): not its
# text (about 1 KB), evidence or history.
RECORD_COLUMNS = (
    Consent.id,
    Consent.client_id,
    Consent.decision,
    Consent.status,
    Consent.sources,
    Consent.recipients,
    Consent.categories,
    Consent.purposes,
    Consent.valid_from,
    Consent.valid_until,
    Consent.recorded_at,
    Consent.recorded_by_user,
    Consent.grantor_type,
    Consent.decided_by_user,
    Consent.decided_at,
    Consent.withdrawn_at,
    Consent.approver_organization,
)
