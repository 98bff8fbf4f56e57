"""SQL statements per request on the hot paths, against a budget.

Counts are deterministic where times are not: a change that adds a round trip to a
submission, a consent check, a packet read, an inbox page or a consent's record and
approval fails here, on SQLite in ``make test`` and on PostgreSQL in ``.ci/run``. The
timing stays in ``make bench``. Every statement the driver sends counts (savepoints
included); BEGIN and COMMIT do not.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event

from tests.conftest import runtime_of
from tests.test_packets_api import HETU, JOSE, consent, payload, sign_packet

# The most statements each request may send, on either database.
BUDGET = {
    "submission": 6,
    "check": 3,
    "read": 4,
    "inbox": 3,
    "consent record": 6,
    "consent approve": 8,
}


@pytest.fixture
def world(make_org):
    from tests.test_packets_api import three_organizations

    return three_organizations(make_org)


class Counter:
    """The statements sent, but the savepoint that the tests' rolled-back connection wraps
    around each session (in production that is the transaction's BEGIN, which is not
    counted)."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    def __call__(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        self.sent.append(" ".join(statement.split()))

    @property
    def statements(self) -> list[str]:
        wrappers = {
            line.split()[-1]
            for line in self.sent
            if line.startswith("SAVEPOINT ") and line == self.sent[0]
        }
        return [line for line in self.sent if not wrappers & set(line.split())]


@contextmanager
def counted(app) -> Iterator[Counter]:
    engine = runtime_of(app).db.engine
    counter = Counter()
    event.listen(engine, "before_cursor_execute", counter)
    try:
        yield counter
    finally:
        event.remove(engine, "before_cursor_execute", counter)


def measure(app, request: Callable[[], Any], status: int) -> list[str]:
    """The statements of ``request`` (made once before, to warm caches)."""
    with counted(app) as counter:
        answer = request()
        assert answer.status_code == status, answer.get_json()
    return counter.statements


def within(measured: dict[str, list[str]]) -> None:
    """Fail naming every request over its budget, with the statements it sent."""
    over = [
        f"{name}: {len(statements)} statements, budget {BUDGET[name]}:\n  "
        + "\n  ".join(statement[:160] for statement in statements)
        for name, statements in measured.items()
        if len(statements) > BUDGET[name]
    ]
    assert not over, "\n".join(over)


def test_submission_check_read_and_inbox_stay_within_budget(app, http, world):
    provider, te = world["provider"], world["te"]
    granted = consent(http, world)
    sender = provider.client.headers()
    recipient = te.client.headers("terhi.asiantuntija")
    tokens = [
        sign_packet(provider.packet_key, payload(case_reference=f"KIS-{n}")) for n in range(3)
    ]

    def submit(token: str) -> Callable[[], Any]:
        return lambda: http.post(
            "/v1/packets", data=token, headers={**sender, "Content-Type": JOSE}
        )

    first = measure(app, submit(tokens[0]), 201)
    assert first  # the counter sees the statements at all
    measured = {"submission": measure(app, submit(tokens[1]), 201)}
    packet_ids = [
        item["id"]
        for item in http.get("/v1/packets?box=outbox", headers=sender).get_json()["items"]
    ]

    check = {
        "client": {"id": granted["client_id"]},
        "source": provider.id,
        "recipient": te.id,
        "purpose": "employment_services",
        "categories": ["assessment", "plan", "contact_persons", "service_period"],
    }
    measured["check"] = measure(
        app, lambda: http.post("/v1/consent-checks", json=check, headers=sender), 200
    )

    def read() -> Any:
        return http.get(f"/v1/packets/{packet_ids[0]}", headers=recipient)

    measure(app, read, 200)  # the first read delivers the packet; later reads only read
    measured["read"] = measure(app, read, 200)
    measured["inbox"] = measure(
        app, lambda: http.get("/v1/packets?box=inbox", headers=recipient), 200
    )
    within(measured)
    # A box page is metadata: no packet's content is read for it.
    assert not [line for line in measured["inbox"] if "packet.ciphertext" in line]
    assert [line for line in measured["read"] if "packet.ciphertext" in line]


def test_consent_record_and_approve_stay_within_budget(app, http, world):
    provider, te = world["provider"], world["te"]
    body = {
        "client": {"hetu": HETU},
        "decision": "permit",
        "sources": [provider.id],
        "recipients": [te.id],
        "categories": ["assessment", "plan"],
        "purposes": ["employment_services"],
        "valid_until": (dt.date.today() + dt.timedelta(days=300)).isoformat(),
        "method": "electronic_strong_auth",
        "approver_organization": te.id,
    }
    recorder = provider.client.headers("kalle.valmentaja")
    approver = te.client.headers("tuomas.sw")

    def record() -> Any:
        return http.post("/v1/consents", json=body, headers=recorder)

    measure(app, record, 201)
    statements: dict[str, list[str]] = {}
    with counted(app) as counter:
        recorded = record()
        assert recorded.status_code == 201, recorded.get_json()
    statements["consent record"] = counter.statements
    # The approver's first request loads their registry entry; the measured one reuses it.
    consent_id = recorded.get_json()["id"]
    assert http.get(f"/v1/consents/{consent_id}", headers=approver).status_code == 200
    with counted(app) as counter:
        approved = http.post(f"/v1/consents/{recorded.get_json()['id']}/approve", headers=approver)
        assert approved.status_code == 200, approved.get_json()
    statements["consent approve"] = counter.statements
    within(statements)


def test_the_budget_fails_a_request_over_it():
    with pytest.raises(AssertionError, match="check: 4 statements, budget 3"):
        within({"check": ["SELECT 1"] * 4, "read": ["SELECT 1"] * 4})
