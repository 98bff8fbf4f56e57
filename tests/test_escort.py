"""Escorted transfer (saattaen vaihto): after acceptance the sender escorts the client until the
receiver records the first contact; a missing one escalates to both and the sender is told."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select, text

from adapters.db import utcnow
from exchange import create_app
from exchange.background import escorts as escorts_job
from exchange.config import ConfigError, load
from exchange.continuity.escort import EscortService
from exchange.continuity.service import ContinuityService
from exchange.policy import Identity
from exchange.registry.models import Organization
from exchange.unit import WORKER, UnitOfWork, unit_of_work
from exchange.webhooks.models import WebhookDelivery
from schemas.packets import (
    FIRST_CONTACT_EXAMPLE,
    PACKET_PAYLOAD_EXAMPLE,
    DeactivateOut,
    EscortOut,
    FirstContactBody,
    LeadOut,
    PacketPayload,
)
from tests.conftest import audit_rows, grant_consent, org_factory, runtime_of, sign_packet
from tests.test_packets_api import consent, payload, send, three_organizations, today

HETU = "010190-900P"


@pytest.fixture
def world(make_org, session):
    found = three_organizations(make_org)
    for org in ("kisalli", "te-vs"):
        session.get(Organization, org).webhook_url = f"https://{org}.example.fi/hooks"
    session.commit()
    return found


def accepted(http, world, **changes):
    """A transfer from kisalli (kalle) to te-vs, accepted by terhi; (client id, packet id)."""
    granted = consent(http, world)
    response = send(http, world["provider"], payload(**changes))
    assert response.status_code == 201, response.get_json()
    packet_id = response.get_json()["id"]
    accept = http.post(
        f"/v1/packets/{packet_id}/accept", headers=world["te"].client.headers("terhi.asiantuntija")
    )
    assert accept.status_code == 200, accept.get_json()
    return granted["client_id"], packet_id


def lead(http, org, client_id):
    response = http.get(f"/v1/clients/{client_id}/lead", headers=org.client.headers())
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def first_contact(http, world, packet_id, org="te", user="terhi.asiantuntija", **body):
    body = {"date": today().isoformat(), "mode": "meeting"} | body
    return http.post(
        f"/v1/packets/{packet_id}/first-contact",
        json=body,
        headers=world[org].client.headers(user),
    )


def notifications(session, event_type):
    rows = session.execute(
        select(WebhookDelivery).where(WebhookDelivery.event_type == event_type)
    ).scalars()
    return [(row.organization_id, row.data) for row in rows]


def set_first_contact_by(session, packet_id, day):
    session.execute(
        text("UPDATE packet SET first_contact_by = :d WHERE id = :i"), {"d": day, "i": packet_id}
    )
    session.commit()


# --- the escort begins ------------------------------------------------------------------------


def test_accepting_a_transfer_makes_the_sender_the_escort_for_fourteen_days(http, world):
    client_id, packet_id = accepted(http, world)
    due = (today() + dt.timedelta(days=14)).isoformat()
    for org in (world["te"], world["provider"]):  # the escorting organization stays involved
        shown = lead(http, org, client_id)
        assert (shown["organization"], shown["worker"]) == ("te-vs", "terhi.asiantuntija")
        assert shown["escort"] == {
            "organization": "kisalli",
            "worker": "kalle.valmentaja",
            "first_contact_by": due,
        }
    packet = http.get(f"/v1/packets/{packet_id}", headers=world["te"].client.headers()).get_json()
    assert (packet["first_contact_by"], packet["first_contact"]) == (due, None)


def test_a_transfer_may_name_its_own_first_contact_by(http, world):
    wanted = (today() + dt.timedelta(days=30)).isoformat()
    client_id, _packet_id = accepted(http, world, first_contact_by=wanted)
    assert lead(http, world["te"], client_id)["escort"]["first_contact_by"] == wanted


def test_the_default_follows_the_setting(app_config, http, world, app):
    app.config["FIRST_CONTACT_DAYS"] = 3
    runtime_of(app).config["FIRST_CONTACT_DAYS"] = 3
    client_id, _packet_id = accepted(http, world)
    expected = (today() + dt.timedelta(days=3)).isoformat()
    assert lead(http, world["te"], client_id)["escort"]["first_contact_by"] == expected


def test_the_setting_is_validated():
    assert load({}, env={})["FIRST_CONTACT_DAYS"] == 14
    assert load({}, env={"EXCHANGE_FIRST_CONTACT_DAYS": "21"})["FIRST_CONTACT_DAYS"] == 21
    for wrong in ("0", "366", "-1"):
        with pytest.raises(ConfigError, match="FIRST_CONTACT_DAYS"):
            load({}, env={"EXCHANGE_FIRST_CONTACT_DAYS": wrong})
    with pytest.raises(ConfigError, match="FIRST_CONTACT_DAYS"):
        load({}, env={"EXCHANGE_FIRST_CONTACT_DAYS": "two weeks"})


def test_no_escort_before_acceptance_nor_after_an_information_packet(http, world):
    granted = consent(http, world)
    response = send(http, world["provider"], payload())
    assert response.status_code == 201
    assert lead(http, world["provider"], granted["client_id"])["escort"] is None
    information = send(http, world["provider"], payload(kind="information", case_reference="I-1"))
    packet_id = information.get_json()["id"]
    http.post(
        f"/v1/packets/{packet_id}/accept", headers=world["te"].client.headers("terhi.asiantuntija")
    )
    assert lead(http, world["provider"], granted["client_id"])["escort"] is None


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"first_contact_by_offset": 13}, "Must not be before respond_by."),
        (
            {"kind": "information", "first_contact_by_offset": 20},
            "Only a transfer is escorted until a first contact.",
        ),
        ({"first_contact_by": "15.12.2026"}, "Not a valid date."),
    ],
)
def test_first_contact_by_is_checked(http, world, changes, message):
    consent(http, world)
    offset = changes.pop("first_contact_by_offset", None)
    if offset is not None:  # respond_by is 14 days ahead
        changes["first_contact_by"] = (today() + dt.timedelta(days=offset)).isoformat()
    response = send(http, world["provider"], payload(**changes))
    assert response.status_code == 422, response.get_json()
    assert {"field": "first_contact_by", "message": message} in response.get_json()["errors"]


# --- the first contact ends it ----------------------------------------------------------------


def test_the_receiver_records_the_first_contact_and_the_escort_ends(http, world, rt, session):
    client_id, packet_id = accepted(http, world)
    day = today().isoformat()
    response = first_contact(http, world, packet_id, mode="home_visit")
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["first_contact"] == {
        "date": day,
        "mode": "home_visit",
        "recorded_by": "terhi.asiantuntija",
    }
    assert lead(http, world["te"], client_id)["escort"] is None
    events = http.get(
        f"/v1/packets/{packet_id}/events", headers=world["provider"].client.headers()
    ).get_json()["items"]
    assert [e["action"] for e in events] == ["sent", "accepted", "first_contact"]
    assert events[-1]["user"] == "terhi.asiantuntija"
    assert events[-1]["reason"] == f"home_visit on {day}"
    (event,) = audit_rows(rt, action="packet.first_contact", outcome="allowed")
    assert (event.resource_id, event.client_ref, event.actor_user) == (
        packet_id,
        client_id,
        "terhi.asiantuntija",
    )
    assert notifications(session, "packet.first_contact") == [("kisalli", {"packet_id": packet_id})]


def test_only_the_receiver_may_record_it(http, world, rt):
    _client_id, packet_id = accepted(http, world)
    sender = first_contact(http, world, packet_id, org="provider", user="kalle.valmentaja")
    assert sender.status_code == 403
    assert sender.get_json()["code"] == "not_the_recipient"
    other = first_contact(http, world, packet_id, org="kela", user="kaisa.kela")
    assert other.status_code == 404
    assert other.get_json()["code"] == "packet_not_found"
    assert {row.reason for row in audit_rows(rt, action="packet.first_contact")} == {
        "not_the_recipient",
        None,
    }
    assert first_contact(http, world, packet_id).status_code == 200


def test_the_first_contact_follows_acceptance_and_is_recorded_once(http, world):
    consent(http, world)
    packet_id = send(http, world["provider"], payload()).get_json()["id"]
    sent = first_contact(http, world, packet_id)
    assert (sent.status_code, sent.get_json()["code"]) == (409, "packet_sent")
    http.get(f"/v1/packets/{packet_id}", headers=world["te"].client.headers())
    delivered = first_contact(http, world, packet_id)
    assert (delivered.status_code, delivered.get_json()["code"]) == (409, "packet_delivered")
    http.post(
        f"/v1/packets/{packet_id}/accept", headers=world["te"].client.headers("terhi.asiantuntija")
    )
    assert first_contact(http, world, packet_id).status_code == 200
    twice = first_contact(http, world, packet_id, mode="phone")
    assert (twice.status_code, twice.get_json()["code"]) == (409, "first_contact_recorded")


def test_no_first_contact_on_a_declined_or_information_packet(http, world):
    consent(http, world)
    declined = send(http, world["provider"], payload()).get_json()["id"]
    http.post(
        f"/v1/packets/{declined}/decline",
        json={"reason": "Not ours."},
        headers=world["te"].client.headers("terhi.asiantuntija"),
    )
    refused = first_contact(http, world, declined)
    assert (refused.status_code, refused.get_json()["code"]) == (409, "packet_declined")
    information = send(
        http, world["provider"], payload(kind="information", case_reference="I-2")
    ).get_json()["id"]
    http.post(
        f"/v1/packets/{information}/accept",
        headers=world["te"].client.headers("terhi.asiantuntija"),
    )
    refused = first_contact(http, world, information)
    assert (refused.status_code, refused.get_json()["code"]) == (409, "not_a_transfer")


def test_the_date_is_checked(http, world, session):
    _client_id, packet_id = accepted(http, world)
    tomorrow = (today() + dt.timedelta(days=1)).isoformat()
    future = first_contact(http, world, packet_id, date=tomorrow)
    assert future.status_code == 422
    assert future.get_json()["errors"] == [
        {"field": "date", "message": "Must not be in the future."}
    ]
    session.execute(
        text("UPDATE packet SET received_at = :t WHERE id = :i"),
        {"t": utcnow() - dt.timedelta(days=3), "i": packet_id},
    )
    session.commit()
    early = (today() - dt.timedelta(days=5)).isoformat()
    before = first_contact(http, world, packet_id, date=early)
    assert before.status_code == 422
    assert before.get_json()["errors"][0]["field"] == "date"
    mode = first_contact(http, world, packet_id, mode="letter")
    assert mode.status_code == 422
    assert mode.get_json()["errors"][0]["field"] == "mode"
    missing = http.post(
        f"/v1/packets/{packet_id}/first-contact",
        json={"mode": "phone"},
        headers=world["te"].client.headers("terhi.asiantuntija"),
    )
    assert missing.status_code == 422
    assert first_contact(http, world, packet_id).status_code == 200  # today, the right answer


def test_recording_needs_a_casework_person(http, world):
    _client_id, packet_id = accepted(http, world)
    nobody = http.post(
        f"/v1/packets/{packet_id}/first-contact",
        json=FIRST_CONTACT_EXAMPLE | {"date": today().isoformat()},
        headers=world["te"].client.headers(),
    )
    assert (nobody.status_code, nobody.get_json()["code"]) == (403, "acting_user_required")


# --- a missing first contact escalates ---------------------------------------------------------


def raise_missing(rt, now=None):
    with unit_of_work(rt.db.sessions, WORKER, "packet.first_contact_missing") as uow:
        return EscortService(uow).raise_missing(uow.identity, now=now)


def test_the_worker_escalates_the_day_after_first_contact_by_once(http, world, rt, session):
    client_id, packet_id = accepted(http, world)
    due = today() + dt.timedelta(days=14)
    at_noon = dt.datetime.combine(due, dt.time(10, 0), tzinfo=dt.UTC)
    assert raise_missing(rt, now=at_noon) == 0  # the last day is still the receiver's
    assert raise_missing(rt, now=at_noon + dt.timedelta(days=1)) == 1
    assert raise_missing(rt, now=at_noon + dt.timedelta(days=2)) == 0  # once per transfer
    assert notifications(session, "packet.first_contact_missing") == [
        ("kisalli", {"packet_id": packet_id})
    ]
    (event,) = audit_rows(rt, action="packet.first_contact_missing")
    assert (event.resource_id, event.client_ref, event.actor_client) == (
        packet_id,
        client_id,
        "exchange-worker",
    )
    events = http.get(
        f"/v1/packets/{packet_id}/events", headers=world["te"].client.headers()
    ).get_json()["items"]
    assert events[-1]["action"] == "escalated"
    assert events[-1]["organization"] is None


def test_both_organizations_see_first_contact_missing_until_it_is_recorded(
    http, world, rt, session
):
    _client_id, packet_id = accepted(http, world)

    def listed(org):
        found = http.get("/v1/escalations", headers=world[org].client.headers()).get_json()
        return found["first_contact_missing"]

    set_first_contact_by(session, packet_id, today())
    assert listed("provider") == listed("te") == []
    assert escorts_job(rt) == {"first_contact_missing": 0}
    set_first_contact_by(session, packet_id, today() - dt.timedelta(days=1))
    # Listed from the day after first_contact_by, whether or not the worker has run.
    (before,) = listed("te")
    assert before["escalated_at"] is None
    assert escorts_job(rt) == {"first_contact_missing": 1}
    assert escorts_job(rt) == {"first_contact_missing": 0}
    for org in ("provider", "te"):
        (item,) = listed(org)
        assert item["id"] == packet_id
        assert item["escort"] == {"organization": "kisalli", "worker": "kalle.valmentaja"}
        assert item["first_contact_worker"] == "terhi.asiantuntija"
        assert item["escalated_at"] is not None
    assert listed("kela") == []
    # A late first contact is still taken, and it closes the escalation.
    assert first_contact(http, world, packet_id).status_code == 200
    assert listed("provider") == listed("te") == []
    assert notifications(session, "packet.first_contact_missing") == [
        ("kisalli", {"packet_id": packet_id})
    ]


def test_every_accepted_transfer_is_contacted_escorted_or_escalated(http, world, rt, session):
    """The invariant, as the migration's docstring queries it."""
    _client_id, packet_id = accepted(http, world)
    set_first_contact_by(session, packet_id, today() - dt.timedelta(days=2))
    breach = text(
        "SELECT id FROM packet WHERE kind = 'transfer' AND status = 'accepted'"
        " AND first_contact_by IS NOT NULL AND first_contact_on IS NULL"
        " AND first_contact_by < :today AND first_contact_missing_at IS NULL"
    )
    assert list(session.execute(breach, {"today": today()}).scalars()) == [packet_id]
    session.commit()
    escorts_job(rt)
    assert list(session.execute(breach, {"today": today()}).scalars()) == []


