"""Idempotent packet submission under concurrency, with real commits.

Twenty threads post the same signed packet with the same ``Idempotency-Key`` at
the same moment. Exactly one packet may come of it; every answer is that
packet (201) or "still in flight" (409). The application here does not use the
rolled-back test connection: it runs on a database of its own (a new SQLite
file, or a new PostgreSQL database on the test server) so that transactions
really commit and really collide.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import text

from consent.model import local_date
from exchange import create_app
from tests.conftest import Org, grant_consent, org_factory, runtime_of, sign_packet

HETU = "050603A956N"
SENDER, RECIPIENT = "kisalli-conc", "te-conc"
SENDER_WORKER, RECIPIENT_SW = "kalle.valmentaja", "tuomas.sw"
JOSE = "application/jose"
THREADS = 20
TIMEOUT = 60
ON_POSTGRES = bool(os.environ.get("EXCHANGE_TEST_DATABASE_URL"))


def today() -> dt.date:
    return local_date(dt.datetime.now(dt.UTC))


@pytest.fixture
def committing_app(app_config: dict[str, Any], committed_database: str) -> Iterator[Flask]:
    """The application on its own database, committing for real."""
    application = create_app({**app_config, "DATABASE_URL": committed_database})
    yield application
    runtime_of(application).db.engine.dispose()


@pytest.fixture
def parties(committing_app: Flask) -> tuple[Org, Org]:
    """Two organizations (registered with ``load_registry`` in a committed unit of work) and an
    approved consent between them."""
    http = committing_app.test_client()
    make_org = org_factory(runtime_of(committing_app), http)
    sender = make_org(SENDER, kind="provider", users=[(SENDER_WORKER, ["staff"])])
    recipient = make_org(
        RECIPIENT, kind="employment_services", users=[(RECIPIENT_SW, ["social_worker"])]
    )
    grant_consent(
        http,
        sender,
        SENDER_WORKER,
        recipient,
        RECIPIENT_SW,
        hetu=HETU,
        categories=("assessment", "plan"),
        days=200,
        grantor={"type": "self"},
        method="signed_paper",
        evidence={"reference": "form 2026/33"},
    )
    return sender, recipient


def packet(sender: Org, kind: str = "transfer", summary: str = "Ready for a work trial.") -> str:
    payload: dict[str, Any] = {
        "client": {"hetu": HETU},
        "from": {"organization": SENDER, "worker": SENDER_WORKER},
        "to": {"organization": RECIPIENT},
        "kind": kind,
        "purpose": "employment_services",
        "sections": [
            {
                "type": "assessment",
                "instrument": "vat",
                "date": today().isoformat(),
                "summary": summary,
            }
        ],
    }
    if kind == "transfer":
        payload["respond_by"] = (today() + dt.timedelta(days=10)).isoformat()
    return sign_packet(sender.packet_key, payload)


def post(http: Any, sender: Org, token: str, key: str | None) -> Any:
    headers = {**sender.client.headers(), "Content-Type": JOSE}
    if key is not None:
        headers["Idempotency-Key"] = key
    return http.post("/v1/packets", data=token, headers=headers)


def at_once(app: Flask, count: int, request: Any) -> list[tuple[int, dict[str, Any]]]:
    """Run ``request(http, index)`` in ``count`` threads released together; (status, body)
    each, in thread order."""
    barrier = threading.Barrier(count, timeout=TIMEOUT)
    results: list[tuple[int, dict[str, Any]] | BaseException | None] = [None] * count

    def worker(index: int) -> None:
        http = app.test_client()
        try:
            barrier.wait()
            response = request(http, index)
            results[index] = (response.status_code, response.get_json())
        except BaseException as exc:  # reported by the test below, not lost in the thread
            results[index] = exc

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT)
    assert not any(thread.is_alive() for thread in threads), "a request hung"
    failures = [result for result in results if not isinstance(result, tuple)]
    assert failures == [], failures
    return [result for result in results if isinstance(result, tuple)]


def packet_ids(app: Flask) -> list[str]:
    with runtime_of(app).db.sessions() as session:
        return list(session.execute(text("SELECT id FROM packet ORDER BY received_at")).scalars())


def assert_one_packet(results: list[tuple[int, dict[str, Any]]]) -> dict[str, Any]:
    """Every answer is the one packet (201) or 'in flight' (409); returns the packet's answer."""
    created = [body for status, body in results if status == 201]
    in_flight = [body for status, body in results if status == 409]
    assert len(created) + len(in_flight) == len(results), [s for s, _ in results]
    assert created, "no request got the packet"
    assert {body["code"] for body in in_flight} <= {"idempotency_in_flight"}
    assert len({body["id"] for body in created}) == 1
    assert len({body["receipt"] for body in created}) == 1
    return created[0]


