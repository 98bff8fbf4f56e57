"""Audit tables: the events, the head of the log (sealer state) and signed checkpoints."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, BigInteger, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from adapters.db import Base, UTCDateTime, utcnow

GENESIS_HASH = "0" * 64
BIGINT = BigInteger().with_variant(Integer(), "sqlite")


class AuditEvent(Base):
    """One audited action. Written in the business transaction with ``seq`` empty; the sealer
    then gives it its place in the log (``seq``), its leaf hash and its chain hash."""

    __tablename__ = "audit_event"

    id: Mapped[int] = mapped_column(BIGINT, primary_key=True, autoincrement=True)
    seq: Mapped[int | None] = mapped_column(BIGINT, unique=True)
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
    leaf_hash: Mapped[str | None] = mapped_column(String(64))
    hash: Mapped[str | None] = mapped_column(String(64))
    # HMAC of ``hash`` under the service's audit seal key: pins each event, so even a rewrite
    # that recomputes every stored hash is found at the event it changed.
    seal_mac: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (
        # An auditor's query for one client: equality on both, in log order, no sort.
        Index(
            "ix_audit_event_client_ref_actor_organization_seq",
            "client_ref",
            "actor_organization",
            "seq",
        ),
        Index("ix_audit_event_actor_organization_seq", "actor_organization", "seq"),
        # An auditor's scope: the events about the packets and consents of its organization.
        Index("ix_audit_event_resource_id_resource_type", "resource_id", "resource_type"),
        # The sealer's work queue: only unsealed rows are in this index.
        Index(
            "ix_audit_event_unsealed",
            "id",
            postgresql_where=text("seq IS NULL"),
            sqlite_where=text("seq IS NULL"),
        ),
    )


class AuditHead(Base):
    """The sealer's state: last sequence number, chain head and the Merkle frontier."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(BIGINT)
    hash: Mapped[str] = mapped_column(String(64))
    frontier: Mapped[list[str]] = mapped_column(JSON, default=list)


class AuditCheckpoint(Base):
    """A signed statement of the log: tree size, Merkle root, chain head, time."""

    __tablename__ = "audit_checkpoint"

    tree_size: Mapped[int] = mapped_column(BIGINT, primary_key=True)
    root_hash: Mapped[str] = mapped_column(String(64))
    chain_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    jws: Mapped[str] = mapped_column(Text)
