"""The log's bytes are fixed: a log sealed by any release verifies with any other.

The expected hashes below were computed by the sealer as it stood before the sealing and
verification loops were rewritten for speed (commit 714d02e), from the reference functions
``canonical``, ``merkle.leaf_hash``, ``chain`` and ``seal_mac``. A change to any of them is a
new log version, not a refactoring.
"""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import insert, select, text, update

from exchange.audit import checkpoint, merkle, seal, verify
from exchange.audit.models import GENESIS_HASH, AuditEvent, AuditHead
from exchange.audit.service import _hmac_pads, canonical, chain, seal_mac

# The audit seal key is derived from the look-up key; this one is fixed for the test.
LOOKUP_KEY = bytes(range(32))

# Seven events that cover every shape a field takes: absent, empty, ASCII, non-ASCII, and the
# characters JSON escapes or must leave alone (quote, backslash, control characters, DEL,
# U+2028/U+2029, a combining accent, an astral-plane character).
EVENTS = [
    {
        "occurred_at": "2026-01-01T00:00:00.000000Z",
        "request_id": "req-1",
        "actor_organization": "org-a",
        "actor_client": "org-a-system",
        "actor_user": "ulla",
        "action": "consent.read",
        "outcome": "allowed",
        "resource_type": "consent",
        "resource_id": "c1",
        "client_ref": "x1",
        "basis_type": "consent",
        "basis_ref": "c1",
        "reason": None,
    },
    {
        "occurred_at": "2026-01-01T00:00:01.000001Z",
        "request_id": None,
        "actor_organization": None,
        "actor_client": None,
        "actor_user": None,
        "action": "audit.verify",
        "outcome": "denied",
        "resource_type": None,
        "resource_id": None,
        "client_ref": None,
        "basis_type": None,
        "basis_ref": None,
        "reason": None,
    },
    {
        "occurred_at": "2026-01-01T00:00:02.123456Z",
        "request_id": 'r"q\\2',
        "actor_organization": "org-ö",
        "actor_client": "Åsa Öberg ÄÖÅ",
        "actor_user": "😀 user",
        "action": "packet.read",
        "outcome": "allowed",
        "resource_type": "packet",
        "resource_id": "p/1",
        "client_ref": "y",
        "basis_type": "statute",
        "basis_ref": "§ 41 lastensuojelulaki",
        "reason": "line\\u000aescaped",
    },
    {
        "occurred_at": "2026-01-01T00:00:03.000000Z",
        "request_id": "raw\ncontrol\t\x01\x1f",
        "actor_organization": "org-b",
        "actor_client": "del\x7f",
        "actor_user": "sep\u2028\u2029",
        "action": "client.lookup",
        "outcome": "allowed",
        "resource_type": "client",
        "resource_id": "\u00e9\u0301",
        "client_ref": "z",
        "basis_type": "consent",
        "basis_ref": "</script>",
        "reason": "a" * 500,
    },
    {
        "occurred_at": "2026-01-01T00:00:04.000000Z",
        "request_id": "req-5",
        "actor_organization": "org-a",
        "actor_client": "org-a-system",
        "actor_user": "",
        "action": "consent.record",
        "outcome": "allowed",
        "resource_type": "consent",
        "resource_id": "c2",
        "client_ref": "x1",
        "basis_type": None,
        "basis_ref": None,
        "reason": "null",
    },
    {
        "occurred_at": "2026-01-01T00:00:05.000000Z",
        "request_id": "req-6",
        "actor_organization": "org-c",
        "actor_client": "org-c-system",
        "actor_user": "u6",
        "action": "packet.send",
        "outcome": "allowed",
        "resource_type": "packet",
        "resource_id": "p2",
        "client_ref": "x2",
        "basis_type": "consent",
        "basis_ref": "c3",
        "reason": "[1,2]",
    },
    {
        "occurred_at": "2026-01-01T00:00:06.000000Z",
        "request_id": "req-7",
        "actor_organization": "org-c",
        "actor_client": "org-c-system",
        "actor_user": "u7",
        "action": "packet.read",
        "outcome": "allowed",
        "resource_type": "packet",
        "resource_id": "p2",
        "client_ref": "x2",
        "basis_type": "consent",
        "basis_ref": "c3",
        "reason": None,
    },
]

