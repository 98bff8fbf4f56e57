"""Symmetric primitives: AES-256-GCM sealing and keyed look-up hashes."""

from __future__ import annotations

import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

NONCE_BYTES = 12


class DecryptionError(Exception):
    """Ciphertext, key or associated data do not match."""


def seal(key: bytes, plaintext: bytes, associated_data: bytes) -> bytes:
    """AES-256-GCM with a fresh random nonce; returns nonce ‖ ciphertext ‖ tag."""
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, associated_data)


def unseal(key: bytes, sealed: bytes, associated_data: bytes) -> bytes:
    """Reverse ``seal``; raise DecryptionError when anything was altered."""
    try:
        return AESGCM(key).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], associated_data)
    except (InvalidTag, ValueError) as exc:
        raise DecryptionError("sealed data cannot be opened") from exc


def keyed_hash(key: bytes, value: str) -> str:
    """HMAC-SHA-256 of ``value`` as hex: a stable look-up key, meaningless without ``key``."""
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()
