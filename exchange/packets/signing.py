"""Verifying senders' packet signatures and signing the service's receipts."""

from __future__ import annotations

import base64
import binascii
import json
import warnings
from dataclasses import dataclass
from typing import Any

from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from adapters.keys import SIGNING_ALG, KeyStore
from exchange.errors import Malformed
from schemas import strictjson

PACKET_ALGORITHMS = ["Ed25519", "EdDSA", "ES256", "PS256"]
PACKET_TYPES = {"handover+jws", "application/handover+jws"}
RECEIPT_TYP = "handover-receipt+jws"


@dataclass(frozen=True)
class VerifiedPacket:
    header: dict[str, Any]
    payload: bytes


def _b64decode(segment: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (ValueError, binascii.Error) as exc:
        raise Malformed("The packet is not a compact JWS.", code="invalid_jws") from exc


def _registry(size: int) -> jws.JWSRegistry:
    """The packet algorithms, with room for any payload the body limit let in: joserfc's own
    default (128 kB) would refuse a valid packet that the service accepts in size."""
    registry = jws.JWSRegistry(algorithms=PACKET_ALGORITHMS)
    registry.max_payload_length = max(registry.max_payload_length, size)
    return registry


def verify_packet(token: str, jwks: KeySet | dict[str, Any]) -> VerifiedPacket:
    """Check the compact JWS against the sender organization's registered keys (and only those):
    its JWKS, or the key set made of it once."""
    parts = token.split(".")
    if len(parts) != 3 or not all(parts):
        raise Malformed(
            "The packet is not a compact JWS (header.payload.signature).", code="invalid_jws"
        )
    header = strictjson.loads(_b64decode(parts[0]))
    if not isinstance(header, dict):
        raise Malformed("The JWS header is not a JSON object.", code="invalid_jws")
    if header.get("alg") not in PACKET_ALGORITHMS:
        raise Malformed(
            f"The packet must be signed with one of {', '.join(PACKET_ALGORITHMS)}.",
            code="unsupported_algorithm",
        )
    if "crit" in header or header.get("b64") is False:
        raise Malformed(
            "Critical or unencoded-payload JWS headers are not supported.", code="invalid_jws"
        )
    if "typ" in header and header["typ"] not in PACKET_TYPES:
        raise Malformed("The JWS typ must be handover+jws.", code="invalid_jws")
    if not isinstance(header.get("kid"), str):
        raise Malformed("The JWS header must name the signing key (kid).", code="invalid_jws")
    try:
        keys = jwks if isinstance(jwks, KeySet) else KeySet.import_key_set(jwks)  # type: ignore[arg-type]  # validated at registry load
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="EdDSA is deprecated")
            verified = jws.deserialize_compact(token, keys, registry=_registry(len(token)))
    except (JoseError, ValueError) as exc:
        raise Malformed(
            "The packet signature does not verify with your organization's registered keys.",
            code="invalid_signature",
        ) from exc
    return VerifiedPacket(dict(verified.protected), verified.payload)


def sign_receipt(document: dict[str, Any], keys: KeyStore) -> str:
    """The service's receipt for a packet, as a compact JWS."""
    key = keys.signing_key
    payload = json.dumps(document, separators=(",", ":"), sort_keys=True).encode()
    header = {"alg": SIGNING_ALG, "kid": key.kid, "typ": RECEIPT_TYP}
    return jws.serialize_compact(header, payload, key, algorithms=[SIGNING_ALG])
