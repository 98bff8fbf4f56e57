"""Envelope encryption: a fresh AES-256-GCM data key per object, wrapped by a versioned KEK.

The content's associated data binds it to its object id, its client and the
envelope format; the wrapped key's associated data binds it to the object id
and the KEK version. So ciphertext moved to another row, another client or
another key version does not open. Rotating the KEK only re-wraps data keys.

More content of the same object (a packet's read-back synthesis) may be sealed
under the object's data key as a named *part*: it is then re-wrapped and
crypto-shredded with the object, since both hang on the one wrapped key.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from adapters.crypto import seal, unseal
from adapters.keys import KeyStore

FORMAT = "env1"


@dataclass(frozen=True)
class Sealed:
    ciphertext: bytes
    wrapped_key: bytes
    kek_version: int


def _content_aad(object_id: str, client_id: str) -> bytes:
    return f"{FORMAT}|content|{object_id}|{client_id}".encode()


def _part_aad(object_id: str, client_id: str, part: str) -> bytes:
    return f"{FORMAT}|part|{part}|{object_id}|{client_id}".encode()


def _key_aad(object_id: str, kek_version: int) -> bytes:
    return f"{FORMAT}|dek|{object_id}|kek{kek_version}".encode()


def encrypt(keys: KeyStore, object_id: str, client_id: str, plaintext: bytes) -> Sealed:
    """Encrypt under a new data key wrapped by the current KEK."""
    data_key = os.urandom(32)
    version = keys.kek_version
    return Sealed(
        ciphertext=seal(data_key, plaintext, _content_aad(object_id, client_id)),
        wrapped_key=seal(keys.keks[version], data_key, _key_aad(object_id, version)),
        kek_version=version,
    )


def decrypt(keys: KeyStore, object_id: str, client_id: str, sealed: Sealed) -> bytes:
    """Unwrap the data key, open the content; DecryptionError when anything was altered."""
    data_key = unseal(
        keys.keks[sealed.kek_version], sealed.wrapped_key, _key_aad(object_id, sealed.kek_version)
    )
    return unseal(data_key, sealed.ciphertext, _content_aad(object_id, client_id))


def rewrap(keys: KeyStore, object_id: str, sealed: Sealed) -> Sealed:
    """The same content with its data key wrapped by the current KEK."""
    version = keys.kek_version
    if sealed.kek_version == version:
        return sealed
    data_key = unseal(
        keys.keks[sealed.kek_version], sealed.wrapped_key, _key_aad(object_id, sealed.kek_version)
    )
    return Sealed(
        sealed.ciphertext, seal(keys.keks[version], data_key, _key_aad(object_id, version)), version
    )


def _data_key(keys: KeyStore, object_id: str, sealed: Sealed) -> bytes:
    return unseal(
        keys.keks[sealed.kek_version], sealed.wrapped_key, _key_aad(object_id, sealed.kek_version)
    )


def encrypt_part(
    keys: KeyStore, object_id: str, client_id: str, part: str, sealed: Sealed, plaintext: bytes
) -> bytes:
    """Encrypt ``plaintext`` under the data key of the object ``sealed``: the part's
    ciphertext, bound to the object, its client and the part's name."""
    return seal(
        _data_key(keys, object_id, sealed), plaintext, _part_aad(object_id, client_id, part)
    )


def decrypt_part(
    keys: KeyStore, object_id: str, client_id: str, part: str, sealed: Sealed, ciphertext: bytes
) -> bytes:
    """Open a part sealed with ``encrypt_part``; DecryptionError when anything was altered."""
    return unseal(
        _data_key(keys, object_id, sealed), ciphertext, _part_aad(object_id, client_id, part)
    )