# --- staff changes ----------------------------------------------------------------------------


def preview(session, organization, username, successor):
    """What the confirmation page would announce, through the service, changing nothing."""
    identity = Identity(organization=organization, client_id="web", username="manager")
    report = ContinuityService(UnitOfWork(lambda: session)).deactivation_preview(
        identity, username, successor
    )
    session.rollback()
    return {"username": username, **dataclasses.asdict(report)}


def deactivate(http, org, username, successor, manager, session=None):
    # With a session, the preview is checked against what the deactivation then moves.
    announced = preview(session, org.id, username, successor) if session is not None else None
    response = http.post(
        f"/v1/workers/{username}/deactivate",
        json={"successor": successor},
        headers=org.client.headers(manager),
    )
    assert response.status_code == 200, response.get_json()
    if announced is not None:
        assert response.get_json() == announced
    return response.get_json()


def test_staff_changes_move_escorts_and_first_contacts_to_a_successor(http, world, session):
    client_id, packet_id = accepted(http, world)
    report = deactivate(
        http, world["provider"], "kalle.valmentaja", "kaija.valmentaja", "liisa.sw", session
    )
    assert (report["escorts_moved"], report["first_contacts_moved"]) == (1, 0)
    assert lead(http, world["te"], client_id)["escort"]["worker"] == "kaija.valmentaja"
    report = deactivate(
        http, world["te"], "terhi.asiantuntija", "timo.asiantuntija", "tuomas.sw", session
    )
    assert report == {
        "username": "terhi.asiantuntija",
        "successor": "timo.asiantuntija",
        "leads_moved": 1,
        "packets_moved": 0,
        "escorts_moved": 0,
        "first_contacts_moved": 1,
    }
    set_first_contact_by(session, packet_id, today() - dt.timedelta(days=1))
    (item,) = http.get("/v1/escalations", headers=world["te"].client.headers()).get_json()[
        "first_contact_missing"
    ]
    assert (item["escort"]["worker"], item["first_contact_worker"]) == (
        "kaija.valmentaja",
        "timo.asiantuntija",
    )
    moved = notifications(session, "leads.moved")
    assert ("kisalli", {"worker": "kalle.valmentaja", "successor": "kaija.valmentaja",
            "leads": 0, "packets": 0, "escorts": 1, "first_contacts": 0}) in moved  # fmt: skip
    assert first_contact(http, world, packet_id, user="timo.asiantuntija").status_code == 200


