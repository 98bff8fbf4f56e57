"""The web UI's client page and client search: name and masked identity code, lead, consents,
packets and timeline for an involved organization; the audited 404 for any other; the audited
reveal; the search by identity code that never logs the code nor puts it in a URL; the search
by name among the organization's own clients only."""

from __future__ import annotations

import datetime as dt
import logging

import pytest

from consent.model import local_date
from tests.conftest import audit_rows, sign_packet
from tests.webtools import csrf, give_passwords, signed_in

# Synthetic identity codes (individual numbers 900-999).
HETU = "010190-900P"
MASKED = "010190-9***"
OTHER_HETU = "020290-9016"
JOSE = "application/jose"
USERS = ("kalle.valmentaja", "liisa.sw", "tuomas.sw", "olli.sw", "outi.auditor")


def today() -> dt.date:
    return local_date(dt.datetime.now(dt.UTC))


@pytest.fixture
def people(make_org, session, rt):
    provider = make_org(
        "kisalli",
        kind="provider",
        users=[("kalle.valmentaja", ["staff"]), ("liisa.sw", ["social_worker"])],
    )
    te = make_org("te-vs", kind="employment_services", users=[("tuomas.sw", ["social_worker"])])
    outsider = make_org(
        "outsider",
        kind="provider",
        users=[("olli.sw", ["social_worker"]), ("outi.auditor", ["auditor"])],
    )
    give_passwords(session, rt, USERS)
    return {"provider": provider, "te": te, "outsider": outsider}


def register(http, org, user, hetu, name):
    """The client's id, with their name, and ``org`` involved with them as the recorder of a
    consent (not yet approved)."""
    response = http.post(
        "/v1/clients/lookup",
        json={"hetu": hetu, "name": name},
        headers=org.client.headers(user),
    )
    assert response.status_code == 200
    body = {
        "client": {"hetu": hetu},
        "decision": "permit",
        "sources": [org.id],
        "recipients": ["te-vs"],
        "categories": ["plan"],
        "purposes": ["employment_services"],
        "valid_until": (today() + dt.timedelta(days=200)).isoformat(),
        "method": "electronic_strong_auth",
        "approver_organization": "te-vs",
    }
    recorded = http.post("/v1/consents", json=body, headers=org.client.headers(user))
    assert recorded.status_code == 201, recorded.get_json()
    return response.get_json()["id"], recorded.get_json()["id"]


@pytest.fixture
def client_id(http, people):
    """Maija, registered by the provider, with an approved consent, a lead at the provider and
    a hand-over sent to te-vs."""
    provider = people["provider"]
    found, consent = register(http, provider, "kalle.valmentaja", HETU, "Maija Meikäläinen")
    approved = http.post(
        f"/v1/consents/{consent}/approve",
        headers=people["te"].client.headers("tuomas.sw"),
    )
    assert approved.status_code == 200
    lead = http.post(
        f"/v1/clients/{found}/lead",
        json={"worker": "kalle.valmentaja"},
        headers=provider.client.headers("liisa.sw"),
    )
    assert lead.status_code == 200, lead.get_json()
    payload = {
        "client": {"hetu": HETU},
        "from": {"organization": "kisalli", "worker": "kalle.valmentaja"},
        "to": {"organization": "te-vs"},
        "kind": "information",
        "purpose": "employment_services",
        "sections": [
            {
                "type": "plan",
                "kind": "employment_plan",
                "goals": [{"text": "Work trial in a kitchen"}],
                "next_step": "work trial",
            }
        ],
    }
    sent = http.post(
        "/v1/packets",
        data=sign_packet(provider.packet_key, payload),
        headers={**provider.client.headers(), "Content-Type": JOSE},
    )
    assert sent.status_code == 201, sent.get_json()
    period = {
        "client": {"id": found},
        "service": "kuntouttava_tyotoiminta",
        "start": (today() - dt.timedelta(days=300)).isoformat(),
        "planned_end": (today() + dt.timedelta(days=30)).isoformat(),
        "days_per_week": 3,
        "hours_per_day": 6,
    }
    recorded = http.post(
        "/v1/service-periods", json=period, headers=provider.client.headers("kalle.valmentaja")
    )
    assert recorded.status_code == 201, recorded.get_json()
    return found


def packets_of(http, org):
    response = http.get("/v1/packets?box=outbox", headers=org.client.headers())
    return [item["id"] for item in response.get_json()["items"]]


# --- the client page ------------------------------------------------------------------------


