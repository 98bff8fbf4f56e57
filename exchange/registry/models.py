"""Registry tables."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from adapters.db import Base, UTCDateTime, utcnow
from consent.vocabulary import SUPERVISOR, SUPERVISOR_SCOPES


class Organization(Base):
    """An agency or provider; its JWKS verifies the packets it signs."""

    __tablename__ = "organization"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32))
    business_id: Mapped[str] = mapped_column(String(9))
    jwks: Mapped[dict[str, Any]] = mapped_column(JSON)
    webhook_url: Mapped[str | None] = mapped_column(String(500))
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class OAuthClient(Base):
    """A machine client of an organization; its JWKS verifies its client assertions."""

    __tablename__ = "oauth_client"

    client_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organization.id"), index=True)
    scopes: Mapped[list[str]] = mapped_column(JSON)
    jwks: Mapped[dict[str, Any]] = mapped_column(JSON)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    organization: Mapped[Organization] = relationship(lazy="joined")

    @property
    def grantable_scopes(self) -> frozenset[str]:
        """The scopes a token of this client may carry: its registered ones, and for a
        supervisor's client never more than ``audit:read``, whatever the row says (the
        registry loader refuses more; this holds even for a row written past it)."""
        scopes = frozenset(self.scopes)
        if self.organization.kind == SUPERVISOR:
            return scopes & frozenset(SUPERVISOR_SCOPES)
        return scopes


class User(Base):
    """A person working for an organization, with roles; may sign in to the web UI."""

    __tablename__ = "app_user"

    username: Mapped[str] = mapped_column(String(128), primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organization.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    roles: Mapped[list[str]] = mapped_column(JSON)
    password_hash: Mapped[str | None] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Set when the service deactivated the person (a staff change): the registry file cannot
    # bring them back; only ``POST /v1/workers/{username}/activate`` does.
    deactivated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    deactivated_by: Mapped[str | None] = mapped_column(String(128))
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