def test_staff_changes_without_a_successor_leave_them_unassigned(http, world, session):
    client_id, packet_id = accepted(http, world)
    report = deactivate(http, world["provider"], "kalle.valmentaja", None, "liisa.sw", session)
    assert report["escorts_moved"] == 1
    report = deactivate(http, world["te"], "terhi.asiantuntija", None, "tuomas.sw", session)
    assert report["first_contacts_moved"] == 1
    shown = lead(http, world["provider"], client_id)
    assert (shown["organization"], shown["worker"]) == ("te-vs", None)
    assert shown["escort"]["organization"] == "kisalli"
    assert shown["escort"]["worker"] is None
    events = http.get(
        f"/v1/packets/{packet_id}/events", headers=world["te"].client.headers()
    ).get_json()["items"]
    assert [e["reason"] for e in events if e["action"] == "reassigned"] == [
        "escort: kalle.valmentaja left; now unassigned",
        "first contact: terhi.asiantuntija left; now unassigned",
    ]
    # A finished escort is no longer anybody's to move.
    assert first_contact(http, world, packet_id, user="timo.asiantuntija").status_code == 200
    report = deactivate(http, world["te"], "timo.asiantuntija", None, "tuomas.sw", session)
    assert (report["escorts_moved"], report["first_contacts_moved"]) == (0, 0)