# (seq, leaf_hash, hash, seal_mac) of each event, as the earlier sealer wrote them.
SEALED = [
    (
        1,
        "a5fc91b5313ae4800e52f2a4344f5004ccf24d35275dcf8e830142ce19d86968",
        "fc6505bdc3e82c75b7c0cb541b06a52c2064cf9b98bde2a56365c4fa1b9467f4",
        "cf35157bdf8f03ccb36be26f59fd77abfcf1df2b56c43419f75fd446b1ad830c",
    ),
    (
        2,
        "d1db9337bc1db3231e17962b324f9e62ab3675932d814966d6b97898e7f1d645",
        "0735fbc047b522e8fa952390ee05f32855d6c1b31032ba47d1c5197b175d85d5",
        "4882d24174d13a119fd2a36cb112b5942cd5927f589e5a4e8fef63d06c44fc53",
    ),
    (
        3,
        "cee8a7029715c9b5cf32e07939028c5bfc9623a246fd8c43973b3eb2854820bb",
        "1eed79dca44b9f31158933b7f01a756f07bc757d36762901a89ce99abf2d9839",
        "e407f945026e03bf6621382b73c3c4fd20cab5cfdd654bc6d94062f2b66dac46",
    ),
    (
        4,
        "efb2e019a6962e6be124e9102fecd7e809aaff180c699ecbc7b2160d943f78d2",
        "5e630a27eed15b1ee2df413270d6c073cfc710842ba8bfbd76d9d2dfe5cdb3db",
        "ee922a77a9f139f4859c526320d9696fb27e308bbe3a68c812de77c33c288a59",
    ),
    (
        5,
        "163e942a63b1d56ee0ddf3bf7f76ab466c884abc697a26a7afbb47e954d4d9d0",
        "0a09f368aa69b46e894b36e2e19686839ab6cf6c24de67df0b5fa756ad00cfa4",
        "c68a2093d6f6bc844936b84dc61b6c63f2d0081abd6f3470bdc09f4260076291",
    ),
    (
        6,
        "0ec691c039d286edf663d7570aa367fe35025d4d7aaba606c9918c819075a4af",
        "4dc646d60a5420dc4abb0dfd0303b20bc4d7807168e8bb16ca2d8e98e9fd8725",
        "98e74614f8029a74f0c5f875214a767af537802b2b80a60fc88c9f9377184c9d",
    ),
    (
        7,
        "4d5bba6e24f4514fbabbda14744eaf009a495a0b2cdbf392f1a60d11eded37dd",
        "9a31ee81f90d06a6ede3b82922bbd17c41510d6cfbf02d6bf432083ead4e980d",
        "5724bd7c51fc2beeba3a14546267b6a3389e004b15ca59e8d627d14110360a36",
    ),
]
FRONTIER = [
    "43cefdb7898d028b56cfc931d7f74fc45c7c4695c60858a452b340bf081f7053",
    "38cfb6695bb5052e1580525de7f97148df03d82eda20db855e290ac033b4407a",
    "4d5bba6e24f4514fbabbda14744eaf009a495a0b2cdbf392f1a60d11eded37dd",
]
ROOT = "2a0a9aa3282b6c70f1fe1fabe2de720389443b94a80d67c4180a48b2588960c5"


@pytest.fixture
def keys(rt):
    """The test run's keys with a fixed audit seal key."""
    return dataclasses.replace(rt.keys, hetu_lookup_key=LOOKUP_KEY)


def stored(session):
    rows = session.execute(
        select(AuditEvent.seq, AuditEvent.leaf_hash, AuditEvent.hash, AuditEvent.seal_mac)
        .where(AuditEvent.seq.is_not(None))
        .order_by(AuditEvent.seq)
    )
    return [tuple(row) for row in rows]


