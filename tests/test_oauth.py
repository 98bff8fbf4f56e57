"""OAuth 2.0: the token endpoint with private_key_jwt, and access tokens on the API."""

from __future__ import annotations

import base64
import json
import time

import pytest
from joserfc import jwt
from joserfc.jwk import OctKey

from tests.conftest import ISSUER, TOKEN_URL, audit_rows, new_signing_key

LOOKUP = "/v1/clients/lookup"
HETU = {"hetu": "010190-900P"}


def b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


# --- the token endpoint -------------------------------------------------------------


@pytest.mark.parametrize("kty", ["EC", "RSA", "OKP"])
def test_token_issued_for_each_signature_algorithm(make_org, kty):
    org = make_org(client_kty=kty)
    response = org.client.token_response()
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["token_type"] == "Bearer"
    assert 0 < body["expires_in"] <= 900
    assert response.headers["Cache-Control"] == "no-store"
    header = json.loads(base64.urlsafe_b64decode(body["access_token"].split(".")[0] + "=="))
    assert header["typ"] == "at+jwt"


def test_legacy_eddsa_name_accepted(make_org):
    org = make_org(client_kty="OKP")
    response = org.client.token_response(org.client.assertion(header={"alg": "EdDSA"}))
    assert response.status_code == 200, response.get_json()


def test_access_token_claims_follow_rfc9068(make_org, rt):
    org = make_org(scopes=["clients:manage", "consents:read"])
    token = org.client.token()
    claims = jwt.decode(token, rt.keys.verification_keys()).claims
    assert claims["iss"] == ISSUER
    assert claims["aud"] == ISSUER
    assert claims["sub"] == claims["client_id"] == org.client.client_id
    assert claims["organization"] == org.id
    assert set(claims["scope"].split()) == {"clients:manage", "consents:read"}
    assert claims["exp"] - claims["iat"] <= 900
    assert claims["jti"]


def test_audience_may_be_the_issuer(make_org):
    org = make_org()
    assert org.client.token_response(org.client.assertion(aud=ISSUER)).status_code == 200


def test_requested_scope_is_narrowed_and_foreign_scope_refused(make_org):
    org = make_org(scopes=["clients:manage", "consents:read"])
    narrowed = org.client.token_response(scope="consents:read")
    assert narrowed.status_code == 200
    assert narrowed.get_json()["scope"] == "consents:read"
    refused = org.client.token_response(scope="audit:read")
    assert refused.status_code == 400
    assert refused.get_json()["error"] == "invalid_scope"


def test_replayed_assertion_refused(make_org):
    org = make_org()
    assertion = org.client.assertion()
    assert org.client.token_response(assertion).status_code == 200
    replay = org.client.token_response(assertion)
    assert replay.status_code == 401
    assert replay.get_json()["error"] == "invalid_client"


@pytest.mark.parametrize(
    ("claims", "why"),
    [
        ({"exp": int(time.time()) - 120}, "expired"),
        ({"exp": int(time.time()) + 3600}, "lives longer than five minutes"),
        ({"exp": None}, "no exp"),
        ({"jti": None}, "no jti"),
        ({"aud": "https://other.example/token"}, "wrong audience"),
        ({"aud": None}, "no audience"),
        ({"iss": "someone-else"}, "iss differs from sub"),
    ],
)
def test_bad_assertion_claims_refused(make_org, claims, why):
    org = make_org()
    response = org.client.token_response(org.client.assertion(**claims))
    assert response.status_code == 401, why
    assert response.get_json()["error"] == "invalid_client"


def test_assertion_signed_by_another_key_refused(make_org):
    org = make_org()
    stranger = new_signing_key("EC")
    forged = org.client.assertion(key=stranger)  # claims the registered kid, signed by another key
    assert org.client.token_response(forged).status_code == 401


def test_alg_none_refused(make_org):
    org = make_org()
    now = int(time.time())
    claims = {
        "iss": org.client.client_id,
        "sub": org.client.client_id,
        "aud": TOKEN_URL,
        "exp": now + 60,
        "jti": "none-1",
    }
    unsigned = f"{b64({'alg': 'none', 'kid': org.client.key.kid})}.{b64(claims)}."
    response = org.client.token_response(unsigned)
    assert response.status_code == 401


def test_hmac_with_the_public_key_as_secret_refused(make_org):
    """The classic algorithm-confusion attack: HS256 keyed with the public key."""
    org = make_org()
    public = json.dumps(org.client.key.as_dict(private=False)).encode()
    now = int(time.time())
    claims = {
        "iss": org.client.client_id,
        "sub": org.client.client_id,
        "aud": TOKEN_URL,
        "exp": now + 60,
        "jti": "hmac-1",
    }
    forged = jwt.encode(
        {"alg": "HS256", "kid": org.client.key.kid}, claims, OctKey.import_key(public)
    )
    assert org.client.token_response(forged).status_code == 401


