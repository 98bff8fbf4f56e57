"""Object-level authorization of packets, leads, staff changes and consents (SPEC section 4).

A third organization with every scope, holding the real ids of another
organization's packets, client, worker and consent, must get exactly the
answer an unknown id gets (404, or an empty list), leave a denial in the audit
log, and change nothing. The parties themselves are limited by their role in
the packet: only the recipient accepts or declines, only the sender withdraws.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import text

from consent.model import local_date
from tests.conftest import Org, audit_rows, sign_packet

HETU = "010190-900P"
SENDER, RECIPIENT, THIRD = "kisalli-bola", "te-bola", "third-bola"
SENDER_WORKER, SENDER_SW = "kalle.valmentaja", "liisa.sw"
RECIPIENT_WORKER, RECIPIENT_SW = "terhi.staff", "tuomas.sw"
THIRD_SW, THIRD_ADMIN = "tessa.sw", "tapio.admin"
JOSE = "application/jose"


def today() -> dt.date:
    return local_date(dt.datetime.now(dt.UTC))


def sections() -> list[dict[str, Any]]:
    return [
        {
            "type": "assessment",
            "instrument": "kykyviisari",
            "date": (today() - dt.timedelta(days=7)).isoformat(),
            "scores": {"health": 6, "competence": 7},
            "summary": "Works steadily in the workshop.",
        },
        {
            "type": "plan",
            "kind": "employment_plan",
            "goals": [{"text": "Work trial in retail"}],
            "next_step": "work trial",
        },
        {"type": "contact_persons", "persons": [{"name": "Kalle Valmentaja", "role": "coach"}]},
    ]


def packet(
    kind: str,
    client: dict[str, str],
    sender: str = SENDER,
    worker: str = SENDER_WORKER,
    recipient: str = RECIPIENT,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "client": client,
        "from": {"organization": sender, "worker": worker},
        "to": {"organization": recipient},
        "kind": kind,
        "purpose": "employment_services",
        "sections": sections(),
    }
    if kind == "transfer":
        body["respond_by"] = (today() + dt.timedelta(days=14)).isoformat()
    return body


def send(http: Any, org: Org, payload: dict[str, Any]) -> Any:
    return http.post(
        "/v1/packets",
        data=sign_packet(org.packet_key, payload),
        headers={**org.client.headers(), "Content-Type": JOSE},
    )


@dataclass
class World:
    sender: Org
    recipient: Org
    third: Org
    client_id: str
    consent_id: str
    transfer_id: str
    information_id: str


@pytest.fixture
def world(make_org: Any, http: Any) -> World:
    """A provider that hands a client over to employment services, and an uninvolved third."""
    sender = make_org(
        SENDER,
        kind="provider",
        users=[(SENDER_WORKER, ["staff"]), (SENDER_SW, ["social_worker"])],
    )
    recipient = make_org(
        RECIPIENT,
        kind="employment_services",
        users=[(RECIPIENT_WORKER, ["staff"]), (RECIPIENT_SW, ["social_worker"])],
    )
    third = make_org(
        THIRD, kind="provider", users=[(THIRD_SW, ["social_worker"]), (THIRD_ADMIN, ["admin"])]
    )
    recorded = http.post(
        "/v1/consents",
        json={
            "client": {"hetu": HETU},
            "grantor": {"type": "self"},
            "decision": "permit",
            "sources": [SENDER],
            "recipients": [RECIPIENT],
            "categories": ["assessment", "plan", "contact_persons"],
            "purposes": ["employment_services"],
            "valid_until": (today() + dt.timedelta(days=300)).isoformat(),
            "method": "signed_paper",
            "evidence": {"reference": "paper form 2026/114"},
            "language": "fi",
            "approver_organization": RECIPIENT,
        },
        headers=sender.client.headers(SENDER_WORKER),
    )
    assert recorded.status_code == 201, recorded.get_json()
    consent = recorded.get_json()
    approved = http.post(
        f"/v1/consents/{consent['id']}/approve", headers=recipient.client.headers(RECIPIENT_SW)
    )
    assert approved.status_code == 200, approved.get_json()
    client_id = consent["client_id"]
    lead = http.post(
        f"/v1/clients/{client_id}/lead",
        json={"worker": SENDER_WORKER},
        headers=sender.client.headers(SENDER_SW),
    )
    assert lead.status_code == 200, lead.get_json()
    transfer = send(http, sender, packet("transfer", {"hetu": HETU}))
    assert transfer.status_code == 201, transfer.get_json()
    information = send(http, sender, packet("information", {"id": client_id}))
    assert information.status_code == 201, information.get_json()
    return World(
        sender,
        recipient,
        third,
        client_id,
        consent["id"],
        transfer.get_json()["id"],
        information.get_json()["id"],
    )


def unknown_id() -> str:
    return str(uuid.uuid4())


# Each probe: (method, path template, JSON body, acting user of the third organization, the
# audited action, which real id goes into the path). ``{id}`` is the real id or an unknown one.
PROBES = [
    pytest.param("get", "/v1/packets/{id}", None, None, "packet.read", "transfer", id="read"),
    pytest.param(
        "get", "/v1/packets/{id}", None, None, "packet.read", "information", id="read-info"
    ),
    pytest.param(
        "get", "/v1/packets/{id}", None, THIRD_SW, "packet.read", "transfer", id="read-acting"
    ),
    pytest.param(
        "get", "/v1/packets/{id}/events", None, None, "packet.read", "transfer", id="events"
    ),
    pytest.param(
        "post", "/v1/packets/{id}/accept", None, THIRD_SW, "packet.accept", "transfer", id="accept"
    ),
    pytest.param(
        "post",
        "/v1/packets/{id}/accept",
        None,
        THIRD_SW,
        "packet.accept",
        "information",
        id="accept-info",
    ),
    pytest.param(
        "post",
        "/v1/packets/{id}/decline",
        {"reason": "Not our client"},
        THIRD_SW,
        "packet.decline",
        "transfer",
        id="decline",
    ),
    pytest.param(
        "post",
        "/v1/packets/{id}/withdraw",
        None,
        THIRD_SW,
        "packet.withdraw",
        "transfer",
        id="withdraw",
    ),
    pytest.param(
        "post",
        "/v1/packets/{id}/first-contact",
        {"date": "2026-01-02", "mode": "meeting"},
        THIRD_SW,
        "packet.first_contact",
        "transfer",
        id="first-contact",
    ),
    pytest.param("get", "/v1/clients/{id}/lead", None, None, "lead.read", "client", id="lead"),
    pytest.param(
        "post",
        "/v1/clients/{id}/lead",
        {"worker": THIRD_SW},
        THIRD_SW,
        "lead.change",
        "client",
        id="assign-lead",
    ),
    pytest.param(
        "post",
        "/v1/clients/{id}/lead",
        {"worker": "nobody.here"},
        THIRD_SW,
        "lead.change",
        "client",
        id="assign-lead-unknown-worker",
    ),
    pytest.param(
        "post",
        "/v1/workers/{id}/deactivate",
        {"successor": None},
        THIRD_ADMIN,
        "worker.deactivate",
        "worker",
        id="deactivate",
    ),
    pytest.param(
        "post",
        "/v1/workers/{id}/deactivate",
        {"successor": THIRD_SW},
        THIRD_ADMIN,
        "worker.deactivate",
        "worker",
        id="deactivate-to-own",
    ),
    pytest.param(
        "get",
        "/v1/organizations/{id}/unassigned",
        None,
        None,
        "lead.read",
        "organization",
        id="unassigned",
    ),
    pytest.param("get", "/v1/consents/{id}", None, None, "consent.read", "consent", id="consent"),
    pytest.param(
        "get", "/v1/consents/{id}/receipt", None, None, "consent.read", "consent", id="receipt"
    ),
    pytest.param(
        "get",
        "/v1/consents/{id}/receipt?format=html",
        None,
        None,
        "consent.read",
        "consent",
        id="receipt-html",
    ),
    pytest.param(
        "post",
        "/v1/consents/{id}/approve",
        None,
        THIRD_SW,
        "consent.approve",
        "consent",
        id="consent-approve",
    ),
    pytest.param(
        "post",
        "/v1/consents/{id}/reject",
        {"reason": "Not our client"},
        THIRD_SW,
        "consent.reject",
        "consent",
        id="consent-reject",
    ),
    pytest.param(
        "post",
        "/v1/consents/{id}/withdraw",
        {"reason": "Not our client"},
        THIRD_SW,
        "consent.withdraw",
        "consent",
        id="consent-withdraw",
    ),
]


def real_id(world: World, which: str) -> str:
    return {
        "transfer": world.transfer_id,
        "information": world.information_id,
        "client": world.client_id,
        "worker": SENDER_WORKER,
        "organization": SENDER,
        "consent": world.consent_id,
    }[which]


def fake_id(which: str) -> str:
    if which == "worker":
        return f"nobody.{uuid.uuid4().hex[:8]}"
    if which == "organization":
        return f"no-org-{uuid.uuid4().hex[:8]}"
    return unknown_id()


def call(http: Any, method: str, url: str, body: Any, headers: dict[str, str]) -> Any:
    if body is None:
        return getattr(http, method)(url, headers=headers)
    return getattr(http, method)(url, json=body, headers=headers)


def without_request_id(response: Any) -> dict[str, Any]:
    body = response.get_json()
    assert body is not None, response.get_data(as_text=True)
    return {name: value for name, value in body.items() if name != "request_id"}


def sender_view(http: Any, world: World) -> dict[str, Any]:
    """What the sender sees of everything the probes must leave untouched."""
    headers = world.sender.client.headers()
    transfer = http.get(f"/v1/packets/{world.transfer_id}/events", headers=headers).get_json()
    information = http.get(f"/v1/packets/{world.information_id}/events", headers=headers)
    lead = http.get(f"/v1/clients/{world.client_id}/lead", headers=headers).get_json()
    consent = http.get(f"/v1/consents/{world.consent_id}", headers=headers).get_json()
    unassigned = http.get(f"/v1/organizations/{SENDER}/unassigned", headers=headers).get_json()
    return {
        "transfer": [(e["action"], e["status"]) for e in transfer["items"]],
        "information": [(e["action"], e["status"]) for e in information.get_json()["items"]],
        "lead": (lead["organization"], lead["worker"], lead["since"]),
        "consent": (consent["status"], len(consent["events"])),
        "unassigned": unassigned["items"],
    }


@pytest.mark.parametrize(("method", "path", "body", "user", "action", "which"), PROBES)
def test_third_organization_cannot_tell_a_real_id_from_an_unknown_one(
    http, rt, world, method, path, body, user, action, which
):
    headers = world.third.client.headers(user)
    before = sender_view(http, world)
    target = real_id(world, which)

    real = call(http, method, path.format(id=target), body, headers)
    unknown = call(http, method, path.format(id=fake_id(which)), body, headers)

    assert real.status_code == 404, real.get_json()
    assert real.mimetype == "application/problem+json"
    assert without_request_id(real) == without_request_id(unknown)
    denied = audit_rows(rt, outcome="denied", actor_organization=THIRD, action=action)
    assert target in {event.resource_id for event in denied}, [
        (event.action, event.resource_id) for event in denied
    ]
    assert sender_view(http, world) == before


def test_third_organization_sees_empty_lists_and_no_escalations(http, world):
    headers = world.third.client.headers()
    client = world.client_id
    for url in [
        f"/v1/packets?box=inbox&client_id={client}",
        f"/v1/packets?box=outbox&client_id={client}",
        "/v1/packets?box=inbox",
        "/v1/packets?box=outbox",
        f"/v1/consents?client_id={client}",
        "/v1/consents",
        f"/v1/service-periods?client_id={client}",
        "/v1/service-periods",
    ]:
        response = http.get(url, headers=headers)
        assert response.status_code == 200, url
        assert response.get_json() == {"items": [], "next_cursor": None}, url
    escalations = http.get("/v1/escalations", headers=headers).get_json()
    assert escalations == {
        "expired_transfers": [],
        "due_soon": [],
        "unassigned_clients": [],
        "periods_ending_without_next_step": [],
        "review_needed": [],
        "first_contact_missing": [],
    }
    # The same lists are not empty for the parties, so the emptiness above means something.
    inbox = http.get(
        f"/v1/packets?box=inbox&client_id={client}", headers=world.recipient.client.headers()
    ).get_json()
    assert {item["id"] for item in inbox["items"]} == {world.transfer_id, world.information_id}
    mine = http.get(f"/v1/consents?client_id={client}", headers=world.sender.client.headers())
    assert [item["id"] for item in mine.get_json()["items"]] == [world.consent_id]


def test_third_organization_cannot_name_the_client_by_id_in_a_packet(http, world, session):
    third = world.third

    def attempt(client_id: str) -> Any:
        payload = packet("information", {"id": client_id}, THIRD, THIRD_SW, recipient=SENDER)
        return send(http, third, payload)

    real, unknown = attempt(world.client_id), attempt(unknown_id())
    assert real.status_code == 422, real.get_json()
    assert without_request_id(real) == without_request_id(unknown)
    assert [error["field"] for error in real.get_json()["errors"]] == ["client.id"]
    count = session.execute(
        text("SELECT count(*) FROM packet WHERE sender_org = :o"), {"o": THIRD}
    ).scalar()
    assert count == 0


def test_third_organization_consent_check_by_client_id_does_not_reveal_the_client(http, world):
    def attempt(client_id: str) -> Any:
        return http.post(
            "/v1/consent-checks",
            json={
                "client": {"id": client_id},
                "source": THIRD,
                "recipient": SENDER,
                "purpose": "employment_services",
                "categories": ["assessment"],
            },
            headers=world.third.client.headers(),
        )

    real, unknown = attempt(world.client_id), attempt(unknown_id())
    assert real.status_code == unknown.status_code
    assert without_request_id(real) == without_request_id(unknown)


def test_third_organization_cannot_record_a_consent_about_a_client_id_it_does_not_know(http, world):
    def attempt(client_id: str) -> Any:
        return http.post(
            "/v1/consents",
            json={
                "client": {"id": client_id},
                "grantor": {"type": "self"},
                "decision": "deny",
                "sources": [THIRD],
                "recipients": [SENDER],
                "categories": ["assessment"],
                "purposes": ["employment_services"],
                "valid_until": (today() + dt.timedelta(days=30)).isoformat(),
                "method": "signed_paper",
                "evidence": {"reference": "form 1"},
                "language": "fi",
            },
            headers=world.third.client.headers(THIRD_SW),
        )

    real, unknown = attempt(world.client_id), attempt(unknown_id())
    assert real.status_code == unknown.status_code == 422, real.get_json()
    assert without_request_id(real) == without_request_id(unknown)
    lead = http.get(f"/v1/clients/{world.client_id}/lead", headers=world.third.client.headers())
    assert lead.status_code == 404


# --- the parties' roles -----------------------------------------------------------------


@pytest.mark.parametrize("packet_kind", ["transfer", "information"])
@pytest.mark.parametrize(
    ("action", "body"), [("accept", None), ("decline", {"reason": "We sent it ourselves"})]
)
def test_the_sender_cannot_accept_or_decline(http, rt, world, packet_kind, action, body):
    packet_id = world.transfer_id if packet_kind == "transfer" else world.information_id
    before = sender_view(http, world)
    response = call(
        http,
        "post",
        f"/v1/packets/{packet_id}/{action}",
        body,
        world.sender.client.headers(SENDER_SW),
    )
    assert response.status_code == 403, response.get_json()
    assert response.get_json()["code"] == "not_the_recipient"
    assert sender_view(http, world) == before
    denied = audit_rows(rt, outcome="denied", action=f"packet.{action}", resource_id=packet_id)
    assert [(e.actor_organization, e.reason) for e in denied] == [(SENDER, "not_the_recipient")]


@pytest.mark.parametrize("packet_kind", ["transfer", "information"])
def test_the_recipient_cannot_withdraw(http, rt, world, packet_kind):
    packet_id = world.transfer_id if packet_kind == "transfer" else world.information_id
    before = sender_view(http, world)
    response = http.post(
        f"/v1/packets/{packet_id}/withdraw", headers=world.recipient.client.headers(RECIPIENT_SW)
    )
    assert response.status_code == 403, response.get_json()
    assert response.get_json()["code"] == "not_the_sender"
    assert sender_view(http, world) == before
    denied = audit_rows(rt, outcome="denied", action="packet.withdraw", resource_id=packet_id)
    assert [(e.actor_organization, e.reason) for e in denied] == [(RECIPIENT, "not_the_sender")]


def test_the_parties_do_see_the_packets(http, world):
    """The positive control: the same calls that are 404 for the third party work for these."""
    for org in (world.sender, world.recipient):
        for packet_id in (world.transfer_id, world.information_id):
            response = http.get(f"/v1/packets/{packet_id}", headers=org.client.headers())
            assert response.status_code == 200, response.get_json()
            assert response.get_json()["client_id"] == world.client_id
    lead = http.get(
        f"/v1/clients/{world.client_id}/lead", headers=world.recipient.client.headers()
    ).get_json()
    assert (lead["organization"], lead["worker"]) == (SENDER, SENDER_WORKER)
