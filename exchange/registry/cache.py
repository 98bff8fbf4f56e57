"""The registry as a process keeps it: immutable snapshots of organizations, OAuth clients and
users, good for one registry version.

Every write to a registry row raises ``registry_version.version`` in the writing transaction
(:func:`install`: a ``before_flush`` listener on every session, and ``do_orm_execute`` for ORM
bulk statements; no door has to remember it). A unit of work reads the version once, with its
first look at the registry (:func:`current_version`); the process's snapshots are used while
they were read at that version, and dropped when it differs. So a request costs one small
SELECT instead of the client, organization and user rows, and a changed scope, key or
deactivation, written through any door by any process, holds from the next request on.

A session that has written registry rows itself reads past the cache until its transaction
ends: what it sees is not committed, and a rolled-back write would otherwise leave a version
number behind that a later write reuses.

The first statement of a unit of work is usually this version read, so it is also where a
pooled connection the database has dropped is noticed (there is no pre-ping): the read is
retried once on a fresh connection when nothing else has run in the transaction yet.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlalchemy import event, insert, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

from exchange.registry.models import (
    OAuthClient,
    Organization,
    RegistryVersion,
    User,
    grantable_scopes,
    name_in,
)

REGISTRY_MODELS = (Organization, OAuthClient, User)
REGISTRY_TABLES = frozenset(model.__tablename__ for model in REGISTRY_MODELS)
_WROTE = "registry_written"  # session.info: this transaction changed registry rows
_VERSION = "registry_version"  # session.info: the version this transaction read
T = TypeVar("T")


# --- the snapshots ------------------------------------------------------------------------


def _key_set(jwks: Mapping[str, Any]) -> KeySet:
    try:
        return KeySet.import_key_set(copy.deepcopy(dict(jwks)))  # type: ignore[arg-type]  # a JWKS
    except (JoseError, ValueError, TypeError, KeyError):
        # Validated at load; a row written past the loader verifies nothing rather than fail.
        return KeySet([])


@dataclass(frozen=True)
class OrganizationEntry:
    """An organization as registered; ``keys`` (its JWKS, parsed once) verify its packets."""

    id: str
    name: str
    name_sv: str | None
    name_en: str | None
    kind: str
    business_id: str
    webhook_url: str | None
    jwks: Mapping[str, Any]  # a private copy; read, never change
    keys: KeySet

    @classmethod
    def of(cls, row: Organization) -> OrganizationEntry:
        jwks = copy.deepcopy(dict(row.jwks))
        return cls(
            id=row.id,
            name=row.name,
            name_sv=row.name_sv,
            name_en=row.name_en,
            kind=row.kind,
            business_id=row.business_id,
            webhook_url=row.webhook_url,
            jwks=jwks,
            keys=_key_set(jwks),
        )

    def display_name(self, language: str) -> str:
        """The organization's name in ``language`` (see :func:`name_in`)."""
        return name_in(language, self.name, self.name_sv, self.name_en)


@dataclass(frozen=True)
class OAuthClientEntry:
    """A machine client as registered; ``keys`` (its JWKS, parsed once) verify its assertions."""

    client_id: str
    organization_id: str
    organization: OrganizationEntry
    scopes: frozenset[str]
    grantable_scopes: frozenset[str]  # what a token may carry (a supervisor's: audit:read only)
    active: bool
    keys: KeySet

    @classmethod
    def of(cls, row: OAuthClient, organization: OrganizationEntry) -> OAuthClientEntry:
        return cls(
            client_id=row.client_id,
            organization_id=row.organization_id,
            organization=organization,
            scopes=frozenset(row.scopes),
            grantable_scopes=grantable_scopes(row.scopes, organization.kind),
            active=bool(row.active),
            keys=_key_set(row.jwks),
        )


@dataclass(frozen=True)
class UserEntry:
    """A person as registered (the password hash stays in the database: sign-in reads it)."""

    username: str
    organization_id: str
    name: str
    roles: frozenset[str]
    active: bool
    deactivated: bool  # by the service (a staff change), not by the registry file

    @classmethod
    def of(cls, row: User) -> UserEntry:
        return cls(
            username=row.username,
            organization_id=row.organization_id,
            name=row.name,
            roles=frozenset(row.roles),
            active=bool(row.active),
            deactivated=row.deactivated_at is not None,
        )


# --- the version --------------------------------------------------------------------------


def _writes_registry(session: Session) -> bool:
    if session.info.get(_WROTE):
        return True
    pending = (*session.new, *session.deleted, *session.dirty)
    return any(isinstance(row, REGISTRY_MODELS) for row in pending)


def current_version(session: Session) -> int:
    """The registry version ``session``'s transaction sees, read once per transaction.

    Should the read be the transaction's first statement and find its pooled connection gone
    (the database restarted, a proxy cut it), it is retried once on a new connection: nothing
    has happened yet that a retry could repeat.
    """
    known: int | None = session.info.get(_VERSION)
    if known is not None:
        return known
    query = select(RegistryVersion.version).where(RegistryVersion.id == 1)
    first = not session.in_transaction()
    try:
        value = session.execute(query).scalar_one_or_none()
    except DBAPIError as exc:
        if not (first and exc.connection_invalidated):
            raise
        session.rollback()
        value = session.execute(query).scalar_one_or_none()
    version = int(value or 0)
    session.info[_VERSION] = version
    return version