@pytest.mark.parametrize("kind", ["transfer", "information"])
def test_twenty_identical_submissions_make_one_packet(committing_app, parties, kind):
    sender, recipient = parties
    token, key = packet(sender, kind), f"conc-{uuid.uuid4()}"
    sender.client.headers()  # fetch the token before the threads start

    results = at_once(committing_app, THREADS, lambda http, _index: post(http, sender, token, key))

    answer = assert_one_packet(results)
    assert packet_ids(committing_app) == [answer["id"]]

    http = committing_app.test_client()
    retry = post(http, sender, token, key)
    assert retry.status_code == 201, retry.get_json()
    assert retry.get_json() == answer

    other_body = post(http, sender, packet(sender, kind, summary="Changed my mind."), key)
    assert other_body.status_code == 422, other_body.get_json()
    assert other_body.get_json()["code"] == "idempotency_key_reused"
    assert packet_ids(committing_app) == [answer["id"]]

    # The same signed packet under another key is a duplicate, never a second hand-over.
    another_key = post(http, sender, token, f"conc-{uuid.uuid4()}")
    assert another_key.status_code == 409, another_key.get_json()
    assert another_key.get_json()["code"] == "duplicate_packet"
    assert another_key.get_json()["existing_id"] == answer["id"]
    assert packet_ids(committing_app) == [answer["id"]]

    inbox = http.get("/v1/packets?box=inbox", headers=recipient.client.headers()).get_json()
    assert {item["id"] for item in inbox["items"]} == {answer["id"]}


@pytest.mark.parametrize("kind", ["transfer", "information"])
def test_without_the_redis_lock_the_database_still_makes_one_packet(
    committing_app, parties, monkeypatch, kind
):
    """The Redis lock is only the fast path (it may expire or be lost in a fail-over): the
    idempotency record, written in the packet's own transaction, is what guarantees one packet."""
    sender, _recipient = parties
    token, key = packet(sender, kind), f"nolock-{uuid.uuid4()}"
    sender.client.headers()
    monkeypatch.setattr(runtime_of(committing_app).redis, "set", lambda *_args, **_kwargs: True)

    results = at_once(committing_app, THREADS, lambda http, _index: post(http, sender, token, key))

    answer = assert_one_packet(results)
    assert packet_ids(committing_app) == [answer["id"]]
    retry = post(committing_app.test_client(), sender, token, key)
    assert (retry.status_code, retry.get_json()) == (201, answer)


def test_concurrent_transfers_of_a_client_without_a_lead_take_the_lead_once(
    committing_app, parties
):
    """Different packets (no Idempotency-Key) from the same sender: all are sent, and the
    sender holds the one lead."""
    sender, recipient = parties
    tokens = [packet(sender, summary=f"Transfer attempt {n}.") for n in range(THREADS)]
    sender.client.headers()

    results = at_once(
        committing_app, THREADS, lambda http, index: post(http, sender, tokens[index], None)
    )

    assert [status for status, _body in results] == [201] * THREADS, results
    assert len(set(packet_ids(committing_app))) == THREADS
    with runtime_of(committing_app).db.sessions() as session:
        leads = session.execute(text("SELECT organization_id, worker FROM lead")).all()
    assert [tuple(lead) for lead in leads] == [(SENDER, SENDER_WORKER)]
    inbox = committing_app.test_client().get(
        "/v1/packets?box=inbox", headers=recipient.client.headers()
    )
    assert len(inbox.get_json()["items"]) == THREADS


