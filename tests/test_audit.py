"""The audit log: same-transaction events, sealing, checkpoints, tamper evidence, append-only."""

from __future__ import annotations

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError

import exchange.audit
from exchange.audit import Actor, checkpoint, merkle, record, seal, verify
from exchange.audit.service import PENDING, canonical, chain, event_fields
from tests.conftest import audit_rows

LOOKUP = "/v1/clients/lookup"
ZERO = "0" * 64
ACTOR = Actor(organization="org-a", client_id="org-a-system", username="ulla", request_id="r1")
TRIGGERS = (
    "audit_event_no_delete",
    "audit_event_seal_only",
    "audit_checkpoint_no_update",
    "audit_checkpoint_no_delete",
    "audit_head_genesis_only",
    "audit_head_no_delete",
    "audit_head_forward_only",
)


def write_events(rt, count, **fields):
    with rt.db.transaction() as s:
        for index in range(count):
            record(
                s,
                ACTOR,
                "consent.read",
                resource_type="consent",
                resource_id=f"c{index}",
                client_ref="x",
                **fields,
            )
    with rt.db.transaction() as s:
        seal(s, keys=rt.keys)


def as_superuser(session, statements):
    """Tamper the way someone with full database rights could: past the append-only triggers."""
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite":
        for name in TRIGGERS:
            session.execute(text(f"DROP TRIGGER IF EXISTS {name}"))  # rolled back with the test
    else:
        session.execute(text("SET session_replication_role = replica"))
    for statement in statements:
        session.execute(text(statement))
    if dialect != "sqlite":
        session.execute(text("SET session_replication_role = origin"))
    session.flush()


def rehash_from(session, first):
    """Recompute every stored leaf and chain hash from ``first`` on, and the head, as an
    attacker with full database rights would after editing event ``first``."""
    seqs = sorted(session.execute(text("SELECT seq FROM audit_event")).scalars())
    prev = session.execute(
        text("SELECT hash FROM audit_event WHERE seq = :s"), {"s": first - 1}
    ).scalar()
    statements = []
    for seq in (seq for seq in seqs if seq >= first):
        row = (
            session.execute(text("SELECT * FROM audit_event WHERE seq = :s"), {"s": seq})
            .mappings()
            .one()
        )
        leaf = merkle.leaf_hash(canonical(dict(row)))
        prev = chain(prev, leaf)
        statements.append(
            f"UPDATE audit_event SET leaf_hash = '{leaf.hex()}', hash = '{prev}' WHERE seq = {seq}"
        )
    statements.append(f"UPDATE audit_head SET hash = '{prev}'")
    as_superuser(session, statements)


def report(rt, session):
    return verify(session, rt.keys)


def test_events_are_sealed_in_order_and_verify(rt, session):
    write_events(rt, 5)
    write_events(rt, 3)
    result = report(rt, session)
    assert result.ok
    assert result.verified_through == 8
    rows = audit_rows(rt)
    assert [row.seq for row in rows] == list(range(1, 9))
    assert all(
        rows[i].hash == chain(rows[i - 1].hash, bytes.fromhex(rows[i].leaf_hash))
        for i in range(1, 8)
    )


def test_writing_does_not_sequence_sealing_does(rt, session):
    with rt.db.transaction() as s:
        record(s, ACTOR, "consent.read")
    assert [row.seq for row in audit_rows(rt)] == [None]
    assert report(rt, session).unsealed == 1
    with rt.db.transaction() as s:
        assert seal(s, rt.keys) == 1
    assert [row.seq for row in audit_rows(rt)] == [1]


def test_leaves_follow_rfc9162_and_checkpoints_sign_the_root(rt, session):
    write_events(rt, 7)
    with rt.db.transaction() as s:
        made = checkpoint(s, rt.keys, "http://exchange.test", force=True)
    rows = audit_rows(rt)
    leaves = [merkle.leaf_hash(canonical(event_fields(row))) for row in rows]
    assert [leaf.hex() for leaf in leaves] == [row.leaf_hash for row in rows]
    assert made.tree_size == 7
    assert made.root_hash == merkle.root(leaves).hex()
    from exchange.audit.service import read_checkpoint

    body = read_checkpoint(made.jws, rt.keys.verification_keys())
    assert (body["tree_size"], body["root_hash"], body["chain_hash"]) == (
        7,
        made.root_hash,
        rows[-1].hash,
    )


def test_no_checkpoint_without_new_events_or_before_the_interval(rt):
    write_events(rt, 2)
    with rt.db.transaction() as s:
        assert checkpoint(s, rt.keys, "i", force=True) is not None
    with rt.db.transaction() as s:
        assert checkpoint(s, rt.keys, "i", force=True) is None  # nothing new
    write_events(rt, 1)
    with rt.db.transaction() as s:
        assert checkpoint(s, rt.keys, "i", min_interval=60) is None  # too soon
    with rt.db.transaction() as s:
        assert checkpoint(s, rt.keys, "i", min_interval=0).tree_size == 3