def test_the_expected_bytes_are_those_of_the_reference_functions(keys):
    prev, leaves = GENESIS_HASH, []
    for (seq, leaf_hex, hash_hex, mac_hex), event in zip(SEALED, EVENTS, strict=True):
        leaf = merkle.leaf_hash(canonical({**event, "seq": seq}))
        prev = chain(prev, leaf)
        assert (leaf.hex(), prev, seal_mac(keys.audit_seal_key, bytes.fromhex(prev))) == (
            leaf_hex,
            hash_hex,
            mac_hex,
        )
        leaves.append(leaf)
    assert merkle.root(leaves).hex() == ROOT


@pytest.mark.parametrize("batch", [1, 2, 5000])
def test_the_sealer_writes_the_same_bytes_as_earlier_releases(rt, session, keys, batch):
    with rt.db.transaction() as s:
        s.execute(insert(AuditEvent), EVENTS[:3])
    with rt.db.transaction() as s:
        assert seal(s, keys, batch=batch) == 3
        checkpoint(s, keys, "http://exchange.test", force=True)
    with rt.db.transaction() as s:
        s.execute(insert(AuditEvent), EVENTS[3:])
    with rt.db.transaction() as s:
        made = checkpoint(s, keys, "http://exchange.test", force=True)
    assert stored(session) == SEALED
    head = session.get(AuditHead, 1)
    assert (head.seq, head.hash, head.frontier) == (7, SEALED[-1][2], FRONTIER)
    assert made.root_hash == ROOT
    result = verify(session, keys, batch=batch)
    assert result.ok, result
    assert (result.verified_through, result.checkpoints) == (7, 2)


def insert_sealed(rt, events):
    """Write the log an earlier release sealed, row by row, and move the head to its end."""
    with rt.db.transaction() as s:
        s.execute(
            insert(AuditEvent),
            [
                {**event, "seq": seq, "leaf_hash": leaf, "hash": link, "seal_mac": mac}
                for event, (seq, leaf, link, mac) in zip(events, SEALED, strict=True)
            ],
        )
        if s.get(AuditHead, 1) is None:
            s.add(AuditHead(id=1, seq=0, hash=GENESIS_HASH, frontier=[]))
            s.flush()
        s.execute(
            update(AuditHead)
            .where(AuditHead.id == 1)
            .values(seq=7, hash=SEALED[-1][2], frontier=FRONTIER)
        )


@pytest.mark.parametrize("batch", [2, 10000])
def test_a_log_sealed_by_an_earlier_release_verifies(rt, session, keys, batch):
    insert_sealed(rt, EVENTS)
    result = verify(session, keys, batch=batch)
    assert result.ok, result
    assert result.verified_through == 7
    with rt.db.transaction() as s:
        made = checkpoint(s, keys, "http://exchange.test", force=True)
    assert made.root_hash == ROOT


@pytest.mark.parametrize("batch", [2, 10000])
def test_an_earlier_log_with_one_changed_character_fails_at_that_event(rt, session, keys, batch):
    changed = [dict(event) for event in EVENTS]
    changed[3]["reason"] = "a" * 499 + "b"
    insert_sealed(rt, changed)
    result = verify(session, keys, batch=batch)
    assert not result.ok
    assert (result.first_bad_seq, result.verified_through) == (4, 3)
    assert "content was changed" in result.problem


def test_sealing_under_another_key_is_found(rt, session, keys):
    with rt.db.transaction() as s:
        s.execute(insert(AuditEvent), EVENTS)
    with rt.db.transaction() as s:
        seal(s, rt.keys)
    assert session.execute(text("SELECT count(*) FROM audit_event")).scalar() == 7
    result = verify(session, keys)
    assert (result.ok, result.first_bad_seq) == (False, 1)
    assert "rewritten" in result.problem


@pytest.mark.parametrize("length", [0, 1, 32, 63, 64, 65, 200])
def test_the_sealers_keyed_states_compute_the_seal_hmac(length):
    key = bytes(range(256))[:length]
    inner, outer = _hmac_pads(key)
    for message in (b"", bytes(32), bytes.fromhex(SEALED[0][2])):
        digest = inner.copy()
        digest.update(message)
        mac = outer.copy()
        mac.update(digest.digest())
        assert mac.hexdigest() == seal_mac(key, message)
