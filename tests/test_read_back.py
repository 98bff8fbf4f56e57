"""Read-back at acceptance (SPEC "Responsibility never lapses"): the plan's actions are
acknowledged by id when a packet is accepted, an incomplete read-back moves nothing, the
sender sees the read-back, and the receiver's synthesis is kept only sealed."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest
from marshmallow import ValidationError
from sqlalchemy import text

from adapters import envelope
from adapters.crypto import DecryptionError
from adapters.keys import KeyStore, init_keys, rotate_keys
from exchange.packets.models import Packet
from exchange.packets.service import SYNTHESIS_PART, PacketService
from exchange.unit import UnitOfWork
from schemas.packets import ACCEPT_EXAMPLE, AcceptBody
from schemas.sections import PLAN_EXAMPLE, PlanSection, load_sections
from tests.conftest import audit_rows
from tests.test_packets_api import consent, payload, send, sent, today

ROOT = Path(__file__).resolve().parent.parent
SYNTHESIS = "Kitchen work trial from January; I phone the client this week."


@pytest.fixture
def world(make_org):
    provider = make_org("kisalli", kind="provider", users=[("kalle.valmentaja", ["staff"])])
    te = make_org(
        "te-vs",
        kind="employment_services",
        users=[("terhi.asiantuntija", ["staff"]), ("tuomas.sw", ["social_worker"])],
    )
    outsider = make_org("outsider", kind="provider", users=[("olli.sw", ["social_worker"])])
    return {"provider": provider, "te": te, "outsider": outsider}


def actions(*ids):
    due = (today() + dt.timedelta(days=7)).isoformat()
    return [
        {"id": action_id, "text": f"Action {action_id}", "owner": "receiver", "due": due}
        for action_id in ids
    ]


def with_actions(ids=("a1", "a2"), **changes):
    """The test packet with the given action ids on its plan section (sections[1])."""
    body = payload(**changes)
    body["sections"][1]["actions"] = actions(*ids)
    return body


def sent_with_actions(http, world, ids=("a1", "a2"), **changes):
    response = send(http, world["provider"], with_actions(ids, **changes))
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def accept(http, world, packet_id, body=None, **kwargs):
    """Accept as terhi; ``body`` None sends no body at all."""
    headers = world["te"].client.headers("terhi.asiantuntija")
    if body is not None:
        kwargs["json"] = body
    return http.post(f"/v1/packets/{packet_id}/accept", headers=headers, **kwargs)


def events(http, org, packet_id):
    return http.get(f"/v1/packets/{packet_id}/events", headers=org.client.headers())


def accepted_event(http, org, packet_id):
    items = events(http, org, packet_id).get_json()["items"]
    return next(item for item in items if item["action"] == "accepted")


def lead(http, world, client_id):
    return http.get(
        f"/v1/clients/{client_id}/lead", headers=world["provider"].client.headers()
    ).get_json()


def packet(http, world, packet_id):
    response = http.get(f"/v1/packets/{packet_id}", headers=world["provider"].client.headers())
    assert response.status_code == 200
    return response.get_json()


# --- sending ---------------------------------------------------------------------------------


def test_a_plan_with_actions_is_sent_and_read_as_sent(http, world):
    consent(http, world)
    packet_id = sent_with_actions(http, world)
    plan = packet(http, world, packet_id)["sections"][1]
    assert [action["id"] for action in plan["actions"]] == ["a1", "a2"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda plan: plan["actions"].append(dict(plan["actions"][0])), "actions[2].id"),
        (lambda plan: plan["actions"][1].update(id="a1"), "actions[1].id"),
        (lambda plan: plan["actions"][0].update(id="a 1"), "actions[0].id"),
        (lambda plan: plan["actions"][0].update(id="x" * 41), "actions[0].id"),
        (lambda plan: plan["actions"][0].update(id=""), "actions[0].id"),
        (lambda plan: plan["actions"][0].update(text="   "), "actions[0].text"),
        (lambda plan: plan["actions"][0].update(text="x" * 1001), "actions[0].text"),
        (lambda plan: plan["actions"][0].update(owner="both"), "actions[0].owner"),
        (lambda plan: plan["actions"][0].update(due="next week"), "actions[0].due"),
        (lambda plan: plan["actions"][0].pop("due"), "actions[0].due"),
        (lambda plan: plan["actions"][0].update(note="?"), "actions[0].note"),
    ],
)
def test_invalid_actions_are_422_naming_the_field(http, world, change, field):
    consent(http, world)
    body = with_actions()
    change(body["sections"][1])
    response = send(http, world["provider"], body)
    assert response.status_code == 422, response.get_json()
    assert f"sections[1].{field}" in [error["field"] for error in response.get_json()["errors"]]


def test_duplicate_action_ids_across_plan_sections_are_refused(http, world):
    """One plan section per packet today; the rule holds for the whole packet regardless."""
    raw = [
        {"type": "plan", "kind": "client_plan", "actions": actions("a1", "a2")},
        {"type": "plan", "kind": "employment_plan", "actions": actions("a3", "a1")},
    ]
    with pytest.raises(ValidationError) as refused:
        load_sections(raw, today=today())
    assert refused.value.messages["sections"][1]["actions"][1]["id"] == [
        "The id 'a1' is used already (at sections[0].actions[0])."
    ]


# --- accepting -------------------------------------------------------------------------------


def test_accepting_with_every_action_moves_the_lead_and_the_sender_sees_the_read_back(
    http, world, rt
):
    granted = consent(http, world)
    packet_id = sent_with_actions(http, world)
    response = accept(
        http, world, packet_id, {"acknowledged_actions": ["a2", "a1"], "synthesis": SYNTHESIS}
    )
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["status"] == "accepted"
    now = lead(http, world, granted["client_id"])
    assert (now["organization"], now["worker"]) == ("te-vs", "terhi.asiantuntija")

    for party in (world["provider"], world["te"]):
        event = accepted_event(http, party, packet_id)
        assert event["acknowledged_actions"] == ["a1", "a2"]  # in the plan's order
        assert event["synthesis"] == SYNTHESIS
        assert event["user"] == "terhi.asiantuntija"
    others = [
        item
        for item in events(http, world["provider"], packet_id).get_json()["items"]
        if item["action"] != "accepted"
    ]
    assert others
    assert all("acknowledged_actions" not in item for item in others)
    assert events(http, world["outsider"], packet_id).status_code == 404
    assert audit_rows(rt, action="packet.read", actor_organization="outsider", outcome="denied")


@pytest.mark.parametrize(
    ("body", "missing", "unknown"),
    [
        ({"acknowledged_actions": ["a1"]}, ["a2"], []),
        ({"acknowledged_actions": []}, ["a1", "a2"], []),
        ({}, ["a1", "a2"], []),
        (None, ["a1", "a2"], []),
        ({"acknowledged_actions": ["a1", "a2", "a3"]}, [], ["a3"]),
        ({"acknowledged_actions": ["a1", "zz"], "synthesis": SYNTHESIS}, ["a2"], ["zz"]),
    ],
)
def test_an_incomplete_read_back_is_refused_and_nothing_moves(
    http, world, rt, body, missing, unknown
):
    granted = consent(http, world)
    packet_id = sent_with_actions(http, world)
    response = accept(http, world, packet_id, body)
    assert response.status_code == 422
    problem = response.get_json()
    assert problem["code"] == "read_back_incomplete"
    assert (problem["missing"], problem["unknown"]) == (missing, unknown)
    assert {error["field"] for error in problem["errors"]} == {"acknowledged_actions"}
    assert_nothing_moved(http, world, packet_id, granted["client_id"])
    denied = audit_rows(rt, action="packet.accept", outcome="denied", resource_id=packet_id)
    assert [row.reason for row in denied] == ["read_back_incomplete"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"acknowledged_actions": ["a1", "a2"], "synthesis": "x" * 2001}, "synthesis"),
        ({"acknowledged_actions": ["a1", "a2"], "synthesis": "   "}, "synthesis"),
        ({"acknowledged_actions": ["a1", "a2"], "synthesis": None}, "synthesis"),
        ({"acknowledged_actions": "a1"}, "acknowledged_actions"),
        ({"acknowledged_actions": ["a 1"]}, "acknowledged_actions[0]"),
        ({"acknowledged_actions": ["a1", "a2"], "note": "ok"}, "note"),
    ],
)
def test_an_invalid_accept_body_is_422_and_nothing_moves(http, world, body, field):
    granted = consent(http, world)
    packet_id = sent_with_actions(http, world)
    response = accept(http, world, packet_id, body)
    assert response.status_code == 422
    assert field in [error["field"] for error in response.get_json()["errors"]]
    assert_nothing_moved(http, world, packet_id, granted["client_id"])


def test_the_longest_synthesis_is_accepted(http, world):
    consent(http, world)
    packet_id = sent_with_actions(http, world)
    longest = "y" * 2000
    body = {"acknowledged_actions": ["a1", "a2"], "synthesis": longest}
    assert accept(http, world, packet_id, body).status_code == 200
    assert accepted_event(http, world["provider"], packet_id)["synthesis"] == longest


def assert_nothing_moved(http, world, packet_id, client_id):
    now = lead(http, world, client_id)
    assert (now["organization"], now["worker"]) == ("kisalli", "kalle.valmentaja")
    assert packet(http, world, packet_id)["status"] in ("sent", "delivered")
    items = events(http, world["provider"], packet_id).get_json()["items"]
    assert "accepted" not in [item["action"] for item in items]


@pytest.mark.parametrize(
    "body",
    [None, {}, {"acknowledged_actions": []}, {"synthesis": SYNTHESIS}],
    ids=["no-body", "empty-object", "empty-list", "synthesis-only"],
)
def test_a_packet_without_actions_accepts_without_a_read_back(http, world, body):
    granted = consent(http, world)
    receipt = sent(http, world)
    response = accept(http, world, receipt["id"], body)
    assert response.status_code == 200, response.get_json()
    assert lead(http, world, granted["client_id"])["organization"] == "te-vs"
    event = accepted_event(http, world["provider"], receipt["id"])
    assert event["acknowledged_actions"] == []
    assert event["synthesis"] == (body or {}).get("synthesis")


def test_a_packet_without_actions_refuses_an_unknown_id(http, world):
    consent(http, world)
    receipt = sent(http, world)
    response = accept(http, world, receipt["id"], {"acknowledged_actions": ["a1"]})
    assert response.status_code == 422
    assert (response.get_json()["missing"], response.get_json()["unknown"]) == ([], ["a1"])


def test_an_information_packet_with_actions_needs_the_read_back_too(http, world):
    consent(http, world)
    packet_id = sent_with_actions(http, world, kind="information", respond_by=None)
    refused = accept(http, world, packet_id, {})
    assert refused.status_code == 422
    assert refused.get_json()["code"] == "read_back_incomplete"
    assert packet(http, world, packet_id)["status"] in ("sent", "delivered")
    assert accept(http, world, packet_id, {"acknowledged_actions": ["a1", "a2"]}).status_code == 200
    assert packet(http, world, packet_id)["status"] == "accepted"


def test_the_accept_body_needs_json(http, world):
    consent(http, world)
    packet_id = sent_with_actions(http, world)
    response = accept(http, world, packet_id, data="acknowledged_actions=a1")
    assert response.status_code == 415


# --- the synthesis at rest -------------------------------------------------------------------


def accepted_with_synthesis(http, world):
    consent(http, world)
    packet_id = sent_with_actions(http, world)
    body = {"acknowledged_actions": ["a1", "a2"], "synthesis": SYNTHESIS}
    assert accept(http, world, packet_id, body).status_code == 200
    return packet_id


def test_the_synthesis_is_stored_only_sealed(http, world, session):
    packet_id = accepted_with_synthesis(http, world)
    secret = SYNTHESIS.encode()
    row = session.execute(text("SELECT * FROM packet WHERE id = :i"), {"i": packet_id}).one()
    stored = [
        bytes(value) if isinstance(value, bytes | memoryview) else str(value) for value in row
    ]
    assert row.synthesis_ciphertext
    assert not any(
        secret in value if isinstance(value, bytes) else SYNTHESIS in value for value in stored
    )
    for table in ("packet_event", "audit_event"):
        for found in session.execute(text(f"SELECT * FROM {table}")):  # fixed names
            assert not any(SYNTHESIS in str(value) for value in found)


def test_the_synthesis_opens_only_as_its_packets_part(http, world, session, rt):
    packet_id = accepted_with_synthesis(http, world)
    row = session.get(Packet, packet_id)
    sealed = envelope.Sealed(row.ciphertext, row.wrapped_key, row.kek_version)
    opened = envelope.decrypt_part(
        rt.keys, row.id, row.client_id, SYNTHESIS_PART, sealed, row.synthesis_ciphertext
    )
    assert opened.decode() == SYNTHESIS
    for object_id, client_id, part in (
        ("other", row.client_id, SYNTHESIS_PART),
        (row.id, "other", SYNTHESIS_PART),
        (row.id, row.client_id, "content"),
    ):
        with pytest.raises(DecryptionError):
            envelope.decrypt_part(
                rt.keys, object_id, client_id, part, sealed, row.synthesis_ciphertext
            )


def test_the_synthesis_follows_key_rotation_and_rewrap(http, world, session, rt, tmp_path):
    packet_id = accepted_with_synthesis(http, world)
    init_keys(tmp_path)
    rotate_keys(tmp_path)
    rotated = KeyStore(
        signing_keys=rt.keys.signing_keys,
        keks={**rt.keys.keks, 2: KeyStore.load(tmp_path).keks[2]},
        hetu_encryption_key=rt.keys.hetu_encryption_key,
        hetu_lookup_key=rt.keys.hetu_lookup_key,
        session_secret=rt.keys.session_secret,
    )
    uow = UnitOfWork(lambda: session)
    assert PacketService(uow, rotated, rt.statutes).rewrap_all() == 1
    session.flush()
    row = session.get(Packet, packet_id)
    assert row.kek_version == 2
    # Only the new KEK left: the synthesis still opens, so it hangs on the re-wrapped key.
    only_new = KeyStore(
        signing_keys=rt.keys.signing_keys,
        keks={2: rotated.keks[2]},
        hetu_encryption_key=rt.keys.hetu_encryption_key,
        hetu_lookup_key=rt.keys.hetu_lookup_key,
        session_secret=rt.keys.session_secret,
    )
    read_back = PacketService(uow, only_new, rt.statutes).read_back(row)
    assert read_back is not None
    assert read_back.synthesis == SYNTHESIS


def test_retention_shreds_the_synthesis_with_the_content(http, world, session, rt):
    packet_id = accepted_with_synthesis(http, world)
    session.execute(
        text("UPDATE packet SET received_at = :t WHERE id = :i"),
        {"t": dt.datetime.now(dt.UTC) - dt.timedelta(days=4000), "i": packet_id},
    )
    uow = UnitOfWork(lambda: session)
    assert PacketService(uow, rt.keys, rt.statutes).shred_expired(uow.claimed, 3650) == 1
    session.commit()
    row = session.execute(
        text("SELECT wrapped_key, synthesis_ciphertext FROM packet WHERE id = :i"),
        {"i": packet_id},
    ).one()
    assert bytes(row.wrapped_key) == b""
    assert row.synthesis_ciphertext is None
    event = accepted_event(http, world["provider"], packet_id)
    assert (event["acknowledged_actions"], event["synthesis"]) == (["a1", "a2"], None)


def test_a_packet_whose_content_was_shredded_cannot_be_read_back(http, world, session, rt):
    """Its actions are gone with the content, so no read-back can cover them: refused."""
    granted = consent(http, world)
    packet_id = sent_with_actions(http, world)
    session.execute(
        text("UPDATE packet SET received_at = :t WHERE id = :i"),
        {"t": dt.datetime.now(dt.UTC) - dt.timedelta(days=4000), "i": packet_id},
    )
    uow = UnitOfWork(lambda: session)
    assert PacketService(uow, rt.keys, rt.statutes).shred_expired(uow.claimed, 3650) == 1
    session.commit()
    response = accept(http, world, packet_id, {"acknowledged_actions": ["a1", "a2"]})
    assert response.status_code == 404
    assert response.get_json()["code"] == "packet_content_shredded"
    assert lead(http, world, granted["client_id"])["organization"] == "kisalli"
    denied = audit_rows(rt, action="packet.accept", outcome="denied", resource_id=packet_id)
    assert [row.reason for row in denied] == ["content_shredded"]


def test_a_withdrawn_consent_withholds_the_synthesis(http, world):
    granted = consent(http, world)
    packet_id = sent_with_actions(http, world)
    body = {"acknowledged_actions": ["a1", "a2"], "synthesis": SYNTHESIS}
    assert accept(http, world, packet_id, body).status_code == 200
    withdrawn = http.post(
        f"/v1/consents/{granted['id']}/withdraw",
        json={"reason": "Client asked"},
        headers=world["provider"].client.headers("kalle.valmentaja"),
    )
    assert withdrawn.status_code == 200
    event = accepted_event(http, world["provider"], packet_id)
    assert (event["acknowledged_actions"], event["synthesis"]) == (["a1", "a2"], None)


# --- documentation ---------------------------------------------------------------------------


def test_the_documented_examples_load(http):
    assert AcceptBody().load(ACCEPT_EXAMPLE) == ACCEPT_EXAMPLE
    PlanSection(today=dt.date(2026, 12, 1)).load(PLAN_EXAMPLE)
    spec = http.get("/openapi.json").get_json()
    operation = spec["paths"]["/v1/packets/{packet_id}/accept"]["post"]
    assert operation["requestBody"]["content"]["application/json"]["example"] == ACCEPT_EXAMPLE
    assert operation["requestBody"]["required"] is False  # no body for a packet without actions
    assert spec["components"]["schemas"]["PlanSection"]["example"] == PLAN_EXAMPLE


def test_the_readme_accept_bodies_load():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Handover packets", 1)[1].split("\n## ", 1)[0]
    bodies = re.findall(r"```json\n(.*?)```", section, flags=re.DOTALL)
    loaded = [json.loads(body) for body in bodies]
    accept_bodies = [body for body in loaded if "acknowledged_actions" in body]
    plans = [body for body in loaded if body.get("type") == "plan"]
    assert accept_bodies
    assert plans
    for body in accept_bodies:
        AcceptBody().load(body)
    for plan in plans:
        PlanSection(today=dt.date(2026, 12, 1)).load(plan)
