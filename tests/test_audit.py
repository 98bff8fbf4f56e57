"""The audit foundation: same-transaction events, the hash chain and its verification."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from exchange.audit import Actor, record, verify_chain
from exchange.audit import service as audit_service
from tests.conftest import audit_rows

LOOKUP = "/v1/clients/lookup"
ACTOR = Actor(organization="org-a", client_id="org-a-system", username="ulla", request_id="r1")


def write_events(rt, count):
    with rt.db.unit_of_work() as s:
        for index in range(count):
            record(
                s,
                ACTOR,
                "consent.read",
                resource_type="consent",
                resource_id=f"c{index}",
                client_ref="x",
            )


def test_events_are_chained_and_verify(rt, session):
    write_events(rt, 5)
    write_events(rt, 3)
    report = verify_chain(session)
    assert report.ok
    assert report.verified_through == 8
    rows = audit_rows(rt)
    assert [row.seq for row in rows] == list(range(1, 9))
    assert all(rows[i].prev_hash == rows[i - 1].hash for i in range(1, 8))


@pytest.mark.parametrize(
    ("tamper", "first_bad"),
    [
        ("UPDATE audit_event SET action = 'consent.approve' WHERE seq = 4", 4),
        ("UPDATE audit_event SET outcome = 'denied' WHERE seq = 1", 1),
        ("DELETE FROM audit_event WHERE seq = 3", 3),
        ("UPDATE audit_event SET seq = 100 WHERE seq = 2", 2),
        ("DELETE FROM audit_event WHERE seq = 6", 6),  # truncated tail
    ],
)
def test_tampering_is_found_at_the_first_bad_event(rt, session, tamper, first_bad):
    write_events(rt, 6)
    session.execute(text(tamper))
    session.flush()
    report = verify_chain(session)
    assert not report.ok
    assert report.first_bad_seq == first_bad
    assert report.verified_through == first_bad - 1


def test_swapped_events_are_found(rt, session):
    write_events(rt, 4)
    rows = session.execute(text("SELECT seq, resource_id FROM audit_event ORDER BY seq")).all()
    session.execute(
        text("UPDATE audit_event SET resource_id = :r WHERE seq = 2"), {"r": rows[2].resource_id}
    )
    session.execute(
        text("UPDATE audit_event SET resource_id = :r WHERE seq = 3"), {"r": rows[1].resource_id}
    )
    assert verify_chain(session).first_bad_seq == 2


def test_an_action_rolled_back_leaves_no_allowed_event(rt, session):
    def failing_action():
        with rt.db.unit_of_work() as s:
            record(s, ACTOR, "consent.read")
            raise RuntimeError("the action failed")

    with pytest.raises(RuntimeError):
        failing_action()
    assert audit_rows(rt, action="consent.read") == []


def test_failed_audit_write_fails_the_action(org, http, session, monkeypatch):
    headers = org.client.headers("kalle.staff")

    def broken(_session, _events):
        from sqlalchemy.exc import OperationalError

        raise OperationalError("INSERT INTO audit_event", {}, Exception("disk full"))

    monkeypatch.setattr(audit_service, "_append", broken)
    response = http.post(LOOKUP, json={"hetu": "010190-900P"}, headers=headers)
    assert response.status_code == 503
    monkeypatch.undo()
    assert session.execute(text("SELECT count(*) FROM client")).scalar() == 0


def test_denials_are_written_after_the_rollback(org, http, rt):
    http.post(LOOKUP, json={"hetu": "010190-900P"}, headers=org.client.headers("no.such.user"))
    denied = audit_rows(rt, outcome="denied")
    assert [event.action for event in denied] == ["auth.acting_user"]
    assert verify_chain(rt.db.sessions()).ok


def test_unknown_outcome_is_refused(session):
    with pytest.raises(ValueError, match="outcome"):
        record(session, ACTOR, "consent.read", outcome="maybe")


def test_reason_is_bounded(rt):
    with rt.db.unit_of_work() as s:
        record(s, ACTOR, "consent.reject", reason="x" * 2000)
    assert len(audit_rows(rt)[-1].reason) == 500
