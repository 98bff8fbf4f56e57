"""Involvement with a client counts only what happened: a consent opens the client's lead,
access report and id to the organizations it names once it is in force, not while it waits
for approval and not after it was rejected; its recorder is involved from the start."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest

from consent.model import local_date
from tests.conftest import Org

HETU = "010190-900P"
RECORDER, SOURCE, RECIPIENT, OUTSIDER = "kisalli-inv", "sosiaali-inv", "te-inv", "outsider-inv"
RECORDER_STAFF, RECORDER_SW = "kalle.valmentaja", "liisa.sw"
SOURCE_STAFF, SOURCE_SW = "saara.staff", "sami.sw"
RECIPIENT_STAFF, RECIPIENT_SW = "terhi.staff", "tuomas.sw"
OUTSIDER_SW = "olli.sw"


def today() -> dt.date:
    return local_date(dt.datetime.now(dt.UTC))


@pytest.fixture
def world(make_org: Any) -> dict[str, Org]:
    """The recorder (also a source), a second source named only in the consent, the recipient
    that is named to approve or reject it, and an organization that has nothing to do with the
    client."""
    return {
        "recorder": make_org(
            RECORDER,
            kind="provider",
            users=[(RECORDER_STAFF, ["staff"]), (RECORDER_SW, ["social_worker"])],
        ),
        "source": make_org(
            SOURCE,
            kind="social_services",
            users=[(SOURCE_STAFF, ["staff"]), (SOURCE_SW, ["social_worker"])],
        ),
        "recipient": make_org(
            RECIPIENT,
            kind="employment_services",
            users=[(RECIPIENT_STAFF, ["staff"]), (RECIPIENT_SW, ["social_worker"])],
        ),
        "outsider": make_org(OUTSIDER, kind="provider", users=[(OUTSIDER_SW, ["social_worker"])]),
    }


def consent_body(client: dict[str, str] | None = None, **changes: Any) -> dict[str, Any]:
    body = {
        "client": client or {"hetu": HETU},
        "grantor": {"type": "self"},
        "decision": "permit",
        "sources": [RECORDER, SOURCE],
        "recipients": [RECIPIENT],
        "categories": ["assessment", "plan"],
        "purposes": ["employment_services"],
        "valid_until": (today() + dt.timedelta(days=200)).isoformat(),
        "method": "signed_paper",
        "evidence": {"reference": "paper form 2026/114"},
        "language": "fi",
        "approver_organization": RECIPIENT,
    }
    body.update(changes)
    return body


def record(http: Any, world: dict[str, Org], **changes: Any) -> dict[str, Any]:
    """A consent recorded by the recorder organization's staff member (pending for a permit)."""
    response = http.post(
        "/v1/consents",
        json=consent_body(**changes),
        headers=world["recorder"].client.headers(RECORDER_STAFF),
    )
    assert response.status_code == 201, response.get_json()
    return dict(response.get_json())


def decide(http: Any, world: dict[str, Org], consent_id: str, action: str) -> None:
    """The recipient's social worker approves or rejects the consent."""
    body = {"reason": "The client did not sign the form"} if action == "reject" else None
    response = http.post(
        f"/v1/consents/{consent_id}/{action}",
        json=body,
        headers=world["recipient"].client.headers(RECIPIENT_SW),
    )
    assert response.status_code == 200, response.get_json()


def withdraw(http: Any, world: dict[str, Org], consent_id: str) -> None:
    response = http.post(
        f"/v1/consents/{consent_id}/withdraw",
        json={"reason": "Client asked by phone"},
        headers=world["recorder"].client.headers(RECORDER_STAFF),
    )
    assert response.status_code == 200, response.get_json()


SOCIAL_WORKER = {
    "recorder": RECORDER_SW,
    "source": SOURCE_SW,
    "recipient": RECIPIENT_SW,
    "outsider": OUTSIDER_SW,
}


def lead_status(http: Any, org: Org, client_id: str) -> int:
    response = http.get(f"/v1/clients/{client_id}/lead", headers=org.client.headers())
    return int(response.status_code)


def report_status(http: Any, org: Org, client_id: str, social_worker: str) -> int:
    response = http.get(
        f"/v1/clients/{client_id}/access-report", headers=org.client.headers(social_worker)
    )
    return int(response.status_code)


def sees_client(http: Any, world: dict[str, Org], which: str, client_id: str) -> bool:
    """Whether the organization reads the client's lead and access report (both or neither)."""
    org = world[which]
    lead = lead_status(http, org, client_id)
    report = report_status(http, org, client_id, SOCIAL_WORKER[which])
    assert {lead, report} <= {200, 404}, (lead, report)
    assert lead == report, f"{which}: lead {lead}, access report {report}"
    return lead == 200