def test_a_refused_submission_does_not_hold_its_idempotency_key(committing_app, parties):
    sender, recipient = parties
    http = committing_app.test_client()
    key = f"refused-{uuid.uuid4()}"
    token = sign_packet(
        sender.packet_key,
        {
            "client": {"hetu": HETU},
            "from": {"organization": SENDER, "worker": SENDER_WORKER},
            "to": {"organization": RECIPIENT},
            "kind": "information",
            "purpose": "employment_services",
            "sections": [{"type": "health", "summary": "Back pain; no lifting."}],
        },
    )
    refused = post(http, sender, token, key)
    assert refused.status_code == 403
    assert refused.get_json()["code"] == "consent_missing"
    assert packet_ids(committing_app) == []

    # The client gives consent for health information; the sender's system retries.
    consent = http.post(
        "/v1/consents",
        json={
            "client": {"hetu": HETU},
            "grantor": {"type": "self"},
            "decision": "permit",
            "sources": [SENDER],
            "recipients": [RECIPIENT],
            "categories": ["health"],
            "purposes": ["employment_services"],
            "valid_until": (today() + dt.timedelta(days=100)).isoformat(),
            "method": "signed_paper",
            "evidence": {"reference": "form 2026/34"},
            "language": "fi",
            "approver_organization": RECIPIENT,
        },
        headers=sender.client.headers(SENDER_WORKER),
    ).get_json()
    approved = http.post(
        f"/v1/consents/{consent['id']}/approve", headers=recipient.client.headers(RECIPIENT_SW)
    )
    assert approved.status_code == 200

    retry = post(http, sender, token, key)
    assert retry.status_code == 201, retry.get_json()
    assert packet_ids(committing_app) == [retry.get_json()["id"]]


def test_competing_transfers_accepted_at_once_move_the_lead_only_once(committing_app, parties):
    """The sender offers each client to two organizations; both accept at the same moment.
    One acceptance moves the lead, the other is refused: the lead moves atomically."""
    from consent.identifiers import hetu_check_char

    sender, first = parties
    http = committing_app.test_client()
    second = org_factory(runtime_of(committing_app), http)(
        "sote-conc", kind="social_services", users=[("sanna.sw", ["social_worker"])]
    )
    offers = []
    for n in range(5):
        birth, individual = f"{n + 1:02d}0390", f"95{n}"
        hetu = f"{birth}-{individual}{hetu_check_char(birth + individual)}"
        consent = http.post(
            "/v1/consents",
            json={
                "client": {"hetu": hetu},
                "grantor": {"type": "self"},
                "decision": "permit",
                "sources": [SENDER],
                "recipients": [RECIPIENT, "sote-conc"],
                "categories": ["assessment"],
                "purposes": ["employment_services"],
                "valid_until": (today() + dt.timedelta(days=100)).isoformat(),
                "method": "signed_paper",
                "evidence": {"reference": f"form 2026/5{n}"},
                "language": "fi",
                "approver_organization": "sote-conc",
            },
            headers=sender.client.headers(SENDER_WORKER),
        ).get_json()
        approved = http.post(
            f"/v1/consents/{consent['id']}/approve", headers=second.client.headers("sanna.sw")
        )
        assert approved.status_code == 200, approved.get_json()
        for recipient, worker, org in (
            (RECIPIENT, RECIPIENT_SW, first),
            ("sote-conc", "sanna.sw", second),
        ):
            token = sign_packet(
                sender.packet_key,
                {
                    "client": {"hetu": hetu},
                    "from": {"organization": SENDER, "worker": SENDER_WORKER},
                    "to": {"organization": recipient},
                    "kind": "transfer",
                    "purpose": "employment_services",
                    "respond_by": (today() + dt.timedelta(days=10)).isoformat(),
                    "sections": [
                        {"type": "assessment", "instrument": "vat", "date": today().isoformat()}
                    ],
                },
            )
            sent = post(http, sender, token, None)
            assert sent.status_code == 201, sent.get_json()
            offers.append((consent["client_id"], sent.get_json()["id"], org, worker))
    for _client, _packet, org, worker in offers:
        org.client.headers(worker)

    results = at_once(
        committing_app,
        len(offers),
        lambda http, index: http.post(
            f"/v1/packets/{offers[index][1]}/accept",
            headers=offers[index][2].client.headers(offers[index][3]),
        ),
    )

    with runtime_of(committing_app).db.sessions() as session:
        rows = session.execute(text("SELECT client_id, organization_id FROM lead")).all()
    leads = dict(rows)
    for pair in range(0, len(offers), 2):
        (status_a, body_a), (status_b, body_b) = results[pair], results[pair + 1]
        assert sorted([status_a, status_b]) == [200, 409], (body_a, body_b)
        refused = body_a if status_a == 409 else body_b
        assert refused["code"] == "lead_elsewhere"
        taker = offers[pair if status_a == 200 else pair + 1][2]
        assert leads[offers[pair][0]] == taker.client.organization
