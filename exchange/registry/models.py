"""Registry tables."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, CheckConstraint, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from adapters.db import Base, UTCDateTime, utcnow
from consent.vocabulary import SUPERVISOR, SUPERVISOR_SCOPES


class Organization(Base):
    """An agency or provider; its JWKS verifies the packets it signs."""

    __tablename__ = "organization"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))  # Finnish, and the name in any language
    name_sv: Mapped[str | None] = mapped_column(String(200))
    name_en: Mapped[str | None] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32))
    business_id: Mapped[str] = mapped_column(String(9))
    jwks: Mapped[dict[str, Any]] = mapped_column(JSON)
    webhook_url: Mapped[str | None] = mapped_column(String(500))
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    def display_name(self, language: str) -> str:
        """The organization's name in ``language`` (see :func:`name_in`)."""
        return name_in(language, self.name, self.name_sv, self.name_en)


def name_in(language: str, name: str, name_sv: str | None, name_en: str | None) -> str:
    """An organization's name as a reader of ``language`` sees it: its Swedish or English name
    where the registry gives one, otherwise its registered (Finnish) name, which every
    organization has."""
    translated = {"sv": name_sv, "en": name_en}.get(language)
    return translated or name


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
        """The scopes a token of this client may carry (see :func:`grantable_scopes`)."""
        return grantable_scopes(self.scopes, self.organization.kind)


def grantable_scopes(scopes: list[str] | frozenset[str], organization_kind: str) -> frozenset[str]:
    """A client's registered scopes, and for a supervisor's client never more than
    ``audit:read``, whatever the row says (the registry loader refuses more; this holds even
    for a row written past it)."""
    if organization_kind == SUPERVISOR:
        return frozenset(scopes) & frozenset(SUPERVISOR_SCOPES)
    return frozenset(scopes)


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


class RegistryVersion(Base):
    """One row whose ``version`` every write to the registry tables above raises, in the
    writing transaction (``exchange.registry.cache``): a process's cached registry is good for
    exactly the version it was read at."""

    __tablename__ = "registry_version"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger)
