"""Envelope encryption of packet content and key-encryption-key rotation."""

from __future__ import annotations

import pytest

from adapters import envelope
from adapters.crypto import DecryptionError
from adapters.keys import KeyStore, init_keys, rotate_keys


@pytest.fixture
def keys_path(tmp_path):
    init_keys(tmp_path)
    return tmp_path


def test_round_trip_and_a_fresh_data_key_each_time(keys_path):
    keys = KeyStore.load(keys_path)
    first = envelope.encrypt(keys, "p1", "c1", b"secret sections")
    second = envelope.encrypt(keys, "p1", "c1", b"secret sections")
    assert first.ciphertext != second.ciphertext
    assert first.wrapped_key != second.wrapped_key
    assert b"secret" not in first.ciphertext
    assert envelope.decrypt(keys, "p1", "c1", first) == b"secret sections"


@pytest.mark.parametrize(("object_id", "client_id"), [("p2", "c1"), ("p1", "c2")])
def test_ciphertext_is_bound_to_its_packet_and_client(keys_path, object_id, client_id):
    keys = KeyStore.load(keys_path)
    sealed = envelope.encrypt(keys, "p1", "c1", b"x")
    with pytest.raises(DecryptionError):
        envelope.decrypt(keys, object_id, client_id, sealed)


def test_tampered_ciphertext_does_not_open(keys_path):
    keys = KeyStore.load(keys_path)
    sealed = envelope.encrypt(keys, "p1", "c1", b"content")
    flipped = bytearray(sealed.ciphertext)
    flipped[-1] ^= 1
    with pytest.raises(DecryptionError):
        envelope.decrypt(
            keys,
            "p1",
            "c1",
            envelope.Sealed(bytes(flipped), sealed.wrapped_key, sealed.kek_version),
        )


def test_rotation_keeps_old_content_readable_and_rewrap_moves_it(keys_path):
    old_keys = KeyStore.load(keys_path)
    sealed = envelope.encrypt(old_keys, "p1", "c1", b"before rotation")
    assert sealed.kek_version == 1
    rotate_keys(keys_path)
    keys = KeyStore.load(keys_path)
    assert keys.kek_version == 2
    assert envelope.decrypt(keys, "p1", "c1", sealed) == b"before rotation"
    assert envelope.encrypt(keys, "p9", "c1", b"new").kek_version == 2
    moved = envelope.rewrap(keys, "p1", sealed)
    assert moved.kek_version == 2
    assert moved.ciphertext == sealed.ciphertext, "rewrapping does not touch the content"
    assert envelope.decrypt(keys, "p1", "c1", moved) == b"before rotation"
    # The wrapped key names its KEK version: claiming another version does not open it.
    with pytest.raises(DecryptionError):
        envelope.decrypt(keys, "p1", "c1", envelope.Sealed(moved.ciphertext, moved.wrapped_key, 1))


def test_rewrap_of_stored_packets(http, make_org, rt, session, tmp_path):
    """Service level: a packet stored under KEK 1 is re-wrapped to KEK 2 and still opens."""
    from exchange.packets.models import Packet
    from exchange.packets.service import PacketService
    from exchange.unit import UnitOfWork
    from tests.conftest import sign_packet

    sender = make_org("sender-org", kind="provider", users=[("sam.sender", ["staff"])])
    make_org("kela", kind="kela")
    payload = {
        "client": {"hetu": "010190-900P"},
        "from": {"organization": "sender-org", "worker": "sam.sender"},
        "to": {"organization": "kela"},
        "kind": "information",
        "purpose": "benefit_processing",
        "sections": [{"type": "benefits", "benefits": [{"benefit": "asumistuki"}]}],
    }
    token = sign_packet(sender.packet_key, payload)
    sent = http.post(
        "/v1/packets",
        data=token,
        headers={**sender.client.headers(), "Content-Type": "application/jose"},
    )
    assert sent.status_code == 201, sent.get_json()
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
    row = session.get(Packet, sent.get_json()["id"])
    assert row.kek_version == 2
    sealed = envelope.Sealed(row.ciphertext, row.wrapped_key, row.kek_version)
    assert envelope.decrypt(rotated, row.id, row.client_id, sealed).decode() == token
    assert PacketService(uow, rotated, rt.statutes).rewrap_all() == 0
