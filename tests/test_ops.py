"""Operations: health, readiness, metrics, request ids, rate limits, errors, OpenAPI, logs."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import redis
from sqlalchemy.exc import OperationalError

from exchange import config as configuration
from exchange import create_app
from tests.conftest import org_factory, rolled_back, runtime_of

LOOKUP = "/v1/clients/lookup"
HETU = "010190-900P"


def test_healthz(http):
    assert http.get("/healthz").get_json() == {"status": "ok"}


def test_readyz_ok(http):
    body = http.get("/readyz").get_json()
    assert body == {"status": "ready", "checks": {"database": "ok", "redis": "ok"}}


def test_readyz_503_when_redis_is_down(http, rt, monkeypatch):
    def down():
        raise redis.exceptions.ConnectionError("refused")

    monkeypatch.setattr(rt.redis, "ping", down)
    response = http.get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["checks"] == {"database": "ok", "redis": "unavailable"}


def test_readyz_503_when_database_is_down(http, rt, monkeypatch):
    def down():
        raise OperationalError("SELECT 1", {}, Exception("connection refused"))

    monkeypatch.setattr(rt.db, "ping", down)
    response = http.get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["checks"]["database"] == "unavailable"


def test_redis_down_during_a_request_is_503_not_500(org, http, rt, monkeypatch):
    def down(*_args, **_kwargs):
        raise redis.exceptions.ConnectionError("refused")

    monkeypatch.setattr(rt.redis, "set", down)
    response = org.client.token_response()
    assert response.status_code == 503
    assert response.get_json()["code"] == "dependency_unavailable"


def test_metrics_exposition(http):
    http.get("/healthz")
    response = http.get("/metrics")
    assert response.status_code == 200
    assert (
        'exchange_http_requests_total{endpoint="/healthz",method="GET",status="200"}'
        in response.get_data(as_text=True)
    )


def test_request_id_is_echoed_or_made(http):
    assert (
        http.get("/healthz", headers={"X-Request-ID": "abc-123"}).headers["X-Request-ID"]
        == "abc-123"
    )
    made = http.get("/healthz", headers={"X-Request-ID": "bad id; with spaces"}).headers[
        "X-Request-ID"
    ]
    assert made
    assert " " not in made


def test_rate_limit_per_client_with_retry_after(app_config):
    app_config["RATE_LIMIT"] = "3/minute"
    app = create_app(app_config)
    with rolled_back(app):
        org = org_factory(runtime_of(app), app.test_client())(users=[("rl.user", ["staff"])])
        other = org_factory(runtime_of(app), app.test_client())(
            "rl-other", users=[("rl.other", ["staff"])]
        )
        headers = org.client.headers("rl.user")
        other_headers = other.client.headers("rl.other")
        post = org.client.http.post
        statuses = [
            post(LOOKUP, json={"hetu": HETU}, headers=headers).status_code for _ in range(4)
        ]
        assert statuses == [200, 200, 200, 429]
        limited = post(LOOKUP, json={"hetu": HETU}, headers=headers)
        assert limited.status_code == 429
        assert int(limited.headers["Retry-After"]) >= 1
        assert limited.get_json()["code"] == "rate_limited"
        # The limit is per client: another organization's system is not slowed down.
        assert post(LOOKUP, json={"hetu": HETU}, headers=other_headers).status_code == 200


def test_an_authenticated_request_costs_one_redis_round_trip(
    redis_server, database_url, keys_dir, monkeypatch
):
    """The rate limit is the request's only Redis traffic, and it is one command (the
    ``limits`` moving window acquires its entry in one server-side script)."""
    app = create_app(
        {
            "TESTING": True,
            "MODE": "embedded",
            "DATABASE_URL": database_url,
            "REDIS_URL": f"redis://127.0.0.1:{redis_server.port}/0",
            "KEYS_DIR": str(keys_dir),
            "ISSUER": "http://exchange.test",
            "RATE_LIMIT": "2/minute",
        }
    )
    with rolled_back(app):
        http = app.test_client()
        org = org_factory(runtime_of(app), http)("rt-org", users=[("rt.sw", ["social_worker"])])
        headers = org.client.headers("rt.sw")
        unassigned = f"/v1/organizations/{org.id}/unassigned"
        assert http.get(unassigned, headers=headers).status_code == 200  # scripts loaded
        sent: list[str] = []
        execute = redis.Redis.execute_command

        def counted(self: redis.Redis, *args: object, **options: object) -> object:
            sent.append(str(args[0]))
            return execute(self, *args, **options)

        monkeypatch.setattr(redis.Redis, "execute_command", counted)
        assert http.get(unassigned, headers=headers).status_code == 200
        assert sent == ["EVALSHA"]
        sent.clear()
        limited = http.get(unassigned, headers=headers)
        assert limited.status_code == 429  # the client's third request
        assert int(limited.headers["Retry-After"]) >= 1
        assert sent[0] == "EVALSHA"


def test_unknown_path_and_method_are_problems(http):
    missing = http.get("/v1/nothing-here")
    assert missing.status_code == 404
    assert missing.mimetype == "application/problem+json"
    wrong = http.get(LOOKUP)
    assert wrong.status_code == 405
    assert wrong.get_json()["code"] == "method_not_allowed"
    assert "POST" in wrong.headers["Allow"]


def test_unexpected_error_is_a_500_problem_without_a_trace(app, http, org, monkeypatch):
    from exchange.clients import service

    def explode(*_args, **_kwargs):
        raise ZeroDivisionError("secret internals")

    monkeypatch.setattr(service.ClientService, "lookup", explode)
    response = http.post(LOOKUP, json={"hetu": HETU}, headers=org.client.headers("kalle.staff"))
    assert response.status_code == 500
    text = response.get_data(as_text=True)
    assert "secret internals" not in text
    assert "Traceback" not in text
    assert response.get_json()["code"] == "internal_error"


def test_openapi_documents_paths_security_and_problems(http):
    spec = http.get("/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    operation = spec["paths"]["/v1/clients/lookup"]["post"]
    assert {"oauth2": ["clients:manage"]} in operation["security"]
    assert "ProblemSchema" in json.dumps(spec["components"]["schemas"]) or "Problem" in json.dumps(
        spec
    )
    assert "422" in operation["responses"]
    assert spec["components"]["securitySchemes"]["oauth2"]["flows"]["clientCredentials"][
        "tokenUrl"
    ].endswith("/oauth/token")
    assert http.get("/docs").status_code == 200


def test_logs_are_json_with_request_id_and_never_the_hetu_or_token(org, http, caplog):
    caplog.set_level(logging.INFO)
    headers = org.client.headers("kalle.staff")
    http.post(LOOKUP, json={"hetu": HETU}, headers={**headers, "X-Request-ID": "req-42"})
    token = headers["Authorization"].split()[1]
    request_lines = [r for r in caplog.records if r.name == "exchange.request"]
    assert any(
        getattr(r, "request_id", None) == "req-42" and r.status == 200 for r in request_lines
    )
    everything = "\n".join(f"{r.getMessage()} {vars(r)}" for r in caplog.records)
    assert HETU not in everything
    assert token not in everything


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"EXCHANGE_MODE": "production"}, "EXCHANGE_DATABASE_URL"),
        ({"EXCHANGE_MODE": "sideways"}, "EXCHANGE_MODE"),
        ({"EXCHANGE_ACCESS_TOKEN_LIFETIME": "3600"}, "at most 900"),
        ({"EXCHANGE_ASSERTION_MAX_LIFETIME": "600"}, "1..300"),
        ({"EXCHANGE_MAX_BODY_BYTES": "lots"}, "EXCHANGE_MAX_BODY_BYTES"),
    ],
)
def test_configuration_fails_at_start_up(env, message):
    with pytest.raises(configuration.ConfigError, match=message.replace(".", r"\.")):
        configuration.load(env=env)


def test_production_mode_needs_existing_keys(tmp_path):
    env = {
        "EXCHANGE_MODE": "production",
        "EXCHANGE_DATABASE_URL": f"sqlite:///{tmp_path}/p.db",
        "EXCHANGE_REDIS_URL": "redis://127.0.0.1:6379/15",
        "EXCHANGE_ISSUER": "https://exchange.example",
        "EXCHANGE_KEYS_DIR": str(tmp_path / "no-keys"),
    }
    settings = configuration.load(env=env)
    from adapters.keys import MissingKeysError

    with pytest.raises(MissingKeysError):
        create_app(settings)
    assert not (tmp_path / "no-keys").exists(), "production never creates keys by itself"


@pytest.mark.parametrize(("proxies", "separate"), [(0, False), (1, True)])
def test_the_token_endpoints_address_limit_behind_a_proxy(app_config, proxies, separate):
    """Behind one trusted proxy, callers are told apart by X-Forwarded-For; with none
    trusted, the header is ignored (a client could write anything there)."""
    app = create_app({**app_config, "RATE_LIMIT": "2/minute", "TRUSTED_PROXIES": proxies})
    with rolled_back(app):
        http = app.test_client()

        def attempt(address: str) -> int:
            return http.post(
                "/oauth/token",
                data={"grant_type": "client_credentials"},
                headers={"X-Forwarded-For": address},
                environ_base={"REMOTE_ADDR": "10.0.0.2"},  # the proxy
            ).status_code

        assert [attempt("192.0.2.1") for _ in range(3)][-1] == 429
        assert (attempt("192.0.2.2") != 429) is separate


def test_each_server_worker_freezes_the_objects_it_built_at_start():
    import gc
    import runpy

    from exchange.gunicorn_app import freeze_startup_objects, settings

    assert settings("127.0.0.1", 8000, 2)["post_worker_init"] is freeze_startup_objects
    deployed = runpy.run_path(str(Path(__file__).parent.parent / "deploy" / "gunicorn.conf.py"))
    try:
        for hook in (freeze_startup_objects, deployed["post_worker_init"]):
            gc.unfreeze()
            hook(None)
            assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
