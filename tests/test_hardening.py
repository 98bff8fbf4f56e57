"""Edges that must hold under odd input: large packets, database errors without their values."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from adapters.db import Database
from exchange.packets.signing import verify_packet
from tests.conftest import new_signing_key, public_jwks, sign_packet


def test_a_packet_larger_than_joserfc_default_limit_verifies() -> None:
    key = new_signing_key()
    payload = {"filler": "x" * 300_000}  # well under the 1 MiB body limit, over joserfc's 128 kB
    verified = verify_packet(sign_packet(key, payload), public_jwks(key))
    assert len(verified.payload) > 300_000


def test_a_failing_statement_never_shows_its_values(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "Guardian Name And Consent Text"
    database = Database(database_url)
    with (
        caplog.at_level(logging.DEBUG),
        database.engine.connect() as connection,
        pytest.raises(SQLAlchemyError) as failed,
    ):
        connection.execute(text("INSERT INTO no_such_table (x) VALUES (:x)"), {"x": secret})
    database.engine.dispose()
    assert secret not in str(failed.value)
    assert secret not in caplog.text


def test_a_form_body_to_a_json_endpoint_is_415(org, http) -> None:
    response = http.post("/v1/consents", data={"a": "b"}, headers=org.client.headers("sanna.sw"))
    assert response.status_code == 415
    assert response.get_json()["code"] == "unsupported_media_type"


def test_an_oversized_body_is_413_and_closes_the_connection(org, http) -> None:
    response = http.post(
        "/v1/consents",
        data=b"x" * (2 * 1024 * 1024),
        headers={**org.client.headers("sanna.sw"), "Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert response.headers["Connection"] == "close"
    assert response.get_json()["request_id"]


def test_every_media_type_the_api_answers_with_is_documented(http) -> None:
    paths = http.get("/openapi.json").get_json()["paths"]
    documented = {
        path: set(paths[path]["get"]["responses"]["200"]["content"])
        for path in (
            "/v1/audit/events",
            "/v1/consents/{consent_id}/receipt",
            "/v1/clients/{client_id}/access-report",
            "/v1/reports/outcomes",
        )
    }
    assert documented == {
        "/v1/audit/events": {"application/json", "text/csv", "application/x-ndjson"},
        "/v1/consents/{consent_id}/receipt": {"application/json", "text/html"},
        "/v1/clients/{client_id}/access-report": {"application/json", "text/html"},
        "/v1/reports/outcomes": {"application/json", "text/csv"},
    }


def test_readiness_answers_within_a_second_when_the_database_hangs(app, http, monkeypatch):
    import time

    runtime = app.extensions["exchange"]
    monkeypatch.setattr(runtime.db, "ping", lambda: time.sleep(3))  # a frozen server
    started = time.monotonic()
    response = http.get("/readyz")
    assert time.monotonic() - started < 1.0
    assert response.status_code == 503
    assert response.get_json()["checks"]["database"] == "unavailable"
