"""The web UI's read-back: the accept form lists the plan's actions with a checkbox each
(all must be ticked) and a synthesis; the sender's page shows the read-back. Every change
made through the pages is checked through the HTTP API."""

from __future__ import annotations

import datetime as dt

import pytest

import exchange.web.pages_packets  # noqa: F401  # registers the pages on the blueprint
from tests.conftest import audit_rows, sign_packet
from tests.test_web_packets import (
    JOSE,
    api_events,
    api_lead,
    api_packet,
    consent,
    payload,
    signed_in,
    today,
)
from tests.webtools import csrf, give_passwords

SYNTHESIS = "Työkokeilu keittiössä tammikuusta; soitan asiakkaalle tällä viikolla."


@pytest.fixture
def people(make_org, session, rt):
    provider = make_org("kisalli", kind="provider", users=[("kalle.valmentaja", ["staff"])])
    te = make_org(
        "te-vs",
        kind="employment_services",
        users=[("tuomas.sw", ["social_worker"]), ("terhi.staff", ["staff"])],
    )
    give_passwords(session, rt, ("kalle.valmentaja", "terhi.staff"))
    return {"provider": provider, "te": te}


@pytest.fixture
def packet_id(http, people):
    """A transfer whose plan has two actions, on an approved consent."""
    consent(http, people)
    body = payload()
    due = (today() + dt.timedelta(days=10)).isoformat()
    body["sections"][1]["actions"] = [
        {"id": "a1", "text": "Book the first meeting", "owner": "receiver", "due": due},
        {"id": "a2", "text": "Send the work trial agreement", "owner": "sender", "due": due},
    ]
    response = http.post(
        "/v1/packets",
        data=sign_packet(people["provider"].packet_key, body),
        headers={**people["provider"].client.headers(), "Content-Type": JOSE},
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def test_the_form_lists_every_action_with_a_required_checkbox(app, people, packet_id):
    page = signed_in(app, "terhi.staff").get(f"/ui/packets/{packet_id}").get_data(as_text=True)
    for action_id in ("a1", "a2"):
        assert (
            f'id="action-{action_id}" name="acknowledged_actions" value="{action_id}" required'
            in page
        )
        assert f'<label for="action-{action_id}">' in page
        assert f'data-action="{action_id}"' in page  # listed with the plan too
    assert '<textarea id="synthesis" name="synthesis"' in page
    assert "Kuittaus: suunnitelman toimenpiteet" in page  # Finnish by default


def test_every_action_ticked_accepts_and_the_sender_sees_the_read_back(
    app, people, http, packet_id
):
    receiver = signed_in(app, "terhi.staff")
    page = receiver.get(f"/ui/packets/{packet_id}").get_data(as_text=True)
    accepted = receiver.post(
        f"/ui/packets/{packet_id}/accept",
        data={
            "csrf_token": csrf(page),
            "acknowledged_actions": ["a1", "a2"],
            "synthesis": SYNTHESIS,
        },
    )
    assert accepted.status_code == 302
    assert api_packet(http, people, packet_id)["status"] == "accepted"
    client_id = api_packet(http, people, packet_id)["client_id"]
    lead = api_lead(http, people["te"], client_id)
    assert (lead["organization"], lead["worker"]) == ("te-vs", "terhi.staff")
    event = next(e for e in api_events(http, people, packet_id) if e["action"] == "accepted")
    assert (event["acknowledged_actions"], event["synthesis"]) == (["a1", "a2"], SYNTHESIS)

    sender = signed_in(app, "kalle.valmentaja")
    own = sender.get(f"/ui/packets/{packet_id}").get_data(as_text=True)
    sender.post("/ui/language", data={"lang": "sv", "csrf_token": csrf(own)})
    shown = sender.get(f"/ui/packets/{packet_id}").get_data(as_text=True)
    assert '<html lang="sv">' in shown
    assert "data-read-back" in shown
    assert "Mottagarens kvittering" in shown
    assert 'data-acknowledged="a1"' in shown
    assert 'data-acknowledged="a2"' in shown
    assert SYNTHESIS in shown


@pytest.mark.parametrize(
    ("ticked", "synthesis", "refusal"),
    [
        (["a1"], "", "read_back_incomplete"),
        ([], SYNTHESIS, "read_back_incomplete"),
        (["a1", "a2", "a9"], "", "read_back_incomplete"),
        (["a1", "a2"], "x" * 2001, "validation_failed"),
    ],
    ids=["one-unticked", "none-ticked", "unknown-id", "synthesis-too-long"],
)
def test_an_incomplete_read_back_is_refused_and_nothing_moves(
    app, people, http, packet_id, rt, ticked, synthesis, refusal
):
    receiver = signed_in(app, "terhi.staff")
    page = receiver.get(f"/ui/packets/{packet_id}").get_data(as_text=True)
    client_id = api_packet(http, people, packet_id)["client_id"]
    refused = receiver.post(
        f"/ui/packets/{packet_id}/accept",
        data={"csrf_token": csrf(page), "acknowledged_actions": ticked, "synthesis": synthesis},
    )
    assert refused.status_code == 200
    shown = refused.get_data(as_text=True)
    assert f'data-refused="{refusal}"' in shown
    assert "Siirtoa ei hyväksytty" in shown
    if "a2" not in ticked:
        assert 'data-missing="a2"' in shown
        assert 'href="#action-a2"' in shown  # the summary links to the checkbox
    assert api_packet(http, people, packet_id)["status"] == "delivered"
    assert "accepted" not in [e["action"] for e in api_events(http, people, packet_id)]
    lead = api_lead(http, people["provider"], client_id)
    assert (lead["organization"], lead["worker"]) == ("kisalli", "kalle.valmentaja")
    if refusal == "read_back_incomplete":
        denied = audit_rows(rt, action="packet.accept", outcome="denied", resource_id=packet_id)
        assert [row.reason for row in denied] == ["read_back_incomplete"]
