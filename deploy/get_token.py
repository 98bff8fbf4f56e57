"""Get an access token with a client's private key (private_key_jwt), as an agency system would.

    .venv/bin/python deploy/get_token.py --client-id lieto-kisalli-system \
        --key instance/demo/keys/lieto-kisalli-system.jwk.json \
        [--issuer http://127.0.0.1:5000] [--scope "..."]

Prints the token response as JSON. Uses authlib's requests client.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import requests
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from authlib.oauth2.rfc7523.assertion import private_key_jwt_sign
from joserfc.jwk import import_key


class ShortLivedPrivateKeyJWT(PrivateKeyJWT):
    """authlib's PrivateKeyJWT with a two-minute assertion and the key's kid in the header."""

    def sign(self, auth: Any, token_endpoint: str) -> str:
        key = auth.client_secret
        return private_key_jwt_sign(
            key,
            client_id=auth.client_id,
            token_endpoint=token_endpoint,
            alg=self.alg,
            header={"alg": self.alg, "kid": key.kid},
            expires_in=120,
        )


def fetch_token(client_id: str, key_file: Path, issuer: str, scope: str | None = None) -> Any:
    """The token response for ``client_id``, authenticated with its private JWK in ``key_file``."""
    jwk = json.loads(key_file.read_text())
    key = import_key(jwk)
    alg = jwk.get("alg") or {"EC": "ES256", "OKP": "Ed25519", "RSA": "PS256"}[jwk["kty"]]
    metadata = requests.get(f"{issuer}/.well-known/oauth-authorization-server", timeout=10).json()
    token_endpoint = metadata["token_endpoint"]

    auth = ShortLivedPrivateKeyJWT(token_endpoint, alg=alg)
    session = OAuth2Session(client_id, key, token_endpoint_auth_method=auth, scope=scope)
    return session.fetch_token(token_endpoint, grant_type="client_credentials")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--client-id", required=True)
    parser.add_argument(
        "--key", required=True, type=Path, help="the client's private JWK (JSON file)"
    )
    parser.add_argument("--issuer", default="http://127.0.0.1:5000")
    parser.add_argument(
        "--scope", default=None, help="space-separated scopes (default: all the client has)"
    )
    args = parser.parse_args()

    token = fetch_token(args.client_id, args.key, args.issuer, args.scope)
    print(json.dumps(dict(token), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