def test_unknown_client_refused(make_org):
    org = make_org()
    org.client.client_id = "nobody-system"
    assert org.client.token_response().status_code == 401


def test_jku_header_is_never_followed(make_org):
    """A key URL in the header must not replace the registered keys."""
    org = make_org()
    stranger = new_signing_key("EC")
    forged = org.client.assertion(
        header={"jku": "http://127.0.0.1:9/keys.json", "kid": stranger.kid}, key=stranger
    )
    assert org.client.token_response(forged).status_code == 401


def test_other_grant_types_and_auth_methods_refused(make_org, http):
    org = make_org()
    assert org.client.token_response(grant_type="password").status_code == 400
    basic = http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers={
            "Authorization": "Basic "
            + base64.b64encode(f"{org.client.client_id}:secret".encode()).decode()
        },
    )
    assert basic.status_code == 401


def test_failed_authentication_is_audited_without_the_credential(make_org, rt):
    org = make_org()
    assertion = org.client.assertion(exp=int(time.time()) - 300)
    assert org.client.token_response(assertion).status_code == 401
    events = audit_rows(rt, action="auth.token", outcome="denied")
    assert events, "a failed token request leaves an audit event"
    assert events[-1].resource_id == org.client.client_id
    for event in events:
        for value in vars(event).values():
            assert assertion not in str(value)
            assert assertion.split(".")[2] not in str(value)


def test_metadata_and_jwks(http, rt):
    metadata = http.get("/.well-known/oauth-authorization-server").get_json()
    assert metadata["issuer"] == ISSUER
    assert metadata["token_endpoint"] == TOKEN_URL
    assert metadata["token_endpoint_auth_methods_supported"] == ["private_key_jwt"]
    assert metadata["jwks_uri"] == ISSUER + "/.well-known/jwks.json"
    jwks = http.get("/.well-known/jwks.json").get_json()
    assert [key["kid"] for key in jwks["keys"]] == [rt.keys.signing_key.kid]
    assert all("d" not in key for key in jwks["keys"])


# --- access tokens on the API --------------------------------------------------------


def lookup(http, headers):
    return http.post(LOOKUP, json=HETU, headers=headers)


def test_valid_token_reaches_the_api(org, http):
    assert lookup(http, org.client.headers("kalle.staff")).status_code == 200


def test_missing_token_is_401_with_www_authenticate(http):
    response = lookup(http, {})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.get_json()["code"] == "missing_token"
    assert response.mimetype == "application/problem+json"


def test_tampered_token_refused(org, http):
    token = org.client.token()
    head, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["scope"] += " audit:read"
    tampered = f"{head}.{b64(claims)}.{signature}"
    response = lookup(http, {"Authorization": f"Bearer {tampered}", "X-Acting-User": "kalle.staff"})
    assert response.status_code == 401
    assert response.get_json()["code"] == "invalid_token"


def _service_token(rt, header_overrides=None, **claim_overrides):
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": ISSUER,
        "sub": "kisalli-test-system",
        "client_id": "kisalli-test-system",
        "organization": "kisalli-test",
        "scope": "clients:manage",
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "jti": "t-1",
    }
    claims.update(claim_overrides)
    key = rt.keys.signing_key
    header = {"alg": "ES256", "typ": "at+jwt", "kid": key.kid}
    header.update(header_overrides or {})
    header = {k: v for k, v in header.items() if v is not None}
    return jwt.encode(header, claims, key)


def test_expired_token_refused(org, http, rt):
    token = _service_token(rt, iat=int(time.time()) - 2000, exp=int(time.time()) - 1000)
    response = lookup(http, {"Authorization": f"Bearer {token}", "X-Acting-User": "kalle.staff"})
    assert response.status_code == 401
    assert response.get_json()["code"] == "token_expired"


@pytest.mark.parametrize("typ", [None, "JWT", "at+JWT+x"])
def test_token_without_at_jwt_typ_refused(org, http, rt, typ):
    token = _service_token(rt, header_overrides={"typ": typ})
    response = lookup(http, {"Authorization": f"Bearer {token}", "X-Acting-User": "kalle.staff"})
    assert response.status_code == 401


