"""The registry file of SPEC section 5 (public keys only)."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from joserfc.errors import JoseError
from joserfc.jwk import ECKey, OKPKey, RSAKey
from marshmallow import ValidationError, fields, validate, validates, validates_schema

from adapters.addresses import UnsafeAddress, check_url
from consent.vocabulary import ORGANIZATION_KINDS, ROLES, SCOPES
from schemas import StrictSchema
from schemas.common import BusinessId

SLUG = validate.Regexp(
    r"^[a-z0-9][a-z0-9-]{1,62}$", error="Use 2-63 lowercase letters, digits or '-'."
)
USERNAME = validate.Regexp(
    r"^[a-z0-9][a-z0-9._-]{1,127}$", error="Use lowercase letters, digits, '.', '_' or '-'."
)
NAME = validate.Length(min=2, max=200)
PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "k", "oth"}
SIGNATURE_ALGS = {"ES256", "PS256", "Ed25519", "EdDSA"}


def _b64url_bytes(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, binascii.Error) as exc:
        raise ValidationError("Key member 'n' is not base64url.") from exc


def check_public_jwk(key: Any) -> None:
    """Raise ValidationError unless ``key`` is one usable public signature key with a kid."""
    if not isinstance(key, dict):
        raise ValidationError("A key must be a JSON object.")
    if PRIVATE_MEMBERS & key.keys():
        raise ValidationError("Private key material is not accepted; give public keys only.")
    if not isinstance(key.get("kid"), str) or not key["kid"]:
        raise ValidationError("Every key needs a 'kid'.")
    if "alg" in key and (not isinstance(key["alg"], str) or key["alg"] not in SIGNATURE_ALGS):
        raise ValidationError(f"alg must be one of {sorted(SIGNATURE_ALGS)}.")
    kty = key.get("kty")
    try:
        if kty == "EC":
            if key.get("crv") != "P-256":
                raise ValidationError("EC keys must use crv P-256 (ES256).")
            ECKey.import_key(key)
        elif kty == "OKP":
            if key.get("crv") != "Ed25519":
                raise ValidationError("OKP keys must use crv Ed25519.")
            OKPKey.import_key(key)
        elif kty == "RSA":
            # Size first: importing a short key makes joserfc warn rather than refuse.
            modulus = key.get("n")
            if not isinstance(modulus, str) or len(_b64url_bytes(modulus).lstrip(b"\0")) * 8 < 2048:
                raise ValidationError("RSA keys must be at least 2048 bits (PS256).")
            RSAKey.import_key(key)
        else:
            raise ValidationError("kty must be EC, OKP or RSA.")
    except (JoseError, ValueError, TypeError) as exc:
        raise ValidationError(f"Not a valid public key: {exc}") from exc


class JWKSField(fields.Dict):
    """A JSON Web Key Set of public signature keys, kids unique."""

    def _deserialize(
        self, value: Any, attr: str | None, data: Any, **kwargs: Any
    ) -> dict[str, Any]:
        jwks = super()._deserialize(value, attr, data, **kwargs)
        keys = jwks.get("keys")
        if set(jwks) != {"keys"} or not isinstance(keys, list) or not keys:
            raise ValidationError("A JWKS is {'keys': [...]} with at least one key.")
        errors: dict[Any, Any] = {}
        for index, key in enumerate(keys):
            try:
                check_public_jwk(key)
            except ValidationError as exc:
                errors[index] = exc.messages
        if errors:
            raise ValidationError({"keys": errors})
        kids = [key["kid"] for key in keys]
        if len(set(kids)) != len(kids):
            raise ValidationError("Key ids ('kid') must be unique within a JWKS.")
        return dict(jwks)


class OrganizationEntry(StrictSchema):
    id = fields.String(required=True, validate=SLUG)
    name = fields.String(required=True, validate=NAME)  # Finnish; shown where no other is
    # The names Swedish and English pages and client texts show; absent or null: ``name``.
    name_sv = fields.String(load_default=None, allow_none=True, validate=NAME)
    name_en = fields.String(load_default=None, allow_none=True, validate=NAME)
    kind = fields.String(required=True, validate=validate.OneOf(ORGANIZATION_KINDS))
    business_id = BusinessId(required=True)
    jwks = JWKSField(required=True)
    webhook_url = fields.Url(
        load_default=None,
        allow_none=True,
        schemes={"https", "http"},
        validate=validate.Length(max=500),
    )

    @validates("webhook_url")
    def _webhook_address(self, value: str | None, **_: Any) -> None:
        # Link-local and metadata addresses never; loopback is refused when delivering,
        # unless EXCHANGE_WEBHOOK_ALLOW_LOOPBACK is set (tests, local development).
        if value:
            try:
                check_url(value, allow_loopback=True, resolve=False)
            except UnsafeAddress as exc:
                raise ValidationError(
                    f"This address may not receive notifications: {exc}."
                ) from exc


class OAuthClientEntry(StrictSchema):
    client_id = fields.String(required=True, validate=USERNAME)
    organization = fields.String(required=True, validate=SLUG)
    scopes = fields.List(
        fields.String(validate=validate.OneOf(SCOPES)),
        required=True,
        validate=validate.Length(min=1),
    )
    jwks = JWKSField(required=True)
    active = fields.Boolean(load_default=True)


class UserEntry(StrictSchema):
    username = fields.String(required=True, validate=USERNAME)
    organization = fields.String(required=True, validate=SLUG)
    name = fields.String(required=True, validate=validate.Length(min=2, max=200))
    roles = fields.List(
        fields.String(validate=validate.OneOf(ROLES)),
        required=True,
        validate=validate.Length(min=1),
    )
    password = fields.String(
        load_default=None,
        allow_none=True,
        load_only=True,
        validate=validate.Length(min=12, max=200),
    )
    active = fields.Boolean(load_default=True)


class RegistryFile(StrictSchema):
    organizations = fields.List(fields.Nested(OrganizationEntry), load_default=list)
    oauth_clients = fields.List(fields.Nested(OAuthClientEntry), load_default=list)
    users = fields.List(fields.Nested(UserEntry), load_default=list)

    @validates_schema
    def _unique_ids(self, data: dict[str, Any], **_kwargs: Any) -> None:
        errors: dict[str, Any] = {}
        for section, key in (
            ("organizations", "id"),
            ("oauth_clients", "client_id"),
            ("users", "username"),
        ):
            seen: set[str] = set()
            for index, entry in enumerate(data.get(section, [])):
                if entry[key] in seen:
                    errors.setdefault(section, {})[index] = {key: ["Duplicate in this file."]}
                seen.add(entry[key])
        if errors:
            raise ValidationError(errors)
