"""The notification outbox: one row per (event, organization), written in the business
transaction, then relayed, delivered, retried or dead-lettered."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from adapters.db import Base, UTCDateTime, utcnow
from consent.vocabulary import WEBHOOK_DELIVERY_STATUSES

PENDING, DELIVERED, DEAD = WEBHOOK_DELIVERY_STATUSES


class WebhookDelivery(Base):
    """A notification to one organization. ``id`` is the event id the receiver de-duplicates
    by; ``relayed_at`` is set when the row was put on the Redis stream for its next attempt."""

    __tablename__ = "webhook_delivery"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organization.id"))
    event_type: Mapped[str] = mapped_column(String(40))
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Retries end this long after the window started: creation, or a manual retry.
    window_started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    status: Mapped[str] = mapped_column(String(16), default=PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    relayed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_attempt_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(300))
    delivered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ix_webhook_delivery_organization_id_created_at", "organization_id", "created_at"),
        Index("ix_webhook_delivery_status_next_attempt_at", "status", "next_attempt_at"),
    )
