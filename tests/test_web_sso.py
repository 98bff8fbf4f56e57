"""Single sign-on through an OpenID Connect provider: a real provider on loopback, real HTTP.

The provider below is small but honest: it keeps the state, nonce and PKCE
challenge it was given, authenticates this service at its token endpoint, and
signs ID tokens with its own key. Each test may make it misbehave in one way.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
from flask import Flask, jsonify, redirect, request
from joserfc import jwt
from joserfc.jwk import OctKey
from werkzeug.serving import make_server

from exchange import create_app
from exchange.config import ConfigError, load
from exchange.registry.models import User
from tests.conftest import new_signing_key, public_jwks, rolled_back
from tests.webtools import csrf

CLIENT_ID = "handover-exchange"
CLIENT_SECRET = "provider-issued-secret"


@dataclass
class Provider:
    """What the provider will put in its next ID token, and what it saw."""

    issuer: str = ""
    username: str = "liisa.sw"
    audience: str = CLIENT_ID
    nonce_override: str | None = None
    signing_key: Any = field(default_factory=new_signing_key)
    published_key: Any = None
    error: str | None = None
    hmac: bool = False
    token_requests: list[dict[str, str]] = field(default_factory=list)
    grants: dict[str, dict[str, str]] = field(default_factory=dict)

    def jwks(self) -> dict[str, Any]:
        if self.hmac:  # a misconfigured provider: the shared secret published as a key
            secret = OctKey.import_key(CLIENT_SECRET.encode(), {"kid": "shared"})
            return {"keys": [secret.as_dict(private=True)]}
        return public_jwks(self.published_key or self.signing_key)


def provider_app(state: Provider) -> Flask:
    app = Flask("oidc-provider")

    @app.get("/.well-known/openid-configuration")
    def discovery() -> Any:
        return jsonify(
            issuer=state.issuer,
            authorization_endpoint=state.issuer + "/authorize",
            token_endpoint=state.issuer + "/token",
            jwks_uri=state.issuer + "/jwks",
            response_types_supported=["code"],
            id_token_signing_alg_values_supported=["ES256", "none", "HS256"],
            code_challenge_methods_supported=["S256"],
        )

    @app.get("/jwks")
    def jwks() -> Any:
        return jsonify(state.jwks())

    @app.get("/authorize")
    def authorize() -> Any:
        args = request.args
        target = args["redirect_uri"]
        if state.error:
            refusal = {"error": state.error, "state": args["state"]}
            return redirect(target + "?" + urlencode(refusal))
        code = secrets.token_urlsafe(16)
        state.grants[code] = dict(args)
        return redirect(target + "?" + urlencode({"code": code, "state": args["state"]}))

    @app.post("/token")
    def token() -> Any:
        state.token_requests.append(dict(request.form))
        auth = request.authorization
        if auth is None or (auth.username, auth.password) != (CLIENT_ID, CLIENT_SECRET):
            return jsonify(error="invalid_client"), 401
        grant = state.grants.pop(request.form.get("code", ""), None)
        if grant is None or grant["redirect_uri"] != request.form.get("redirect_uri"):
            return jsonify(error="invalid_grant"), 400
        verifier = request.form.get("code_verifier", "")
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
        if challenge.rstrip(b"=").decode() != grant.get("code_challenge"):
            return jsonify(error="invalid_grant", error_description="PKCE"), 400
        now = int(time.time())
        claims = {
            "iss": state.issuer,
            "sub": "subject-" + state.username,
            "aud": state.audience,
            "iat": now,
            "exp": now + 300,
            "nonce": state.nonce_override or grant["nonce"],
            "preferred_username": state.username,
        }
        if state.hmac:  # keyed with the shared client secret: refused by this service
            secret = OctKey.import_key(CLIENT_SECRET.encode())
            header = {"alg": "HS256", "kid": "shared"}
            id_token = jwt.encode(header, claims, secret, algorithms=["HS256"])
        else:
            header = {"alg": "ES256", "kid": state.signing_key.kid}
            id_token = jwt.encode(header, claims, state.signing_key)
        return jsonify(
            access_token=secrets.token_urlsafe(24),
            token_type="Bearer",
            expires_in=300,
            id_token=id_token,
        )

    return app


@pytest.fixture(scope="module")
def provider_server() -> Iterator[tuple[str, list[Provider]]]:
    holder: list[Provider] = [Provider()]

    class Proxy:  # the server keeps one app; each test swaps the state behind it
        def __getattr__(self, name: str) -> Any:
            return getattr(holder[0], name)

    server = make_server("127.0.0.1", 0, provider_app(Proxy()))  # type: ignore[arg-type]
    issuer = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield issuer, holder
    server.shutdown()


@pytest.fixture
def provider(provider_server: tuple[str, list[Provider]]) -> Provider:
    issuer, holder = provider_server
    holder[0] = Provider(issuer=issuer)
    return holder[0]


@pytest.fixture
def sso_app(app_config: dict[str, Any], provider: Provider) -> Iterator[Flask]:
    config = dict(
        app_config,
        OIDC_ISSUER=provider.issuer,
        OIDC_CLIENT_ID=CLIENT_ID,
        OIDC_CLIENT_SECRET=CLIENT_SECRET,
    )
    application = create_app(config)
    with rolled_back(application):
        yield application


@pytest.fixture
def staff(sso_app: Flask) -> None:
    from tests.conftest import org_factory, runtime_of

    make_org = org_factory(runtime_of(sso_app), sso_app.test_client())
    make_org(
        "kisalli",
        users=[("liisa.sw", ["social_worker"]), ("left.sw", ["social_worker"])],
        name="Liedon Kisälli",
    )
    session = runtime_of(sso_app).db.sessions()
    session.get(User, "left.sw").active = False
    session.commit()
    session.close()


def round_trip(client: Any, start: str = "/ui/login/sso") -> Any:
    """The browser's path: to the provider, which answers with a redirect back to us."""
    to_provider = client.get(start)
    assert to_provider.status_code == 302
    location = to_provider.headers["Location"]
    back = requests.get(location, allow_redirects=False, timeout=10)
    assert back.status_code == 302
    callback = urlsplit(back.headers["Location"])
    return client.get(callback.path + "?" + callback.query)


