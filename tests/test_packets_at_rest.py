"""Packet content at rest: only ciphertext in the database, and altered ciphertext never opens.

SPEC section 3: "Content is encrypted at rest (envelope encryption: a fresh
data key per packet under a rotatable key-encryption key)", and the identity
code is stored only encrypted. The scan below reads every row of every table,
so a copy of the content anywhere (an index, a log table, an idempotency
record, the audit log) is found.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any

import pytest
from sqlalchemy import column, inspect, literal_column, select, table, text, update

from consent.model import local_date
from tests.conftest import Org, grant_consent, sign_packet

HETU = "311299-934B"
MARKER = "MARKER-7f3a"
SENDER, RECIPIENT = "kisalli-rest", "te-rest"
SENDER_WORKER, RECIPIENT_SW = "kalle.valmentaja", "tuomas.sw"
CASE_REFERENCE = "KIS-2026-0042"
JOSE = "application/jose"


def today() -> dt.date:
    return local_date(dt.datetime.now(dt.UTC))


def payload(kind: str = "transfer", marker: str = MARKER) -> dict[str, Any]:
    body: dict[str, Any] = {
        "client": {"hetu": HETU},
        "from": {"organization": SENDER, "worker": SENDER_WORKER},
        "to": {"organization": RECIPIENT},
        "kind": kind,
        "purpose": "employment_services",
        "case_reference": CASE_REFERENCE,
        "sections": [
            {
                "type": "assessment",
                "instrument": "kykyviisari",
                "date": (today() - dt.timedelta(days=3)).isoformat(),
                "scores": {"health": 6, "competence": 7},
                "summary": f"Copes well with routine tasks ({marker}).",
            },
            {
                "type": "contact_persons",
                "persons": [
                    {
                        "name": f"Kaisa {marker} Koutsi",
                        "role": "coach",
                        "organization": "Kisälli",
                        "phone": "+358 40 123 4567",
                    }
                ],
            },
        ],
    }
    if kind == "transfer":
        body["respond_by"] = (today() + dt.timedelta(days=14)).isoformat()
    return body


@pytest.fixture
def parties(make_org: Any, http: Any) -> tuple[Org, Org]:
    sender = make_org(SENDER, kind="provider", users=[(SENDER_WORKER, ["staff"])])
    recipient = make_org(
        RECIPIENT, kind="employment_services", users=[(RECIPIENT_SW, ["social_worker"])]
    )
    grant_consent(
        http,
        sender,
        SENDER_WORKER,
        recipient,
        RECIPIENT_SW,
        hetu=HETU,
        categories=("assessment", "contact_persons"),
        days=200,
        grantor={"type": "self"},
        method="verbal_witnessed",
        evidence={"reference": "phone call 2026/7", "witness_name": "Ville Todistaja"},
    )
    return sender, recipient


def send(http: Any, sender: Org, token: str, key: str | None = None) -> Any:
    headers = {**sender.client.headers(), "Content-Type": JOSE}
    if key:
        headers["Idempotency-Key"] = key
    response = http.post("/v1/packets", data=token, headers=headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def as_bytes(value: Any) -> bytes:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, default=str).encode()
    return str(value).encode()


def database_dump(session: Any) -> dict[str, list[bytes]]:
    """Every value of every row of every table, as bytes, by table."""
    names = inspect(session.connection()).get_table_names()
    assert {"packet", "client", "audit_event", "idempotency_record"} <= set(names)
    dump = {}
    for name in names:
        rows = session.execute(select(literal_column("*")).select_from(table(name))).all()
        dump[name] = [as_bytes(value) for row in rows for value in row if value is not None]
    return dump


def found(dump: dict[str, list[bytes]], needle: bytes) -> list[str]:
    return sorted({name for name, values in dump.items() for value in values if needle in value})


def base64_chunks(data: bytes) -> list[bytes]:
    """Pieces of ``data`` as they would read in base64 or base64url at any alignment."""
    chunks = []
    for offset in range(3):
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            encoded = encode(data[offset:]).rstrip(b"=")
            chunks += [encoded[start : start + 24] for start in range(8, len(encoded) - 32, 40)]
    return chunks


def needles(token: str) -> dict[str, bytes]:
    """What must not be found at rest: the marker, the identity code, the signed content."""
    signed_payload = token.split(".")[1]
    raw = base64.urlsafe_b64decode(signed_payload + "=" * (-len(signed_payload) % 4))
    found_at = raw.index(MARKER.encode())
    values = {
        "marker": MARKER.encode(),
        "marker (hex)": MARKER.encode().hex().encode(),
        "hetu": HETU.encode(),
        "hetu (lower case)": HETU.lower().encode(),
        "the payload segment of the JWS": signed_payload[20:60].encode(),
        "payload JSON around the marker": raw[max(found_at - 20, 0) : found_at + 20],
    }
    for number, chunk in enumerate(base64_chunks(raw)):
        values[f"base64 chunk {number}"] = chunk
    return values


def test_nothing_of_the_content_or_the_identity_code_is_stored_in_clear(http, parties, session):
    sender, recipient = parties
    token = sign_packet(sender.packet_key, payload())
    sent = send(http, sender, token, key="rest-1")
    information = send(http, sender, sign_packet(sender.packet_key, payload("information")))

    dump = database_dump(session)
    # The scan works: metadata that is meant to be in clear is found where it belongs.
    assert found(dump, sent["id"].encode())
    assert "packet" in found(dump, CASE_REFERENCE.encode())
    assert "idempotency_record" in found(dump, sent["receipt"][:40].encode())
    for what, needle in needles(token).items():
        assert found(dump, needle) == [], what

    # ... and the recipient does get the content back, marker included.
    response = http.get(f"/v1/packets/{sent['id']}", headers=recipient.client.headers(RECIPIENT_SW))
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["jws"] == token
    assessment, contacts = body["sections"]
    assert MARKER in assessment["summary"]
    assert contacts["persons"][0]["name"] == f"Kaisa {MARKER} Koutsi"
    assert HETU not in response.get_data(as_text=True).replace(token, "")
    assert MARKER in http.get(
        f"/v1/packets/{information['id']}", headers=recipient.client.headers()
    ).get_data(as_text=True)

    # Reading leaves events and audit rows behind; none of them carries the content either.
    dump = database_dump(session)
    for what, needle in needles(token).items():
        assert found(dump, needle) == [], what


def read(http: Any, org: Org, packet_id: str) -> Any:
    return http.get(f"/v1/packets/{packet_id}", headers=org.client.headers())


def assert_clean_refusal(response: Any) -> None:
    """Not the content, and a problem+json body without internals."""
    assert response.status_code != 200
    assert response.status_code >= 400
    assert response.mimetype == "application/problem+json", response.get_data(as_text=True)
    problem = response.get_json()
    assert {"type", "title", "status", "detail", "code"} <= set(problem)
    assert problem["status"] == response.status_code
    page = response.get_data(as_text=True)
    for leak in ("Traceback", "DecryptionError", "InvalidTag", 'File "', MARKER, HETU):
        assert leak not in page


def columns(session: Any, packet_id: str) -> dict[str, Any]:
    row = session.execute(
        text("SELECT ciphertext, wrapped_key, kek_version, client_id FROM packet WHERE id = :i"),
        {"i": packet_id},
    ).one()
    return dict(row._mapping)


ENVELOPE = table(
    "packet", column("id"), column("ciphertext"), column("wrapped_key"), column("kek_version")
)


def store(session: Any, packet_id: str, **values: Any) -> None:
    """Change a packet row behind the service's back."""
    session.execute(update(ENVELOPE).where(ENVELOPE.c.id == packet_id).values(**values))
    session.commit()


