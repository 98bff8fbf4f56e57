"""The same signed packet sent again is never a second hand-over: 409 ``duplicate_packet``."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import audit_rows, grant_consent, sign_packet

JOSE = "application/jose"


@pytest.fixture
def pair(make_org: Any, http: Any) -> tuple[Any, Any]:
    sender = make_org("dup-sender", users=[("dan.staff", ["staff"])])
    recipient = make_org(
        "dup-recipient", kind="employment_services", users=[("rita.sw", ["social_worker"])]
    )
    grant_consent(http, sender, "dan.staff", recipient, "rita.sw", categories=("plan",))
    return sender, recipient


def payload(reference: str) -> dict[str, Any]:
    return {
        "client": {"hetu": "010190-900P"},
        "from": {"organization": "dup-sender", "worker": "dan.staff"},
        "to": {"organization": "dup-recipient"},
        "kind": "information",
        "purpose": "employment_services",
        "case_reference": reference,
        "sections": [{"type": "plan", "kind": "employment_plan", "goals": [{"text": "Work"}]}],
    }


def send(http: Any, org: Any, token: str, key: str | None = None) -> Any:
    headers = {**org.client.headers(), "Content-Type": JOSE}
    if key:
        headers["Idempotency-Key"] = key
    return http.post("/v1/packets", data=token, headers=headers)


def test_a_packet_sent_twice_is_stored_once(http, pair, rt):
    sender, _recipient = pair
    token = sign_packet(sender.packet_key, payload("DUP-1"))
    first = send(http, sender, token)
    assert first.status_code == 201
    again = send(http, sender, token)
    assert again.status_code == 409
    assert again.get_json()["code"] == "duplicate_packet"
    assert again.get_json()["existing_id"] == first.get_json()["id"]
    resigned = send(http, sender, sign_packet(sender.packet_key, payload("DUP-1")))
    assert resigned.status_code == 409  # a new signature over the same payload: the same packet
    denial = audit_rows(rt, action="packet.send", outcome="denied")[-1]
    assert (denial.reason, denial.resource_id) == ("duplicate_packet", first.get_json()["id"])
    other = send(http, sender, sign_packet(sender.packet_key, payload("DUP-2")))
    assert other.status_code == 201  # another packet is another packet


def test_a_retry_with_the_first_key_is_answered_a_new_key_is_a_duplicate(http, pair):
    sender, _recipient = pair
    token = sign_packet(sender.packet_key, payload("DUP-3"))
    first = send(http, sender, token, key="first-sending")
    assert first.status_code == 201
    retry = send(http, sender, token, key="first-sending")
    assert retry.status_code == 201
    assert retry.get_json() == first.get_json()
    other_key = send(http, sender, token, key="another-sending")
    assert other_key.status_code == 409
    assert other_key.get_json()["existing_id"] == first.get_json()["id"]