def test_a_registry_user_signs_in_through_the_provider(sso_app, staff, provider):
    client = sso_app.test_client()
    login_page = client.get("/ui/login").get_data(as_text=True)
    assert "/ui/login/sso" in login_page

    to_provider = client.get("/ui/login/sso?next=/ui/packets")
    query = parse_qs(urlsplit(to_provider.headers["Location"]).query)
    assert query["client_id"] == [CLIENT_ID]
    assert query["scope"] == ["openid profile email"]
    assert query["code_challenge_method"] == ["S256"]
    assert query["redirect_uri"] == ["http://exchange.test/ui/login/sso/callback"]
    assert query["nonce"][0]
    assert query["state"][0]

    back = requests.get(to_provider.headers["Location"], allow_redirects=False, timeout=10)
    callback = urlsplit(back.headers["Location"])
    done = client.get(callback.path + "?" + callback.query)
    assert done.status_code == 302
    assert done.headers["Location"] == "/ui/packets"
    start = client.get("/ui/")
    assert start.status_code == 200
    # The header names the user's organization.
    assert "(Liedon Kisälli)" in start.get_data(as_text=True)
    # The provider authenticated us and saw the PKCE verifier.
    assert provider.token_requests[0]["grant_type"] == "authorization_code"


@pytest.mark.parametrize(
    ("misbehaviour", "value"),
    [
        ("username", "nobody.here"),  # not in the registry
        ("username", "left.sw"),  # in the registry, deactivated
        ("audience", "someone-else"),  # a token for another service
        ("nonce_override", "replayed-nonce"),  # a token from another sign-in
        ("published_key", new_signing_key()),  # signed with a key the provider does not publish
        ("error", "access_denied"),  # the person did not authenticate
        ("hmac", True),  # HS256 keyed with the client secret, though offered in discovery
    ],
)
def test_a_refused_answer_signs_no_one_in(sso_app, staff, provider, misbehaviour, value):
    setattr(provider, misbehaviour, value)
    client = sso_app.test_client()
    refused = round_trip(client)
    assert refused.status_code == 401
    assert "Kertakirjautuminen ei onnistunut" in refused.get_data(as_text=True)
    assert client.get("/ui/").status_code == 302  # still signed out


def test_a_callback_with_a_foreign_state_is_refused(sso_app, staff, provider):
    # Login CSRF: an attacker's own code and state, planted in the victim's browser.
    attacker = sso_app.test_client()
    start = attacker.get("/ui/login/sso")
    back = requests.get(start.headers["Location"], allow_redirects=False, timeout=10)
    callback = urlsplit(back.headers["Location"])
    victim = sso_app.test_client()
    victim.get("/ui/login/sso")
    refused = victim.get(callback.path + "?" + callback.query)
    assert refused.status_code == 401
    assert victim.get("/ui/").status_code == 302


def test_a_callback_replayed_from_the_history_is_refused(sso_app, staff, provider):
    client = sso_app.test_client()
    start = client.get("/ui/login/sso")
    back = requests.get(start.headers["Location"], allow_redirects=False, timeout=10)
    callback = urlsplit(back.headers["Location"])
    assert client.get(callback.path + "?" + callback.query).status_code == 302
    page = client.get("/ui/").get_data(as_text=True)
    client.post("/ui/logout", data={"csrf_token": csrf(page)})
    assert client.get("/ui/").status_code == 302  # signed out
    again = client.get(callback.path + "?" + callback.query)
    assert again.status_code == 401
    assert client.get("/ui/").status_code == 302


def test_an_unreachable_provider_is_a_clear_answer(app_config, staff_free_port):
    config = dict(
        app_config,
        OIDC_ISSUER=f"http://127.0.0.1:{staff_free_port}",
        OIDC_CLIENT_ID=CLIENT_ID,
        OIDC_CLIENT_SECRET=CLIENT_SECRET,
    )
    application = create_app(config)
    with rolled_back(application):
        answer = application.test_client().get("/ui/login/sso")
    assert answer.status_code == 503
    assert "ei ole nyt käytettävissä" in answer.get_data(as_text=True)


@pytest.fixture
def staff_free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_without_configuration_there_is_no_sso(http, app):
    assert "/ui/login/sso" not in http.get("/ui/login").get_data(as_text=True)
    assert http.get("/ui/login/sso").status_code == 404
    assert http.get("/ui/login/sso/callback?code=x&state=y").status_code == 404


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"EXCHANGE_OIDC_ISSUER": "https://sso.example"}, "EXCHANGE_OIDC_CLIENT_ID"),
        (
            {
                "EXCHANGE_OIDC_ISSUER": "http://sso.example",
                "EXCHANGE_OIDC_CLIENT_ID": "x",
                "EXCHANGE_OIDC_CLIENT_SECRET": "y",
            },
            "https://",
        ),
    ],
)
def test_incomplete_or_plain_http_configuration_is_refused(env, message):
    with pytest.raises(ConfigError, match=message):
        load(env=env)
