"""What an auditor sees of the log: its own organization's events, and every event about the
packets and consents its organization is party to, whoever acted; a supervisor's auditor sees
all. Every door (JSON, CSV, JSON lines, the web page, proofs) shows the same set."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from typing import Any

import pytest
from sqlalchemy import select

from consent.model import local_date
from exchange.audit import seal
from exchange.audit.models import AuditEvent
from exchange.consents.models import ConsentParty
from exchange.packets.models import Packet
from tests.conftest import audit_rows, grant_consent, sign_packet
from tests.webtools import give_passwords, sign_in

HETU, OTHER_HETU = "010190-900P", "150585-9122"


def today() -> dt.date:
    return local_date(dt.datetime.now(dt.UTC))


def send(http, sender, worker, recipient, addressee, hetu=HETU) -> str:
    payload = {
        "client": {"hetu": hetu},
        "from": {"organization": sender.id, "worker": worker},
        "to": {"organization": recipient.id, "worker": addressee},
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
    sent = http.post(
        "/v1/packets",
        data=sign_packet(sender.packet_key, payload),
        headers={**sender.client.headers(), "Content-Type": "application/jose"},
    )
    assert sent.status_code == 201, sent.get_json()
    return str(sent.get_json()["id"])


@pytest.fixture
def world(make_org, http, rt, session):
    """A (kisalli) sends B (te-vs) a packet B reads; consents A recorded, A is a source of (B
    recorded it) and A is a recipient of (C recorded it); C's business with B alone."""
    a = make_org(
        "kisalli",
        users=[
            ("kalle.valmentaja", ["staff"]),
            ("liisa.sw", ["social_worker"]),
            ("aino.auditoija", ["auditor"]),
        ],
    )
    b = make_org(
        "te-vs",
        kind="employment_services",
        users=[("terhi.staff", ["staff"]), ("tuomas.sw", ["social_worker"])],
    )
    c = make_org(
        "muu-tuottaja",
        users=[("olli.staff", ["staff"]), ("otto.sw", ["social_worker"])],
    )
    s = make_org(
        "valvonta", kind="supervisor", scopes=["audit:read"], users=[("vera.valvoja", ["auditor"])]
    )
    recorded_by_a = grant_consent(http, a, "kalle.valmentaja", b, "tuomas.sw", hetu=HETU)
    a_is_source = grant_consent(
        http, b, "terhi.staff", b, "tuomas.sw", hetu=HETU, sources=[a.id], recipients=[b.id]
    )
    a_is_recipient = grant_consent(http, c, "olli.staff", a, "liisa.sw", hetu=HETU)
    http.get(f"/v1/consents/{a_is_source['id']}", headers=b.client.headers("tuomas.sw"))
    http.get(f"/v1/consents/{a_is_recipient['id']}/receipt", headers=c.client.headers())
    packet = send(http, a, "kalle.valmentaja", b, "terhi.staff")
    http.get(f"/v1/packets/{packet}", headers=b.client.headers("terhi.staff"))
    http.get(f"/v1/packets/{packet}/events", headers=b.client.headers("terhi.staff"))
    # C's own business with B, nothing to do with A.
    unrelated = grant_consent(http, c, "olli.staff", b, "tuomas.sw", hetu=OTHER_HETU)
    other_packet = send(http, c, "olli.staff", b, "terhi.staff", hetu=OTHER_HETU)
    http.get(f"/v1/packets/{other_packet}", headers=b.client.headers("terhi.staff"))
    # C tries to read A's packet: refused, but an event about A's packet.
    assert http.get(f"/v1/packets/{packet}", headers=c.client.headers()).status_code == 404
    give_passwords(session, rt, ("aino.auditoija", "vera.valvoja"))
    with rt.db.transaction() as s_:
        seal(s_, rt.keys)
    return {
        "a": a,
        "b": b,
        "c": c,
        "s": s,
        "packet": packet,
        "other_packet": other_packet,
        "consents": {
            "recorded_by_a": recorded_by_a["id"],
            "a_is_source": a_is_source["id"],
            "a_is_recipient": a_is_recipient["id"],
            "unrelated": unrelated["id"],
        },
    }


