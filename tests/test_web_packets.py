"""The web UI's hand-over and lead pages: reading, accepting, declining, withdrawing, staff
changes; every change made through the pages is checked through the HTTP API."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import text

import exchange.web.pages_packets  # noqa: F401  # registers the pages on the blueprint
from consent.model import local_date
from exchange.registry.models import User
from tests.conftest import audit_rows, sign_packet
from tests.webtools import csrf, give_passwords, signed_in

HETU = "010190-900P"
JOSE = "application/jose"
USERS = (
    "kalle.valmentaja",
    "liisa.sw",
    "tuomas.sw",
    "terhi.staff",
    "timo.staff",
    "olli.sw",
)


def today() -> dt.date:
    return local_date(dt.datetime.now(dt.UTC))


@pytest.fixture
def people(make_org, session, rt):
    provider = make_org(
        "kisalli",
        kind="provider",
        users=[("kalle.valmentaja", ["staff"]), ("liisa.sw", ["social_worker"])],
    )
    te = make_org(
        "te-vs",
        kind="employment_services",
        users=[
            ("tuomas.sw", ["social_worker", "admin"]),
            ("terhi.staff", ["staff"]),
            ("timo.staff", ["staff"]),
        ],
    )
    outsider = make_org("outsider", kind="provider", users=[("olli.sw", ["social_worker"])])
    give_passwords(session, rt, USERS)
    return {"provider": provider, "te": te, "outsider": outsider}


# --- arranging through the API ------------------------------------------------------------


def consent(http, people):
    body = {
        "client": {"hetu": HETU},
        "decision": "permit",
        "sources": ["kisalli"],
        "recipients": ["te-vs"],
        "categories": ["assessment", "plan", "contact_persons", "service_period"],
        "purposes": ["employment_services"],
        "valid_until": (today() + dt.timedelta(days=300)).isoformat(),
        "method": "electronic_strong_auth",
        "approver_organization": "te-vs",
    }
    recorded = http.post(
        "/v1/consents", json=body, headers=people["provider"].client.headers("kalle.valmentaja")
    )
    assert recorded.status_code == 201, recorded.get_json()
    approved = http.post(
        f"/v1/consents/{recorded.get_json()['id']}/approve",
        headers=people["te"].client.headers("tuomas.sw"),
    )
    assert approved.status_code == 200
    return recorded.get_json()


def payload():
    return {
        "client": {"hetu": HETU},
        "from": {"organization": "kisalli", "worker": "kalle.valmentaja"},
        "to": {"organization": "te-vs"},
        "kind": "transfer",
        "purpose": "employment_services",
        "respond_by": (today() + dt.timedelta(days=14)).isoformat(),
        "case_reference": "KIS-2026-0042",
        "sections": [
            {
                "type": "assessment",
                "instrument": "kykyviisari",
                "date": today().isoformat(),
                "scores": {"health": 6, "competence": 7},
                "summary": "Motivated; needs support with routines.",
                "strengths": ["Punctual"],
                "support_needs": ["Morning routines"],
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
                "hours_per_day": 6.5,
                "total_months_in_service": 30,
            },
        ],
    }


@pytest.fixture
def packet_id(http, people):
    """A transfer from kisalli to te-vs on an approved consent, not yet read."""
    consent(http, people)
    response = http.post(
        "/v1/packets",
        data=sign_packet(people["provider"].packet_key, payload()),
        headers={**people["provider"].client.headers(), "Content-Type": JOSE},
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def api_packet(http, people, packet_id):
    """The packet as its sender sees it (a sender's read does not mark it delivered)."""
    response = http.get(f"/v1/packets/{packet_id}", headers=people["provider"].client.headers())
    assert response.status_code == 200
    return response.get_json()


def api_events(http, people, packet_id):
    return http.get(
        f"/v1/packets/{packet_id}/events", headers=people["provider"].client.headers()
    ).get_json()["items"]


def api_lead(http, org, client_id):
    return http.get(f"/v1/clients/{client_id}/lead", headers=org.client.headers()).get_json()


# --- packets ------------------------------------------------------------------------------


def test_recipient_reads_the_packet_readably_and_the_first_read_delivers(
    app, people, http, packet_id, rt
):
    assert api_packet(http, people, packet_id)["status"] == "sent"
    client = signed_in(app, "terhi.staff")

    inbox = client.get("/ui/packets?box=inbox")
    assert inbox.status_code == 200
    listing = inbox.get_data(as_text=True)
    assert '<html lang="fi">' in listing
    assert f'href="/ui/packets/{packet_id}"' in listing
    assert f'data-packet="{packet_id}" data-status="sent"' in listing
    assert "sections" not in listing
    assert "Kalle Valmentaja" not in listing

    response = client.get(f"/ui/packets/{packet_id}")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert '<html lang="fi">' in page
    assert 'href="tel:+358401234567">+358 40 123 4567</a>' in page
    assert 'href="mailto:kalle.valmentaja@example.fi"' in page
    assert '<th scope="row">Terveys ja hyvinvointi</th><td>6</td>' in page
    assert '<th scope="row">Osaaminen</th><td>7</td>' in page
    assert "Motivated; needs support with routines." in page
    assert "Work trial in a kitchen" in page
    assert "6,5" in page  # hours a day, in Finnish number format
    assert list(re.findall(r'data-section="([a-z_]+)"', page)) == [
        "assessment",
        "plan",
        "contact_persons",
        "service_period",
    ]
    assert 'data-warning="kuty_over_24_months"' in page
    assert 'data-event="sent"' in page
    assert 'data-event="delivered"' in page
    # the recipient may accept or decline, not withdraw; the reason's label is tied to it
    assert f'action="/ui/packets/{packet_id}/accept"' in page
    assert f'action="/ui/packets/{packet_id}/decline"' in page
    assert f'action="/ui/packets/{packet_id}/withdraw"' not in page
    assert '<label for="decline-reason">' in page
    assert 'id="decline-reason"' in page

    assert api_packet(http, people, packet_id)["status"] == "delivered"
    delivered = [e for e in api_events(http, people, packet_id) if e["action"] == "delivered"]
    assert [(e["organization"], e["user"]) for e in delivered] == [("te-vs", "terhi.staff")]
    read = audit_rows(rt, action="packet.read", actor_user="terhi.staff", outcome="allowed")
    assert read
    assert all(event.actor_client == "web" for event in read)


def test_accept_in_the_ui_moves_the_lead(app, people, http, packet_id):
    client = signed_in(app, "terhi.staff")
    page = client.get(f"/ui/packets/{packet_id}").get_data(as_text=True)
    client_id = api_packet(http, people, packet_id)["client_id"]
    assert api_lead(http, people["te"], client_id)["organization"] == "kisalli"

    accepted = client.post(f"/ui/packets/{packet_id}/accept", data={"csrf_token": csrf(page)})
    assert accepted.status_code == 302
    assert accepted.headers["Location"].endswith(f"/ui/packets/{packet_id}")
    assert api_packet(http, people, packet_id)["status"] == "accepted"
    lead = api_lead(http, people["te"], client_id)
    assert (lead["organization"], lead["worker"]) == ("te-vs", "terhi.staff")

    after = client.get(f"/ui/packets/{packet_id}").get_data(as_text=True)
    assert '<p class="notice" role="status">Hyväksyit siirron.</p>' in after
    assert 'data-status="accepted"' in after
    assert f'action="/ui/packets/{packet_id}/accept"' not in after


def test_decline_needs_a_reason(app, people, http, packet_id):
    client = signed_in(app, "tuomas.sw")
    page = client.get(f"/ui/packets/{packet_id}").get_data(as_text=True)

    for empty in ("", "   "):
        refused = client.post(
            f"/ui/packets/{packet_id}/decline", data={"csrf_token": csrf(page), "reason": empty}
        )
        assert refused.status_code == 200
        shown = refused.get_data(as_text=True)
        assert 'aria-invalid="true"' in shown
        assert 'aria-describedby="decline-reason-hint decline-reason-error"' in shown
        assert 'id="decline-reason-error"' in shown
        assert 'href="#decline-reason"' in shown  # the error summary links to the field
    assert api_packet(http, people, packet_id)["status"] == "delivered"
    assert "declined" not in [e["action"] for e in api_events(http, people, packet_id)]

    declined = client.post(
        f"/ui/packets/{packet_id}/decline",
        data={"csrf_token": csrf(page), "reason": "Not our client: moved to Turku."},
    )
    assert declined.status_code == 302
    assert api_packet(http, people, packet_id)["status"] == "declined"
    last = api_events(http, people, packet_id)[-1]
    assert (last["action"], last["user"], last["reason"]) == (
        "declined",
        "tuomas.sw",
        "Not our client: moved to Turku.",
    )
    client_id = api_packet(http, people, packet_id)["client_id"]
    assert api_lead(http, people["provider"], client_id)["organization"] == "kisalli"
    after = client.get(declined.headers["Location"]).get_data(as_text=True)
    assert '<p class="notice" role="status">Hylkäsit siirron.</p>' in after


def test_sender_withdraws_and_only_the_sender_may(app, people, http, packet_id):
    recipient = signed_in(app, "terhi.staff")
    page = recipient.get(f"/ui/packets/{packet_id}").get_data(as_text=True)
    refused = recipient.post(f"/ui/packets/{packet_id}/withdraw", data={"csrf_token": csrf(page)})
    assert refused.status_code == 403

    sender = signed_in(app, "kalle.valmentaja")
    outbox = sender.get("/ui/packets?box=outbox").get_data(as_text=True)
    assert f'href="/ui/packets/{packet_id}"' in outbox
    assert f'href="/ui/packets/{packet_id}"' not in sender.get("/ui/packets").get_data(
        as_text=True
    )  # the inbox is the default and holds only what was received
    page = sender.get(f"/ui/packets/{packet_id}").get_data(as_text=True)
    assert f'action="/ui/packets/{packet_id}/withdraw"' in page
    assert f'action="/ui/packets/{packet_id}/accept"' not in page
    not_recipient = sender.post(f"/ui/packets/{packet_id}/accept", data={"csrf_token": csrf(page)})
    assert not_recipient.status_code == 403
    assert api_packet(http, people, packet_id)["status"] == "delivered"

    withdrawn = sender.post(f"/ui/packets/{packet_id}/withdraw", data={"csrf_token": csrf(page)})
    assert withdrawn.status_code == 302
    assert api_packet(http, people, packet_id)["status"] == "withdrawn"
    assert api_events(http, people, packet_id)[-1]["user"] == "kalle.valmentaja"
    after = sender.get(withdrawn.headers["Location"]).get_data(as_text=True)
    assert '<p class="notice" role="status">Peruit siirron.</p>' in after


def test_a_third_organization_gets_404(app, people, http, packet_id, rt):
    client = signed_in(app, "olli.sw")
    assert client.get(f"/ui/packets/{packet_id}").status_code == 404
    page = client.get("/ui/packets").get_data(as_text=True)
    assert packet_id not in page
    refused = client.post(f"/ui/packets/{packet_id}/accept", data={"csrf_token": csrf(page)})
    assert refused.status_code == 404
    assert api_packet(http, people, packet_id)["status"] == "sent"
    assert audit_rows(rt, outcome="denied", actor_user="olli.sw", action="packet.read")


def test_a_packet_whose_consent_is_gone_is_refused_and_blocked(app, people, http, rt):
    granted = consent(http, people)
    response = http.post(
        "/v1/packets",
        data=sign_packet(people["provider"].packet_key, payload()),
        headers={**people["provider"].client.headers(), "Content-Type": JOSE},
    )
    packet_id = response.get_json()["id"]
    withdrawn = http.post(
        f"/v1/consents/{granted['id']}/withdraw",
        json={"reason": "The client asked."},
        headers=people["provider"].client.headers("kalle.valmentaja"),
    )
    assert withdrawn.status_code == 200
    client = signed_in(app, "terhi.staff")
    refused = client.get(f"/ui/packets/{packet_id}")
    assert refused.status_code == 403
    page = refused.get_data(as_text=True)
    assert 'role="alert"' in page
    assert "Work trial in a kitchen" not in page
    status = http.get(
        "/v1/packets?box=outbox", headers=people["provider"].client.headers()
    ).get_json()["items"][0]["status"]
    assert status == "blocked"
    assert audit_rows(rt, action="packet.read", outcome="denied", actor_user="terhi.staff")


def test_unknown_box_is_refused(app, people):
    client = signed_in(app, "terhi.staff")
    assert client.get("/ui/packets?box=trash").status_code == 422


def test_forms_need_the_csrf_token(app, people, http, packet_id, session):
    client = signed_in(app, "tuomas.sw")
    client.get(f"/ui/packets/{packet_id}")
    assert client.post(f"/ui/packets/{packet_id}/accept", data={}).status_code == 400
    assert (
        client.post(f"/ui/packets/{packet_id}/decline", data={"reason": "No room."}).status_code
        == 400
    )
    assert api_packet(http, people, packet_id)["status"] == "delivered"
    forged = client.post("/ui/leads/deactivate", data={"worker": "timo.staff", "successor": ""})
    assert forged.status_code == 400
    session.expire_all()
    assert session.get(User, "timo.staff").active


def test_pages_need_a_signed_in_user(app, people, packet_id):
    client = app.test_client()
    for path in ("/ui/packets", f"/ui/packets/{packet_id}", "/ui/leads"):
        response = client.get(path)
        assert response.status_code == 302
        assert "/ui/login" in response.headers["Location"]


# --- leads on staff change --------------------------------------------------------------------


def test_staff_cannot_use_the_leads_page(app, people, session):
    client = signed_in(app, "terhi.staff")
    assert client.get("/ui/leads").status_code == 403
    page = client.get("/ui/packets").get_data(as_text=True)
    refused = client.post(
        "/ui/leads/deactivate",
        data={"csrf_token": csrf(page), "worker": "timo.staff", "successor": ""},
    )
    assert refused.status_code == 403
    session.expire_all()
    assert session.get(User, "timo.staff").active


def test_staff_change_to_the_unassigned_queue_and_assigning_from_the_page(
    app, people, http, session
):
    te = people["te"]
    looked_up = http.post(
        "/v1/clients/lookup", json={"hetu": HETU}, headers=te.client.headers("tuomas.sw")
    )
    client_id = looked_up.get_json()["id"]
    assigned = http.post(
        f"/v1/clients/{client_id}/lead",
        json={"worker": "timo.staff"},
        headers=te.client.headers("tuomas.sw"),
    )
    assert assigned.status_code == 200

    client = signed_in(app, "tuomas.sw")
    page = client.get("/ui/leads")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert '<html lang="fi">' in text
    assert f'data-client="{client_id}"' not in text

    left = client.post(
        "/ui/leads/deactivate",
        data={
            "csrf_token": csrf(text),
            "worker": "timo.staff",
            "successor": "",
            "confirmed": "yes",
        },
    )
    assert left.status_code == 302
    session.expire_all()
    assert not session.get(User, "timo.staff").active
    lead = api_lead(http, te, client_id)
    assert (lead["organization"], lead["worker"]) == ("te-vs", None)

    text = client.get("/ui/leads").get_data(as_text=True)
    assert 'data-deactivated="timo.staff"' in text
    assert 'data-count="leads">1<' in text
    assert 'data-count="packets">0<' in text
    assert 'data-successor=""' in text
    assert f'data-client="{client_id}"' in text
    assert 'value="timo.staff"' not in text  # no longer offered as a worker

    missing = client.post(
        f"/ui/leads/{client_id}/assign", data={"csrf_token": csrf(text), "worker": ""}
    )
    assert missing.status_code == 422
    shown = missing.get_data(as_text=True)
    assert f'aria-describedby="assign-{client_id}-error"' in shown
    assert api_lead(http, te, client_id)["worker"] is None

    taken = client.post(
        f"/ui/leads/{client_id}/assign", data={"csrf_token": csrf(text), "worker": "terhi.staff"}
    )
    assert taken.status_code == 302
    lead = api_lead(http, te, client_id)
    assert (lead["organization"], lead["worker"]) == ("te-vs", "terhi.staff")
    text = client.get("/ui/leads").get_data(as_text=True)
    assert f'data-client="{client_id}"' not in text


def test_staff_change_to_a_successor_reports_the_counts(app, people, http, packet_id, session):
    # The packet is accepted by timo, who then leaves: the client moves to terhi.
    timo = signed_in(app, "timo.staff")
    page = timo.get(f"/ui/packets/{packet_id}").get_data(as_text=True)
    assert (
        timo.post(f"/ui/packets/{packet_id}/accept", data={"csrf_token": csrf(page)}).status_code
        == 302
    )
    client_id = api_packet(http, people, packet_id)["client_id"]

    admin = signed_in(app, "tuomas.sw")
    text = admin.get("/ui/leads").get_data(as_text=True)
    done = admin.post(
        "/ui/leads/deactivate",
        data={
            "csrf_token": csrf(text),
            "worker": "timo.staff",
            "successor": "terhi.staff",
            "confirmed": "yes",
        },
    )
    assert done.status_code == 302
    text = admin.get("/ui/leads").get_data(as_text=True)
    assert 'data-count="leads">1<' in text
    assert 'data-successor="terhi.staff"' in text
    assert f'data-client="{client_id}"' not in text
    assert api_lead(http, people["te"], client_id)["worker"] == "terhi.staff"
    # the signed-out leaver's session ends
    assert timo.get("/ui/packets").status_code == 302


def test_deactivation_asks_for_confirmation_with_what_will_move(app, people, http, session, rt):
    te = people["te"]
    consent(http, people)
    sent = http.post(
        "/v1/packets",
        data=sign_packet(
            people["provider"].packet_key,
            # Information, not a transfer: the lead stays where te-vs puts it.
            {
                **payload(),
                "kind": "information",
                "to": {"organization": "te-vs", "worker": "timo.staff"},
            },
        ),
        headers={**people["provider"].client.headers(), "Content-Type": JOSE},
    )
    assert sent.status_code == 201, sent.get_json()
    client_id = api_packet(http, people, sent.get_json()["id"])["client_id"]
    assigned = http.post(
        f"/v1/clients/{client_id}/lead",
        json={"worker": "timo.staff"},
        headers=te.client.headers("tuomas.sw"),
    )
    assert assigned.status_code == 200

    admin = signed_in(app, "tuomas.sw")
    text = admin.get("/ui/leads").get_data(as_text=True)
    asked = admin.post(
        "/ui/leads/deactivate",
        data={"csrf_token": csrf(text), "worker": "timo.staff", "successor": "terhi.staff"},
    )
    assert asked.status_code == 200
    shown = asked.get_data(as_text=True)
    assert 'data-preview="timo.staff"' in shown
    assert 'data-count="leads">1<' in shown
    assert 'data-count="packets">1<' in shown
    assert 'data-count="escorts">0<' in shown
    assert 'data-successor="terhi.staff"' in shown
    assert 'name="confirmed" value="yes"' in shown
    assert ">Vahvista</button>" in shown
    assert 'href="/ui/leads"' in shown  # cancel
    # Nothing moved yet.
    session.expire_all()
    assert session.get(User, "timo.staff").active
    assert api_lead(http, te, client_id)["worker"] == "timo.staff"
    assert not audit_rows(rt, action="worker.deactivate")

    done = admin.post(
        "/ui/leads/deactivate",
        data={
            "csrf_token": csrf(shown),
            **dict(
                re.findall(
                    r'<input type="hidden" name="(worker|successor|confirmed)" value="([^"]*)"',
                    shown,
                )
            ),
        },
    )
    assert done.status_code == 302
    session.expire_all()
    assert not session.get(User, "timo.staff").active
    assert api_lead(http, te, client_id)["worker"] == "terhi.staff"
    (event,) = audit_rows(rt, action="worker.deactivate")
    # The report of what moved equals what the confirmation page announced.
    assert "leads=1 packets=1 escorts=0 first_contacts=0 successor=terhi.staff" in event.reason
    page = admin.get("/ui/leads").get_data(as_text=True)
    assert 'role="status" data-deactivated="timo.staff"' in page
    assert 'data-count="leads">1<' in page
    assert 'data-count="packets">1<' in page


def test_the_service_refuses_a_worker_of_another_organization(app, people, http):
    client = signed_in(app, "tuomas.sw")
    text = client.get("/ui/leads").get_data(as_text=True)
    refused = client.post(
        "/ui/leads/deactivate",
        data={"csrf_token": csrf(text), "worker": "kalle.valmentaja", "successor": ""},
    )
    assert refused.status_code == 404  # someone else's worker is not ours to know about


# --- the escorted transfer: the escort, the first-contact form, the escalation ---------------


def accepted_in_the_ui(app, packet_id):
    client = signed_in(app, "terhi.staff")
    page = client.get(f"/ui/packets/{packet_id}").get_data(as_text=True)
    assert (
        client.post(f"/ui/packets/{packet_id}/accept", data={"csrf_token": csrf(page)}).status_code
        == 302
    )
    return client


def test_the_receiver_records_the_first_contact_in_the_form(app, people, http, packet_id, rt):
    client = accepted_in_the_ui(app, packet_id)
    page = client.get(f"/ui/packets/{packet_id}").get_data(as_text=True)
    assert 'data-escort="open"' in page
    assert 'data-escort-worker="kalle.valmentaja"' in page
    assert f'action="/ui/packets/{packet_id}/first-contact"' in page
    # Today, written as the field's hint says (the service refuses a date in the future).
    assert f'value="{today():%d.%m.%Y}"' in page
    client_id = api_packet(http, people, packet_id)["client_id"]
    assert api_lead(http, people["te"], client_id)["escort"]["organization"] == "kisalli"

    recorded = client.post(
        f"/ui/packets/{packet_id}/first-contact",
        data={"csrf_token": csrf(page), "date": today().isoformat(), "mode": "video"},
    )
    assert recorded.status_code == 302
    assert recorded.headers["Location"].endswith(f"/ui/packets/{packet_id}")
    assert api_packet(http, people, packet_id)["first_contact"] == {
        "date": today().isoformat(),
        "mode": "video",
        "recorded_by": "terhi.staff",
    }
    assert api_lead(http, people["te"], client_id)["escort"] is None
    assert api_events(http, people, packet_id)[-1]["action"] == "first_contact"
    assert audit_rows(rt, action="packet.first_contact", actor_user="terhi.staff")
    after = client.get(f"/ui/packets/{packet_id}").get_data(as_text=True)
    assert (
        '<p class="notice" role="status">Kirjasit ensitapaamisen. Saattaminen päättyi.</p>' in after
    )
    assert 'data-escort="ended"' in after
    assert 'data-first-contact="video"' in after
    assert f'action="/ui/packets/{packet_id}/first-contact"' not in after
    twice = client.post(
        f"/ui/packets/{packet_id}/first-contact",
        data={"csrf_token": csrf(page), "date": today().isoformat(), "mode": "phone"},
    )
    assert twice.status_code == 409


def test_the_form_shows_what_is_missing_and_refuses_a_future_date(app, people, http, packet_id):
    client = accepted_in_the_ui(app, packet_id)
    page = client.get(f"/ui/packets/{packet_id}").get_data(as_text=True)
    empty = client.post(
        f"/ui/packets/{packet_id}/first-contact",
        data={"csrf_token": csrf(page), "date": "", "mode": "letter"},
    )
    assert empty.status_code == 200
    shown = empty.get_data(as_text=True)
    assert 'href="#first-contact-date"' in shown
    assert 'href="#first-contact-mode"' in shown
    assert 'aria-describedby="first-contact-mode-error"' in shown
    tomorrow = (today() + dt.timedelta(days=1)).isoformat()
    future = client.post(
        f"/ui/packets/{packet_id}/first-contact",
        data={"csrf_token": csrf(page), "date": tomorrow, "mode": "phone"},
    )
    assert future.status_code == 422
    assert api_packet(http, people, packet_id)["first_contact"] is None


def test_the_sender_sees_the_escort_but_may_not_record_the_contact(app, people, http, packet_id):
    accepted_in_the_ui(app, packet_id)
    sender = signed_in(app, "kalle.valmentaja")
    page = sender.get(f"/ui/packets/{packet_id}").get_data(as_text=True)
    assert 'data-escort="open"' in page
    assert f'action="/ui/packets/{packet_id}/first-contact"' not in page
    refused = sender.post(
        f"/ui/packets/{packet_id}/first-contact",
        data={"csrf_token": csrf(page), "date": today().isoformat(), "mode": "meeting"},
    )
    assert refused.status_code == 403
    outsider = signed_in(app, "olli.sw")
    hidden = outsider.post(
        f"/ui/packets/{packet_id}/first-contact",
        data={
            "csrf_token": csrf(outsider.get("/ui/").get_data(as_text=True)),
            "date": today().isoformat(),
            "mode": "meeting",
        },
    )
    assert hidden.status_code == 404
    assert api_packet(http, people, packet_id)["first_contact"] is None


def test_no_form_before_acceptance(app, people, http, packet_id):
    client = signed_in(app, "terhi.staff")
    page = client.get(f"/ui/packets/{packet_id}").get_data(as_text=True)
    assert "data-escort" not in page
    refused = client.post(
        f"/ui/packets/{packet_id}/first-contact",
        data={"csrf_token": csrf(page), "date": today().isoformat(), "mode": "meeting"},
    )
    assert refused.status_code == 409


def test_the_start_page_shows_a_missing_first_contact_to_both(
    app, people, http, packet_id, session
):
    accepted_in_the_ui(app, packet_id)
    session.execute(
        text("UPDATE packet SET first_contact_by = :d WHERE id = :i"),
        {"d": today() - dt.timedelta(days=1), "i": packet_id},
    )
    session.commit()
    for username in ("terhi.staff", "kalle.valmentaja"):
        start = signed_in(app, username).get("/ui/").get_data(as_text=True)
        assert 'data-escalation="first_contact_missing"' in start, username
        assert f'data-packet="{packet_id}"' in start
        # The client is named, linking to their page.
        named = (
            f'data-packet="{packet_id}"><th scope="row"><a href="/ui/clients/[0-9a-f-]+">[^<–]+<'
        )
        assert re.search(named, start), username
    page = signed_in(app, "terhi.staff").get(f"/ui/packets/{packet_id}").get_data(as_text=True)
    assert "data-late" in page
