"""A client's period in a service (kuty and the like), with its outcome when it ends."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import Date, ForeignKey, Index, Integer, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column

from adapters.db import Base, UTCDateTime, utcnow

OPEN = "open"
CLOSED = "closed"


class ServicePeriod(Base):
    __tablename__ = "service_period"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("client.id"))
    organization_id: Mapped[str] = mapped_column(ForeignKey("organization.id"))
    service: Mapped[str] = mapped_column(String(64))
    start: Mapped[dt.date] = mapped_column(Date)
    planned_end: Mapped[dt.date] = mapped_column(Date)
    days_per_week: Mapped[int] = mapped_column(Integer)
    hours_per_day: Mapped[Decimal] = mapped_column(Numeric(4, 1))
    guidance_hours_per_month: Mapped[Decimal | None] = mapped_column(Numeric(5, 1))
    status: Mapped[str] = mapped_column(String(16), default=OPEN)
    next_step: Mapped[str | None] = mapped_column(String(40))
    next_step_owner: Mapped[str | None] = mapped_column(ForeignKey("organization.id"))
    ended_on: Mapped[dt.date | None] = mapped_column(Date)
    outcome: Mapped[str | None] = mapped_column(String(40))
    recorded_by_user: Mapped[str] = mapped_column(String(128))
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    closed_by_user: Mapped[str | None] = mapped_column(String(128))
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ix_service_period_client_id_start", "client_id", "start"),
        Index("ix_service_period_organization_id_status", "organization_id", "status"),
        Index("ix_service_period_status_planned_end", "status", "planned_end"),
        Index("ix_service_period_ended_on", "ended_on"),
    )