def aino(world) -> dict[str, str]:
    return world["a"].client.headers("aino.auditoija")


def vera(world) -> dict[str, str]:
    return world["s"].client.headers("vera.valvoja")


def search(http, headers, **args: Any) -> list[dict[str, Any]]:
    """Every page of a JSON search (``limit`` per page), followed to the end."""
    items: list[dict[str, Any]] = []
    query = dict(args)
    while True:
        response = http.get("/v1/audit/events", query_string=query, headers=headers)
        assert response.status_code == 200, response.get_json()
        page = response.get_json()
        items += page["items"]
        if page["next_cursor"] is None:
            return items
        query["cursor"] = page["next_cursor"]


def in_scope(rt, organization: str) -> list[AuditEvent]:
    """The rule computed apart from the query code: sealed events by ``organization``, or about
    a packet it sent or received, or a consent it is a party of."""
    with rt.db.sessions() as s:
        packets = set(
            s.execute(
                select(Packet.id).where(
                    (Packet.sender_org == organization) | (Packet.recipient_org == organization)
                )
            ).scalars()
        )
        consents = set(
            s.execute(
                select(ConsentParty.consent_id).where(ConsentParty.organization_id == organization)
            ).scalars()
        )
    return [
        event
        for event in audit_rows(rt)
        if event.seq is not None
        and (
            event.actor_organization == organization
            or (event.resource_type in ("packet", "packet_events") and event.resource_id in packets)
            or (
                event.resource_type in ("consent", "consent_receipt")
                and event.resource_id in consents
            )
        )
    ]


def keys(items) -> set[tuple[Any, ...]]:
    return {(e["actor_organization"], e["action"], e["resource_id"]) for e in items}


# --- who sees what --------------------------------------------------------------------------


def test_an_auditor_sees_who_read_what_its_organization_sent(http, world):
    seen = keys(search(http, aino(world), organization="te-vs", action="packet.read"))
    assert ("te-vs", "packet.read", world["packet"]) in seen
    assert ("te-vs", "packet.read", world["other_packet"]) not in seen
    denied = search(http, aino(world), organization="muu-tuottaja", outcome="denied")
    assert [(e["action"], e["resource_id"]) for e in denied] == [("packet.read", world["packet"])]


def test_an_auditor_sees_other_organizations_on_its_consents(http, world):
    consents = world["consents"]
    seen = keys(search(http, aino(world)))
    # A recorded it; B approved it.
    assert ("te-vs", "consent.approve", consents["recorded_by_a"]) in seen
    # A is a source; B recorded, approved and read it.
    for action in ("consent.record", "consent.approve", "consent.read"):
        assert ("te-vs", action, consents["a_is_source"]) in seen
    # A is a recipient; C recorded it and printed its receipt.
    assert ("muu-tuottaja", "consent.record", consents["a_is_recipient"]) in seen
    assert ("muu-tuottaja", "consent.read", consents["a_is_recipient"]) in seen


def test_an_auditor_does_not_see_unrelated_events(http, world):
    items = search(http, aino(world))
    foreign = {world["other_packet"], world["consents"]["unrelated"]}
    assert not [e for e in items if e["resource_id"] in foreign]
    assert not [e for e in items if e["action"] == "consent.list"]
    # C's and B's events all concern A's packets and consents.
    for item in items:
        if item["actor_organization"] != "kisalli":
            assert item["resource_type"] in (
                "packet",
                "packet_events",
                "consent",
                "consent_receipt",
            )