def test_a_sender_who_left_before_acceptance_leaves_the_escort_to_the_queue(http, world, session):
    granted = consent(http, world)
    packet_id = send(http, world["provider"], payload()).get_json()["id"]
    deactivate(http, world["provider"], "kalle.valmentaja", "kaija.valmentaja", "liisa.sw", session)
    http.post(
        f"/v1/packets/{packet_id}/accept", headers=world["te"].client.headers("terhi.asiantuntija")
    )
    escort = lead(http, world["te"], granted["client_id"])["escort"]
    assert (escort["organization"], escort["worker"]) == ("kisalli", None)


# --- the documented examples ------------------------------------------------------------------


def test_the_documented_examples_load_through_the_schemas():
    assert FirstContactBody().load(FIRST_CONTACT_EXAMPLE) == {
        "date": dt.date(2026, 12, 18),
        "mode": "meeting",
    }
    loaded = PacketPayload().load(PACKET_PAYLOAD_EXAMPLE)
    assert loaded["first_contact_by"] == dt.date(2027, 1, 8)
    assert loaded["first_contact_by"] >= loaded["respond_by"]


def test_the_readme_examples_are_what_the_api_takes_and_gives():
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = readme.split("## Responsibility never lapses", 1)[1].split("\n## ", 1)[0]
    blocks = [json.loads(block) for block in re.findall(r"```json\n(.*?)```", section, re.S)]
    lead_example, contact_example, report_example = blocks
    assert FirstContactBody().load(contact_example) == FirstContactBody().load(
        FIRST_CONTACT_EXAMPLE
    )
    assert set(lead_example) == set(LeadOut().fields)
    assert set(lead_example["escort"]) == set(EscortOut().fields)
    assert set(report_example) == set(DeactivateOut().fields)


