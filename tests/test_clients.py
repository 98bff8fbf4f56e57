"""Client look-up, name, masked and revealed identity code: validation, encryption at rest,
who may see what, errors on bad input, audit."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pytest
from sqlalchemy import text

from consent.identifiers import hetu_check_char
from schemas.clients import LOOKUP_EXAMPLE, ClientLookupRequest
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
        LOOKUP, json={"hetu": HETU, "nickname": "x"}, headers=org.client.headers("kalle.staff")
    )
    assert unknown.status_code == 422
    assert unknown.get_json()["errors"][0]["field"] == "nickname"


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


# --- the client's name, the masked code, the revealed code -------------------------------

NAME = "Aada Esimerkki"


@pytest.fixture
def home(make_org):
    """A provider with a staff member, a social worker and an auditor."""
    return make_org(
        "home-org",
        users=[
            ("kalle.staff", ["staff"]),
            ("sanna.sw", ["social_worker"]),
            ("aila.auditor", ["auditor"]),
        ],
    )


@pytest.fixture
def stranger(make_org):
    """An organization with every scope that has nothing to do with the client."""
    return make_org("stranger-org", users=[("outi.sw", ["social_worker"])])


def lookup(http, org, hetu=HETU, **fields):
    response = http.post(
        LOOKUP, json={"hetu": hetu, **fields}, headers=org.client.headers("kalle.staff")
    )
    assert response.status_code == 200, response.get_json()
    return response.get_json()["id"]


def involved_client(http, org, hetu=HETU, **fields):
    """A client looked up by ``org`` whose lead ``org`` then takes (so it is involved)."""
    client_id = lookup(http, org, hetu, **fields)
    assigned = http.post(
        f"/v1/clients/{client_id}/lead",
        json={"worker": "kalle.staff"},
        headers=org.client.headers("sanna.sw"),
    )
    assert assigned.status_code == 200, assigned.get_json()
    return client_id


def read(http, org, client_id, user="kalle.staff", **kwargs):
    return http.get(f"/v1/clients/{client_id}", headers=org.client.headers(user, **kwargs))


def reveal(http, org, client_id, user="kalle.staff", **kwargs):
    return http.post(f"/v1/clients/{client_id}/reveal", headers=org.client.headers(user, **kwargs))


def test_a_client_looked_up_with_a_name_shows_it_and_the_masked_code(home, http):
    client_id = involved_client(http, home, name=NAME)
    response = read(http, home, client_id)
    assert response.status_code == 200
    assert response.get_json() == {"id": client_id, "name": NAME, "hetu_masked": "010190-9***"}
    assert HETU not in response.get_data(as_text=True)


def test_a_client_looked_up_without_a_name_has_name_null(home, http):
    client_id = involved_client(http, home)
    assert read(http, home, client_id).get_json() == {
        "id": client_id,
        "name": None,
        "hetu_masked": "010190-9***",
    }


def test_a_system_alone_may_read_the_record(home, http):
    client_id = involved_client(http, home, name=NAME)
    response = http.get(f"/v1/clients/{client_id}", headers=home.client.headers())
    assert response.status_code == 200
    assert response.get_json()["name"] == NAME


def test_a_lookup_with_a_name_replaces_the_stored_one_and_without_keeps_it(home, http, rt):
    client_id = involved_client(http, home, name=NAME)
    assert lookup(http, home, name="  Aada Esimerkki-Malli ") == client_id
    assert read(http, home, client_id).get_json()["name"] == "Aada Esimerkki-Malli"
    assert lookup(http, home) == client_id
    assert read(http, home, client_id).get_json()["name"] == "Aada Esimerkki-Malli"
    # Each look-up is one client.lookup event, the name change included; no extra event.
    assert len(audit_rows(rt, action="client.lookup")) == 3
    assert {event.client_ref for event in audit_rows(rt, action="client.lookup")} == {client_id}


def test_the_name_is_stored_only_encrypted(home, http, session):
    lookup(http, home, name=NAME)
    row = session.execute(
        text("SELECT name_ciphertext, name_wrapped_key, name_kek_version FROM client")
    ).one()
    assert all(value is not None for value in row)
    everything = session.execute(text("SELECT * FROM client")).one()
    for value in everything:
        raw = value if isinstance(value, bytes | bytearray | memoryview) else str(value).encode()
        assert NAME.encode() not in bytes(raw)
        assert b"Esimerkki" not in bytes(raw)


def test_the_encrypted_name_opens_only_for_its_own_client(home, http, rt, session):
    from adapters.crypto import DecryptionError
    from exchange.clients.models import Client
    from exchange.clients.service import ClientService
    from exchange.unit import UnitOfWork

    named = lookup(http, home, name=NAME)
    other = lookup(http, home, "010190Y901R")
    service = ClientService(UnitOfWork(lambda: session), rt.keys)
    source, target = session.get(Client, named), session.get(Client, other)
    assert service.name_of(source) == NAME
    assert service.name_of(target) is None
    target.name_ciphertext = source.name_ciphertext
    target.name_wrapped_key = source.name_wrapped_key
    target.name_kek_version = source.name_kek_version
    with pytest.raises(DecryptionError):
        service.name_of(target)


def test_a_name_of_200_characters_is_taken(home, http):
    client_id = involved_client(http, home, name="Ä" * 200)
    assert read(http, home, client_id).get_json()["name"] == "Ä" * 200


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "   ",
        "A" * 201,
        "Aada\nEsimerkki",
        "Aada\tEsimerkki",
        "Aada\x7fEsimerkki",
        "Aada \u202eikkremisE",  # a right-to-left override
        "Aada\u200bEsimerkki",  # a zero-width space
        "Aada\u2028Esimerkki",  # a line separator
        None,
        42,
        ["Aada"],
    ],
)
def test_an_invalid_name_is_422_and_stores_nothing(home, http, session, bad):
    response = http.post(
        LOOKUP, json={"hetu": HETU, "name": bad}, headers=home.client.headers("kalle.staff")
    )
    assert response.status_code == 422
    assert [error["field"] for error in response.get_json()["errors"]] == ["name"]
    assert session.execute(text("SELECT count(*) FROM client")).scalar() == 0


def test_a_nul_in_the_name_is_refused_as_unstorable_text(home, http):
    response = http.post(
        LOOKUP,
        json={"hetu": HETU, "name": "Aada\x00Esimerkki"},
        headers=home.client.headers("kalle.staff"),
    )
    assert response.status_code == 422
    assert response.get_json()["code"] == "invalid_text"
    assert [error["field"] for error in response.get_json()["errors"]] == ["name"]


@pytest.mark.parametrize(
    ("code", "masked"),
    [
        ("010190-900P", "010190-9***"),
        ("311299+903B", "311299+9***"),
        ("010190Y901R", "010190Y9***"),
        ("150588X935K", "150588X9***"),
        ("311299W950V", "311299W9***"),
        ("290296V977L", "290296V9***"),
        ("010100U999N", "010100U9***"),
        ("290200A9200", "290200A9***"),
        ("310105B944J", "310105B9***"),
        ("121212C966N", "121212C9***"),
        ("010123D9888", "010123D9***"),
        ("311299E9905", "311299E9***"),
        ("280299F999E", "280299F9***"),
    ],
)
def test_the_masked_code_keeps_the_date_part_for_every_century_sign(code, masked):
    from consent.identifiers import mask_hetu

    assert mask_hetu(code) == masked


@pytest.mark.parametrize(
    ("code", "masked"),
    [
        ("010190-900P", "010190-9***"),
        ("311299+903B", "311299+9***"),
        ("290200A9200", "290200A9***"),
        ("010190Y901R", "010190Y9***"),
    ],
    ids=["minus", "plus", "A", "Y"],
)
def test_the_record_masks_each_century_family(home, http, code, masked):
    client_id = involved_client(http, home, code)
    response = read(http, home, client_id)
    assert response.get_json()["hetu_masked"] == masked
    assert code not in response.get_data(as_text=True)


def test_mask_refuses_what_is_not_an_identity_code():
    from consent.identifiers import InvalidIdentifier, mask_hetu

    with pytest.raises(InvalidIdentifier):
        mask_hetu("010190-900X")


def test_reading_the_record_is_audited_as_client_read(home, http, rt):
    client_id = involved_client(http, home, name=NAME)
    assert read(http, home, client_id).status_code == 200
    events = [e for e in audit_rows(rt, action="client.read") if e.resource_type == "client"]
    assert [(e.outcome, e.client_ref, e.actor_user) for e in events] == [
        ("allowed", client_id, "kalle.staff")
    ]


def test_an_organization_not_involved_gets_404_for_the_record(home, stranger, http, rt):
    client_id = involved_client(http, home, name=NAME)
    response = read(http, stranger, client_id, user="outi.sw")
    assert response.status_code == 404
    assert response.get_json()["code"] == "client_not_found"
    assert NAME not in response.get_data(as_text=True)
    unknown = read(http, home, "no-such-client")
    assert (unknown.status_code, unknown.get_json()["code"]) == (404, "client_not_found")
    denied = audit_rows(rt, action="client.read", outcome="denied")
    assert [e.actor_organization for e in denied] == [stranger.id, home.id]


def test_looking_a_client_up_does_not_make_an_organization_involved(home, stranger, http):
    client_id = involved_client(http, home)
    looked = http.post(LOOKUP, json={"hetu": HETU}, headers=stranger.client.headers("outi.sw"))
    assert looked.get_json()["id"] == client_id
    assert read(http, stranger, client_id, user="outi.sw").status_code == 404


def _mentions_code(value, code=HETU):
    text_ = str(value)
    return any(variant in text_ for variant in (code, code.lower(), code.replace("-", "")))


@pytest.mark.parametrize("user", ["kalle.staff", "sanna.sw"])
def test_reveal_gives_the_full_code_uncached_and_is_audited(home, http, rt, caplog, user):
    caplog.set_level(logging.DEBUG)
    client_id = involved_client(http, home, name=NAME)
    response = reveal(http, home, client_id, user=user)
    assert response.status_code == 200
    assert response.get_json() == {"id": client_id, "hetu": HETU}
    assert response.headers["Cache-Control"] == "no-store"
    events = audit_rows(rt, action="client.reveal")
    assert [(e.outcome, e.client_ref, e.actor_user, e.actor_organization) for e in events] == [
        ("allowed", client_id, user, home.id)
    ]
    leaks = [
        f"audit {event.seq}" for event in audit_rows(rt) if _mentions_code(vars(event).values())
    ]
    leaks += [
        f"log {record.name}"
        for record in caplog.records
        if _mentions_code(f"{record.getMessage()} {record.__dict__}")
    ]
    assert leaks == []


def test_reveal_without_clients_manage_is_403(home, http, rt):
    client_id = involved_client(http, home)
    response = reveal(http, home, client_id, scope="consents:read consents:write")
    assert response.status_code == 403
    assert response.get_json()["code"] == "insufficient_scope"
    assert HETU not in response.get_data(as_text=True)
    assert audit_rows(rt, action="client.reveal") == []


def test_reveal_without_an_acting_user_is_403(home, http):
    client_id = involved_client(http, home)
    response = http.post(f"/v1/clients/{client_id}/reveal", headers=home.client.headers())
    assert response.status_code == 403
    assert response.get_json()["code"] == "acting_user_required"
    assert HETU not in response.get_data(as_text=True)


def test_an_auditor_may_neither_reveal_nor_read_the_record(home, http):
    client_id = involved_client(http, home)
    revealed = reveal(http, home, client_id, user="aila.auditor")
    assert revealed.status_code == 403
    assert revealed.get_json()["code"] == "role_required"
    assert HETU not in revealed.get_data(as_text=True)
    record = read(http, home, client_id, user="aila.auditor")
    assert (record.status_code, record.get_json()["code"]) == (403, "role_required")


def test_reveal_by_an_organization_not_involved_is_404_and_audited_as_denied(
    home, stranger, http, rt
):
    client_id = involved_client(http, home)
    response = reveal(http, stranger, client_id, user="outi.sw")
    assert response.status_code == 404
    assert response.get_json()["code"] == "client_not_found"
    assert HETU not in response.get_data(as_text=True)
    assert reveal(http, home, "no-such-client").status_code == 404
    events = audit_rows(rt, action="client.reveal")
    assert [(e.outcome, e.actor_organization) for e in events] == [
        ("denied", stranger.id),
        ("denied", home.id),
    ]


def test_rotation_and_rewrap_keep_names_readable(home, http, rt, session, tmp_path):
    """A name stored under KEK 1 is re-wrapped to KEK 2 and still opens; the content stays."""
    from adapters.keys import KeyStore, init_keys, rotate_keys
    from exchange.clients.models import Client
    from exchange.clients.service import ClientService
    from exchange.unit import UnitOfWork

    client_id = lookup(http, home, name=NAME)
    unnamed = lookup(http, home, "010190Y901R")
    init_keys(tmp_path)
    rotate_keys(tmp_path)
    rotated = KeyStore(
        signing_keys=rt.keys.signing_keys,
        keks={**rt.keys.keks, 2: KeyStore.load(tmp_path).keks[2]},
        hetu_encryption_key=rt.keys.hetu_encryption_key,
        hetu_lookup_key=rt.keys.hetu_lookup_key,
        session_secret=rt.keys.session_secret,
    )
    row = session.get(Client, client_id)
    before = (row.name_ciphertext, row.name_wrapped_key)
    service = ClientService(UnitOfWork(lambda: session), rotated)
    assert service.name_of(row) == NAME, "an old name opens before it is re-wrapped"
    assert service.rewrap_names() == 1, "only the named client has a data key"
    session.flush()
    session.expire_all()
    row = session.get(Client, client_id)
    assert row.name_kek_version == 2
    assert row.name_ciphertext == before[0], "re-wrapping does not touch the content"
    assert row.name_wrapped_key != before[1]
    assert service.name_of(row) == NAME
    assert service.name_of(session.get(Client, unnamed)) is None
    assert service.rewrap_names() == 0
    # The old key-encryption key is no longer needed for the name.
    without_old = KeyStore(
        signing_keys=rt.keys.signing_keys,
        keks={2: rotated.keks[2]},
        hetu_encryption_key=rt.keys.hetu_encryption_key,
        hetu_lookup_key=rt.keys.hetu_lookup_key,
        session_secret=rt.keys.session_secret,
    )
    assert ClientService(UnitOfWork(lambda: session), without_old).name_of(row) == NAME


def test_the_documented_lookup_body_is_valid(http):
    assert ClientLookupRequest().load(LOOKUP_EXAMPLE) == LOOKUP_EXAMPLE
    document = http.get("/openapi.json").get_json()
    body = document["paths"]["/v1/clients/lookup"]["post"]["requestBody"]
    assert body["content"]["application/json"]["example"] == LOOKUP_EXAMPLE
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    shown = [
        json.loads(found)
        for found in re.findall(r"-d '(\{\"hetu\"[^']*\})'", readme)
        + re.findall(r"^(\{\"hetu\": .*\})$", readme, flags=re.MULTILINE)
    ]
    assert LOOKUP_EXAMPLE in shown
    for example in shown:
        ClientLookupRequest().load(example)


def test_the_document_describes_the_record_and_reveal(http):
    document = http.get("/openapi.json").get_json()
    record = document["paths"]["/v1/clients/{client_id}"]["get"]
    assert record["x-action"] == "client.read"
    revealed = document["paths"]["/v1/clients/{client_id}/reveal"]["post"]
    assert revealed["x-action"] == "client.reveal"
    assert revealed["security"] == [{"oauth2": ["clients:manage"]}]
    assert "auditor" not in revealed["x-roles"]


def test_a_get_of_the_lookup_path_is_405_not_a_client_read(home, http, rt):
    response = http.get(LOOKUP, headers=home.client.headers("kalle.staff"))
    assert response.status_code == 405
    assert "POST" in response.headers["Allow"]
    assert audit_rows(rt, action="client.read") == []
    assert http.get("/v1/clients/lookupx", headers=home.client.headers()).status_code == 404
