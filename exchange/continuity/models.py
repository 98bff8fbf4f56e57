"""Lead tables: who is responsible for a client now, and who has been."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from adapters.db import Base, UTCDateTime, utcnow


class Lead(Base):
    """The client's one lead (asiakasvastaava); ``worker`` None is the unassigned queue."""

    __tablename__ = "lead"

    client_id: Mapped[str] = mapped_column(ForeignKey("client.id"), primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organization.id"))
    worker: Mapped[str | None] = mapped_column(String(128))
    since: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (Index("ix_lead_organization_id_worker", "organization_id", "worker"),)


class LeadHistory(Base):
    """Every lead a client has had, for the involvement rule and the access report."""

    __tablename__ = "lead_history"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("client.id"))
    organization_id: Mapped[str] = mapped_column(String(64))
    worker: Mapped[str | None] = mapped_column(String(128))
    since: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    reason: Mapped[str] = mapped_column(String(32))
    packet_id: Mapped[str | None] = mapped_column(String(40))

    __table_args__ = (
        Index("ix_lead_history_client_id_organization_id", "client_id", "organization_id"),
    )
