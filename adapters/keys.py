"""The service's own keys, kept as files in ``EXCHANGE_KEYS_DIR``.

- ``signing.json``: private JWKs (ES256) that sign access tokens, receipts and
  checkpoints; the last one signs, all are published so older signatures verify.
- ``kek.json``: versioned AES-256 key-encryption keys; the highest version wraps.
- ``hetu.json``: the AES-256 key that encrypts identity codes and the HMAC key
  that makes their look-up hash.
- ``web.json``: the secret that signs web UI session cookies.

Files are written 0600 and never overwritten by ``init``.
"""

from __future__ import annotations

import base64
import copy
import json
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from joserfc.jwk import ECKey, KeySet

SIGNING_FILE = "signing.json"
KEK_FILE = "kek.json"
HETU_FILE = "hetu.json"
WEB_FILE = "web.json"
SIGNING_ALG = "ES256"


class MissingKeysError(RuntimeError):
    """The key directory lacks a key file (run ``exchange keys init``)."""


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _unb64(text: str) -> bytes:
    return base64.b64decode(text)


def _write_private(path: Path, content: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # the mode of os.open applies only to a file it creates
    with os.fdopen(fd, "w") as handle:
        json.dump(content, handle, indent=2)
    os.replace(tmp, path)


def _new_signing_key() -> dict[str, Any]:
    key = ECKey.generate_key("P-256", parameters={"use": "sig", "alg": SIGNING_ALG}, auto_kid=True)
    return dict(key.as_dict(private=True))


def init_keys(directory: str | Path) -> list[str]:
    """Create whichever key files are missing; return the names created."""
    base = Path(directory)
    created = []
    if not (base / SIGNING_FILE).exists():
        _write_private(base / SIGNING_FILE, {"keys": [_new_signing_key()]})
        created.append(SIGNING_FILE)
    if not (base / KEK_FILE).exists():
        _write_private(base / KEK_FILE, {"keys": {"1": _b64(os.urandom(32))}})
        created.append(KEK_FILE)
    if not (base / HETU_FILE).exists():
        _write_private(
            base / HETU_FILE,
            {"encryption_key": _b64(os.urandom(32)), "lookup_key": _b64(os.urandom(32))},
        )
        created.append(HETU_FILE)
    if not (base / WEB_FILE).exists():
        _write_private(base / WEB_FILE, {"session_secret": _b64(os.urandom(32))})
        created.append(WEB_FILE)
    return created


def rotate_keys(directory: str | Path) -> dict[str, str]:
    """Add a new signing key and a new key-encryption key version; old ones stay usable."""
    store = KeyStore.load(directory)
    base = Path(directory)
    signing = json.loads((base / SIGNING_FILE).read_text())
    new_signing = _new_signing_key()
    signing["keys"].append(new_signing)
    _write_private(base / SIGNING_FILE, signing)
    keks = json.loads((base / KEK_FILE).read_text())
    new_version = store.kek_version + 1
    keks["keys"][str(new_version)] = _b64(os.urandom(32))
    _write_private(base / KEK_FILE, keks)
    return {"signing_kid": new_signing["kid"], "kek_version": str(new_version)}


@dataclass(frozen=True)
class KeyStore:
    signing_keys: tuple[ECKey, ...]
    keks: dict[int, bytes]
    hetu_encryption_key: bytes
    hetu_lookup_key: bytes
    session_secret: bytes

    @cached_property
    def audit_seal_key(self) -> bytes:
        """The key that seals each audit event (HMAC over its chain hash): derived from the
        identity-code look-up key, which never rotates, so no new key file is needed; a
        database-only attacker cannot recompute a seal."""
        return HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=b"exchange audit seal v1"
        ).derive(self.hetu_lookup_key)

    @classmethod
    def load(cls, directory: str | Path) -> KeyStore:
        """Read every key file; raise MissingKeysError naming the first one absent."""
        base = Path(directory)
        for name in (SIGNING_FILE, KEK_FILE, HETU_FILE, WEB_FILE):
            if not (base / name).is_file():
                raise MissingKeysError(
                    f"key file {name} is missing in the keys directory (run 'exchange keys init')"
                )
        signing = json.loads((base / SIGNING_FILE).read_text())
        keks = json.loads((base / KEK_FILE).read_text())
        hetu = json.loads((base / HETU_FILE).read_text())
        web = json.loads((base / WEB_FILE).read_text())
        return cls(
            signing_keys=tuple(ECKey.import_key(k) for k in signing["keys"]),
            keks={int(version): _unb64(raw) for version, raw in keks["keys"].items()},
            hetu_encryption_key=_unb64(hetu["encryption_key"]),
            hetu_lookup_key=_unb64(hetu["lookup_key"]),
            session_secret=_unb64(web["session_secret"]),
        )

    @property
    def signing_key(self) -> ECKey:
        """The key that signs now (the newest)."""
        return self.signing_keys[-1]

    @property
    def kek_version(self) -> int:
        return max(self.keks)

    def public_jwks(self) -> dict[str, Any]:
        """The JWKS published at ``/.well-known/jwks.json``."""
        return copy.deepcopy(self._public_jwks)

    def verification_keys(self) -> KeySet:
        """The public keys, imported once per process (keys are read at start-up only)."""
        return self._verification_keys

    @cached_property
    def _public_jwks(self) -> dict[str, Any]:
        return dict(KeySet(list(self.signing_keys)).as_dict(private=False))

    @cached_property
    def _verification_keys(self) -> KeySet:
        return KeySet.import_key_set(self._public_jwks)  # type: ignore[arg-type]