def test_the_page_shows_name_masked_code_lead_consents_and_packets(app, http, people, client_id):
    page = signed_in(app, "liisa.sw").get(f"/ui/clients/{client_id}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Maija Meikäläinen" in html
    assert MASKED in html
    assert HETU not in html
    assert 'data-lead="kisalli/kalle.valmentaja"' in html
    assert 'data-status="active"' in html  # the approved consent, with its status
    (packet,) = packets_of(http, people["provider"])
    assert f'href="/ui/packets/{packet}"' in html
    assert 'data-moment="packet_out"' in html
    started = today() - dt.timedelta(days=300)
    assert f'data-moment="period_started">{started.day}.{started.month}.{started.year}' in html
    assert "kuntouttava työtoiminta" in html
    assert "Näytä henkilötunnus" in html  # the reveal button, in Finnish
    assert f'href="/ui/clients/{client_id}/access-report"' in html


def test_the_timeline_is_newest_first(app, people, client_id):
    html = signed_in(app, "liisa.sw").get(f"/ui/clients/{client_id}").get_data(as_text=True)
    timeline = html[html.index("data-timeline") :]
    # The hand-over was sent after the consent was recorded: it comes first; the service
    # period began months ago: it comes last.
    order = [
        timeline.index(f'data-moment="{what}"')
        for what in ("packet_out", "consent_recorded", "period_started")
    ]
    assert order == sorted(order)


def test_the_page_is_in_swedish_on_request(app, people, client_id):
    client = signed_in(app, "liisa.sw")
    html = client.get(
        f"/ui/clients/{client_id}", headers={"Accept-Language": "sv-FI,sv;q=0.9"}
    ).get_data(as_text=True)
    assert "Visa personbeteckningen" in html
    assert "Samtycken" in html


def test_another_organization_gets_404_and_a_denial(app, rt, people, client_id):
    page = signed_in(app, "olli.sw").get(f"/ui/clients/{client_id}")
    assert page.status_code == 404
    html = page.get_data(as_text=True)
    assert "Maija" not in html
    assert MASKED not in html
    denied = audit_rows(rt, outcome="denied", resource_id=client_id, actor_user="olli.sw")
    assert [row.action for row in denied] == ["client.read"]


def test_an_unknown_client_gets_the_same_404(app, people, client_id):
    assert signed_in(app, "olli.sw").get("/ui/clients/no-such-client").status_code == 404


def test_an_auditor_may_not_open_the_page(app, people, client_id):
    assert signed_in(app, "outi.auditor").get(f"/ui/clients/{client_id}").status_code == 403


def test_reveal_is_audited_and_the_code_is_shown_only_in_its_answer(app, rt, people, client_id):
    client = signed_in(app, "liisa.sw")
    page = client.get(f"/ui/clients/{client_id}").get_data(as_text=True)
    before = audit_rows(rt, action="client.reveal")
    forged = client.post(f"/ui/clients/{client_id}/reveal", data={})
    assert forged.status_code == 400
    assert HETU not in forged.get_data(as_text=True)
    revealed = client.post(f"/ui/clients/{client_id}/reveal", data={"csrf_token": csrf(page)})
    assert revealed.status_code == 200
    assert HETU in revealed.get_data(as_text=True)
    assert revealed.headers["Cache-Control"] == "no-store"
    after = audit_rows(rt, action="client.reveal")
    assert len(after) == len(before) + 1
    assert after[-1].actor_user == "liisa.sw"
    assert after[-1].client_ref == client_id
    again = client.get(f"/ui/clients/{client_id}").get_data(as_text=True)
    assert HETU not in again
    assert MASKED in again


def test_another_organization_cannot_reveal(app, rt, people, client_id):
    client = signed_in(app, "olli.sw")
    token = csrf(client.get("/ui/clients").get_data(as_text=True))
    refused = client.post(f"/ui/clients/{client_id}/reveal", data={"csrf_token": token})
    assert refused.status_code == 404
    assert HETU not in refused.get_data(as_text=True)
    denied = audit_rows(rt, outcome="denied", action="client.reveal", actor_user="olli.sw")
    assert len(denied) == 1


# --- the client search ----------------------------------------------------------------------


def search(client, **fields):
    token = csrf(client.get("/ui/clients").get_data(as_text=True))
    return client.post("/ui/clients", data={"csrf_token": token, **fields})


def test_search_by_identity_code_opens_the_page_and_never_logs_the_code(
    app, rt, people, client_id, caplog
):
    caplog.set_level(logging.DEBUG)
    client = signed_in(app, "liisa.sw")
    found = search(client, hetu=HETU)
    assert found.status_code == 303
    location = found.headers["Location"]
    assert location.endswith(f"/ui/clients/{client_id}")
    assert HETU not in location
    assert "010190" not in location
    assert client.get(location).status_code == 200
    assert HETU not in caplog.text
    assert "010190-900" not in caplog.text
    searched = audit_rows(rt, action="client.search", actor_user="liisa.sw")
    assert [row.client_ref for row in searched] == [client_id]


def test_search_by_identity_code_lowercase_is_accepted(app, people, client_id):
    found = search(signed_in(app, "liisa.sw"), hetu=HETU.lower())
    assert found.status_code == 303


def test_unknown_and_not_involved_codes_answer_alike(app, rt, people, client_id, caplog):
    caplog.set_level(logging.DEBUG)
    outsider = search(signed_in(app, "olli.sw"), hetu=HETU)
    unknown = search(signed_in(app, "liisa.sw"), hetu=OTHER_HETU)
    for answer in (outsider, unknown):
        assert answer.status_code == 200
        html = answer.get_data(as_text=True)
        assert "data-not-found" in html
        assert "Maija" not in html
        assert HETU not in html
        assert OTHER_HETU not in html  # the typed code is not echoed back
    assert HETU not in caplog.text
    assert OTHER_HETU not in caplog.text
    denied = audit_rows(rt, action="client.search", outcome="denied")
    assert [row.resource_id for row in denied] == [client_id, None]
    assert audit_rows(rt, action="client.search", outcome="allowed") == []


def test_an_invalid_identity_code_is_refused(app, people):
    answer = search(signed_in(app, "liisa.sw"), hetu="010190-900A")
    assert answer.status_code == 422
    assert "data-not-found" not in answer.get_data(as_text=True)


def test_search_by_name_finds_only_involved_clients(app, http, people, client_id):
    # A second Maija, registered by the outsider only: kisalli is not involved with her.
    theirs_id, _consent = register(
        http, people["outsider"], "olli.sw", OTHER_HETU, "Maija Muukalainen"
    )
    mine = search(signed_in(app, "liisa.sw"), name="maija")
    html = mine.get_data(as_text=True)
    assert mine.status_code == 200
    assert "Maija Meikäläinen" in html
    assert f'href="/ui/clients/{client_id}"' in html
    assert MASKED in html
    assert "Muukalainen" not in html
    theirs = search(signed_in(app, "olli.sw"), name="MAIJA").get_data(as_text=True)
    assert "Muukalainen" in theirs
    assert "Meikäläinen" not in theirs
    assert f'href="/ui/clients/{theirs_id}"' in theirs
    # Her page, with no lead yet and a consent still waiting for approval.
    page = signed_in(app, "olli.sw").get(f"/ui/clients/{theirs_id}").get_data(as_text=True)
    assert 'data-lead=""' in page
    assert "Ei vielä kenelläkään" in page
    assert 'data-status="pending"' in page
    nobody = search(signed_in(app, "tuomas.sw"), name="Virtanen").get_data(as_text=True)
    assert "data-not-found" in nobody


def test_the_search_form_keeps_the_code_out_of_urls(app, people):
    html = signed_in(app, "liisa.sw").get("/ui/clients").get_data(as_text=True)
    assert 'method="post"' in html
    assert 'name="hetu"' in html


# --- the pages that concern a client name them ----------------------------------------------


def test_the_packet_page_names_the_client(app, http, people, client_id):
    (packet,) = packets_of(http, people["provider"])
    html = signed_in(app, "tuomas.sw").get(f"/ui/packets/{packet}").get_data(as_text=True)
    assert f'href="/ui/clients/{client_id}"' in html
    assert "Maija Meikäläinen" in html
    assert MASKED in html
    assert HETU not in html


def test_the_unassigned_queue_names_the_client(app, http, people, client_id):
    left = http.post(
        "/v1/workers/kalle.valmentaja/deactivate",
        json={"successor": None},
        headers=people["provider"].client.headers("liisa.sw"),
    )
    assert left.status_code == 200, left.get_json()
    html = signed_in(app, "liisa.sw").get("/ui/leads").get_data(as_text=True)
    row = html[html.index(f'data-client="{client_id}"') :]
    assert row.index("Maija Meikäläinen") < row.index("</tr>")
    assert f'href="/ui/clients/{client_id}"' in row
    assert MASKED in row


def test_a_consent_page_names_the_client_only_to_the_involved(app, rt, http, people, client_id):
    consents = http.get("/v1/consents", headers=people["provider"].client.headers())
    (consent,) = [item["id"] for item in consents.get_json()["items"]]
    html = signed_in(app, "liisa.sw").get(f"/ui/consents/{consent}").get_data(as_text=True)
    assert f'href="/ui/clients/{client_id}"' in html
    assert MASKED in html
    # te-vs is named to approve the outsider's consent, not yet approved: it may read the
    # consent but is not involved with the client, so the page names nobody.
    theirs, pending = register(http, people["outsider"], "olli.sw", OTHER_HETU, "Maija Muukalainen")
    page = signed_in(app, "tuomas.sw").get(f"/ui/consents/{pending}")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "Muukalainen" not in text
    assert f'href="/ui/clients/{theirs}"' not in text
    assert audit_rows(rt, outcome="denied", actor_user="tuomas.sw") == []
