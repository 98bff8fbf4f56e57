"""Input no database can store answers a clear 4xx naming the field, never a 500 or a 503.

Each case was seen to fail on PostgreSQL (psycopg ``DataError`` → 500, or 503 at commit);
the same requests run on the embedded default and, in ``.ci/run``, on PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from consent.model import local_date
from tests.conftest import grant_consent, sign_packet

NUL = "\x00"
SURROGATE = "\ud800"
HETU = "010190-900P"


@pytest.fixture
def two(make_org: Any) -> dict[str, Any]:
    return {
        "a": make_org(
            "edge-a",
            users=[
                ("edna.sw", ["social_worker"]),
                ("eero.staff", ["staff"]),
                ("ella.aud", ["auditor"]),
            ],
        ),
        "b": make_org("edge-b", kind="employment_services", users=[("bo.sw", ["social_worker"])]),
    }


def assert_names_field(response: Any, field: str, status: int = 422) -> None:
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert response.mimetype == "application/problem+json"
    assert body["request_id"]
    assert field in [error["field"] for error in body["errors"]], body


@pytest.mark.parametrize(
    "path",
    [
        "/v1/consents/a%00b",
        "/v1/consents/a%00b/receipt",
        "/v1/packets/a%00b",
        "/v1/packets/a%00b/events",
        "/v1/clients/a%00b/lead",
        "/v1/service-periods/a%00b",
        "/v1/organizations/a%00b/unassigned",
    ],
)
def test_nul_in_a_path_id(http: Any, two: dict[str, Any], path: str) -> None:
    assert_names_field(http.get(path, headers=two["a"].client.headers("edna.sw")), "path")


@pytest.mark.parametrize("name", ["client_id", "actor", "action", "cursor"])
def test_nul_in_an_audit_filter(http: Any, two: dict[str, Any], name: str) -> None:
    response = http.get(
        "/v1/audit/events",
        query_string={name: f"x{NUL}y"},
        headers=two["a"].client.headers("ella.aud"),
    )
    assert_names_field(response, f"query.{name}")


def test_nul_in_a_list_cursor(http: Any, two: dict[str, Any]) -> None:
    response = http.get(
        "/v1/consents", query_string={"cursor": NUL}, headers=two["a"].client.headers("edna.sw")
    )
    assert_names_field(response, "query.cursor")


def consent_body(**changes: Any) -> dict[str, Any]:
    return {
        "client": {"hetu": HETU},
        "grantor": {"type": "guardian", "name": "Gunnar Guardian"},
        "decision": "permit",
        "sources": ["edge-a"],
        "recipients": ["edge-b"],
        "categories": ["plan"],
        "purposes": ["employment_services"],
        "valid_until": (local_date(dt.datetime.now(dt.UTC)) + dt.timedelta(days=90)).isoformat(),
        "method": "verbal_witnessed",
        "evidence": {"witness_name": "Wilma Witness"},
        "language": "fi",
    } | changes


def test_the_same_consent_with_plain_text_is_recorded(http: Any, two: dict[str, Any]) -> None:
    response = http.post(
        "/v1/consents", json=consent_body(), headers=two["a"].client.headers("eero.staff")
    )
    assert response.status_code == 201, response.get_json()


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"grantor": {"type": "guardian", "name": f"Gunnar{NUL}"}}, "grantor.name"),
        ({"grantor": {"type": "guardian", "name": f"Gunnar{SURROGATE}"}}, "grantor.name"),
        ({"client": {"id": f"x{NUL}"}}, "client.id"),
        ({"supersedes": f"x{NUL}"}, "supersedes"),
        ({"evidence": {"witness_name": f"Wilma{NUL}"}}, "evidence.witness_name"),
        ({"evidence": {"witness_name": f"Wilma{SURROGATE}"}}, "evidence.witness_name"),
    ],
)
def test_unstorable_text_in_a_consent(
    http: Any, two: dict[str, Any], changes: dict[str, Any], field: str
) -> None:
    response = http.post(
        "/v1/consents", json=consent_body(**changes), headers=two["a"].client.headers("eero.staff")
    )
    assert_names_field(response, field)


def test_nul_in_a_reject_reason_is_422_not_503(http: Any, two: dict[str, Any]) -> None:
    recorded = http.post(
        "/v1/consents", json=consent_body(), headers=two["a"].client.headers("eero.staff")
    )
    response = http.post(
        f"/v1/consents/{recorded.get_json()['id']}/reject",
        json={"reason": f"no{NUL} thanks"},
        headers=two["a"].client.headers("edna.sw"),
    )
    assert_names_field(response, "reason")


def packet(case_reference: str) -> dict[str, Any]:
    return {
        "client": {"hetu": HETU},
        "from": {"organization": "edge-a", "worker": "eero.staff"},
        "to": {"organization": "edge-b"},
        "kind": "information",
        "purpose": "employment_services",
        "case_reference": case_reference,
        "sections": [{"type": "plan", "kind": "employment_plan", "goals": [{"text": "Work"}]}],
    }


@pytest.mark.parametrize("bad", [NUL, SURROGATE])
def test_unstorable_text_inside_a_signed_packet(http: Any, two: dict[str, Any], bad: str) -> None:
    grant_consent(http, two["a"], "eero.staff", two["b"], "bo.sw", categories=("plan",))
    plain = http.post(
        "/v1/packets",
        data=sign_packet(two["a"].packet_key, packet("KIS-1")),
        headers={**two["a"].client.headers(), "Content-Type": "application/jose"},
    )
    assert plain.status_code == 201, plain.get_json()  # the same packet, plain, is sent
    payload = json.dumps(packet(f"KIS{bad}1")).encode()  # json.dumps writes \\u escapes
    response = http.post(
        "/v1/packets",
        data=sign_packet(two["a"].packet_key, payload),
        headers={**two["a"].client.headers(), "Content-Type": "application/jose"},
    )
    assert_names_field(response, "case_reference")


def test_nul_in_a_header_value(http: Any, two: dict[str, Any]) -> None:
    headers = two["a"].client.headers() | {"X-Acting-User": f"edna.sw{NUL}"}
    response = http.post("/v1/clients/lookup", json={"hetu": HETU}, headers=headers)
    assert_names_field(response, "header.X-Acting-User")


def test_nul_at_the_token_endpoint_without_credentials(http: Any) -> None:
    response = http.post("/oauth/token", data={"grant_type": f"client_credentials{NUL}"})
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_request"


def test_integers_beyond_any_column(http: Any, two: dict[str, Any]) -> None:
    auditor = two["a"].client.headers("ella.aud")
    huge = "99999999999999999999"
    assert http.get(f"/v1/audit/events/{huge}/proof", headers=auditor).status_code == 404
    response = http.get(
        "/v1/audit/consistency", query_string={"from": huge, "to": huge}, headers=auditor
    )
    assert_names_field(response, "from")
    response = http.get(
        "/v1/audit/events/1/proof", query_string={"tree_size": huge}, headers=auditor
    )
    assert_names_field(response, "tree_size")


def test_an_audit_cursor_beyond_any_sequence_number(http: Any, two: dict[str, Any]) -> None:
    response = http.get(
        "/v1/audit/events",
        query_string={"cursor": "9999999999999999999"},
        headers=two["a"].client.headers("ella.aud"),
    )
    assert_names_field(response, "cursor")
