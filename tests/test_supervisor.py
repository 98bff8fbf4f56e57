"""The ``supervisor`` organization kind: it only audits. The registry refuses it any scope but
``audit:read`` and any role but ``auditor``, the token endpoint never issues it another scope,
and no request may name it as a party to an exchange."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest

from consent.model import local_date
from exchange.errors import Invalid
from exchange.registry.models import OAuthClient, User
from exchange.registry.service import load_registry
from tests.conftest import ALL_SCOPES, business_id, new_signing_key, public_jwks, sign_packet
from tests.test_web_consents import assert_accessible, form
from tests.webtools import PASSWORD, signed_in

HETU = "010190-900P"
SUPERVISOR_KEY = new_signing_key("EC")
CLIENT_KEY = new_signing_key("EC")


def today() -> dt.date:
    return local_date(dt.datetime.now(dt.UTC))


def supervisor_document(
    scopes: list[str] | None = None, roles: list[str] | None = None
) -> dict[str, Any]:
    return {
        "organizations": [
            {
                "id": "valvonta",
                "name": "Palvelun valvontayksikkö",
                "kind": "supervisor",
                "business_id": business_id(4_300_001),
                "jwks": public_jwks(SUPERVISOR_KEY),
            }
        ],
        "oauth_clients": [
            {
                "client_id": "valvonta-audit",
                "organization": "valvonta",
                "scopes": scopes or ["audit:read"],
                "jwks": public_jwks(CLIENT_KEY),
            }
        ],
        "users": [
            {
                "username": "vera.valvoja",
                "organization": "valvonta",
                "name": "Vera Valvoja",
                "roles": roles or ["auditor"],
            }
        ],
    }


def load(rt, document):
    with rt.db.transaction() as session:
        return load_registry(session, document, passwords=rt.passwords).as_dict()


def stored(rt, model, key):
    with rt.db.sessions() as session:
        return session.get(model, key)


# --- the registry -------------------------------------------------------------------------


def test_a_supervisor_with_an_audit_client_and_an_auditor_loads(rt):
    assert load(rt, supervisor_document()) == {
        "oauth_clients.created": 1,
        "organizations.created": 1,
        "users.created": 1,
    }
    assert stored(rt, OAuthClient, "valvonta-audit").scopes == ["audit:read"]


@pytest.mark.parametrize("scope", [s for s in ALL_SCOPES if s != "audit:read"])
def test_a_supervisor_client_may_hold_only_audit_read(rt, scope):
    with pytest.raises(Invalid) as caught:
        load(rt, supervisor_document(scopes=["audit:read", scope]))

    [error] = caught.value.errors
    assert error.field == "oauth_clients[0].scopes"
    assert "'valvonta-audit'" in error.message
    assert scope in error.message
    assert stored(rt, OAuthClient, "valvonta-audit") is None, "nothing is loaded"


@pytest.mark.parametrize("role", ["social_worker", "staff", "admin", "reporter"])
def test_a_supervisor_person_may_hold_only_the_auditor_role(rt, role):
    with pytest.raises(Invalid) as caught:
        load(rt, supervisor_document(roles=["auditor", role]))

    [error] = caught.value.errors
    assert error.field == "users[0].roles"
    assert "'vera.valvoja'" in error.message
    assert role in error.message
    assert stored(rt, User, "vera.valvoja") is None


def test_an_entry_added_to_a_registered_supervisor_is_checked_too(rt):
    load(rt, supervisor_document())
    later = {
        "users": [
            {
                "username": "ville.valvoja",
                "organization": "valvonta",
                "name": "Ville Valvoja",
                "roles": ["social_worker"],
            }
        ]
    }
    with pytest.raises(Invalid) as caught:
        load(rt, later)

    assert [error.field for error in caught.value.errors] == ["users[0].roles"]
    assert "'ville.valvoja'" in caught.value.errors[0].message


def test_an_organization_cannot_turn_supervisor_while_it_keeps_other_scopes(rt, make_org):
    provider = make_org("entinen-tuottaja", users=[("pia.sw", ["social_worker"])])
    document = supervisor_document()
    document["organizations"][0]["id"] = provider.id
    del document["oauth_clients"], document["users"]

    with pytest.raises(Invalid) as caught:
        load(rt, document)

    [error] = caught.value.errors
    assert error.field == "organizations[0].kind"
    assert "'entinen-tuottaja-system'" in error.message
    assert "'pia.sw'" in error.message


# --- the token endpoint -------------------------------------------------------------------


@pytest.fixture
def supervisor(make_org):
    return make_org(
        "valvonta", kind="supervisor", scopes=["audit:read"], users=[("vera.valvoja", ["auditor"])]
    )


def test_a_supervisor_client_gets_audit_read_only(supervisor):
    granted = supervisor.client.token_response()
    assert granted.status_code == 200
    assert granted.get_json()["scope"] == "audit:read"
    refused = supervisor.client.token_response(scope="packets:send")
    assert refused.status_code == 400
    assert refused.get_json()["error"] == "invalid_scope"


def test_a_supervisor_client_never_gets_packets_send_even_if_its_row_says_so(
    supervisor, session, http
):
    # A row written past the registry loader (by hand in the database).
    session.get(OAuthClient, supervisor.client.client_id).scopes = ALL_SCOPES
    session.commit()

    refused = supervisor.client.token_response(scope="packets:send")
    assert refused.status_code == 400
    assert refused.get_json()["error"] == "invalid_scope"
    granted = supervisor.client.token_response()
    assert granted.get_json()["scope"] == "audit:read"
    # Even a token that names the scope does not carry it.
    packets = http.get("/v1/packets?box=outbox", headers=supervisor.client.headers())
    assert packets.status_code == 403
    assert packets.get_json()["code"] == "insufficient_scope"


# --- never a party ------------------------------------------------------------------------


@pytest.fixture
def parties(make_org, supervisor):
    provider = make_org(
        "kisalli",
        users=[("kalle.valmentaja", ["staff"]), ("liisa.sw", ["social_worker"])],
    )
    te = make_org("te-vs", kind="employment_services", users=[("tuomas.sw", ["social_worker"])])
    return {"provider": provider, "te": te, "supervisor": supervisor}


def consent_body(**changes: Any) -> dict[str, Any]:
    return {
        "client": {"hetu": HETU},
        "decision": "permit",
        "sources": ["kisalli"],
        "recipients": ["te-vs"],
        "categories": ["assessment"],
        "purposes": ["employment_services"],
        "valid_until": (today() + dt.timedelta(days=60)).isoformat(),
        "method": "electronic_strong_auth",
        "language": "fi",
    } | changes


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"recipients": ["te-vs", "valvonta"]}, "recipients[1]"),
        ({"sources": ["valvonta"]}, "sources[0]"),
    ],
)
def test_a_consent_cannot_name_a_supervisor(http, parties, changes, field):
    refused = http.post(
        "/v1/consents",
        json=consent_body(**changes),
        headers=parties["provider"].client.headers("kalle.valmentaja"),
    )
    assert refused.status_code == 422
    assert [e["field"] for e in refused.get_json()["errors"]] == [field]
    assert "supervisor" in refused.get_json()["errors"][0]["message"]


def test_a_disclosure_check_cannot_name_a_supervisor(http, parties):
    refused = http.post(
        "/v1/consent-checks",
        json={
            "client": {"hetu": HETU},
            "source": "kisalli",
            "recipient": "valvonta",
            "purpose": "employment_services",
            "categories": ["assessment"],
        },
        headers=parties["provider"].client.headers(),
    )
    assert refused.status_code == 422
    assert [e["field"] for e in refused.get_json()["errors"]] == ["recipient"]


def test_a_packet_cannot_go_to_a_supervisor(http, parties):
    payload = {
        "client": {"hetu": HETU},
        "from": {"organization": "kisalli", "worker": "kalle.valmentaja"},
        "to": {"organization": "valvonta"},
        "kind": "information",
        "purpose": "employment_services",
        "sections": [
            {
                "type": "assessment",
                "instrument": "kykyviisari",
                "date": today().isoformat(),
                "scores": {"health": 5},
            }
        ],
    }
    refused = http.post(
        "/v1/packets",
        data=sign_packet(parties["provider"].packet_key, payload),
        headers={**parties["provider"].client.headers(), "Content-Type": "application/jose"},
    )
    assert refused.status_code == 422
    assert [e["field"] for e in refused.get_json()["errors"]] == ["to.organization"]


def test_a_supervisor_owns_no_next_step(http, parties):
    start = today() - dt.timedelta(days=100)
    refused = http.post(
        "/v1/service-periods",
        json={
            "client": {"hetu": HETU},
            "service": "kuntouttava_tyotoiminta",
            "start": start.isoformat(),
            "planned_end": (start + dt.timedelta(days=180)).isoformat(),
            "days_per_week": 3,
            "hours_per_day": 5,
            "next_step": {"path": "studies", "owner": "valvonta"},
        },
        headers=parties["provider"].client.headers("kalle.valmentaja"),
    )
    assert refused.status_code == 422
    assert [e["field"] for e in refused.get_json()["errors"]] == ["next_step.owner"]


def test_the_consent_form_neither_offers_nor_takes_a_supervisor(app, parties, session, rt):
    session.get(User, "kalle.valmentaja").password_hash = rt.passwords.hash(PASSWORD)
    session.commit()
    client = signed_in(app, "kalle.valmentaja", "en")
    page = client.get("/ui/consents/new").get_data(as_text=True)
    assert 'value="te-vs"' in page
    assert 'value="valvonta"' not in page
    response = client.post(
        "/ui/consents/new", data=form(page, recipients=["te-vs", "valvonta"], preview="1")
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert_accessible(html)
    error = re.search(r'<p class="field-error" id="recipients-error"[^>]*>(.*?)</p>', html, re.S)
    assert error
    assert "only audits" in error.group(1)
