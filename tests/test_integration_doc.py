"""docs/integration.md holds: its packet is valid, its code runs against the service's own
signing and verification, and what it names (algorithms, codes) is what the service does."""

from __future__ import annotations

import base64
import copy
import datetime as dt
import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
from joserfc.jwk import ECKey, OKPKey, RSAKey

from consent.errors import FieldError
from exchange.oauth import ASSERTION_ALGORITHMS
from exchange.packets.signing import PACKET_ALGORITHMS, verify_packet
from exchange.webhooks import delivery
from schemas.packets import PACKET_PAYLOAD_EXAMPLE, PacketPayload
from schemas.sections import PLAN_EXAMPLE, check_sections

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "integration.md"
TODAY = dt.date(2026, 12, 1)  # the day the example's dates were written for


def blocks(language: str) -> list[str]:
    return re.findall(
        rf"^```{language}\n(.*?)^```", DOC.read_text(), flags=re.DOTALL | re.MULTILINE
    )


def section(title: str) -> str:
    return DOC.read_text().split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def documented_packet() -> dict[str, Any]:
    packets = [json.loads(block) for block in blocks("json") if '"sections"' in block]
    assert len(packets) == 1
    return dict(packets[0])


def run_block(marker: str) -> dict[str, Any]:
    """Execute the Python block that defines ``marker``; return its namespace."""
    (code,) = [block for block in blocks("python") if f"def {marker}(" in block]
    namespace: dict[str, Any] = {"__name__": "integration_doc"}
    exec(compile(code, str(DOC), "exec"), namespace)  # noqa: S102  # our own document's code
    return namespace


def test_every_json_block_is_json():
    assert len(blocks("json")) >= 4
    for block in blocks("json"):
        json.loads(block)


def test_the_documented_packet_is_valid():
    packet = documented_packet()
    loaded = PacketPayload().load(packet)
    assert loaded["kind"] == "transfer"
    sections, warnings = check_sections(packet["sections"], today=TODAY)
    assert [s["type"] for s in sections] == [
        "assessment",
        "plan",
        "contact_persons",
        "service_period",
    ]
    assert warnings == []
    # The schemas' own examples, so that the document and the OpenAPI document agree.
    assert {k: v for k, v in packet.items() if k != "sections"} == {
        k: v for k, v in PACKET_PAYLOAD_EXAMPLE.items() if k != "sections"
    }
    assert PLAN_EXAMPLE in packet["sections"]


def test_a_broken_packet_would_be_caught():
    """The check above can fail: the same packet with a kuty day too many is refused."""
    packet = copy.deepcopy(documented_packet())
    packet["sections"][3]["days_per_week"] = 5
    with pytest.raises(Exception, match="days_per_week"):
        check_sections(packet["sections"], today=TODAY)


@pytest.mark.parametrize(
    "key",
    [
        OKPKey.generate_key("Ed25519", parameters={"alg": "Ed25519"}, auto_kid=True),
        ECKey.generate_key("P-256", auto_kid=True),
        RSAKey.generate_key(2048, auto_kid=True),
    ],
    ids=["Ed25519", "ES256", "PS256"],
)
def test_the_documented_signing_verifies_with_the_service(key):
    sign_packet = run_block("sign_packet")["sign_packet"]
    payload = json.dumps(documented_packet()).encode()
    token = sign_packet(payload, dict(key.as_dict(private=True)))
    public = {"keys": [dict(key.as_dict(private=False))]}
    verified = verify_packet(token, public)
    assert verified.payload == payload
    assert verified.header["typ"] == "handover+jws"


def notification(organization: str = "te-vs", iat: float | None = None) -> dict[str, Any]:
    return {
        "id": "evt-1",
        "type": "packet.received",
        "organization": organization,
        "occurred_at": "2026-12-01T10:15:00Z",
        "iat": int(time.time() if iat is None else iat),
        "attempt": 1,
        "data": {"packet_id": "p-1"},
    }


def test_the_documented_webhook_verification(rt, http):
    namespace = run_block("verify_notification")
    verify, refused = namespace["verify_notification"], namespace["RefusedNotification"]
    jwks = http.get("/.well-known/jwks.json").get_json()
    sent = notification()
    body = delivery.sign(sent, rt.keys).encode()
    seen: set[str] = set()

    assert verify(body, jwks, "te-vs", seen) == sent
    assert verify(body, jwks, "te-vs", seen) is None  # a repeat
    header, _payload, signature = body.split(b".")
    forged = json.dumps(sent | {"data": {"packet_id": "p-2"}}).encode()
    tampered = b".".join([header, base64.urlsafe_b64encode(forged).rstrip(b"="), signature])
    with pytest.raises(refused, match="signature"):
        verify(tampered, jwks, "te-vs", set())
    with pytest.raises(refused, match="another organization"):
        verify(body, jwks, "kela-turku", set())
    stale = delivery.sign(notification(iat=time.time() - 3600), rt.keys).encode()
    with pytest.raises(refused, match="too old"):
        verify(stale, jwks, "te-vs", set())
    stranger = ECKey.generate_key("P-256", parameters={"alg": "ES256"}, auto_kid=True)
    with pytest.raises(refused, match="signature"):
        verify(body, {"keys": [dict(stranger.as_dict(private=False))]}, "te-vs", set())


def test_the_documented_algorithms_are_the_service_s():
    authentication, packet = section("Authentication"), section("The packet")
    for alg in ASSERTION_ALGORITHMS:
        assert f"`{alg}`" in authentication, alg
    for alg in PACKET_ALGORITHMS:
        assert f"`{alg}`" in packet, alg


def test_every_documented_code_exists():
    source = "\n".join(
        path.read_text()
        for folder in ("exchange", "consent", "schemas", "adapters")
        for path in (ROOT / folder).rglob("*.py")
    )
    documented = set()
    for title in ("Errors", "Idempotency"):
        for row in section(title).splitlines():
            if row.startswith("|"):
                documented.update(re.findall(r"`([a-z]+(?:_[a-z]+)+)`", row))
    assert len(documented) > 15
    missing = sorted(code for code in documented if f'"{code}"' not in source)
    assert missing == []


def test_the_readme_sends_integrators_to_the_document():
    readme = (ROOT / "README.md").read_text()
    assert "SPEC section 4" not in readme
    assert readme.count("(docs/integration.md)") >= 2


def test_field_errors_are_documented_as_served():
    """The documented problem's `errors` item has the members the service writes."""
    (problem,) = [json.loads(b) for b in blocks("json") if '"validation_failed"' in b]
    assert set(problem["errors"][0]) == set(FieldError("x", "y").as_dict())