@pytest.mark.parametrize(
    ("statements", "first_bad"),
    [
        (["UPDATE audit_event SET action = 'consent.approve' WHERE seq = 4"], 4),
        (["UPDATE audit_event SET outcome = 'denied' WHERE seq = 1"], 1),
        (["DELETE FROM audit_event WHERE seq = 3"], 3),
        (["UPDATE audit_event SET seq = 100 WHERE seq = 2"], 2),
        (
            [
                "UPDATE audit_event SET seq = -2 WHERE seq = 2",
                "UPDATE audit_event SET seq = 2 WHERE seq = 3",
                "UPDATE audit_event SET seq = 3 WHERE seq = -2",
            ],
            2,
        ),
        (["DELETE FROM audit_event WHERE seq = 6"], 6),
        (
            [
                "INSERT INTO audit_event (id, seq, occurred_at, action, outcome, leaf_hash, hash) "
                f"VALUES (9999, 7, '2026-01-01T00:00:00.000000Z', 'x', 'allowed', "
                f"'{ZERO}', '{ZERO}')"
            ],
            7,
        ),
    ],
    ids=["edit", "edit-first", "delete", "renumber", "reorder", "truncate", "insert"],
)
def test_tampering_is_found_at_the_first_bad_event(rt, session, statements, first_bad):
    write_events(rt, 6)
    as_superuser(session, statements)
    result = report(rt, session)
    assert not result.ok
    assert result.first_bad_seq == first_bad
    assert result.verified_through == first_bad - 1


def test_a_consistent_rewrite_is_caught_by_the_signed_checkpoint(rt, session):
    """An attacker who recomputes every stored hash after an edit still cannot re-sign."""
    write_events(rt, 3)
    with rt.db.transaction() as s:
        checkpoint(s, rt.keys, "i", force=True)
    write_events(rt, 3)
    with rt.db.transaction() as s:
        checkpoint(s, rt.keys, "i", force=True)
    as_superuser(session, ["UPDATE audit_event SET outcome = 'denied' WHERE seq = 5"])
    rehash_from(session, 5)
    result = report(rt, session)
    assert not result.ok
    assert result.first_bad_seq == 5  # the event changed: its seal no longer matches
    assert "rewritten" in result.problem


def test_a_consistent_rewrite_of_unsealed_history_is_caught_at_the_checkpoint(rt, session):
    """Events sealed before seals existed (no seal_mac) still have the signed checkpoint."""
    write_events(rt, 3)
    with rt.db.transaction() as s:
        checkpoint(s, rt.keys, "i", force=True)
    as_superuser(session, ["UPDATE audit_event SET seal_mac = NULL"])
    as_superuser(session, ["UPDATE audit_event SET outcome = 'denied' WHERE seq = 2"])
    rehash_from(session, 2)
    result = report(rt, session)
    assert not result.ok
    assert result.first_bad_seq == 1  # somewhere in the first checkpoint: no finer evidence
    assert "checkpoint" in result.problem


def test_a_removed_seal_is_found(rt, session):
    write_events(rt, 4)
    as_superuser(session, ["UPDATE audit_event SET seal_mac = NULL WHERE seq = 3"])
    result = report(rt, session)
    assert not result.ok
    assert result.first_bad_seq == 3
    assert "seal was removed" in result.problem


def test_a_checkpoint_kept_by_the_auditor_catches_a_cut_off_log(rt, session):
    from exchange.audit.service import read_checkpoint

    write_events(rt, 4)
    with rt.db.transaction() as s:
        kept = checkpoint(s, rt.keys, "i", force=True).jws
    as_superuser(
        session,
        [
            "DELETE FROM audit_checkpoint",
            "DELETE FROM audit_event WHERE seq >= 3",
            "UPDATE audit_head SET seq = 2, hash = (SELECT hash FROM audit_event WHERE seq = 2)",
        ],
    )
    assert report(rt, session).ok, "without the kept checkpoint the cut is invisible"
    body = read_checkpoint(kept, rt.keys.verification_keys())
    result = verify(session, rt.keys, extra_checkpoints=[body])
    assert not result.ok
    assert result.first_bad_seq == 3


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_event SET action = 'x' WHERE seq = 1",
        "DELETE FROM audit_event WHERE seq = 1",
        "UPDATE audit_event SET reason = 'x' WHERE id = (SELECT min(id) FROM audit_event)",
        "DELETE FROM audit_checkpoint",
        f"UPDATE audit_head SET hash = '{ZERO}'",
        "UPDATE audit_head SET seq = 1, hash = (SELECT hash FROM audit_event WHERE seq = 1)",
        "UPDATE audit_head SET seq = 3, hash = (SELECT hash FROM audit_event WHERE seq = 2)",
        "UPDATE audit_head SET frontier = '[]'",
        "DELETE FROM audit_head",
    ],
)
def test_the_application_cannot_change_or_remove_audit_rows(rt, session, statement):
    write_events(rt, 2)
    with rt.db.transaction() as s:
        checkpoint(s, rt.keys, "i", force=True)
    with pytest.raises(DBAPIError, match="append-only"), rt.db.transaction() as s:
        s.execute(text(statement))


