"""All OAuth 2.0 wiring (authlib): the token endpoint, client authentication, access tokens.

- Token endpoint: ``client_credentials`` only, clients authenticate only with
  ``private_key_jwt`` (RFC 7523): ``iss`` = ``sub`` = client id, ``aud`` the
  issuer or the token endpoint, ``exp`` required and at most
  ``ASSERTION_MAX_LIFETIME`` ahead, ``jti`` single-use (kept in Redis until the
  assertion expires). Keys come only from the registry, never from ``jku``/``x5u``.
- Access tokens: RFC 9068 JWTs (``typ`` ``at+jwt``) signed with the service key,
  accepted only in the ``Authorization`` header.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
import warnings
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, ClassVar, ParamSpec, TypeVar

from authlib.common.security import generate_token
from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import ClientMixin, InvalidClientError, InvalidScopeError, scope_to_list
from authlib.oauth2.rfc6749.grants import ClientCredentialsGrant
from authlib.oauth2.rfc6750 import BearerTokenGenerator
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from authlib.oauth2.rfc9068 import JWTBearerTokenValidator
from flask import Blueprint, Flask, Response, g, jsonify, request
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from limits import parse as parse_limit

from consent.vocabulary import SCOPES
from exchange.audit import record
from exchange.errors import Denial, Malformed, RateLimited, Unauthenticated
from exchange.policy import Identity, public
from exchange.registry.cache import OAuthClientEntry
from exchange.runtime import runtime
from exchange.unit import UnitOfWork, current_unit

ASSERTION_ALGORITHMS = ["ES256", "PS256", "Ed25519", "EdDSA"]
ACCESS_TOKEN_ALGORITHMS = ["ES256"]
ACCESS_TOKEN_TYPES = {"at+jwt", "application/at+jwt"}
TOKEN_PATH = "/oauth/token"  # noqa: S105  # a URL path, not a password
AUTH_METHOD = "private_key_jwt"

blp = Blueprint("oauth", __name__)
P = ParamSpec("P")
R = TypeVar("R")


def _decode(token: str, keys: Any, algorithms: list[str]) -> jwt.Token:
    # Legacy "EdDSA" is still accepted from senders (RFC 9864 deprecates the name, not the curve).
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="EdDSA is deprecated")
        return jwt.decode(token, keys, algorithms=algorithms)


class RegisteredClient(ClientMixin):  # type: ignore[misc]  # authlib is untyped
    """authlib's view of a registry OAuth client (the process's cached snapshot of it)."""

    def __init__(self, row: OAuthClientEntry) -> None:
        self.row = row
        self.client_id = row.client_id

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> None:
        return None

    def get_allowed_scope(self, scope: str | None) -> str:
        allowed = self.row.grantable_scopes
        if not scope:
            return " ".join(sorted(allowed))
        return " ".join(s for s in scope_to_list(scope) if s in allowed)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return False

    def check_client_secret(self, client_secret: str) -> bool:
        return False

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return endpoint == "token" and method == AUTH_METHOD

    def check_response_type(self, response_type: str) -> bool:
        return False

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "client_credentials"


class PrivateKeyJWT(JWTBearerClientAssertion):  # type: ignore[misc]
    """RFC 7523 client authentication with the client's registered keys only."""

    CLIENT_AUTH_METHOD = AUTH_METHOD

    def __init__(self, issuer: str, max_lifetime: int, leeway: int) -> None:
        super().__init__(validate_jti=True, leeway=leeway)
        self.issuer = issuer
        self.max_lifetime = max_lifetime

    def get_audiences(self) -> list[str]:
        return [self.issuer, self.issuer + TOKEN_PATH]

    def resolve_client_public_key(self, client: RegisteredClient) -> KeySet:
        return client.row.keys  # parsed once per registry version

    def process_assertion_claims(self, assertion: str, resolve_key: Any) -> dict[str, Any]:
        try:
            token = _decode(assertion, resolve_key, ASSERTION_ALGORITHMS)
        except JoseError as exc:
            raise InvalidClientError(
                description="The client assertion is not validly signed."
            ) from exc
        claims: dict[str, Any] = dict(token.claims)
        exp = claims.get("exp")
        if not isinstance(exp, int | float):
            raise InvalidClientError(description="The client assertion needs a numeric 'exp'.")
        if exp > time.time() + self.max_lifetime + self.leeway:
            raise InvalidClientError(
                description=f"The client assertion may live at most {self.max_lifetime} seconds."
            )
        self.verify_claims(token.claims)
        return claims

    def validate_jti(self, claims: dict[str, Any], jti: Any) -> bool:
        if not isinstance(jti, str) or not jti or len(jti) > 256:
            return False
        digest = hashlib.sha256(jti.encode()).hexdigest()
        ttl = max(1, int(claims["exp"] - time.time()) + self.leeway)
        # SET NX is atomic across every app instance sharing this Redis.
        first_use = runtime().redis.set(f"oauth:jti:{claims['sub']}:{digest}", 1, nx=True, ex=ttl)
        return bool(first_use)


