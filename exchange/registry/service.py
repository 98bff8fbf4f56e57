"""The registry: loading its file (validate everything, then upsert; all or nothing), and
what the doors read of it."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError
from marshmallow import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from adapters.db import utcnow
from consent.vocabulary import SUPERVISOR, SUPERVISOR_ROLES, SUPERVISOR_SCOPES
from exchange.errors import FieldError, Invalid
from exchange.policy import Identity
from exchange.registry.cache import OrganizationEntry
from exchange.registry.models import OAuthClient, Organization, User
from exchange.unit import UnitOfWork
from schemas import flatten_errors
from schemas.registry import RegistryFile

# Verification reads the parameters from the hash itself, so one verifier serves every profile.
_verifier = PasswordHasher()

# Why a request may not name a supervisor organization as a party (422 on the field naming it).
SUPERVISOR_NOT_A_PARTY = "is a supervisor organization: it audits and takes no part in exchanges."


def supervisor_errors(
    named: Iterable[tuple[str, Organization | OrganizationEntry | None]],
) -> list[FieldError]:
    """A field error for every (field path, organization) naming a supervisor organization,
    which can never send, receive, give or be given information, nor own a client's step."""
    return [
        FieldError(path, f"{org.id!r} {SUPERVISOR_NOT_A_PARTY}")
        for path, org in named
        if org is not None and org.kind == SUPERVISOR
    ]


@dataclass
class LoadReport:
    """What a load did, per kind of entry: created, updated, unchanged."""

    counts: Counter[str] = field(default_factory=Counter)

    def add(self, kind: str, outcome: str) -> None:
        self.counts[f"{kind}.{outcome}"] += 1

    def as_dict(self) -> dict[str, int]:
        return dict(sorted(self.counts.items()))


def password_hasher(profile: str) -> PasswordHasher:
    """The Argon2id hasher of an ``EXCHANGE_ARGON2_PROFILE`` (an argon2-cffi profile name)."""
    return PasswordHasher.from_parameters(getattr(profiles, profile.upper()))


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when ``password`` matches; never raises for a wrong or malformed hash."""
    if not password_hash:
        return False
    try:
        return _verifier.verify(password_hash, password)
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


def _check_supervisors(session: Session, data: dict[str, Any]) -> None:
    """A supervisor organization only audits: its clients may hold only ``audit:read`` and its
    people only the ``auditor`` role, whether they are in this file or already registered."""
    rows = session.execute(select(Organization.id, Organization.kind)).all()
    kinds: dict[str, str] = {row.id: row.kind for row in rows}
    kinds |= {entry["id"]: entry["kind"] for entry in data["organizations"]}
    supervisors = {org_id for org_id, kind in kinds.items() if kind == SUPERVISOR}
    if not supervisors:
        return
    scopes, roles = ", ".join(SUPERVISOR_SCOPES), ", ".join(SUPERVISOR_ROLES)
    errors = []
    listed_clients = {entry["client_id"] for entry in data["oauth_clients"]}
    listed_users = {entry["username"] for entry in data["users"]}
    for index, client in enumerate(data["oauth_clients"]):
        extra = sorted(set(client["scopes"]) - set(SUPERVISOR_SCOPES))
        if client["organization"] in supervisors and extra:
            errors.append(
                FieldError(
                    f"oauth_clients[{index}].scopes",
                    f"Client {client['client_id']!r} of the supervisor organization "
                    f"{client['organization']!r} may hold only {scopes}, not {', '.join(extra)}.",
                )
            )
    for index, user in enumerate(data["users"]):
        extra = sorted(set(user["roles"]) - set(SUPERVISOR_ROLES))
        if user["organization"] in supervisors and extra:
            errors.append(
                FieldError(
                    f"users[{index}].roles",
                    f"User {user['username']!r} of the supervisor organization "
                    f"{user['organization']!r} may hold only the role {roles}, "
                    f"not {', '.join(extra)}.",
                )
            )
    # An organization turned supervisor by this file must not keep registered clients or
    # people that the file does not correct.
    for index, org in enumerate(data["organizations"]):
        if org["kind"] != SUPERVISOR:
            continue
        clients = session.execute(
            select(OAuthClient).where(OAuthClient.organization_id == org["id"])
        ).scalars()
        people = session.execute(select(User).where(User.organization_id == org["id"])).scalars()
        held = [
            f"client {row.client_id!r} ({', '.join(extra)})"
            for row in clients
            if row.client_id not in listed_clients
            and (extra := sorted(set(row.scopes) - set(SUPERVISOR_SCOPES)))
        ]
        held += [
            f"user {row.username!r} ({', '.join(extra)})"
            for row in people
            if row.username not in listed_users
            and (extra := sorted(set(row.roles) - set(SUPERVISOR_ROLES)))
        ]
        if held:
            errors.append(
                FieldError(
                    f"organizations[{index}].kind",
                    f"Organization {org['id']!r} cannot become a supervisor while it has "
                    f"{'; '.join(held)} registered; supervisors hold only {scopes} and {roles}.",
                )
            )
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


def load_registry(
    session: Session,
    data: Any,
    *,
    passwords: PasswordHasher,
    progress: Callable[[int, int], None] | None = None,
) -> LoadReport:
    """Validate the whole file, then insert or update each entry, hashing new passwords with
    ``passwords`` (the runtime's); the caller commits. ``progress``, if given, hears
    ``(entries done, entries)`` after each entry."""
    registry = _validate(data)
    _check_references(session, registry)
    _check_supervisors(session, registry)
    report = LoadReport()
    total = sum(len(registry[kind]) for kind in ("organizations", "oauth_clients", "users"))

    def step() -> None:
        if progress is not None:
            progress(sum(report.counts.values()), total)

    for org in registry["organizations"]:
        _upsert(
            session,
            Organization,
            org["id"],
            {
                "id": org["id"],
                "name": org["name"],
                "name_sv": org["name_sv"],
                "name_en": org["name_en"],
                "kind": org["kind"],
                "business_id": org["business_id"],
                "jwks": org["jwks"],
                "webhook_url": org["webhook_url"],
            },
            report,
            "organizations",
        )
        step()
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
        step()
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
            values["password_hash"] = passwords.hash(password)
        _upsert(session, User, user["username"], values, report, "users")
        step()
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

    def parties(self) -> list[Organization]:
        """The organizations that may take part in exchanges (all but supervisors), by name."""
        return [row for row in self.organizations() if row.kind != SUPERVISOR]

    def supervisors(self, ids: Iterable[str]) -> set[str]:
        """Which of ``ids`` are supervisor organizations."""
        query = select(Organization.id).where(
            Organization.id.in_(set(ids)), Organization.kind == SUPERVISOR
        )
        return set(self.session.execute(query).scalars())

    def names(self, ids: Iterable[str], language: str | None = None) -> dict[str, str]:
        """The names of the registered organizations among ``ids``: in ``language`` when
        given (see ``Organization.display_name``), otherwise as registered."""
        rows = self.session.execute(select(Organization).where(Organization.id.in_(set(ids))))
        return {
            row.id: row.display_name(language) if language else row.name for row in rows.scalars()
        }

    def colleagues(self, identity: Identity) -> list[User]:
        """The active users of the caller's organization, by name."""
        query = (
            select(User)
            .where(User.organization_id == identity.organization, User.active.is_(True))
            .order_by(User.name, User.username)
        )
        return list(self.session.execute(query).scalars())
