"""Client look-up: the identity code in, an opaque id out; the code kept only encrypted.

A client may also have a name. It is stored like packet content: under its own data key,
wrapped by the current key-encryption key, the ciphertext bound to the client. Reading a
client gives the name and the identity code masked to its date part; the full code is shown
only by ``reveal``, which is audited as ``client.reveal``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload, lazyload, load_only
from sqlalchemy.orm.attributes import set_committed_value

from adapters import envelope
from adapters.crypto import keyed_hash, seal, unseal
from adapters.keys import KeyStore
from consent.identifiers import mask_hetu
from exchange import audit
from exchange.clients.models import Client
from exchange.consents.models import RECORD_COLUMNS, Consent
from exchange.errors import Denial
from exchange.policy import Identity, permits
from exchange.unit import UnitOfWork

# How many of an organization's clients a search by name opens at most (see search_names).
NAME_SEARCH_LIMIT = 300


@dataclass(frozen=True)
class ClientRecord:
    """What an involved organization sees of a client."""

    id: str
    name: str | None
    hetu_masked: str


def name_object(client_id: str) -> str:
    """The envelope's object id of a client's name: its own, never a packet's."""
    return f"client-name:{client_id}"


class ClientService:
    def __init__(self, uow: UnitOfWork, keys: KeyStore) -> None:
        self.uow = uow
        self.session = uow.session
        self.keys = keys

    def _lookup_key(self, hetu: str) -> str:
        return keyed_hash(self.keys.hetu_lookup_key, hetu)

    @staticmethod
    def _aad(client_id: str) -> bytes:
        # Binds the ciphertext to its row: a code copied onto another client will not open.
        return b"client.hetu:" + client_id.encode()

    def find(self, hetu: str, *, with_consents: bool = False) -> Client | None:
        """The client with this (validated, canonical) identity code, if known; with
        ``with_consents`` its consent records come in the same statement."""
        query = select(Client).where(Client.hetu_lookup == self._lookup_key(hetu))
        return first_client(self.session, query, with_consents)

    def lookup(
        self, identity: Identity, hetu: str, name: str | None = None, *, with_consents: bool = False
    ) -> tuple[Client, bool]:
        """The client's record, created on first sight; a given ``name`` is stored (replacing
        any earlier one) in the same transaction. Audited as ``client.lookup``. With
        ``with_consents``, ``client.consents`` is loaded too."""
        client, created = self.find(hetu, with_consents=with_consents), False
        if client is None:
            client_id = str(uuid.uuid4())
            candidate = Client(
                id=client_id,
                hetu_lookup=self._lookup_key(hetu),
                hetu_encrypted=seal(
                    self.keys.hetu_encryption_key, hetu.encode(), self._aad(client_id)
                ),
            )
            try:
                with self.session.begin_nested():
                    self.session.add(candidate)
                client, created = candidate, True
                set_committed_value(client, "consents", [])
            except IntegrityError:
                # Another request created the same person a moment ago: use theirs.
                client = self.find(hetu, with_consents=with_consents)
                if client is None:
                    raise
        if name is not None:
            self._set_name(client, name)
        audit.record(
            self.session,
            identity,
            "client.lookup",
            resource_type="client",
            resource_id=client.id,
            client_ref=client.id,
        )
        return client, created

    def _set_name(self, client: Client, name: str) -> None:
        sealed = envelope.encrypt(self.keys, name_object(client.id), client.id, name.encode())
        client.name_ciphertext = sealed.ciphertext
        client.name_wrapped_key = sealed.wrapped_key
        client.name_kek_version = sealed.kek_version

    def name_of(self, client: Client) -> str | None:
        """The client's name, when one was given."""
        sealed = _sealed_name(client)
        if sealed is None:
            return None
        return envelope.decrypt(self.keys, name_object(client.id), client.id, sealed).decode()

    def hetu_of(self, client: Client) -> str:
        """Decrypt a client's identity code (for receipts addressed to the client)."""
        return unseal(
            self.keys.hetu_encryption_key, client.hetu_encrypted, self._aad(client.id)
        ).decode()

    def record_of(self, client: Client) -> ClientRecord:
        """What a page or printout shows of a client: the name and the masked identity code."""
        return ClientRecord(client.id, self.name_of(client), mask_hetu(self.hetu_of(client)))

    def audit_access(self, identity: Identity, action: str, client_id: str) -> None:
        """Record that ``identity`` did ``action`` on the client's record."""
        audit.record(
            self.session,
            identity,
            action,
            resource_type="client",
            resource_id=client_id,
            client_ref=client_id,
        )

    def _opened(self, identity: Identity, client_id: str, action: str) -> Client:
        """The client, when the caller's organization is involved with them (the same rule as
        the client's lead and access report), with ``action`` audited; 404 otherwise."""
        # continuity.service builds on this module (it registers clients named by HETU).
        from exchange.continuity.service import client_not_found, is_involved

        client = self.session.get(Client, client_id)
        if client is None or not is_involved(self.session, client.id, identity.organization):
            raise client_not_found(self.uow, client_id, action)
        self.audit_access(identity, action, client.id)
        return client

    def read(self, identity: Identity, client_id: str) -> ClientRecord:
        """The client's name and masked identity code; audited as ``client.read``, as every
        read of a client's record is."""
        return self.record_of(self._opened(identity, client_id, "client.read"))

    def for_printout(self, client_id: str) -> ClientRecord | None:
        """The name and masked code for a printout the caller has already been let to see;
        that printout's own read is the audited one."""
        client = self.session.get(Client, client_id)
        return self.record_of(client) if client is not None else None

    def shown(self, identity: Identity, client_id: str) -> ClientRecord | None:
        """The client's name and masked identity code for a page about one of their records;
        None, with nothing recorded, when the caller may not read the client (the policy's
        ``client.read``, the involvement rule): the page then names no client, as a page
        decides what to offer. Audited as ``client.read`` when shown."""
        # continuity.service builds on this module (it registers clients named by HETU).
        from exchange.continuity.service import involved_client

        if not permits(identity, "client.read"):
            return None
        client = involved_client(self.session, client_id, identity.organization)
        if client is None:
            return None
        self.audit_access(identity, "client.read", client.id)
        return self.record_of(client)

    def reveal(self, identity: Identity, client_id: str) -> str:
        """The client's full identity code; audited as ``client.reveal`` (the code itself
        never reaches the event)."""
        return self.hetu_of(self._opened(identity, client_id, "client.reveal"))

    def find_involved(self, identity: Identity, hetu: str) -> str | None:
        """The id of the client with this (validated, canonical) identity code when the
        caller's organization is involved with them; None for an unknown code and for another's
        client alike (a denial in the audit log). Audited as ``client.search``; the code itself
        never reaches the log."""
        # continuity.service builds on this module (it registers clients named by HETU).
        from exchange.continuity.service import is_involved

        client = self.find(hetu)
        if client is None or not is_involved(self.session, client.id, identity.organization):
            self.uow.deny(
                Denial(
                    "client.search",
                    resource_type="client",
                    resource_id=client.id if client is not None else None,
                    reason="client_not_found",
                )
            )
            return None
        self.audit_access(identity, "client.search", client.id)
        return client.id

    def search_names(self, identity: Identity, text: str) -> list[ClientRecord]:
        """The clients the caller's organization is involved with whose name contains
        ``text`` (case-insensitively), by name; each one shown is audited as ``client.search``.

        Names are sealed under their own data keys, so the database cannot compare them: the
        involved clients (at most ``NAME_SEARCH_LIMIT``, the most recently registered) are
        opened here and matched in Python. Clients without a name are never found by name."""
        from exchange.continuity.service import involvement

        wanted = text.strip().casefold()
        if not wanted:
            return []
        rows = self.session.execute(
            select(Client)
            .where(involvement(Client.id, identity.organization))
            .order_by(Client.created_at.desc(), Client.id)
            .limit(NAME_SEARCH_LIMIT)
        ).scalars()
        found: list[ClientRecord] = []
        for client in rows:
            name = self.name_of(client)
            if name is None or wanted not in name.casefold():
                continue
            found.append(ClientRecord(client.id, name, mask_hetu(self.hetu_of(client))))
            self.audit_access(identity, "client.search", client.id)
        return sorted(found, key=lambda record: ((record.name or "").casefold(), record.id))

    def rewrap_names(self, progress: Callable[[int, int], None] | None = None) -> int:
        """Wrap every older name's data key with the current KEK (after ``keys rotate``);
        ``progress``, if given, hears ``(clients looked at, clients to look at)``."""
        rows = list(
            self.session.execute(
                select(Client).where(Client.name_kek_version < self.keys.kek_version)
            ).scalars()
        )
        count = 0
        for done, row in enumerate(rows, 1):
            sealed = _sealed_name(row)
            if sealed is not None:
                moved = envelope.rewrap(self.keys, name_object(row.id), sealed)
                row.name_wrapped_key, row.name_kek_version = moved.wrapped_key, moved.kek_version
                count += 1
            if progress is not None:
                progress(done, len(rows))
        return count


# The client's consent records joined in, as a decision reads them (no text, no parties,
# no events).
WITH_CONSENTS = joinedload(Client.consents).options(
    load_only(*RECORD_COLUMNS), lazyload(Consent.parties), lazyload(Consent.events)
)


def first_client(session: Session, query: Select[Client], with_consents: bool) -> Client | None:
    """The one client ``query`` selects, if any; with ``with_consents`` its consent records
    are joined in (their own parties and events are not loaded)."""
    if with_consents:
        query = query.options(
            joinedload(Client.consents).options(lazyload(Consent.parties), lazyload(Consent.events))
        )
    client: Client | None = session.execute(query).unique().scalar_one_or_none()
    return client


def _sealed_name(client: Client) -> envelope.Sealed | None:
    ciphertext, wrapped, version = (
        client.name_ciphertext,
        client.name_wrapped_key,
        client.name_kek_version,
    )
    if ciphertext is None or wrapped is None or version is None:
        return None
    return envelope.Sealed(ciphertext, wrapped, version)
