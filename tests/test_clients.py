"""Client look-up: validation, encryption at rest, errors on bad input, audit."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from consent.identifiers import hetu_check_char
from tests.conftest import audit_rows

LOOKUP = "/v1/clients/lookup"
HETU = "010190-900P"


def test_lookup_creates_once_and_returns_the_same_opaque_id(org, http):
    first = http.post(LOOKUP, json={"hetu": HETU}, headers=org.client.headers("kalle.staff"))
    assert first.status_code == 200
    assert set(first.get_json()) == {"id"}, "nothing says whether the person was known before"
    again = http.post(LOOKUP, json={"hetu": HETU}, headers=org.client.headers("kalle.staff"))
    assert again.get_json() == {"id": first.get_json()["id"]}
    assert HETU not in first.get_data(as_text=True)


def test_lookup_accepts_2023_century_signs(org, http):
    code = f"050603A956{hetu_check_char('050603956')}"
    response = http.post(LOOKUP, json={"hetu": code}, headers=org.client.headers("kalle.staff"))
    assert response.status_code == 200


def test_hetu_is_stored_only_encrypted(org, http, session):
    http.post(LOOKUP, json={"hetu": HETU}, headers=org.client.headers("kalle.staff"))
    rows = session.execute(text("SELECT * FROM client")).all()
    assert len(rows) == 1
    for value in rows[0]:
        raw = value if isinstance(value, bytes | bytearray | memoryview) else str(value).encode()
        assert HETU.encode() not in bytes(raw)
        assert b"010190" not in bytes(raw)


def test_the_encrypted_code_opens_only_for_its_own_row(org, http, rt, session):
    from adapters.crypto import DecryptionError
    from exchange.clients.models import Client
    from exchange.clients.service import ClientService
    from exchange.unit import UnitOfWork

    http.post(LOOKUP, json={"hetu": HETU}, headers=org.client.headers("kalle.staff"))
    client = session.query(Client).one()
    service = ClientService(UnitOfWork(lambda: session), rt.keys)
    assert service.hetu_of(client) == HETU
    client.id = "another-id"
    with pytest.raises(DecryptionError):
        service.hetu_of(client)


def test_lookup_is_audited_with_the_opaque_ref_only(org, http, rt):
    client_id = http.post(
        LOOKUP, json={"hetu": HETU}, headers=org.client.headers("kalle.staff")
    ).get_json()["id"]
    events = audit_rows(rt, action="client.lookup")
    assert len(events) == 1
    event = events[0]
    assert (event.client_ref, event.actor_user, event.actor_organization, event.outcome) == (
        client_id,
        "kalle.staff",
        org.id,
        "allowed",
    )
    assert event.request_id
    assert all(HETU not in str(value) for value in vars(event).values())


@pytest.mark.parametrize(
    "bad",
    [
        "010190-900X",  # wrong check character
        "310290-900C",  # no 31 February
        "010190G900P",  # unknown century sign
        f"010190-001{hetu_check_char('010190001')}",  # individual number below 002, built here
        "010190900P",  # too short
        "010190-900p",  # lowercase check character
        "",
    ],
)
def test_invalid_hetu_is_422_with_field_path(org, http, bad):
    response = http.post(LOOKUP, json={"hetu": bad}, headers=org.client.headers("kalle.staff"))
    assert response.status_code == 422
    body = response.get_json()
    assert response.mimetype == "application/problem+json"
    assert body["code"] == "validation_failed"
    assert [error["field"] for error in body["errors"]] == ["hetu"]
    if bad:
        assert bad not in response.get_data(as_text=True), "the rejected code is not echoed back"


def test_missing_and_unknown_fields_are_422(org, http):
    missing = http.post(LOOKUP, json={}, headers=org.client.headers("kalle.staff"))
    assert missing.status_code == 422
    assert missing.get_json()["errors"][0]["field"] == "hetu"
    unknown = http.post(
        LOOKUP, json={"hetu": HETU, "name": "x"}, headers=org.client.headers("kalle.staff")
    )
    assert unknown.status_code == 422
    assert unknown.get_json()["errors"][0]["field"] == "name"


@pytest.mark.parametrize(
    "body",
    [
        b'{"hetu": "010190-900P"',
        b'{"hetu": "010190-900P", "hetu": "010190-900P"}',
        b"NaN",
        b"\xff\xfe",
    ],
)
def test_malformed_json_is_400(org, http, body):
    response = http.post(
        LOOKUP,
        data=body,
        headers={**org.client.headers("kalle.staff"), "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.mimetype == "application/problem+json"


def test_wrong_content_type_is_415(org, http):
    response = http.post(
        LOOKUP,
        data="hetu=010190-900P",
        headers={**org.client.headers("kalle.staff"), "Content-Type": "text/plain"},
    )
    assert response.status_code == 415
    assert response.get_json()["code"] == "unsupported_media_type"


def test_oversized_body_is_413(org, http, app):
    body = b'{"hetu": "' + b"9" * (app.config["MAX_BODY_BYTES"] + 10) + b'"}'
    response = http.post(
        LOOKUP,
        data=body,
        headers={**org.client.headers("kalle.staff"), "Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert response.get_json()["code"] == "body_too_large"


def test_no_client_is_created_when_the_request_fails(org, http, session):
    http.post(LOOKUP, json={"hetu": HETU}, headers=org.client.headers())  # no acting user: 403
    assert session.execute(text("SELECT count(*) FROM client")).scalar() == 0
