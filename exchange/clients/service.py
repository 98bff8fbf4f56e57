"""Client look-up: the identity code in, an opaque id out; the code kept only encrypted."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from adapters.crypto import keyed_hash, seal, unseal
from adapters.keys import KeyStore
from exchange import audit
from exchange.clients.models import Client
from exchange.policy import Identity
from exchange.unit import UnitOfWork


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

    def find(self, hetu: str) -> Client | None:
        """The client with this (validated, canonical) identity code, if known."""
        return self.session.execute(
            select(Client).where(Client.hetu_lookup == self._lookup_key(hetu))
        ).scalar_one_or_none()

    def lookup(self, identity: Identity, hetu: str) -> tuple[Client, bool]:
        """The client's record, created on first sight; audited as ``client.lookup``."""
        client, created = self.find(hetu), False
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
            except IntegrityError:
                # Another request created the same person a moment ago: use theirs.
                client = self.find(hetu)
                if client is None:
                    raise
        audit.record(
            self.session,
            identity,
            "client.lookup",
            resource_type="client",
            resource_id=client.id,
            client_ref=client.id,
        )
        return client, created

    def hetu_of(self, client: Client) -> str:
        """Decrypt a client's identity code (for receipts addressed to the client)."""
        return unseal(
            self.keys.hetu_encryption_key, client.hetu_encrypted, self._aad(client.id)
        ).decode()
