"""Notifications: written with the change, relayed through the Redis stream, delivered signed
to a real receiver on loopback, retried with backoff, dead-lettered, listed and retried."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import threading
from typing import Any

import pytest
from joserfc import jws
from joserfc.jwk import KeySet
from sqlalchemy import select

from adapters.addresses import UnsafeAddress, check_ip, check_url
from adapters.db import utcnow
from consent.model import local_date
from exchange.background import run_round
from exchange.registry.models import Organization
from exchange.webhooks import delivery
from exchange.webhooks.models import DEAD, DELIVERED, PENDING, WebhookDelivery
from tests.conftest import Receiver, grant_consent, sign_packet

HETU = "010190-900P"


def received_as(receiver: Receiver, event_type: str) -> list[dict[str, Any]]:
    """What the receiver got of one type (the type is in the unverified JWS payload)."""
    import base64
    import json

    def kind(got: dict[str, Any]) -> str:
        payload = got["body"].split(".")[1]
        padded = payload + "=" * (-len(payload) % 4)
        return str(json.loads(base64.urlsafe_b64decode(padded))["type"])

    return [got for got in receiver.received if kind(got) == event_type]


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    return {**app_config, "WEBHOOK_ALLOW_LOOPBACK": 1}


def today() -> dt.date:
    return local_date(dt.datetime.now(dt.UTC))


@pytest.fixture
def world(make_org, http, session, receiver):
    provider = make_org(
        "kisalli",
        kind="provider",
        users=[
            ("kalle.valmentaja", ["staff"]),
            ("aila.sw", ["staff"]),
            ("paula.sw", ["social_worker"]),
        ],
    )
    te = make_org(
        "te-vs",
        kind="employment_services",
        users=[("tuomas.sw", ["social_worker"]), ("terhi.asiantuntija", ["staff"])],
    )
    silent = make_org("hiljainen", kind="provider", users=[("sanna.sw", ["social_worker"])])
    for org in ("kisalli", "te-vs"):
        session.get(Organization, org).webhook_url = receiver.url + "/" + org
    session.commit()
    consent = grant_consent(http, provider, "kalle.valmentaja", te, "tuomas.sw", hetu=HETU)
    return {"provider": provider, "te": te, "silent": silent, "consent_id": consent["id"]}


def send(http, world, to="te-vs"):
    payload = {
        "client": {"hetu": HETU},
        "from": {"organization": "kisalli", "worker": "kalle.valmentaja"},
        "to": {"organization": to},
        "kind": "information",
        "purpose": "employment_services",
        "respond_by": (today() + dt.timedelta(days=10)).isoformat(),
        "sections": [
            {
                "type": "assessment",
                "instrument": "kykyviisari",
                "date": today().isoformat(),
                "scores": {"health": 6},
                "summary": "Motivoitunut.",
            }
        ],
    }
    return http.post(
        "/v1/packets",
        data=sign_packet(world["provider"].packet_key, payload),
        headers={**world["provider"].client.headers(), "Content-Type": "application/jose"},
    )


def deliveries(session, **where: Any) -> list[WebhookDelivery]:
    query = select(WebhookDelivery).order_by(WebhookDelivery.created_at)
    for name, value in where.items():
        query = query.where(getattr(WebhookDelivery, name) == value)
    return list(session.execute(query).scalars())


def verified(http, body: str) -> dict[str, Any]:
    """The notification, after its signature is checked against the published JWKS."""
    keys = KeySet.import_key_set(http.get("/.well-known/jwks.json").get_json())
    token = jws.deserialize_compact(body, keys, algorithms=["ES256"])
    assert token.protected["typ"] == "handover-event+jwt"
    return dict(json.loads(token.payload))


# --- writing: in the business transaction ----------------------------------------------------


def test_a_packet_queues_a_notification_to_the_recipient_only(http, world, session):
    sent = send(http, world)
    assert sent.status_code == 201
    rows = deliveries(session, event_type="packet.received")
    assert [(row.organization_id, row.data) for row in rows] == [
        ("te-vs", {"packet_id": sent.get_json()["id"]})
    ]
    assert rows[0].status == PENDING


def test_a_refused_change_queues_nothing(http, world, session):
    before = len(deliveries(session))
    refused = send(http, world, to="hiljainen")  # no consent covers this recipient
    assert refused.status_code == 403
    assert len(deliveries(session)) == before


def test_organizations_without_a_webhook_get_no_rows(http, world, session):
    session.get(Organization, "te-vs").webhook_url = None
    session.commit()
    assert send(http, world).status_code == 201
    assert deliveries(session, event_type="packet.received") == []


def test_each_event_reaches_the_party_it_concerns(http, world, session):
    packet = send(http, world).get_json()["id"]
    te = world["te"].client.headers("terhi.asiantuntija")
    assert http.post(f"/v1/packets/{packet}/accept", headers=te).status_code == 200
    withdrawn = http.post(
        f"/v1/consents/{world['consent_id']}/withdraw",
        json={"reason": "asiakkaan pyyntö"},
        headers=world["provider"].client.headers("kalle.valmentaja"),
    )
    assert withdrawn.status_code == 200, withdrawn.get_json()
    moved = http.post(
        "/v1/workers/kalle.valmentaja/deactivate",
        json={"successor": "aila.sw"},
        headers=world["provider"].client.headers("paula.sw"),
    )
    assert moved.status_code == 200, moved.get_json()
    seen = {(row.organization_id, row.event_type) for row in deliveries(session)}
    assert seen == {
        ("te-vs", "packet.received"),
        ("kisalli", "packet.accepted"),
        ("kisalli", "consent.withdrawn"),
        ("te-vs", "consent.withdrawn"),
        ("kisalli", "leads.moved"),
    }
    (leads,) = deliveries(session, event_type="leads.moved")
    counts = moved.get_json()
    assert leads.data == {
        "worker": "kalle.valmentaja",
        "successor": "aila.sw",
        "leads": counts["leads_moved"],
        "packets": counts["packets_moved"],
        "escorts": counts["escorts_moved"],
        "first_contacts": counts["first_contacts_moved"],
    }


# --- delivering ----------------------------------------------------------------------------


def test_the_worker_delivers_a_signed_notification_with_ids_only(
    http, world, rt, session, receiver
):
    packet = send(http, world).get_json()["id"]
    result = run_round(rt)
    # The round also signs a checkpoint, offered to every subscribed organization.
    offered = deliveries(session, event_type="audit.checkpoint")
    assert result["notifications_relayed"] == 1 + len(offered)
    assert result["notifications_handled"] == 1 + len(offered)
    (got,) = received_as(receiver, "packet.received")
    assert got["headers"]["Content-Type"] == "application/jose"
    notification = verified(http, got["body"])
    (row,) = deliveries(session, event_type="packet.received")
    assert notification["id"] == row.id == got["headers"]["Webhook-Id"]
    assert notification["type"] == "packet.received"
    assert notification["organization"] == "te-vs"
    assert notification["data"] == {"packet_id": packet}
    assert abs(notification["iat"] - int(got["headers"]["Webhook-Timestamp"])) == 0
    assert HETU not in got["body"]
    session.refresh(row)
    assert (row.status, row.attempts, row.last_status) == (DELIVERED, 1, 204)
    assert run_round(rt)["notifications_handled"] == 0  # nothing is sent twice


def test_a_failing_receiver_is_retried_later_then_succeeds(http, world, rt, session, receiver):
    receiver.planned = [500]
    send(http, world)
    before = utcnow()
    run_round(rt)
    (row,) = deliveries(session, event_type="packet.received")
    session.refresh(row)
    assert (row.status, row.attempts, row.last_status, row.last_error) == (
        PENDING,
        1,
        500,
        "HTTP 500",
    )
    wait = (row.next_attempt_at - before).total_seconds()
    assert delivery.FIRST_DELAY / 2 <= wait <= delivery.FIRST_DELAY + 5
    assert run_round(rt)["notifications_relayed"] == 0  # not due yet
    row.next_attempt_at = utcnow() - dt.timedelta(seconds=1)  # the wait has passed
    session.commit()
    run_round(rt)
    session.refresh(row)
    assert (row.status, row.attempts) == (DELIVERED, 2)
    attempts = received_as(receiver, "packet.received")
    assert len(attempts) == 2
    first, second = (verified(http, got["body"]) for got in attempts)
    assert first["id"] == second["id"]  # the receiver can drop a repeat
    assert (first["attempt"], second["attempt"]) == (1, 2)


def test_backoff_doubles_with_jitter_and_is_capped():
    low = [delivery.backoff(n, rng=lambda a, b: a) for n in range(1, 15)]
    high = [delivery.backoff(n, rng=lambda a, b: b) for n in range(1, 15)]
    assert high[:4] == [30, 60, 120, 240]
    assert all(lo == hi / 2 for lo, hi in zip(low, high, strict=True))
    assert max(high) == high[-1] == delivery.LONGEST_DELAY
    spread = {round(delivery.backoff(5)) for _ in range(50)}
    assert len(spread) > 10  # jitter: failures at the same moment retry at different ones
    assert all(240 <= wait <= 480 for wait in spread)


def test_after_the_retry_window_a_notification_is_dead_lettered(
    http, world, rt, session, receiver, app
):
    rt.config["WEBHOOK_RETRY_HOURS"] = 0
    receiver.planned = [503]
    send(http, world)
    run_round(rt)
    (row,) = deliveries(session, event_type="packet.received")
    session.refresh(row)
    assert row.status == DEAD
    assert rt.redis.lrange(delivery.DEAD_LETTERS, 0, -1) == [row.id.encode()]

    te = world["te"].client.headers()
    listed = http.get("/v1/webhooks/deliveries?status=dead", headers=te).get_json()
    assert [item["id"] for item in listed["items"]] == [row.id]
    assert listed["items"][0]["last_error"] == "HTTP 503"
    assert listed["items"][0]["next_attempt_at"] is None

    rt.config["WEBHOOK_RETRY_HOURS"] = 24
    retried = http.post(f"/v1/webhooks/deliveries/{row.id}/retry", headers=te)
    assert retried.status_code == 200
    assert retried.get_json()["status"] == PENDING
    run_round(rt)
    session.refresh(row)
    assert row.status == DELIVERED
    again = http.post(f"/v1/webhooks/deliveries/{row.id}/retry", headers=te)
    assert again.status_code == 409


def test_deliveries_are_visible_to_their_organization_only(http, world, rt, session):
    send(http, world)
    (row,) = deliveries(session, event_type="packet.received")
    kisalli = world["provider"].client.headers()
    listed = http.get("/v1/webhooks/deliveries", headers=kisalli).get_json()
    assert row.id not in {item["id"] for item in listed["items"]}
    mine = http.get("/v1/webhooks/deliveries", headers=world["te"].client.headers()).get_json()
    assert row.id in {item["id"] for item in mine["items"]}
    foreign = http.post(f"/v1/webhooks/deliveries/{row.id}/retry", headers=kisalli)
    unknown = http.post("/v1/webhooks/deliveries/no-such-id/retry", headers=kisalli)
    assert foreign.status_code == unknown.status_code == 404
    assert foreign.get_json()["detail"] == unknown.get_json()["detail"]
    auditor_only = world["te"].client.headers(scope="audit:read")
    assert http.get("/v1/webhooks/deliveries", headers=auditor_only).status_code == 403
    bad = http.get("/v1/webhooks/deliveries?status=lost", headers=world["te"].client.headers())
    assert bad.status_code == 422


def test_loopback_is_refused_unless_allowed(http, world, rt, session, receiver):
    rt.config["WEBHOOK_ALLOW_LOOPBACK"] = 0
    send(http, world)
    run_round(rt)
    (row,) = deliveries(session, event_type="packet.received")
    session.refresh(row)
    assert row.last_error == "refused address: 127.0.0.1 is a loopback address"
    assert row.status == PENDING
    assert receiver.received == []


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",  # cloud metadata
        "http://[fd00:ec2::254]/",  # AWS metadata over IPv6
        "http://[fe80::1]/hook",  # link-local
        "http://100.100.100.200/",  # another cloud's metadata
        "http://0.0.0.0/",
        "http://224.0.0.1/",
        "ftp://example.fi/hook",
        "https://user:secret@example.fi/hook",
        "http://localhost:8080/hook",
    ],
)
def test_unsafe_addresses_are_refused(url):
    with pytest.raises(UnsafeAddress):
        check_url(url, allow_loopback=False)


def test_a_name_resolving_to_a_link_local_address_is_refused(monkeypatch):
    def resolve(*_args: Any, **_kwargs: Any) -> list[Any]:
        return [(2, 1, 6, "", ("169.254.169.254", 443))]

    monkeypatch.setattr("socket.getaddrinfo", resolve)
    with pytest.raises(UnsafeAddress, match="link-local"):
        check_url("https://hooks.example.fi/x", allow_loopback=False)


def test_an_ipv4_mapped_metadata_address_is_refused():
    with pytest.raises(UnsafeAddress):
        check_ip(ipaddress.ip_address("::ffff:169.254.169.254"), allow_loopback=True)


def test_the_registry_refuses_a_metadata_webhook(rt):
    from exchange.errors import Invalid
    from exchange.registry.service import load_registry

    document = {
        "organizations": [
            {
                "id": "paha",
                "name": "Paha Oy",
                "kind": "provider",
                "business_id": "1000002-0",
                "jwks": {"keys": []},
                "webhook_url": "http://169.254.169.254/latest/meta-data/",
            }
        ]
    }
    with rt.db.transaction() as session, pytest.raises(Invalid) as caught:
        load_registry(session, document, passwords=rt.passwords)
    fields = {error.field: error.message for error in caught.value.errors}
    assert "link-local or metadata" in fields["organizations[0].webhook_url"]


# --- several workers, lost messages, crashed workers -------------------------------------------


@pytest.fixture
def committing(app_config, committed_database):
    from exchange import create_app
    from tests.conftest import org_factory, runtime_of

    application = create_app({**app_config, "DATABASE_URL": committed_database})
    rt = runtime_of(application)
    org_factory(rt, application.test_client())("te-vs", kind="employment_services")
    yield rt
    rt.db.engine.dispose()


def queue(rt, receiver, count: int) -> list[str]:
    from exchange.webhooks.outbox import notify

    with rt.db.transaction() as session:
        session.get(Organization, "te-vs").webhook_url = receiver.url
        for n in range(count):
            notify(session, ["te-vs"], "packet.received", {"packet_id": f"p-{n}"})
    with rt.db.transaction() as session:
        return [row.id for row in deliveries(session)]


def test_two_workers_deliver_each_notification_once(committing, receiver):
    rt = committing
    ids = queue(rt, receiver, 40)
    policy = delivery.Policy.from_config(rt.config)
    errors: list[BaseException] = []

    def worker(name: str) -> None:
        try:
            for _ in range(30):
                delivery.run_once(rt.db, rt.redis, rt.keys, policy, name, block_ms=None)
                with rt.db.transaction() as session:
                    if not deliveries(session, status=PENDING):
                        return
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(f"worker-{n}",)) for n in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    received = [
        json.loads(jws.extract_compact(got["body"].encode()).payload)["id"]
        for got in receiver.received
    ]
    assert sorted(received) == sorted(ids)  # every one, none twice
    with rt.db.transaction() as session:
        assert {row.status for row in deliveries(session)} == {DELIVERED}


def test_a_lost_stream_message_is_relayed_again(committing, receiver):
    rt = committing
    (lost,) = queue(rt, receiver, 1)
    policy = delivery.Policy.from_config(rt.config)
    assert delivery.relay(rt.db, rt.redis) == 1
    rt.redis.delete(delivery.STREAM)  # Redis restarted without its data
    assert delivery.run_once(rt.db, rt.redis, rt.keys, policy, "w")["handled"] == 0
    with rt.db.transaction() as session:
        row = session.get(WebhookDelivery, lost)
        row.relayed_at = utcnow() - delivery.STALE_RELAY - dt.timedelta(seconds=1)
    assert delivery.run_once(rt.db, rt.redis, rt.keys, policy, "w") == {"relayed": 1, "handled": 1}
    assert len(receiver.received) == 1


def test_a_crashed_workers_messages_are_taken_over(committing, receiver, monkeypatch):
    rt = committing
    queue(rt, receiver, 3)
    policy = delivery.Policy.from_config(rt.config)
    delivery.relay(rt.db, rt.redis)
    delivery.ensure_group(rt.redis)
    # "crashed" reads the messages and dies before acknowledging them.
    rt.redis.xreadgroup(delivery.GROUP, "crashed", {delivery.STREAM: ">"}, count=10)
    assert delivery.consume(rt.db, rt.redis, rt.keys, policy, "alive", block_ms=None) == 0
    monkeypatch.setattr(delivery, "CLAIM_IDLE_MS", 0)
    assert delivery.consume(rt.db, rt.redis, rt.keys, policy, "alive", block_ms=None) == 3
    assert len(receiver.received) == 3
    assert rt.redis.xpending(delivery.STREAM, delivery.GROUP)["pending"] == 0