def test_truncate_is_refused_on_postgresql(rt, session):
    if session.get_bind().dialect.name != "postgresql":
        pytest.skip("TRUNCATE exists only on PostgreSQL")
    write_events(rt, 1)
    with pytest.raises(DBAPIError, match="append-only"), rt.db.transaction() as s:
        s.execute(text("TRUNCATE audit_event"))


def test_the_sealer_may_only_fill_in_unsealed_rows(rt, session):
    with rt.db.transaction() as s:
        record(s, ACTOR, "consent.read")
    with pytest.raises(DBAPIError, match="append-only"), rt.db.transaction() as s:
        s.execute(text("UPDATE audit_event SET action = 'other' WHERE seq IS NULL"))


def test_control_characters_are_stored_escaped(rt):
    with rt.db.transaction() as s:
        record(s, ACTOR, "consent.reject", reason="line one\nFAKE 2026 admin logged in\r\x1b[31m")
    stored = audit_rows(rt, action="consent.reject")[-1].reason
    assert "\n" not in stored
    assert "\r" not in stored
    assert "\x1b" not in stored
    assert "\\u000a" in stored


def test_an_action_rolled_back_leaves_no_allowed_event(rt):
    def failing_action():
        with rt.db.transaction() as s:
            record(s, ACTOR, "consent.read")
            raise RuntimeError("the action failed")

    with pytest.raises(RuntimeError):
        failing_action()
    assert audit_rows(rt, action="consent.read") == []


def test_failed_audit_write_fails_the_action(org, http, session, monkeypatch):
    headers = org.client.headers("kalle.staff")
    original = exchange.audit.record

    def broken(session_, *args, **kwargs):
        original(session_, *args, **kwargs)
        assert session_.info[PENDING][-1]["action"] == "client.lookup"
        session_.info[PENDING][-1]["action"] = None  # NOT NULL: the insert fails at commit

    monkeypatch.setattr(exchange.audit, "record", broken)
    response = http.post(LOOKUP, json={"hetu": "010190-900P"}, headers=headers)
    assert response.status_code == 503
    monkeypatch.undo()
    assert session.execute(text("SELECT count(*) FROM client")).scalar() == 0


def test_denials_are_written_after_the_rollback(org, http, rt):
    http.post(LOOKUP, json={"hetu": "010190-900P"}, headers=org.client.headers("no.such.user"))
    denied = audit_rows(rt, outcome="denied")
    assert [event.action for event in denied] == ["auth.acting_user"]
    with rt.db.transaction() as s:
        seal(s, rt.keys)
    assert verify(rt.db.sessions(), rt.keys).ok


def test_unknown_outcome_is_refused(session):
    with pytest.raises(ValueError, match="outcome"):
        record(session, ACTOR, "consent.read", outcome="maybe")


def test_reason_is_bounded(rt):
    with rt.db.transaction() as s:
        record(s, ACTOR, "consent.reject", reason="x" * 2000)
    assert len(audit_rows(rt)[-1].reason) == 500


def test_events_are_written_at_commit_in_one_statement_and_a_rolled_back_savepoint_drops_its_own(
    rt,
):
    statements = []

    def count(_conn, _cursor, statement, *_args):
        statements.append(statement)

    event.listen(rt.db.engine, "before_cursor_execute", count)
    try:
        with rt.db.transaction() as s:
            record(s, ACTOR, "consent.read", resource_id="kept-1")
            with s.begin_nested():
                record(s, ACTOR, "consent.read", resource_id="kept-2")
            savepoint = s.begin_nested()
            record(s, ACTOR, "consent.read", resource_id="dropped")
            savepoint.rollback()
            record(s, ACTOR, "consent.read", resource_id="kept-3")
            assert [e["resource_id"] for e in s.info[PENDING]] == ["kept-1", "kept-2", "kept-3"]
    finally:
        event.remove(rt.db.engine, "before_cursor_execute", count)
    assert sum("INSERT INTO audit_event" in statement for statement in statements) == 1
    rows = sorted(audit_rows(rt, action="consent.read"), key=lambda row: row.id)
    kept = [row.resource_id for row in rows]
    assert kept == ["kept-1", "kept-2", "kept-3"]
