"""Sign a handover packet with an organization's packet-signing key and send it, as an agency
system would.

    .venv/bin/python deploy/send_packet.py --payload packet.json \\
        --key instance/demo/keys/lieto-kisalli.packets.jwk.json \\
        (--token TOKEN | --client-id lieto-kisalli-system \\
                         --client-key instance/demo/keys/lieto-kisalli-system.jwk.json) \\
        [--issuer http://127.0.0.1:5000] [--idempotency-key KEY]

The payload file's bytes are signed as they are (a compact JWS, header ``alg``, ``kid`` and
``typ: handover+jws``) and POSTed to /v1/packets. Prints the service's answer as JSON: the
packet id, status and signed receipt, or the problem+json. Exits 0 on 201, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import requests
from get_token import fetch_token  # deploy/get_token.py, beside this file
from joserfc import jws
from joserfc.jwk import import_key

DEFAULT_ALGORITHMS = {"EC": "ES256", "OKP": "Ed25519", "RSA": "PS256"}


def sign_packet(payload: bytes, key_file: Path) -> str:
    """The compact JWS over ``payload`` with the private JWK in ``key_file``."""
    jwk = json.loads(key_file.read_text())
    key = import_key(jwk)
    alg = jwk.get("alg") or DEFAULT_ALGORITHMS[jwk["kty"]]
    header = {"alg": alg, "kid": key.kid, "typ": "handover+jws"}
    return jws.serialize_compact(header, payload, key, algorithms=[alg])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--payload", required=True, type=Path, help="the packet JSON (file)")
    parser.add_argument(
        "--key",
        required=True,
        type=Path,
        help="the organization's private packet-signing JWK (JSON file)",
    )
    parser.add_argument("--issuer", default="http://127.0.0.1:5000")
    credentials = parser.add_mutually_exclusive_group(required=True)
    credentials.add_argument("--token", help="an access token with packets:send")
    credentials.add_argument("--client-id", help="get a token for this OAuth client first")
    parser.add_argument(
        "--client-key", type=Path, help="with --client-id: the client's private JWK (JSON file)"
    )
    parser.add_argument(
        "--idempotency-key", default=None, help="sent as Idempotency-Key: a retry is safe"
    )
    args = parser.parse_args()
    if args.client_id and not args.client_key:
        parser.error("--client-id needs --client-key")

    payload = args.payload.read_bytes()
    try:
        json.loads(payload)
    except ValueError as exc:
        parser.error(f"{args.payload} is not JSON: {exc}")
    token = args.token or fetch_token(args.client_id, args.client_key, args.issuer)["access_token"]
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/jose"}
    if args.idempotency_key:
        headers["Idempotency-Key"] = args.idempotency_key
    response = requests.post(
        f"{args.issuer}/v1/packets",
        data=sign_packet(payload, args.key),
        headers=headers,
        timeout=30,
    )
    try:
        print(json.dumps(response.json(), indent=2, ensure_ascii=False))
    except ValueError:
        print(f"HTTP {response.status_code}: {response.text}", file=sys.stderr)
    return 0 if response.status_code == 201 else 1


if __name__ == "__main__":
    sys.exit(main())