def bump(session: Session) -> None:
    """Raise the registry version in ``session``'s transaction.

    Once per flush that changes registry rows, not once per transaction: a savepoint rolled
    back takes its raise with it, and a later write in the same transaction must raise again.
    """
    session.info[_WROTE] = True
    session.info.pop(_VERSION, None)
    connection = session.connection()
    # On the connection, not through the session: no autoflush (this runs inside a flush).
    raised = connection.execute(
        update(RegistryVersion)
        .where(RegistryVersion.id == 1)
        .values(version=RegistryVersion.version + 1)
    )
    if raised.rowcount == 0:  # a schema made without the migration's row
        connection.execute(insert(RegistryVersion).values(id=1, version=1))


def _before_flush(session: Session, _context: UOWTransaction, _instances: Any) -> None:
    changed = (
        *session.new,
        *session.deleted,
        *(row for row in session.dirty if session.is_modified(row)),
    )
    if any(isinstance(row, REGISTRY_MODELS) for row in changed):
        bump(session)


def _do_orm_execute(state: ORMExecuteState) -> None:
    # ORM bulk INSERT/UPDATE/DELETE statements bypass the flush.
    if not (state.is_insert or state.is_update or state.is_delete):
        return
    if any(mapper.class_ in REGISTRY_MODELS for mapper in state.all_mappers):
        bump(state.session)


def _after_transaction_end(session: Session, transaction: Any) -> None:
    if transaction.parent is None:  # the session's own transaction, not a savepoint
        session.info.pop(_WROTE, None)
        session.info.pop(_VERSION, None)


def install() -> None:
    """Make every session raise the registry version when it writes registry rows (and forget
    what it read at the end of each transaction); idempotent."""
    for name, listener in (
        ("before_flush", _before_flush),
        ("do_orm_execute", _do_orm_execute),
        ("after_transaction_end", _after_transaction_end),
    ):
        if not event.contains(Session, name, listener):
            event.listen(Session, name, listener)


# --- the cache ----------------------------------------------------------------------------


class RegistryCache:
    """A process's snapshots of registry rows, all read at one registry version.

    Rows are read lazily, one key at a time, and kept until a unit of work reads a newer
    version; unknown keys are not remembered (a stream of made-up names cannot grow it).
    Thread-safe: one lock guards the version and the dictionary, never a database read.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._version = -1
        self._entries: dict[tuple[str, str], object] = {}

    def view(self, session: Session) -> RegistryView:
        """The registry as ``session``'s transaction sees it, through this cache."""
        return RegistryView(self, session)

    def _lookup(
        self, session: Session, kind: str, key: str, load: Callable[[], T | None]
    ) -> T | None:
        version = current_version(session)  # may autoflush: before the check below
        if _writes_registry(session):
            return load()
        with self._lock:
            if version != self._version:  # newer, or (a restored database) older: start over
                self._version, self._entries = version, {}
            found = self._entries.get((kind, key))
        if found is not None:
            return found  # type: ignore[return-value]  # stored under this kind by load()
        entry = load()
        with self._lock:
            # Kept only while the cache is still at the version these rows were read at.
            if entry is not None and version == self._version and not _writes_registry(session):
                self._entries[(kind, key)] = entry
        return entry


class RegistryView:
    """Registry look-ups for one session: cached snapshots, or the rows when stale."""

    def __init__(self, cache: RegistryCache, session: Session) -> None:
        self.cache = cache
        self.session = session

    def version(self) -> int:
        """The registry version this view's transaction reads at."""
        return current_version(self.session)

    def organization(self, organization_id: str) -> OrganizationEntry | None:
        """The organization ``organization_id``, or None."""
        return self.cache._lookup(
            self.session,
            "organization",
            organization_id,
            lambda: self._organization(organization_id),
        )

    def oauth_client(self, client_id: str) -> OAuthClientEntry | None:
        """The OAuth client ``client_id`` (active or not), or None."""
        return self.cache._lookup(
            self.session, "oauth_client", client_id, lambda: self._oauth_client(client_id)
        )

    def user(self, username: str) -> UserEntry | None:
        """The user ``username`` (active or not), or None."""
        return self.cache._lookup(self.session, "user", username, lambda: self._user(username))

    # Fresh reads (populate_existing: a long-lived session's identity map may hold old rows).

    def _organization(self, organization_id: str) -> OrganizationEntry | None:
        row = self.session.execute(
            select(Organization)
            .where(Organization.id == organization_id)
            .execution_options(populate_existing=True)
        ).scalar_one_or_none()
        return OrganizationEntry.of(row) if row is not None else None

    def _oauth_client(self, client_id: str) -> OAuthClientEntry | None:
        # One statement: the client's organization comes joined (``lazy="joined"``).
        row = self.session.execute(
            select(OAuthClient)
            .where(OAuthClient.client_id == client_id)
            .execution_options(populate_existing=True)
        ).scalar_one_or_none()
        if row is None:
            return None
        return OAuthClientEntry.of(row, OrganizationEntry.of(row.organization))

    def _user(self, username: str) -> UserEntry | None:
        row = self.session.execute(
            select(User).where(User.username == username).execution_options(populate_existing=True)
        ).scalar_one_or_none()
        return UserEntry.of(row) if row is not None else None


# --- the request's registry ---------------------------------------------------------------


def _current_view() -> RegistryView:
    from exchange.runtime import runtime
    from exchange.unit import current_unit

    return runtime().registry.view(current_unit().session)


def organization(organization_id: str) -> OrganizationEntry | None:
    """The organization ``organization_id`` as the current request sees it, or None."""
    return _current_view().organization(organization_id)


def oauth_client(client_id: str) -> OAuthClientEntry | None:
    """The OAuth client ``client_id`` as the current request sees it, or None."""
    return _current_view().oauth_client(client_id)


def user(username: str) -> UserEntry | None:
    """The user ``username`` as the current request sees it, or None."""
    return _current_view().user(username)
