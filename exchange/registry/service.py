"""The registry: loading its file (validate everything, then upsert; all or nothing), and
what the doors read of it."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from marshmallow import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from adapters.db import utcnow
from exchange.errors import FieldError, Invalid
from exchange.policy import Identity
from exchange.registry.models import OAuthClient, Organization, User
from exchange.unit import UnitOfWork
from schemas import flatten_errors
from schemas.registry import RegistryFile

passwords = PasswordHasher()


@dataclass
class LoadReport:
    """What a load did, per kind of entry: created, updated, unchanged."""

    counts: Counter[str] = field(default_factory=Counter)

    def add(self, kind: str, outcome: str) -> None:
        self.counts[f"{kind}.{outcome}"] += 1

    def as_dict(self) -> dict[str, int]:
        return dict(sorted(self.counts.items()))


def hash_password(password: str) -> str:
    """Argon2id hash of a password."""
    return passwords.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when ``password`` matches; never raises for a wrong or malformed hash."""
    if not password_hash:
        return False
    try:
        return passwords.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _validate(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise Invalid(
            "The registry file must be a JSON object.", errors=[FieldError("$", "Not an object.")]
        )
    try:
        loaded: dict[str, Any] = RegistryFile().load(data)
    except ValidationError as exc:
        raise Invalid(
            "The registry file has invalid entries; nothing was loaded.",
            errors=flatten_errors(exc.messages),
        ) from exc
    return loaded


def _check_references(session: Session, data: dict[str, Any]) -> None:
    known = {entry["id"] for entry in data["organizations"]}
    known |= set(session.execute(select(Organization.id)).scalars())
    errors = [
        FieldError(
            f"{section}[{index}].organization", f"Unknown organization {entry['organization']!r}."
        )
        for section in ("oauth_clients", "users")
        for index, entry in enumerate(data[section])
        if entry["organization"] not in known
    ]
    if errors:
        raise Invalid("The registry file has invalid entries; nothing was loaded.", errors=errors)


def _upsert(
    session: Session,
    model: type[Any],
    key: Any,
    values: dict[str, Any],
    report: LoadReport,
    kind: str,
) -> None:
    row = session.get(model, key)
    if row is None:
        session.add(model(**values))
        report.add(kind, "created")
        return
    changed = {name: value for name, value in values.items() if getattr(row, name) != value}
    if changed:
        for name, value in changed.items():
            setattr(row, name, value)
        row.updated_at = utcnow()
        report.add(kind, "updated")
    else:
        report.add(kind, "unchanged")


def load_registry(session: Session, data: Any) -> LoadReport:
    """Validate the whole file, then insert or update each entry; the caller commits."""
    registry = _validate(data)
    _check_references(session, registry)
    report = LoadReport()
    for org in registry["organizations"]:
        _upsert(
            session,
            Organization,
            org["id"],
            {
                "id": org["id"],
                "name": org["name"],
                "kind": org["kind"],
                "business_id": org["business_id"],
                "jwks": org["jwks"],
                "webhook_url": org["webhook_url"],
            },
            report,
            "organizations",
        )
    session.flush()
    for client in registry["oauth_clients"]:
        _upsert(
            session,
            OAuthClient,
            client["client_id"],
            {
                "client_id": client["client_id"],
                "organization_id": client["organization"],
                "scopes": sorted(set(client["scopes"])),
                "jwks": client["jwks"],
                "active": client["active"],
            },
            report,
            "oauth_clients",
        )
    for user in registry["users"]:
        values = {
            "username": user["username"],
            "organization_id": user["organization"],
            "name": user["name"],
            "roles": sorted(set(user["roles"])),
            "active": user["active"],
        }
        existing = session.get(User, user["username"])
        if existing is not None and existing.deactivated_at is not None:
            values["active"] = False  # deactivated through the service: the file cannot undo it
        password = user["password"]
        # The file is the source of truth: no password there means no web sign-in.
        if password is None:
            values["password_hash"] = None
        elif not (existing and verify_password(existing.password_hash, password)):
            values["password_hash"] = hash_password(password)
        _upsert(session, User, user["username"], values, report, "users")
    session.flush()
    return report


class RegistryService:
    """What the doors read of the registry: organizations and a caller's colleagues."""

    def __init__(self, uow: UnitOfWork) -> None:
        self.session = uow.session

    def organizations(self) -> list[Organization]:
        """Every registered organization, by name."""
        return list(
            self.session.execute(select(Organization).order_by(Organization.name)).scalars()
        )

    def names(self, ids: Iterable[str]) -> dict[str, str]:
        """The names of the registered organizations among ``ids``."""
        rows = self.session.execute(select(Organization).where(Organization.id.in_(set(ids))))
        return {row.id: row.name for row in rows.scalars()}

    def colleagues(self, identity: Identity) -> list[User]:
        """The active users of the caller's organization, by name."""
        query = (
            select(User)
            .where(User.organization_id == identity.organization, User.active.is_(True))
            .order_by(User.name, User.username)
        )
        return list(self.session.execute(query).scalars())
