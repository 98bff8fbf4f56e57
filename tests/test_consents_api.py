"""Consents through the HTTP API: recording, four eyes, bans, withdrawal, visibility, receipts."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from joserfc import jws
from joserfc.jwk import KeySet
from sqlalchemy import text

from consent.model import local_date, months_after
from tests.conftest import audit_rows

HETU = "010190-900P"
OTHER_HETU = "150585-9122"


def today() -> dt.date:
    return local_date(dt.datetime.now(dt.UTC))


@pytest.fixture
def world(make_org):
    """A provider that records, employment services and Kela that receive, and an outsider."""
    provider = make_org(
        "kisalli",
        kind="provider",
        users=[("kalle.valmentaja", ["staff"]), ("liisa.sw", ["social_worker"])],
    )
    te = make_org(
        "te-vs",
        kind="employment_services",
        users=[("terhi.staff", ["staff"]), ("tuomas.sw", ["social_worker"])],
    )
    kela = make_org("kela", kind="kela", users=[("kaisa.kela", ["staff"])])
    outsider = make_org("outsider", kind="provider", users=[("olli.out", ["social_worker"])])
    return {"provider": provider, "te": te, "kela": kela, "outsider": outsider}


def consent_body(**changes):
    """A provider records, employment services approves (unless ``changes`` say otherwise)."""
    body = {
        "client": {"hetu": HETU},
        "grantor": {"type": "self"},
        "decision": "permit",
        "sources": ["kisalli"],
        "recipients": ["te-vs"],
        "categories": ["assessment", "plan", "contact_persons"],
        "purposes": ["employment_services"],
        "valid_from": today().isoformat(),
        "valid_until": (today() + dt.timedelta(days=300)).isoformat(),
        "method": "signed_paper",
        "evidence": {"reference": "paper form 2026/114"},
        "language": "fi",
        "approver_organization": "te-vs",
    }
    body.update(changes)
    return {name: value for name, value in body.items() if value is not None}


def record(http, org, user="kalle.valmentaja", **changes):
    response = http.post(
        "/v1/consents", json=consent_body(**changes), headers=org.client.headers(user)
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def approve(http, org, consent_id, user):
    return http.post(f"/v1/consents/{consent_id}/approve", headers=org.client.headers(user))


def check(http, org, **changes):
    body = {
        "client": {"hetu": HETU},
        "source": "kisalli",
        "recipient": "te-vs",
        "purpose": "employment_services",
        "categories": ["assessment", "plan"],
    }
    body.update(changes)
    return http.post("/v1/consent-checks", json=body, headers=org.client.headers())


# --- recording -------------------------------------------------------------------------


def test_permit_is_recorded_pending_with_the_text_the_client_saw(http, world, rt):
    body = record(http, world["provider"])
    assert body["status"] == "pending"
    assert body["decision"] == "permit"
    assert body["recorded"]["user"] == "kalle.valmentaja"
    assert body["recorded"]["organization"] == "kisalli"
    text_ = body["consent_text"]
    assert text_["language"] == "fi"
    assert text_["version"]
    assert len(text_["sha256"]) == 64
    assert "Test organization" in text_["text"]  # recipients by name, not by id
    assert [event["action"] for event in body["events"]] == ["recorded"]
    assert HETU not in json.dumps(body)
    events = audit_rows(rt, action="consent.record")
    assert events[-1].resource_id == body["id"]
    assert events[-1].client_ref == body["client_id"]


def test_ban_is_active_at_once(http, world):
    body = record(http, world["provider"], decision="deny")
    assert body["status"] == "active"


def test_valid_from_defaults_to_today(http, world):
    body = consent_body()
    del body["valid_from"]
    response = http.post(
        "/v1/consents", json=body, headers=world["provider"].client.headers("kalle.valmentaja")
    )
    assert response.status_code == 201
    assert response.get_json()["valid_from"] == today().isoformat()


def test_swedish_and_english_texts(http, world):
    assert record(http, world["provider"], language="sv")["consent_text"]["language"] == "sv"
    english = record(http, world["provider"], language="en")
    assert (
        english["consent_text"]["text"] != record(http, world["provider"])["consent_text"]["text"]
    )


def bad(field, **changes):
    return pytest.param(changes, field, id=field)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        bad("valid_until", valid_until=None),
        bad("valid_until", valid_until=(today() + dt.timedelta(days=800)).isoformat()),
        bad("valid_until", valid_until=(today() - dt.timedelta(days=1)).isoformat()),
        bad("sources[0]", sources=["no-such-org"]),
        bad("recipients[1]", recipients=["te-vs", "nowhere-org"]),
        bad("sources", sources=[]),
        bad("sources", sources=["kisalli", "kisalli"]),
        bad("categories[0]", categories=["medical_records"]),
        bad("purposes[0]", purposes=["marketing"]),
        bad("decision", decision="maybe"),
        bad("grantor.name", grantor={"type": "guardian"}),
        bad(
            "grantor.type", grantor={"type": "guardian", "name": "Maija Huoltaja"}, decision="deny"
        ),
        bad(
            "grantor.type",
            grantor={"type": "legal_representative", "name": "Edunvalvoja"},
            decision="deny",
        ),
        bad("evidence.reference", evidence={}),
        bad("evidence.witness_name", method="verbal_witnessed", evidence={"reference": "x"}),
        bad("method", method="telepathy"),
        bad("language", language="de"),
        bad("client", client={"id": "x", "hetu": HETU}),
        bad("client.hetu", client={"hetu": "010190-900X"}),
        bad("client.id", client={"id": "no-such-client"}),
        bad("colour", colour="blue"),
    ],
)
def test_invalid_consents_are_422_naming_the_field(http, world, session, changes, field):
    body = consent_body(**changes)
    body = {key: value for key, value in body.items() if value is not None}
    response = http.post(
        "/v1/consents", json=body, headers=world["provider"].client.headers("kalle.valmentaja")
    )
    assert response.status_code == 422, response.get_json()
    assert field in [error["field"] for error in response.get_json()["errors"]]
    assert session.execute(text("SELECT count(*) FROM consent")).scalar() == 0


def test_valid_until_must_not_precede_valid_from(http, world):
    start = today() + dt.timedelta(days=10)
    response = http.post(
        "/v1/consents",
        json=consent_body(
            valid_from=start.isoformat(), valid_until=(start - dt.timedelta(days=1)).isoformat()
        ),
        headers=world["provider"].client.headers("kalle.valmentaja"),
    )
    assert response.status_code == 422


def test_maximum_validity_is_configurable(app_config, http, world):
    limit = months_after(today(), 24)
    assert record(http, world["provider"], valid_until=limit.isoformat())["status"] == "pending"
    too_long = limit + dt.timedelta(days=1)
    response = http.post(
        "/v1/consents",
        json=consent_body(valid_until=too_long.isoformat()),
        headers=world["provider"].client.headers("kalle.valmentaja"),
    )
    assert response.status_code == 422
    assert "24 months" in response.get_json()["errors"][0]["message"]


def test_recording_needs_an_acting_user_and_the_scope(http, world, make_org):
    provider = world["provider"]
    assert (
        http.post(
            "/v1/consents", json=consent_body(), headers=provider.client.headers()
        ).status_code
        == 403
    )
    reader = make_org("reader", scopes=["consents:read"], users=[("rita.reader", ["staff"])])
    response = http.post(
        "/v1/consents", json=consent_body(), headers=reader.client.headers("rita.reader")
    )
    assert response.status_code == 403
    assert response.get_json()["code"] == "insufficient_scope"


def test_malformed_consent_json_is_400(http, world):
    response = http.post(
        "/v1/consents",
        data=b'{"decision": "permit", "decision": "deny"}',
        headers={
            **world["provider"].client.headers("kalle.valmentaja"),
            "Content-Type": "application/json",
        },
    )
    assert response.status_code == 400


# --- approval (four eyes) ----------------------------------------------------------------


def test_social_worker_of_the_named_approver_organization_approves(http, world, rt):
    consent = record(http, world["provider"])
    response = approve(http, world["te"], consent["id"], "tuomas.sw")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "active"
    assert body["decided"]["user"] == "tuomas.sw"
    assert [event["action"] for event in body["events"]] == ["recorded", "approved"]
    assert audit_rows(rt, action="consent.approve")[-1].actor_user == "tuomas.sw"


def test_recorder_cannot_approve_their_own_consent(http, world, rt):
    consent = record(http, world["provider"], user="liisa.sw", approver_organization="kisalli")
    response = approve(http, world["provider"], consent["id"], "liisa.sw")
    assert response.status_code == 403
    assert response.get_json()["code"] == "four_eyes_required"
    assert audit_rows(rt, action="consent.approve", outcome="denied")
    # A social worker of the same organization may approve what a colleague recorded.
    colleagues = record(
        http, world["provider"], user="kalle.valmentaja", approver_organization="kisalli"
    )
    assert approve(http, world["provider"], colleagues["id"], "liisa.sw").status_code == 200


def test_staff_cannot_approve(http, world):
    consent = record(http, world["provider"])
    response = approve(http, world["te"], consent["id"], "terhi.staff")
    assert response.status_code == 403
    assert response.get_json()["code"] == "role_required"


def test_approving_twice_is_409(http, world):
    consent = record(http, world["provider"])
    assert approve(http, world["te"], consent["id"], "tuomas.sw").status_code == 200
    again = approve(http, world["te"], consent["id"], "tuomas.sw")
    assert again.status_code == 409
    assert again.get_json()["code"] == "consent_active"


def test_a_ban_needs_no_approval_and_cannot_be_approved(http, world):
    ban = record(http, world["provider"], decision="deny")
    assert approve(http, world["te"], ban["id"], "tuomas.sw").status_code == 409


def test_reject_needs_a_reason_and_is_final(http, world):
    consent = record(http, world["provider"])
    url = f"/v1/consents/{consent['id']}/reject"
    headers = world["te"].client.headers("tuomas.sw")
    assert http.post(url, json={}, headers=headers).status_code == 422
    rejected = http.post(url, json={"reason": "Wrong recipient organization"}, headers=headers)
    assert rejected.status_code == 200
    assert rejected.get_json()["status"] == "rejected"
    assert http.post(url, json={"reason": "again"}, headers=headers).status_code == 409
    assert approve(http, world["te"], consent["id"], "tuomas.sw").status_code == 409


# --- withdrawal -------------------------------------------------------------------------


def test_withdrawal_is_immediate_and_notifies_listeners(http, world, rt):
    heard = []
    rt.withdrawal_listeners.append(lambda _uow, _identity, row: heard.append(row.id))
    consent = record(http, world["provider"])
    approve(http, world["te"], consent["id"], "tuomas.sw")
    assert check(http, world["provider"]).get_json()["allowed"] is True
    response = http.post(
        f"/v1/consents/{consent['id']}/withdraw",
        json={"reason": "Client asked by phone"},
        headers=world["provider"].client.headers("kalle.valmentaja"),
    )
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "withdrawn"
    assert body["withdrawn"]["user"] == "kalle.valmentaja"
    assert body["events"][-1]["reason"] == "Client asked by phone"
    assert heard == [consent["id"]]
    assert check(http, world["provider"]).get_json()["allowed"] is False


def test_withdrawing_twice_or_a_pending_consent_is_409(http, world):
    consent = record(http, world["provider"])
    url = f"/v1/consents/{consent['id']}/withdraw"
    headers = world["provider"].client.headers("kalle.valmentaja")
    assert http.post(url, json={"reason": "not yet active"}, headers=headers).status_code == 409
    approve(http, world["te"], consent["id"], "tuomas.sw")
    assert http.post(url, json={"reason": "client asked"}, headers=headers).status_code == 200
    assert http.post(url, json={"reason": "client asked"}, headers=headers).status_code == 409


def test_a_new_consent_supersedes_the_old_once_in_force(http, world):
    old = record(http, world["provider"])
    approve(http, world["te"], old["id"], "tuomas.sw")
    new = record(http, world["provider"], categories=["plan"], supersedes=old["id"])
    headers = world["provider"].client.headers()
    assert http.get(f"/v1/consents/{old['id']}", headers=headers).get_json()["status"] == "active"
    approve(http, world["te"], new["id"], "tuomas.sw")
    old_now = http.get(f"/v1/consents/{old['id']}", headers=headers).get_json()
    assert old_now["status"] == "withdrawn"
    assert new["id"] in old_now["events"][-1]["reason"]


# --- visibility -------------------------------------------------------------------------


def test_uninvolved_organization_gets_404_everywhere(http, world, rt):
    consent = record(http, world["provider"])
    outsider = world["outsider"]
    for method, url, body in [
        ("get", f"/v1/consents/{consent['id']}", None),
        ("get", f"/v1/consents/{consent['id']}/receipt", None),
        ("post", f"/v1/consents/{consent['id']}/approve", None),
        ("post", f"/v1/consents/{consent['id']}/reject", {"reason": "not mine"}),
        ("post", f"/v1/consents/{consent['id']}/withdraw", {"reason": "not mine"}),
    ]:
        response = getattr(http, method)(
            url, json=body, headers=outsider.client.headers("olli.out")
        )
        assert response.status_code == 404, url
        assert response.get_json()["code"] == "consent_not_found"
    unknown = http.get(
        "/v1/consents/00000000-0000-0000-0000-000000000000", headers=outsider.client.headers()
    )
    assert unknown.get_json() | {"request_id": None} == response.get_json() | {"request_id": None}
    assert len(audit_rows(rt, outcome="denied", actor_organization="outsider")) >= 5


def test_lists_show_only_visible_consents(http, world):
    mine = record(http, world["provider"])
    record(
        http,
        world["provider"],
        recipients=["kela"],
        purposes=["benefit_processing"],
        categories=["benefits"],
        approver_organization=None,
    )
    outsider_list = http.get("/v1/consents", headers=world["outsider"].client.headers()).get_json()
    assert outsider_list == {"items": [], "next_cursor": None}
    te_list = http.get("/v1/consents", headers=world["te"].client.headers()).get_json()
    assert [item["id"] for item in te_list["items"]] == [mine["id"]]
    by_client = http.get(
        f"/v1/consents?client_id={mine['client_id']}", headers=world["outsider"].client.headers()
    ).get_json()
    assert by_client["items"] == []


def test_list_filters_and_cursor_pagination(http, world):
    ids = [record(http, world["provider"])["id"] for _ in range(5)]
    approve(http, world["te"], ids[0], "tuomas.sw")
    headers = world["provider"].client.headers()
    seen, cursor = [], None
    while True:
        url = "/v1/consents?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = http.get(url, headers=headers).get_json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(ids)
    assert len(seen) == len(set(seen))
    pending = http.get("/v1/consents?status=pending", headers=headers).get_json()["items"]
    assert len(pending) == 4
    active = http.get("/v1/consents?status=active", headers=headers).get_json()["items"]
    assert [item["id"] for item in active] == [ids[0]]
    assert http.get("/v1/consents?cursor=%%%", headers=headers).status_code == 422
    assert http.get("/v1/consents?status=lost", headers=headers).status_code == 422


def test_expiry_is_computed_from_valid_until(http, world, session):
    consent = record(http, world["provider"])
    approve(http, world["te"], consent["id"], "tuomas.sw")
    headers = world["provider"].client.headers()
    soon = http.get("/v1/consents?expiring_within=30", headers=headers).get_json()["items"]
    assert soon == []
    session.execute(
        text("UPDATE consent SET valid_until = :d WHERE id = :i"),
        {"d": today() + dt.timedelta(days=20), "i": consent["id"]},
    )
    session.commit()
    soon = http.get("/v1/consents?expiring_within=30", headers=headers).get_json()["items"]
    assert [item["id"] for item in soon] == [consent["id"]]
    session.execute(
        text("UPDATE consent SET valid_from = :f, valid_until = :d WHERE id = :i"),
        {
            "f": today() - dt.timedelta(days=60),
            "d": today() - dt.timedelta(days=1),
            "i": consent["id"],
        },
    )
    session.commit()
    assert (
        http.get(f"/v1/consents/{consent['id']}", headers=headers).get_json()["status"] == "expired"
    )
    expired = http.get("/v1/consents?status=expired", headers=headers).get_json()["items"]
    assert [item["id"] for item in expired] == [consent["id"]]
    assert check(http, world["provider"]).get_json()["allowed"] is False


# --- receipts ---------------------------------------------------------------------------


def test_receipt_is_signed_with_the_published_key(http, world):
    consent = record(http, world["provider"])
    approve(http, world["te"], consent["id"], "tuomas.sw")
    response = http.get(
        f"/v1/consents/{consent['id']}/receipt", headers=world["provider"].client.headers()
    )
    assert response.status_code == 200
    body = response.get_json()
    jwks = KeySet.import_key_set(http.get("/.well-known/jwks.json").get_json())
    verified = jws.deserialize_compact(body["jws"], jwks)
    assert json.loads(verified.payload) == body["receipt"]
    assert verified.protected["typ"] == "consent-receipt+jws"
    receipt = body["receipt"]
    assert receipt["consentId"] == consent["id"]
    assert receipt["status"] == "active"
    assert receipt["piiPrincipalId"] == consent["client_id"]
    assert receipt["validUntil"] == consent["valid_until"]
    assert receipt["notice"]["sha256"] == consent["consent_text"]["sha256"]
    assert HETU not in response.get_data(as_text=True)


def test_receipt_tampering_is_detected(http, world):
    consent = record(http, world["provider"])
    signed = http.get(
        f"/v1/consents/{consent['id']}/receipt", headers=world["provider"].client.headers()
    ).get_json()["jws"]
    head, payload, signature = signed.split(".")
    import base64

    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["validUntil"] = "2099-12-31"
    forged_payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    jwks = KeySet.import_key_set(http.get("/.well-known/jwks.json").get_json())
    with pytest.raises(Exception, match="signature"):
        jws.deserialize_compact(f"{head}.{forged_payload}.{signature}", jwks)


@pytest.mark.parametrize(
    ("language", "phrase"), [("fi", "Kuitti"), ("sv", "Kvitto"), ("en", "receipt")]
)
def test_printable_receipt_in_the_consent_language(http, world, language, phrase):
    consent = record(http, world["provider"], language=language)
    response = http.get(
        f"/v1/consents/{consent['id']}/receipt?format=html",
        headers=world["provider"].client.headers(),
    )
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert f'<html lang="{language}">' in page
    assert phrase.lower() in page.lower()
    assert "Test organization" in page
    assert HETU not in page


# --- consent checks ---------------------------------------------------------------------


def test_check_follows_the_lifecycle_and_cites_the_basis(http, world, rt):
    provider = world["provider"]
    assert check(http, provider).get_json()["allowed"] is False
    consent = record(http, provider)
    pending = check(http, provider).get_json()
    assert pending["allowed"] is False
    assert {d["basis"] for d in pending["decisions"]} == {None}
    approve(http, world["te"], consent["id"], "tuomas.sw")
    allowed = check(http, provider).get_json()
    assert allowed["allowed"] is True
    assert [(d["category"], d["basis"], d["consent_id"]) for d in allowed["decisions"]] == [
        ("assessment", "consent", consent["id"]),
        ("plan", "consent", consent["id"]),
    ]
    assert all(d["reason"] for d in allowed["decisions"])
    events = audit_rows(rt, action="consent.check", outcome="allowed")
    assert {e.basis_ref for e in events} == {consent["id"]}
    assert {e.basis_type for e in events} == {"consent"}


def test_a_ban_wins_over_a_permit(http, world):
    consent = record(http, world["provider"])
    approve(http, world["te"], consent["id"], "tuomas.sw")
    ban = record(http, world["provider"], decision="deny", categories=["plan"])
    decisions = {d["category"]: d for d in check(http, world["provider"]).get_json()["decisions"]}
    assert decisions["assessment"]["allowed"] is True
    assert decisions["plan"]["allowed"] is False
    assert decisions["plan"]["consent_id"] == ban["id"]


def test_statutory_basis_for_kela_is_audited_with_the_statute(http, world, rt):
    record(
        http,
        world["provider"],
        decision="deny",
        recipients=["kela"],
        categories=["benefits"],
        purposes=["benefit_processing"],
    )
    response = check(
        http,
        world["kela"],
        recipient="kela",
        purpose="benefit_processing",
        categories=["benefits", "health"],
    ).get_json()
    decisions = {d["category"]: d for d in response["decisions"]}
    assert decisions["benefits"]["allowed"] is True
    assert decisions["benefits"]["basis"] == "statute"
    assert decisions["benefits"]["statute"]
    assert decisions["health"]["allowed"] is False
    statute_events = audit_rows(rt, action="consent.check", basis_type="statute")
    assert statute_events[-1].basis_ref == decisions["benefits"]["statute"]


def test_check_only_by_a_party_and_about_known_organizations(http, world):
    response = check(http, world["outsider"])
    assert response.status_code == 403
    assert response.get_json()["code"] == "not_a_party"
    unknown = check(http, world["provider"], recipient="no-such-org")
    assert unknown.status_code == 422
    assert unknown.get_json()["errors"][0]["field"] == "recipient"


def test_check_reason_in_the_asked_language(http, world):
    fi = check(http, world["provider"], language="fi").get_json()["decisions"][0]["reason"]
    sv = check(http, world["provider"], language="sv").get_json()["decisions"][0]["reason"]
    en = check(http, world["provider"], language="en").get_json()["decisions"][0]["reason"]
    assert len({fi, sv, en}) == 3


def test_check_for_an_unknown_identity_code_creates_no_client(http, world, session):
    response = check(http, world["provider"], client={"hetu": OTHER_HETU})
    assert response.get_json()["allowed"] is False
    assert session.execute(text("SELECT count(*) FROM client")).scalar() == 0


def test_a_stored_consent_rebuilds_its_past_statuses(http, make_org, session):
    import datetime as dt

    from exchange.consents.models import Consent
    from exchange.consents.service import to_record
    from tests.conftest import grant_consent

    source = make_org("past-src", users=[("pia.staff", ["staff"])])
    recipient = make_org("past-rcp", users=[("rob.sw", ["social_worker"])])
    granted = grant_consent(http, source, "pia.staff", recipient, "rob.sw")
    withdrawn = http.post(
        f"/v1/consents/{granted['id']}/withdraw",
        json={"reason": "asiakkaan pyyntö"},
        headers=source.client.headers("pia.staff"),
    )
    assert withdrawn.status_code == 200
    row = session.get(Consent, granted["id"])
    past = to_record(row)
    tick = dt.timedelta(microseconds=1)
    assert past.status_at(row.decided_at - tick) == "pending"
    assert past.status_at(row.decided_at) == "active"
    assert past.status_at(row.withdrawn_at - tick) == "active"
    assert past.status_at(row.withdrawn_at) == "withdrawn"
