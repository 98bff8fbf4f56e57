"""Handover packets end to end through the HTTP API, with signatures made by test keys."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json

import pytest
from joserfc import jws
from joserfc.jwk import KeySet, OctKey
from sqlalchemy import text

from consent.model import local_date
from exchange.services import Services
from exchange.unit import WORKER, unit_of_work
from tests.conftest import audit_rows, sign_packet

HETU = "010190-900P"
JOSE = "application/jose"


def today() -> dt.date:
    return local_date(dt.datetime.now(dt.UTC))


def three_organizations(make_org):
    """kisalli (a provider), te-vs (employment services) and kela, with their people."""
    provider = make_org(
        "kisalli",
        kind="provider",
        users=[
            ("kalle.valmentaja", ["staff"]),
            ("kaija.valmentaja", ["staff"]),
            ("liisa.sw", ["social_worker"]),
        ],
    )
    te = make_org(
        "te-vs",
        kind="employment_services",
        users=[
            ("terhi.asiantuntija", ["staff"]),
            ("timo.asiantuntija", ["staff"]),
            ("tuomas.sw", ["social_worker", "admin"]),
        ],
    )
    kela = make_org("kela", kind="kela", users=[("kaisa.kela", ["staff"])])
    return {"provider": provider, "te": te, "kela": kela}


@pytest.fixture
def world(make_org):
    return three_organizations(make_org)


def consent(
    http,
    world,
    categories=("assessment", "plan", "contact_persons", "service_period"),
    approve=True,
):
    body = {
        "client": {"hetu": HETU},
        "decision": "permit",
        "sources": ["kisalli"],
        "recipients": ["te-vs"],
        "categories": list(categories),
        "purposes": ["employment_services"],
        "valid_until": (today() + dt.timedelta(days=300)).isoformat(),
        "method": "electronic_strong_auth",
        "approver_organization": "te-vs",
    }
    recorded = http.post(
        "/v1/consents", json=body, headers=world["provider"].client.headers("kalle.valmentaja")
    )
    assert recorded.status_code == 201, recorded.get_json()
    if approve:
        approved = http.post(
            f"/v1/consents/{recorded.get_json()['id']}/approve",
            headers=world["te"].client.headers("tuomas.sw"),
        )
        assert approved.status_code == 200
    return recorded.get_json()


def sections():
    return [
        {
            "type": "assessment",
            "instrument": "kykyviisari",
            "date": today().isoformat(),
            "scores": {"health": 6, "competence": 7},
            "summary": "Motivated; needs support with routines.",
        },
        {
            "type": "plan",
            "kind": "employment_plan",
            "goals": [
                {
                    "text": "Work trial in a kitchen",
                    "target_date": (today() + dt.timedelta(days=90)).isoformat(),
                }
            ],
            "next_step": "work trial",
        },
        {
            "type": "contact_persons",
            "persons": [
                {
                    "name": "Kalle Valmentaja",
                    "role": "coach",
                    "organization": "kisalli",
                    "phone": "+358 40 123 4567",
                    "email": "kalle.valmentaja@example.fi",
                }
            ],
        },
        {
            "type": "service_period",
            "service": "kuntouttava_tyotoiminta",
            "start": (today() - dt.timedelta(days=150)).isoformat(),
            "end": (today() + dt.timedelta(days=30)).isoformat(),
            "days_per_week": 3,
            "hours_per_day": 6,
        },
    ]


def payload(**changes):
    body = {
        "client": {"hetu": HETU},
        "from": {"organization": "kisalli", "worker": "kalle.valmentaja"},
        "to": {"organization": "te-vs"},
        "kind": "transfer",
        "purpose": "employment_services",
        "respond_by": (today() + dt.timedelta(days=14)).isoformat(),
        "case_reference": "KIS-2026-0042",
        "sections": sections(),
    }
    body.update(changes)
    return {key: value for key, value in body.items() if value is not None}


def send(http, org, body=None, key=None, headers=None, **jws_header):
    token = sign_packet(
        key or org.packet_key, body if body is not None else payload(), **jws_header
    )
    return http.post(
        "/v1/packets",
        data=token,
        headers={**org.client.headers(), "Content-Type": JOSE, **(headers or {})},
    )


def sent(http, world, **changes):
    response = send(http, world["provider"], payload(**changes))
    assert response.status_code == 201, response.get_json()
    return response.get_json()


# --- the whole story ---------------------------------------------------------------------


def test_transfer_story(http, world, rt):
    provider, te = world["provider"], world["te"]
    granted = consent(http, world)
    receipt = sent(http, world)
    assert receipt["status"] == "sent"
    assert receipt["warnings"] == []
    lead = http.get(
        f"/v1/clients/{granted['client_id']}/lead", headers=provider.client.headers()
    ).get_json()
    assert (lead["organization"], lead["worker"]) == ("kisalli", "kalle.valmentaja")

    inbox = http.get("/v1/packets?box=inbox", headers=te.client.headers()).get_json()["items"]
    assert [item["id"] for item in inbox] == [receipt["id"]]
    assert "sections" not in inbox[0]

    opened = http.get(
        f"/v1/packets/{receipt['id']}", headers=te.client.headers("terhi.asiantuntija")
    )
    assert opened.status_code == 200
    packet = opened.get_json()
    assert packet["status"] == "delivered"
    assert [s["type"] for s in packet["sections"]] == [
        "assessment",
        "plan",
        "contact_persons",
        "service_period",
    ]
    basis = {b["category"]: b["basis"] for b in packet["basis"]}
    # Employment services receive service periods by law; the rest rests on the consent.
    assert basis == {
        "assessment": "consent",
        "plan": "consent",
        "contact_persons": "consent",
        "service_period": "statute",
    }

    accepted = http.post(
        f"/v1/packets/{receipt['id']}/accept", headers=te.client.headers("terhi.asiantuntija")
    )
    assert accepted.status_code == 200
    assert accepted.get_json()["status"] == "accepted"
    lead = http.get(
        f"/v1/clients/{granted['client_id']}/lead", headers=te.client.headers()
    ).get_json()
    assert (lead["organization"], lead["worker"]) == ("te-vs", "terhi.asiantuntija")

    # The new lead reads the contact persons to continue the client's path.
    contacts = http.get(f"/v1/packets/{receipt['id']}", headers=te.client.headers()).get_json()[
        "sections"
    ][2]
    assert contacts["persons"][0]["phone"] == "+358 40 123 4567"
    events = http.get(
        f"/v1/packets/{receipt['id']}/events", headers=provider.client.headers()
    ).get_json()
    assert [e["action"] for e in events["items"]] == ["sent", "delivered", "accepted"]
    for action in ("packet.send", "packet.read", "packet.accept", "lead.change"):
        assert audit_rows(rt, action=action, outcome="allowed"), action


def test_receipt_is_signed_by_the_service_over_the_payload(http, world):
    consent(http, world)
    body = payload()
    token = sign_packet(world["provider"].packet_key, body)
    response = http.post(
        "/v1/packets",
        data=token,
        headers={**world["provider"].client.headers(), "Content-Type": JOSE},
    )
    jwks = KeySet.import_key_set(http.get("/.well-known/jwks.json").get_json())
    verified = jws.deserialize_compact(response.get_json()["receipt"], jwks)
    receipt = json.loads(verified.payload)
    assert receipt["packet_id"] == response.get_json()["id"]
    signed_payload = base64.urlsafe_b64decode(token.split(".")[1] + "==")
    assert receipt["payload_sha256"] == hashlib.sha256(signed_payload).hexdigest()
    assert receipt["from"] == {"organization": "kisalli", "worker": "kalle.valmentaja"}
    assert receipt["to"]["organization"] == "te-vs"


def test_original_jws_is_returned_and_verifies_with_the_sender_key(http, world):
    consent(http, world)
    receipt = sent(http, world)
    packet = http.get(
        f"/v1/packets/{receipt['id']}", headers=world["te"].client.headers()
    ).get_json()
    verified = jws.deserialize_compact(packet["jws"], KeySet([world["provider"].packet_key]))
    assert json.loads(verified.payload)["case_reference"] == "KIS-2026-0042"


# --- legal basis -------------------------------------------------------------------------


def test_no_consent_rejects_the_whole_packet_with_the_list(http, world, session):
    response = send(http, world["provider"])
    assert response.status_code == 403
    body = response.get_json()
    assert body["code"] == "consent_missing"
    assert {item["category"] for item in body["missing"]} == {
        "assessment",
        "plan",
        "contact_persons",
    }
    assert session.execute(text("SELECT count(*) FROM packet")).scalar() == 0


def test_one_uncovered_section_rejects_everything(http, world, session):
    consent(http, world, categories=("assessment", "contact_persons"))
    response = send(http, world["provider"])
    assert response.status_code == 403
    assert response.get_json()["missing"] == [{"category": "plan", "reason": "no_consent"}]
    assert session.execute(text("SELECT count(*) FROM packet")).scalar() == 0


def test_pending_consent_is_no_basis(http, world):
    consent(http, world, approve=False)
    assert send(http, world["provider"]).status_code == 403


def test_statutory_basis_for_kela(http, world):
    body = payload(
        to={"organization": "kela"},
        kind="information",
        purpose="benefit_processing",
        respond_by=None,
        sections=[{"type": "benefits", "benefits": [{"benefit": "työmarkkinatuki"}]}],
    )
    response = send(http, world["provider"], body)
    assert response.status_code == 201, response.get_json()
    packet = http.get(
        f"/v1/packets/{response.get_json()['id']}", headers=world["kela"].client.headers()
    ).get_json()
    assert packet["basis"][0]["basis"] == "statute"
    assert packet["basis"][0]["statute"]


def test_withdrawn_consent_blocks_reads_and_actions(http, world, rt):
    granted = consent(http, world)
    receipt = sent(http, world)
    withdrawn = http.post(
        f"/v1/consents/{granted['id']}/withdraw",
        json={"reason": "Client asked"},
        headers=world["provider"].client.headers("kalle.valmentaja"),
    )
    assert withdrawn.status_code == 200
    read = http.get(f"/v1/packets/{receipt['id']}", headers=world["te"].client.headers())
    assert read.status_code == 403
    assert read.get_json()["code"] == "consent_withdrawn"
    for reader in (world["te"], world["provider"]):
        assert (
            http.get(f"/v1/packets/{receipt['id']}", headers=reader.client.headers()).status_code
            == 403
        )
    events = http.get(
        f"/v1/packets/{receipt['id']}/events", headers=world["provider"].client.headers()
    ).get_json()
    assert events["items"][-1]["status"] == "blocked"
    accept = http.post(
        f"/v1/packets/{receipt['id']}/accept",
        headers=world["te"].client.headers("terhi.asiantuntija"),
    )
    assert accept.status_code == 409
    assert audit_rows(rt, action="packet.block")


def test_expired_consent_blocks_on_read_and_the_block_persists(http, world, session, rt):
    granted = consent(http, world)
    receipt = sent(http, world)
    session.execute(
        text("UPDATE consent SET valid_from = :f, valid_until = :u WHERE id = :i"),
        {
            "f": today() - dt.timedelta(days=30),
            "u": today() - dt.timedelta(days=1),
            "i": granted["id"],
        },
    )
    session.commit()
    assert (
        http.get(f"/v1/packets/{receipt['id']}", headers=world["te"].client.headers()).status_code
        == 403
    )
    status = session.execute(
        text("SELECT status FROM packet WHERE id = :i"), {"i": receipt["id"]}
    ).scalar()
    assert status == "blocked"
    # The read failed and was rolled back; its denial and the block it caused stay.
    [denied] = audit_rows(rt, action="packet.read", outcome="denied")
    assert (denied.resource_id, denied.reason, denied.actor_organization) == (
        receipt["id"],
        "consent_withdrawn",
        world["te"].id,
    )
    [blocked] = audit_rows(rt, action="packet.block")
    assert (blocked.resource_id, blocked.actor_organization, blocked.actor_client) == (
        receipt["id"],
        None,
        "system",
    )
    assert audit_rows(rt, action="packet.read", outcome="allowed") == []


# --- lifecycle ---------------------------------------------------------------------------


def test_decline_needs_a_reason_and_the_sender_keeps_the_lead(http, world):
    granted = consent(http, world)
    receipt = sent(http, world)
    url = f"/v1/packets/{receipt['id']}/decline"
    headers = world["te"].client.headers("terhi.asiantuntija")
    assert http.post(url, json={}, headers=headers).status_code == 422
    declined = http.post(
        url, json={"reason": "Client moved to another municipality"}, headers=headers
    )
    assert declined.status_code == 200
    assert declined.get_json()["status"] == "declined"
    lead = http.get(
        f"/v1/clients/{granted['client_id']}/lead", headers=world["provider"].client.headers()
    ).get_json()
    assert lead["organization"] == "kisalli"
    assert http.post(f"/v1/packets/{receipt['id']}/accept", headers=headers).status_code == 409


def test_sender_withdraws_before_acceptance(http, world):
    consent(http, world)
    receipt = sent(http, world)
    withdraw = f"/v1/packets/{receipt['id']}/withdraw"
    assert (
        http.post(
            withdraw, headers=world["provider"].client.headers("kalle.valmentaja")
        ).status_code
        == 200
    )
    accept = http.post(
        f"/v1/packets/{receipt['id']}/accept",
        headers=world["te"].client.headers("terhi.asiantuntija"),
    )
    assert accept.status_code == 409
    assert accept.get_json()["code"] == "packet_withdrawn"
    assert (
        http.post(
            withdraw, headers=world["provider"].client.headers("kalle.valmentaja")
        ).status_code
        == 409
    )


def test_accepted_packet_cannot_be_withdrawn_or_declined(http, world):
    consent(http, world)
    receipt = sent(http, world)
    http.post(
        f"/v1/packets/{receipt['id']}/accept",
        headers=world["te"].client.headers("terhi.asiantuntija"),
    )
    assert (
        http.post(
            f"/v1/packets/{receipt['id']}/withdraw",
            headers=world["provider"].client.headers("kalle.valmentaja"),
        ).status_code
        == 409
    )
    assert (
        http.post(
            f"/v1/packets/{receipt['id']}/decline",
            json={"reason": "changed my mind"},
            headers=world["te"].client.headers("terhi.asiantuntija"),
        ).status_code
        == 409
    )


def test_actions_need_an_acting_user(http, world):
    consent(http, world)
    receipt = sent(http, world)
    assert (
        http.post(
            f"/v1/packets/{receipt['id']}/accept", headers=world["te"].client.headers()
        ).status_code
        == 403
    )


def test_information_packet_does_not_move_the_lead(http, world):
    granted = consent(http, world)
    receipt = sent(http, world, kind="information", respond_by=None)
    http.post(
        f"/v1/packets/{receipt['id']}/accept",
        headers=world["te"].client.headers("terhi.asiantuntija"),
    )
    lead = http.get(
        f"/v1/clients/{granted['client_id']}/lead", headers=world["provider"].client.headers()
    ).get_json()
    assert lead["organization"] is None


def test_only_the_lead_can_transfer(http, world, make_org):
    granted = consent(http, world)
    assign = http.post(
        f"/v1/clients/{granted['client_id']}/lead",
        json={"worker": "terhi.asiantuntija"},
        headers=world["te"].client.headers("tuomas.sw"),
    )
    assert assign.status_code == 200
    response = send(http, world["provider"])
    assert response.status_code == 409
    assert response.get_json()["code"] == "lead_elsewhere"


# --- deadlines ---------------------------------------------------------------------------


def test_expiry_holds_without_a_worker_and_the_worker_records_it(http, world, session, rt):
    consent(http, world)
    receipt = sent(http, world, respond_by=(today() + dt.timedelta(days=2)).isoformat())
    escalations = http.get("/v1/escalations", headers=world["provider"].client.headers()).get_json()
    assert [p["id"] for p in escalations["due_soon"]] == [receipt["id"]]
    session.execute(
        text("UPDATE packet SET respond_by = :d WHERE id = :i"),
        {"d": today() - dt.timedelta(days=1), "i": receipt["id"]},
    )
    session.commit()
    outbox = http.get(
        "/v1/packets?box=outbox&status=expired", headers=world["provider"].client.headers()
    ).get_json()
    assert [p["id"] for p in outbox["items"]] == [receipt["id"]]
    assert outbox["items"][0]["status"] == "expired"
    escalations = http.get("/v1/escalations", headers=world["provider"].client.headers()).get_json()
    assert [p["id"] for p in escalations["expired_transfers"]] == [receipt["id"]]
    accept = http.post(
        f"/v1/packets/{receipt['id']}/accept",
        headers=world["te"].client.headers("terhi.asiantuntija"),
    )
    assert accept.status_code == 409
    assert accept.get_json()["code"] == "packet_expired"

    with unit_of_work(rt.db.sessions, WORKER, "packet.expire") as uow:
        expired = Services(rt, uow).packets.expire_overdue(uow.identity)
    assert expired == 1
    assert (
        session.execute(
            text("SELECT status FROM packet WHERE id = :i"), {"i": receipt["id"]}
        ).scalar()
        == "expired"
    )
    assert audit_rows(rt, action="packet.expire")


def test_a_transfer_needs_a_future_deadline(http, world):
    consent(http, world)
    no_deadline = send(http, world["provider"], payload(respond_by=None))
    assert no_deadline.status_code == 422
    assert no_deadline.get_json()["errors"][0]["field"] == "respond_by"
    past = send(
        http, world["provider"], payload(respond_by=(today() - dt.timedelta(days=1)).isoformat())
    )
    assert past.status_code == 422


# --- staff changes -----------------------------------------------------------------------


def _transferred(http, world, to_worker=None):
    granted = consent(http, world)
    to = {"organization": "te-vs", **({"worker": to_worker} if to_worker else {})}
    receipt = sent(http, world, to=to)
    return granted, receipt


def test_staff_change_with_a_successor(http, world):
    granted, receipt = _transferred(http, world, to_worker="terhi.asiantuntija")
    te = world["te"]
    # Terhi leads another client too (through the accepted transfer of this one later).
    response = http.post(
        "/v1/workers/terhi.asiantuntija/deactivate",
        json={"successor": "timo.asiantuntija"},
        headers=te.client.headers("tuomas.sw"),
    )
    assert response.status_code == 200
    assert response.get_json() == {
        "username": "terhi.asiantuntija",
        "successor": "timo.asiantuntija",
        "leads_moved": 0,
        "packets_moved": 1,
        "escorts_moved": 0,
        "first_contacts_moved": 0,
    }
    inbox = http.get("/v1/packets?box=inbox", headers=te.client.headers()).get_json()["items"]
    assert inbox[0]["to"]["worker"] == "timo.asiantuntija"
    # A deactivated user can no longer act.
    refused = http.post(
        f"/v1/packets/{receipt['id']}/accept", headers=te.client.headers("terhi.asiantuntija")
    )
    assert refused.status_code == 403
    assert (
        http.post(
            f"/v1/packets/{receipt['id']}/accept", headers=te.client.headers("timo.asiantuntija")
        ).status_code
        == 200
    )
    lead = http.get(
        f"/v1/clients/{granted['client_id']}/lead", headers=te.client.headers()
    ).get_json()
    assert lead["worker"] == "timo.asiantuntija"


def test_staff_change_without_a_successor_fills_the_unassigned_queue(http, world):
    granted, receipt = _transferred(http, world)
    provider = world["provider"]
    response = http.post(
        "/v1/workers/kalle.valmentaja/deactivate",
        json={"successor": None},
        headers=provider.client.headers("liisa.sw"),
    )
    assert response.status_code == 200
    assert response.get_json()["leads_moved"] == 1
    queue = http.get(
        "/v1/organizations/kisalli/unassigned", headers=provider.client.headers()
    ).get_json()["items"]
    assert [item["client_id"] for item in queue] == [granted["client_id"]]
    escalations = http.get("/v1/escalations", headers=provider.client.headers()).get_json()
    assert [c["client_id"] for c in escalations["unassigned_clients"]] == [granted["client_id"]]
    # The client is not lost: the transfer can still be accepted, and then the queue empties.
    http.post(
        f"/v1/packets/{receipt['id']}/accept",
        headers=world["te"].client.headers("terhi.asiantuntija"),
    )
    assert (
        http.get(
            "/v1/organizations/kisalli/unassigned", headers=provider.client.headers()
        ).get_json()["items"]
        == []
    )


def test_staff_change_validation(http, world):
    headers = world["te"].client.headers("tuomas.sw")
    assert (
        http.post(
            "/v1/workers/nobody/deactivate", json={"successor": None}, headers=headers
        ).status_code
        == 404
    )
    assert (
        http.post(
            "/v1/workers/kalle.valmentaja/deactivate", json={"successor": None}, headers=headers
        ).status_code
        == 404
    )
    same = http.post(
        "/v1/workers/terhi.asiantuntija/deactivate",
        json={"successor": "terhi.asiantuntija"},
        headers=headers,
    )
    assert same.status_code == 422
    foreign = http.post(
        "/v1/workers/terhi.asiantuntija/deactivate",
        json={"successor": "kalle.valmentaja"},
        headers=headers,
    )
    assert foreign.status_code == 422
    staff = http.post(
        "/v1/workers/timo.asiantuntija/deactivate",
        json={"successor": None},
        headers=world["te"].client.headers("terhi.asiantuntija"),
    )
    assert staff.status_code == 403


def test_lead_assignment_rules(http, world):
    granted = consent(http, world)
    url = f"/v1/clients/{granted['client_id']}/lead"
    provider, te = world["provider"], world["te"]
    assert (
        http.post(
            url, json={"worker": "kalle.valmentaja"}, headers=provider.client.headers("liisa.sw")
        ).status_code
        == 200
    )
    assert (
        http.post(
            url, json={"worker": "kaija.valmentaja"}, headers=provider.client.headers("liisa.sw")
        ).status_code
        == 200
    )
    elsewhere = http.post(
        url, json={"worker": "terhi.asiantuntija"}, headers=te.client.headers("tuomas.sw")
    )
    assert elsewhere.status_code == 409
    assert elsewhere.get_json()["code"] == "lead_elsewhere"
    foreign_worker = http.post(
        url, json={"worker": "terhi.asiantuntija"}, headers=provider.client.headers("liisa.sw")
    )
    assert foreign_worker.status_code == 422


# --- signatures and format -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("kty", "alg"), [("OKP", "Ed25519"), ("OKP", "EdDSA"), ("RSA", "PS256"), ("EC", "ES256")]
)
def test_each_signature_algorithm(make_org, http, kty, alg):
    sender = make_org(
        "sender-org", kind="provider", packet_kty=kty, users=[("sam.sender", ["staff"])]
    )
    make_org("kela", kind="kela")
    body = payload(
        **{"from": {"organization": "sender-org", "worker": "sam.sender"}},
        to={"organization": "kela"},
        kind="information",
        purpose="benefit_processing",
        respond_by=None,
        sections=[{"type": "benefits", "benefits": [{"benefit": "asumistuki"}]}],
    )
    response = send(http, sender, body, alg=alg)
    assert response.status_code == 201, response.get_json()


def test_bad_signatures_are_refused(http, world, make_org, session):
    consent(http, world)
    provider = world["provider"]
    other = world["te"].packet_key
    cases = {
        "another organization's key": send(http, provider, key=other, kid=provider.packet_key.kid),
        "unknown kid": send(http, provider, kid="no-such-kid"),
    }
    token = sign_packet(provider.packet_key, payload())
    head, body, signature = token.split(".")
    forged = json.loads(base64.urlsafe_b64decode(body + "=="))
    forged["to"] = {"organization": "kela"}
    forged_body = base64.urlsafe_b64encode(json.dumps(forged).encode()).rstrip(b"=").decode()
    headers = {**provider.client.headers(), "Content-Type": JOSE}
    cases["tampered payload"] = http.post(
        "/v1/packets", data=f"{head}.{forged_body}.{signature}", headers=headers
    )
    none_head = base64.urlsafe_b64encode(
        json.dumps({"alg": "none", "kid": provider.packet_key.kid}).encode()
    )
    cases["alg none"] = http.post(
        "/v1/packets", data=f"{none_head.rstrip(b'=').decode()}.{body}.", headers=headers
    )
    public = json.dumps(provider.packet_key.as_dict(private=False)).encode()
    hmac_token = jws.serialize_compact(
        {"alg": "HS256", "kid": provider.packet_key.kid},
        json.dumps(payload()).encode(),
        OctKey.import_key(public),
    )
    cases["HS256 with the public key"] = http.post("/v1/packets", data=hmac_token, headers=headers)
    cases["not a JWS"] = http.post("/v1/packets", data="not.a-jws", headers=headers)
    crit_head = (
        base64.urlsafe_b64encode(
            json.dumps(
                {"alg": "ES256", "kid": provider.packet_key.kid, "crit": ["exp"], "exp": 1}
            ).encode()
        )
        .rstrip(b"=")
        .decode()
    )
    cases["critical header"] = http.post(
        "/v1/packets", data=f"{crit_head}.{body}.{signature}", headers=headers
    )
    cases["wrong typ"] = send(http, provider, typ="JWT")
    for name, response in cases.items():
        assert response.status_code == 400, name
        assert response.mimetype == "application/problem+json", name
    assert session.execute(text("SELECT count(*) FROM packet")).scalar() == 0


def test_duplicate_json_keys_in_the_payload_are_400(http, world):
    consent(http, world)
    raw = json.dumps(payload())[:-1] + ', "kind": "information"}'
    response = send(http, world["provider"], raw.encode())
    assert response.status_code == 400
    assert response.get_json()["code"] == "duplicate_json_key"


def test_wrong_content_type_is_415(http, world):
    token = sign_packet(world["provider"].packet_key, payload())
    response = http.post(
        "/v1/packets",
        data=token,
        headers={**world["provider"].client.headers(), "Content-Type": "application/json"},
    )
    assert response.status_code == 415


def test_sender_must_be_the_token_organization(http, world):
    consent(http, world)
    body = payload(**{"from": {"organization": "te-vs", "worker": "terhi.asiantuntija"}})
    response = send(http, world["provider"], body)
    assert response.status_code == 403
    assert response.get_json()["code"] == "sender_mismatch"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"colour": "blue"}, "colour"),
        ({"kind": "gift"}, "kind"),
        ({"purpose": "marketing"}, "purpose"),
        ({"to": {"organization": "nowhere"}}, "to.organization"),
        ({"to": {"organization": "kisalli"}}, "to.organization"),
        ({"to": {"organization": "te-vs", "worker": "kalle.valmentaja"}}, "to.worker"),
        ({"from": {"organization": "kisalli", "worker": "nobody.here"}}, "from.worker"),
        ({"client": {"hetu": "010190-900X"}}, "client.hetu"),
        ({"sections": []}, "sections"),
    ],
)
def test_invalid_payloads_are_422_naming_the_field(http, world, changes, field):
    consent(http, world)
    response = send(http, world["provider"], payload(**changes))
    assert response.status_code == 422, response.get_json()
    assert field in [error["field"] for error in response.get_json()["errors"]]


def test_kuty_rules_through_the_api(http, world):
    consent(http, world)
    too_many_days = sections()
    too_many_days[3]["days_per_week"] = 5
    response = send(http, world["provider"], payload(sections=too_many_days))
    assert response.status_code == 422
    assert "sections[3].days_per_week" in [
        error["field"] for error in response.get_json()["errors"]
    ]
    long_path = sections()
    long_path[3]["total_months_in_service"] = 30
    warned = send(http, world["provider"], payload(sections=long_path))
    assert warned.status_code == 201
    assert [w["code"] for w in warned.get_json()["warnings"]] == ["kuty_over_24_months"]


def test_idempotent_retry_returns_the_same_packet(http, world, session):
    consent(http, world)
    token = sign_packet(world["provider"].packet_key, payload())
    headers = {
        **world["provider"].client.headers(),
        "Content-Type": JOSE,
        "Idempotency-Key": "retry-1",
    }
    first = http.post("/v1/packets", data=token, headers=headers)
    # A retry after the lock has lapsed (another instance, later): answered from the database.
    from tests.conftest import runtime_of

    runtime_of(http.application).redis.flushdb()
    again = http.post("/v1/packets", data=token, headers=headers)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.get_json() == first.get_json()
    other = sign_packet(world["provider"].packet_key, payload(case_reference="KIS-2026-0043"))
    runtime_of(http.application).redis.flushdb()
    reused = http.post("/v1/packets", data=other, headers=headers)
    assert reused.status_code == 422
    assert reused.get_json()["code"] == "idempotency_key_reused"
    assert session.execute(text("SELECT count(*) FROM packet")).scalar() == 1
    bad_key = http.post("/v1/packets", data=token, headers={**headers, "Idempotency-Key": "a b"})
    assert bad_key.status_code == 400