class ClientCredentials(ClientCredentialsGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = [AUTH_METHOD]

    def validate_token_request(self) -> None:
        super().validate_token_request()
        requested = set(scope_to_list(self.request.payload.scope) or [])
        if not requested <= self.request.client.row.grantable_scopes:
            raise InvalidScopeError(description="A requested scope is not granted to this client.")


def _access_token(client: RegisteredClient, grant_type: str, user: Any, scope: str) -> str:
    rt = runtime()
    now = int(time.time())
    key = rt.keys.signing_key
    claims = {
        "iss": rt.config["ISSUER"],
        "sub": client.get_client_id(),
        "aud": rt.config["ISSUER"],
        "client_id": client.get_client_id(),
        "organization": client.row.organization_id,
        "scope": scope,
        "iat": now,
        "nbf": now,
        "exp": now + rt.config["ACCESS_TOKEN_LIFETIME"],
        "jti": generate_token(24),
    }
    header = {"alg": "ES256", "typ": "at+jwt", "kid": key.kid}
    return jwt.encode(header, claims, key, algorithms=ACCESS_TOKEN_ALGORITHMS)


class AccessTokenValidator(JWTBearerTokenValidator):  # type: ignore[misc]
    """RFC 9068 validation, with the ``typ`` and algorithm checks authlib leaves out."""

    def __init__(self, issuer: str, leeway: int) -> None:
        super().__init__(issuer=issuer, resource_server=issuer)
        self.leeway = leeway

    def get_jwks(self) -> KeySet:
        return runtime().keys.verification_keys()

    def authenticate_token(self, token_string: str) -> dict[str, Any]:
        try:
            token = _decode(token_string, self.get_jwks(), ACCESS_TOKEN_ALGORITHMS)
        except (JoseError, ValueError) as exc:
            raise Unauthenticated("The access token is not valid.", code="invalid_token") from exc
        if token.header.get("typ") not in ACCESS_TOKEN_TYPES:
            raise Unauthenticated("The access token is not an at+jwt token.", code="invalid_token")
        registry = jwt.JWTClaimsRegistry(
            leeway=self.leeway,
            iss={"essential": True, "value": self.issuer},
            aud={"essential": True, "value": self.resource_server},
            exp={"essential": True},
            iat={"essential": True},
            jti={"essential": True},
            sub={"essential": True},
            client_id={"essential": True},
            organization={"essential": True},
        )
        try:
            registry.validate(token.claims)
        except JoseError as exc:
            code = "token_expired" if "expired" in str(exc).lower() else "invalid_token"
            raise Unauthenticated(
                f"The access token is not valid: {exc.description}", code=code
            ) from exc
        return dict(token.claims)


@dataclass(frozen=True)
class Principal:
    """The authenticated machine client of a request."""

    client_id: str
    organization: str
    scopes: frozenset[str]


def _bearer_from_header(unit: UnitOfWork) -> str:
    if "access_token" in request.args or (
        request.mimetype == "application/x-www-form-urlencoded" and "access_token" in request.form
    ):
        raise unit.refuse(
            Malformed(
                "Send the access token in the Authorization header only.",
                code="token_not_in_header",
            ),
            Denial("auth.access", reason="token_not_in_header"),
        )
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if not header:
        raise unit.refuse(
            Unauthenticated("An access token is required.", code="missing_token"),
            Denial("auth.access", reason="missing_token"),
        )
    if scheme.lower() != "bearer" or not token.strip():
        raise unit.refuse(
            Unauthenticated("Use 'Authorization: Bearer <token>'.", code="invalid_token"),
            Denial("auth.access", reason="invalid_authorization_header"),
        )
    return token.strip()


@lru_cache(maxsize=8)
def _limit(text: str) -> Any:
    return parse_limit(text)


def _enforce_rate_limit(key: str) -> None:
    rt = runtime()
    limit = _limit(rt.config["RATE_LIMIT"])
    if not rt.rate_limiter.hit(limit, key):
        reset, _remaining = rt.rate_limiter.get_window_stats(limit, key)
        raise current_unit().refuse(
            RateLimited(
                "Too many requests; try again later.",
                retry_after=max(1, int(reset - time.time()) + 1),
            ),
            Denial("auth.rate_limit", reason=key.split(":", 1)[0]),
        )


def authenticate() -> Principal:
    """The request's principal from its bearer token; cached on ``g``."""
    cached: Principal | None = g.get("principal")
    if cached is not None:
        return cached
    unit = current_unit()
    token = _bearer_from_header(unit)
    try:
        claims = runtime().token_validator.authenticate_token(token)
    except Unauthenticated as exc:
        unit.deny(Denial("auth.access", reason=exc.code))
        raise
    # The registry version is this request's one statement; the client comes from the cache.
    row = runtime().registry.view(unit.session).oauth_client(claims["client_id"])
    if row is None or not row.active or row.organization_id != claims["organization"]:
        raise unit.refuse(
            Unauthenticated(
                "The access token's client is no longer registered.", code="invalid_token"
            ),
            Denial("auth.access", resource_type="oauth_client", reason="client_inactive"),
        )
    # Scopes removed from the client since issuance stop working at once.
    scopes = frozenset(scope_to_list(claims.get("scope") or "")) & row.grantable_scopes
    principal = Principal(row.client_id, row.organization_id, scopes)
    g.principal = principal
    unit.claim(
        Identity(
            organization=row.organization_id,
            client_id=row.client_id,
            scopes=scopes,
            request_id=g.get("request_id"),
        )
    )
    _enforce_rate_limit(f"client:{row.client_id}")
    return principal


def _claimed_client_id() -> str | None:
    """The unverified ``sub`` of a client assertion, only to say whom a failure concerned."""
    assertion = request.form.get("client_assertion", "")
    try:
        payload = assertion.split(".")[1]
        padded = payload + "=" * (-len(payload) % 4)
        sub = json.loads(base64.urlsafe_b64decode(padded)).get("sub")
    except (IndexError, ValueError, AttributeError, UnicodeDecodeError):
        return None
    return sub[:128] if isinstance(sub, str) else None


@blp.post(TOKEN_PATH)
@public
def token() -> Response:
    """The token endpoint (RFC 6749 error bodies)."""
    _enforce_rate_limit(f"address:{request.remote_addr}")
    response: Response = runtime().authorization_server.create_token_response()
    response.headers["Cache-Control"] = "no-store"
    client_id = _claimed_client_id()
    unit = current_unit()
    unit.claim(Identity(organization="", client_id=client_id or "", request_id=unit.request_id))
    if response.status_code == 200:
        registry = runtime().registry.view(unit.session)
        row = registry.oauth_client(client_id) if client_id else None
        unit.claim(
            Identity(
                organization=row.organization_id if row else "",
                client_id=client_id or "",
                request_id=unit.request_id,
            )
        )
        record(
            unit.session,
            unit.claimed,
            "auth.token",
            resource_type="oauth_client",
            resource_id=client_id,
        )
    else:
        error = (response.get_json(silent=True) or {}).get("error", "invalid_request")
        if error == "invalid_client":
            # SPEC: failed client authentication is 401 whichever way the client authenticated.
            response.status_code = 401
            response.headers["WWW-Authenticate"] = 'Bearer realm="exchange", error="invalid_client"'
        unit.deny(
            Denial("auth.token", resource_type="oauth_client", resource_id=client_id, reason=error)
        )
    return response


@blp.get("/.well-known/oauth-authorization-server")
@public
def metadata() -> Response:
    """RFC 8414 authorization server metadata."""
    issuer = runtime().config["ISSUER"]
    return jsonify(
        {
            "issuer": issuer,
            "token_endpoint": issuer + TOKEN_PATH,
            "jwks_uri": issuer + "/.well-known/jwks.json",
            "grant_types_supported": ["client_credentials"],
            "token_endpoint_auth_methods_supported": [AUTH_METHOD],
            "token_endpoint_auth_signing_alg_values_supported": ASSERTION_ALGORITHMS,
            "scopes_supported": list(SCOPES),
            "response_types_supported": [],
            "service_documentation": issuer + "/docs",
        }
    )


@blp.get("/.well-known/jwks.json")
@public
def jwks() -> Response:
    """The service's public signing keys."""
    response = jsonify(runtime().keys.public_jwks())
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


def setup_oauth(app: Flask) -> tuple[AuthorizationServer, AccessTokenValidator]:
    """Bind the token endpoint to ``app``; the authorization server and the token validator
    (kept on the runtime)."""
    config = app.config

    def query_client(client_id: str) -> RegisteredClient | None:
        row = runtime().registry.view(current_unit().session).oauth_client(client_id)
        return RegisteredClient(row) if row is not None and row.active else None

    def save_token(_token: dict[str, Any], _request: Any) -> None:
        """Access tokens are self-contained JWTs; nothing is stored."""

    server = AuthorizationServer()
    server.init_app(app, query_client=query_client, save_token=save_token)
    server.register_client_auth_method(
        AUTH_METHOD,
        PrivateKeyJWT(config["ISSUER"], config["ASSERTION_MAX_LIFETIME"], config["CLOCK_SKEW"]),
    )
    server.register_grant(ClientCredentials)
    server.register_token_generator(
        "client_credentials",
        BearerTokenGenerator(
            _access_token, expires_generator=lambda _client, _grant: config["ACCESS_TOKEN_LIFETIME"]
        ),
    )
    app.register_blueprint(blp)
    return server, AccessTokenValidator(config["ISSUER"], config["CLOCK_SKEW"])
