"""Single sign-on through an external OpenID Connect provider (authlib's Flask client).

Off unless ``EXCHANGE_OIDC_ISSUER`` is set. The provider proves who the person
is; the registry still decides who may sign in and with which roles: the
configured claim must name an active registry user. The ID token is checked
by authlib (signature against the provider's JWKS, ``iss``, ``aud``, ``exp``,
``nonce``, ``at_hash``); only asymmetric signature algorithms are accepted.
"""

from __future__ import annotations

from typing import Any

from authlib.integrations.base_client import OAuthError
from authlib.integrations.flask_client import OAuth
from flask import Flask, current_app
from joserfc.errors import JoseError
from requests import RequestException

from exchange.registry.models import User
from exchange.unit import current_unit

PROVIDER = "oidc"
EXTENSION = "exchange.sso"
ID_TOKEN_ALGORITHMS = ("ES256", "ES384", "PS256", "PS384", "RS256", "RS384", "EdDSA", "Ed25519")


class SsoFailed(Exception):
    """The provider's answer did not sign anyone in (a refusal, a bad token, no such user)."""


def enabled() -> bool:
    return bool(current_app.config.get("OIDC_ISSUER"))


def setup_sso(app: Flask) -> None:
    config = app.config
    if not config.get("OIDC_ISSUER"):
        return
    oauth = OAuth(app)  # one per app: the registry of clients must not be shared
    app.extensions[EXTENSION] = oauth
    oauth.register(
        PROVIDER,
        client_id=config["OIDC_CLIENT_ID"],
        client_secret=config["OIDC_CLIENT_SECRET"],
        server_metadata_url=config["OIDC_ISSUER"] + "/.well-known/openid-configuration",
        client_kwargs={
            "scope": "openid profile email",
            "code_challenge_method": "S256",
            "default_timeout": 10,
        },
    )


def _client() -> Any:
    client = current_app.extensions[EXTENSION].create_client(PROVIDER)
    metadata = client.load_server_metadata()
    if metadata.get("issuer", "").rstrip("/") != current_app.config["OIDC_ISSUER"]:
        raise SsoFailed("the provider's discovery document names another issuer")
    # A provider offering "none" or HMAC is not trusted with our sign-in.
    offered = metadata.get("id_token_signing_alg_values_supported") or ["RS256"]
    metadata["id_token_signing_alg_values_supported"] = [
        alg for alg in offered if alg in ID_TOKEN_ALGORITHMS
    ]
    if not metadata["id_token_signing_alg_values_supported"]:
        raise SsoFailed("the provider offers no accepted ID-token signature algorithm")
    return client


def begin(redirect_uri: str) -> Any:
    """The redirect to the provider; state, nonce and the PKCE verifier go in the session."""
    try:
        return _client().authorize_redirect(redirect_uri)
    except (RequestException, ValueError) as exc:
        raise SsoFailed(f"the provider cannot be reached: {type(exc).__name__}") from exc


def finish() -> User:
    """The registry user the provider's callback names; raises SsoFailed otherwise."""
    try:
        token = _client().authorize_access_token()
    except (OAuthError, JoseError, RequestException, ValueError) as exc:
        raise SsoFailed(f"the provider's answer was refused: {type(exc).__name__}") from exc
    claims = token.get("userinfo") or {}
    username = claims.get(current_app.config["OIDC_USERNAME_CLAIM"])
    if not isinstance(username, str) or not username:
        raise SsoFailed("the ID token has no username claim")
    user = current_unit().session.get(User, username)
    if user is None or not user.active:
        raise SsoFailed("no active registry user by that name")
    return user