def sender_events(http: Any, sender: Org, packet_id: str) -> list[str]:
    response = http.get(f"/v1/packets/{packet_id}/events", headers=sender.client.headers())
    return [event["action"] for event in response.get_json()["items"]]


@pytest.mark.parametrize("column", ["ciphertext", "wrapped_key"])
@pytest.mark.parametrize("position", [0, 20, -1])
def test_a_flipped_byte_makes_the_read_fail_cleanly(http, parties, session, column, position):
    sender, recipient = parties
    sent = send(http, sender, sign_packet(sender.packet_key, payload()))
    original = columns(session, sent["id"])
    altered = bytearray(bytes(original[column]))
    altered[position] ^= 0x01
    store(session, sent["id"], **{column: bytes(altered)})

    for org in (recipient, sender):
        assert_clean_refusal(read(http, org, sent["id"]))
    # The failed read changed nothing: still not delivered.
    assert sender_events(http, sender, sent["id"]) == ["sent"]

    store(session, sent["id"], **{column: bytes(original[column])})
    restored = read(http, recipient, sent["id"])
    assert restored.status_code == 200
    assert MARKER in restored.get_json()["sections"][0]["summary"]


@pytest.mark.parametrize(
    "moved",
    [
        pytest.param(("ciphertext",), id="ciphertext"),
        pytest.param(("ciphertext", "wrapped_key", "kek_version"), id="whole-envelope"),
    ],
)
@pytest.mark.parametrize("other_client", [False, True], ids=["same-client", "other-client"])
def test_ciphertext_moved_to_another_packet_does_not_open(
    http, parties, session, moved, other_client
):
    sender, recipient = parties
    source = send(http, sender, sign_packet(sender.packet_key, payload("information")))
    target_payload = payload("information", marker="OTHER-MARKER")
    if other_client:
        target_payload["client"] = {"hetu": "220877-9782"}
        target_payload["sections"] = target_payload["sections"][:1]
        grant_consent(
            http,
            sender,
            SENDER_WORKER,
            recipient,
            RECIPIENT_SW,
            hetu="220877-9782",
            days=200,
            grantor={"type": "self"},
            method="signed_paper",
            evidence={"reference": "form 2026/9"},
        )
    target = send(http, sender, sign_packet(sender.packet_key, target_payload))
    stolen = columns(session, source["id"])
    original = columns(session, target["id"])
    assert (original["client_id"] == stolen["client_id"]) is not other_client
    store(session, target["id"], **{name: stolen[name] for name in moved})

    response = read(http, recipient, target["id"])
    assert_clean_refusal(response)
    assert "OTHER-MARKER" not in response.get_data(as_text=True)
    assert sender_events(http, sender, target["id"]) == ["sent"]
    # The packet the bytes came from still opens.
    assert MARKER in read(http, recipient, source["id"]).get_data(as_text=True)