def test_the_search_matches_the_rule_for_every_filter_and_page_size(http, world, rt):
    expected = in_scope(rt, "kisalli")
    client_id = next(e.client_ref for e in expected if e.action == "packet.read")
    middle = expected[len(expected) // 2].occurred_at
    cases: list[dict[str, Any]] = [
        {},
        {"client_id": client_id},
        {"organization": "te-vs"},
        {"organization": "kisalli"},
        {"actor": "tuomas.sw"},
        {"actor": "te-vs-system"},
        {"action": "consent.approve"},
        {"outcome": "denied"},
        {"from": middle},
        {"to": middle},
        {"organization": "te-vs", "action": "packet.read", "from": expected[0].occurred_at},
    ]
    attribute = {"client_id": "client_ref", "organization": "actor_organization"}
    for args in cases:
        wanted = [
            e.seq
            for e in expected
            if all(
                (getattr(e, attribute.get(name, name)) == value)
                if name not in ("actor", "from", "to")
                else (value in (e.actor_user, e.actor_client))
                if name == "actor"
                else (e.occurred_at >= value if name == "from" else e.occurred_at < value)
                for name, value in args.items()
            )
        ]
        assert wanted or args.get("outcome") or args.get("actor"), args
        for limit in (1, 3, 1000):
            got = [e["seq"] for e in search(http, aino(world), limit=limit, **args)]
            assert got == wanted, (args, limit)


def test_a_supervisor_sees_every_event_and_its_searches_are_logged(http, world, rt):
    everything = [e.seq for e in audit_rows(rt) if e.seq is not None]
    got = [e["seq"] for e in search(http, vera(world), limit=7)]
    assert got == everything
    by_c = search(http, vera(world), organization="muu-tuottaja", limit=1000)
    assert {e["resource_id"] for e in by_c} >= {world["other_packet"], world["packet"]}
    logged = audit_rows(rt, actor_organization="valvonta", action="audit.read")
    assert logged
    assert {e.actor_user for e in logged} == {"vera.valvoja"}
    assert any('"organization": "muu-tuottaja"' in (e.reason or "") for e in logged)


def test_audit_reads_need_an_acting_auditor(http, world):
    refused = http.get("/v1/audit/events", headers=world["s"].client.headers())
    assert refused.status_code == 403
    assert refused.get_json()["code"] == "acting_user_required"


# --- every door shows the same set -----------------------------------------------------------


@pytest.mark.parametrize("who", ["aino", "vera"])
def test_exports_and_the_web_page_show_what_the_json_search_shows(app, http, world, who):
    headers = aino(world) if who == "aino" else vera(world)
    username = "aino.auditoija" if who == "aino" else "vera.valvoja"
    # Only events the searches themselves do not add to (audit.read is the search's own).
    args = {"action": "packet.read"}
    listed = [e["seq"] for e in search(http, headers, limit=2, **args)]
    assert listed
    jsonl = http.get(
        "/v1/audit/events", query_string=args | {"format": "jsonl"}, headers=headers
    ).get_data(as_text=True)
    assert [json.loads(line)["seq"] for line in jsonl.splitlines()] == listed
    exported = http.get(
        "/v1/audit/events", query_string=args | {"format": "csv"}, headers=headers
    ).get_data(as_text=True)
    assert [int(row["seq"]) for row in csv.DictReader(io.StringIO(exported))] == listed
    browser = app.test_client()
    browser.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    assert sign_in(browser, username).status_code == 302
    html = browser.get("/ui/audit", query_string=args).get_data(as_text=True)
    body = re.search(r"<tbody>(.*?)</tbody>", html, re.S)
    assert body
    assert [int(n) for n in re.findall(r'<th scope="row">(\d+)</th>', body.group(1))] == listed
    web_csv = browser.get("/ui/audit/export.csv", query_string=args).get_data().decode("utf-8-sig")
    web_rows = csv.DictReader(io.StringIO(web_csv, newline=""), delimiter=";")
    assert [int(row["No."]) for row in web_rows] == listed


def test_an_auditor_may_prove_exactly_the_events_it_sees(http, world, rt):
    http.post("/v1/audit/checkpoints", headers=aino(world))
    read_by_b = audit_rows(
        rt, actor_organization="te-vs", action="packet.read", resource_id=world["packet"]
    )[0]
    foreign = audit_rows(rt, resource_id=world["other_packet"], action="packet.read")[0]
    proof = http.get(f"/v1/audit/events/{read_by_b.seq}/proof", headers=aino(world))
    assert proof.status_code == 200
    assert http.get(f"/v1/audit/events/{foreign.seq}/proof", headers=aino(world)).status_code == 404
    assert http.get(f"/v1/audit/events/{foreign.seq}/proof", headers=vera(world)).status_code == 200
