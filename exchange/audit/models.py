"""Audit tables: the events and the head of their hash chain."""

from __future__ import annotations

from sqlalchemy import BigInteger, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from adapters.db import Base

GENESIS_HASH = "0" * 64


class AuditEvent(Base):
    """One audited action; ``hash`` chains it to the event before it."""

    __tablename__ = "audit_event"

    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=False
    )
    occurred_at: Mapped[str] = mapped_column(String(27))
    request_id: Mapped[str | None] = mapped_column(String(64))
    actor_organization: Mapped[str | None] = mapped_column(String(64))
    actor_client: Mapped[str | None] = mapped_column(String(128))
    actor_user: Mapped[str | None] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(16))
    resource_type: Mapped[str | None] = mapped_column(String(64))
    resource_id: Mapped[str | None] = mapped_column(String(128))
    client_ref: Mapped[str | None] = mapped_column(String(64))
    basis_type: Mapped[str | None] = mapped_column(String(16))
    basis_ref: Mapped[str | None] = mapped_column(String(200))
    reason: Mapped[str | None] = mapped_column(String(500))
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))

    __table_args__ = (
        Index("ix_audit_event_client_ref_seq", "client_ref", "seq"),
        Index("ix_audit_event_actor_organization_seq", "actor_organization", "seq"),
    )


class AuditHead(Base):
    """The single row holding the last sequence number and hash; locked while appending."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"))
    hash: Mapped[str] = mapped_column(String(64))