def test_well_formed_service_token_accepted(org, http, rt):
    """The control for the two tests above: the same token with typ at+jwt is accepted."""
    token = _service_token(rt)
    assert (
        lookup(
            http, {"Authorization": f"Bearer {token}", "X-Acting-User": "kalle.staff"}
        ).status_code
        == 200
    )


def test_token_for_another_audience_refused(org, http, rt):
    token = _service_token(rt, aud="https://elsewhere.example")
    assert (
        lookup(
            http, {"Authorization": f"Bearer {token}", "X-Acting-User": "kalle.staff"}
        ).status_code
        == 401
    )


def test_token_signed_by_a_client_key_refused(org, http):
    """A client cannot mint its own access token, even with a valid-looking header."""
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": ISSUER,
        "sub": org.client.client_id,
        "client_id": org.client.client_id,
        "organization": org.id,
        "scope": "clients:manage",
        "iat": now,
        "exp": now + 600,
        "jti": "x",
    }
    forged = jwt.encode(
        {"alg": "ES256", "typ": "at+jwt", "kid": org.client.key.kid}, claims, org.client.key
    )
    assert (
        lookup(
            http, {"Authorization": f"Bearer {forged}", "X-Acting-User": "kalle.staff"}
        ).status_code
        == 401
    )


def test_token_in_query_string_refused(org, http):
    token = org.client.token()
    response = http.post(
        f"{LOOKUP}?access_token={token}", json=HETU, headers={"X-Acting-User": "kalle.staff"}
    )
    assert response.status_code == 400
    assert response.get_json()["code"] == "token_not_in_header"
    # Even with a valid header too, a token in the URL is refused: URLs end up in logs.
    both = http.post(
        f"{LOOKUP}?access_token={token}", json=HETU, headers=org.client.headers("kalle.staff")
    )
    assert both.status_code == 400


def test_wrong_authorization_scheme_refused(org, http):
    token = org.client.token()
    assert (
        lookup(
            http, {"Authorization": f"Token {token}", "X-Acting-User": "kalle.staff"}
        ).status_code
        == 401
    )


def test_missing_scope_is_403(make_org, http):
    org = make_org(scopes=["packets:receive"], users=[("pia.staff", ["staff"])])
    response = lookup(http, org.client.headers("pia.staff"))
    assert response.status_code == 403
    assert response.get_json()["code"] == "insufficient_scope"


def test_scope_removed_from_client_stops_working_at_once(org, http, rt, session):
    from exchange.registry.models import OAuthClient

    headers = org.client.headers("kalle.staff")
    assert lookup(http, headers).status_code == 200
    row = session.get(OAuthClient, org.client.client_id)
    row.scopes = ["packets:receive"]
    session.commit()
    assert lookup(http, headers).status_code == 403


def test_deactivated_client_token_refused(org, http, session):
    from exchange.registry.models import OAuthClient

    headers = org.client.headers("kalle.staff")
    session.get(OAuthClient, org.client.client_id).active = False
    session.commit()
    assert lookup(http, headers).status_code == 401
    assert org.client.token_response().status_code == 401


def test_denied_access_is_audited(http, rt):
    lookup(http, {"Authorization": "Bearer not-a-token"})
    events = audit_rows(rt, action="auth.access", outcome="denied")
    assert events
    assert events[-1].reason == "invalid_token"
    assert all("not-a-token" not in str(vars(e)) for e in events)


def test_tokens_signed_before_a_key_rotation_still_verify(app_config, tmp_path):
    from adapters.keys import init_keys, rotate_keys
    from exchange import create_app
    from tests.conftest import org_factory, rolled_back, runtime_of

    init_keys(tmp_path / "keys")
    app_config["KEYS_DIR"] = str(tmp_path / "keys")
    before = create_app(app_config)
    with rolled_back(before) as connection:
        org = org_factory(runtime_of(before), before.test_client())(users=[("rot.user", ["staff"])])
        old_headers = org.client.headers("rot.user")
        old_kid = runtime_of(before).keys.signing_key.kid

        rotate_keys(tmp_path / "keys")
        after = create_app(app_config)
        runtime_of(after).db.bind_to(connection)
        http = after.test_client()
        jwks = http.get("/.well-known/jwks.json").get_json()
        assert jwks["keys"][0]["kid"] == old_kid
        assert len(jwks["keys"]) == 2
        assert http.post(LOOKUP, json=HETU, headers=old_headers).status_code == 200
        org.client.http = http
        org.client._tokens.clear()
        new_token = org.client.token()
        header = json.loads(base64.urlsafe_b64decode(new_token.split(".")[0] + "=="))
        assert header["kid"] == jwks["keys"][1]["kid"] != old_kid