def test_the_openapi_document_shows_the_examples(http):
    document = http.get("/openapi.json").get_json()
    operation = document["paths"]["/v1/packets/{packet_id}/first-contact"]["post"]
    assert operation["requestBody"]["content"]["application/json"]["example"] == (
        FIRST_CONTACT_EXAMPLE
    )
    payload_schema = document["components"]["schemas"]["PacketPayload"]
    assert payload_schema["example"] == PACKET_PAYLOAD_EXAMPLE
    assert "first_contact_by" in payload_schema["properties"]


# --- several workers ---------------------------------------------------------------------------


@pytest.fixture
def committing_app(app_config: dict[str, Any], committed_database: str) -> Iterator[Flask]:
    application = create_app({**app_config, "DATABASE_URL": committed_database})
    yield application
    runtime_of(application).db.engine.dispose()


def test_two_workers_at_once_raise_an_escalation_once(committing_app):
    rt = runtime_of(committing_app)
    http = committing_app.test_client()
    make = org_factory(rt, http)
    provider = make("kisalli", kind="provider", users=[("kalle.valmentaja", ["staff"])])
    te = make("te-vs", kind="employment_services", users=[("tuomas.sw", ["social_worker"])])
    with rt.db.transaction() as s:
        s.get(Organization, "kisalli").webhook_url = "https://kisalli.example.fi/hooks"
    grant_consent(
        http, provider, "kalle.valmentaja", te, "tuomas.sw", hetu=HETU, categories=("plan",)
    )
    body = payload(sections=[payload()["sections"][1]])
    sent = http.post(
        "/v1/packets",
        data=sign_packet(provider.packet_key, body),
        headers={**provider.client.headers(), "Content-Type": "application/jose"},
    )
    packet_id = sent.get_json()["id"]
    assert (
        http.post(
            f"/v1/packets/{packet_id}/accept", headers=te.client.headers("tuomas.sw")
        ).status_code
        == 200
    )
    with rt.db.transaction() as s:
        s.execute(
            text("UPDATE packet SET first_contact_by = :d WHERE id = :i"),
            {"d": today() - dt.timedelta(days=1), "i": packet_id},
        )
    start = threading.Barrier(2)
    raised: list[int] = []
    failed: list[BaseException] = []

    def worker() -> None:
        start.wait()
        try:
            raised.append(escorts_job(rt)["first_contact_missing"])
        except Exception as exc:  # a busy SQLite file: that worker tries on a later round
            failed.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    raised.append(escorts_job(rt)["first_contact_missing"])  # a later round
    assert sum(raised) == 1, (raised, failed)
    with rt.db.sessions() as s:
        assert notifications(s, "packet.first_contact_missing") == [
            ("kisalli", {"packet_id": packet_id})
        ]