def without_request_id(response: Any) -> dict[str, Any]:
    body = response.get_json()
    assert body is not None, response.get_data(as_text=True)
    return {name: value for name, value in body.items() if name != "request_id"}


# --- pending, approved, rejected, withdrawn ------------------------------------------------------


@pytest.mark.parametrize("which", ["source", "recipient"])
def test_named_in_a_pending_consent_only_is_not_involved_until_it_is_approved(http, world, which):
    consent = record(http, world)
    assert consent["status"] == "pending"
    client_id = consent["client_id"]
    assert not sees_client(http, world, which, client_id)
    # The consent itself stays visible to everyone it names.
    read = http.get(f"/v1/consents/{consent['id']}", headers=world[which].client.headers())
    assert read.status_code == 200
    listed = http.get(f"/v1/consents?client_id={client_id}", headers=world[which].client.headers())
    assert [item["id"] for item in listed.get_json()["items"]] == [consent["id"]]

    decide(http, world, consent["id"], "approve")
    assert sees_client(http, world, which, client_id)
    assert not sees_client(http, world, "outsider", client_id)


def test_a_rejected_consent_opens_nothing_to_those_it_names_nor_to_who_rejected_it(http, world):
    consent = record(http, world)
    decide(http, world, consent["id"], "reject")
    client_id = consent["client_id"]
    assert not sees_client(http, world, "source", client_id)
    assert not sees_client(http, world, "recipient", client_id)
    assert sees_client(http, world, "recorder", client_id)


def test_a_withdrawn_consent_that_was_in_force_still_counts(http, world):
    consent = record(http, world)
    decide(http, world, consent["id"], "approve")
    withdraw(http, world, consent["id"])
    client_id = consent["client_id"]
    status = http.get(f"/v1/consents/{consent['id']}", headers=world["source"].client.headers())
    assert status.get_json()["status"] == "withdrawn"
    assert sees_client(http, world, "source", client_id)
    assert sees_client(http, world, "recipient", client_id)


def test_a_superseded_consent_still_counts(http, world):
    first = record(http, world)
    decide(http, world, first["id"], "approve")
    second = record(http, world, sources=[RECORDER], supersedes=first["id"])
    decide(http, world, second["id"], "approve")
    status = http.get(f"/v1/consents/{first['id']}", headers=world["source"].client.headers())
    assert status.get_json()["status"] == "withdrawn"
    assert sees_client(http, world, "source", first["client_id"])


def test_a_ban_is_in_force_at_once_and_involves_those_it_names(http, world):
    consent = record(http, world, decision="deny")
    assert consent["status"] == "active"
    assert sees_client(http, world, "source", consent["client_id"])
    assert sees_client(http, world, "recipient", consent["client_id"])


def test_the_recorder_of_a_pending_consent_is_involved(http, world):
    consent = record(http, world, sources=[SOURCE])
    assert consent["status"] == "pending"
    assert sees_client(http, world, "recorder", consent["client_id"])
    assert not sees_client(http, world, "source", consent["client_id"])
    assert not sees_client(http, world, "outsider", consent["client_id"])


def test_a_pending_and_a_rejected_consent_together_still_open_nothing(http, world):
    first = record(http, world)
    second = record(http, world)
    decide(http, world, second["id"], "reject")
    assert first["client_id"] == second["client_id"]
    assert not sees_client(http, world, "source", first["client_id"])


# --- naming the client by id ---------------------------------------------------------------------


def record_by_id(http: Any, world: dict[str, Org], client_id: str) -> Any:
    return http.post(
        "/v1/consents",
        json=consent_body(
            {"id": client_id}, decision="deny", sources=[SOURCE], recipients=[RECIPIENT]
        ),
        headers=world["source"].client.headers(SOURCE_STAFF),
    )


def check_by_id(http: Any, world: dict[str, Org], client_id: str) -> Any:
    return http.post(
        "/v1/consent-checks",
        json={
            "client": {"id": client_id},
            "source": SOURCE,
            "recipient": RECIPIENT,
            "purpose": "employment_services",
            "categories": ["assessment"],
        },
        headers=world["source"].client.headers(),
    )


@pytest.mark.parametrize("attempt", [record_by_id, check_by_id], ids=["record", "check"])
def test_naming_the_client_by_id_from_a_pending_consent_is_an_unknown_client(http, world, attempt):
    consent = record(http, world)
    real = attempt(http, world, consent["client_id"])
    unknown = attempt(http, world, str(uuid.uuid4()))
    assert real.status_code == unknown.status_code, real.get_json()
    assert real.status_code in (404, 422)
    assert without_request_id(real) == without_request_id(unknown)

    decide(http, world, consent["id"], "approve")
    known = attempt(http, world, consent["client_id"])
    assert known.status_code in (200, 201), known.get_json()
