"""Service periods: the kuty rules, visibility, closing with an outcome, the signals that
keep clients from waiting, and packet sections that name a recorded period."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest

from consent.model import local_date
from exchange.periods.models import ServicePeriod
from tests.conftest import audit_rows, grant_consent, sign_packet

HETU = "010190-900P"
OTHER_HETU = "020290-9016"


def today() -> dt.date:
    return local_date(dt.datetime.now(dt.UTC))


@pytest.fixture
def world(make_org):
    provider = make_org("kisalli", kind="provider", users=[("kalle.valmentaja", ["staff"])])
    te = make_org("te-vs", kind="employment_services", users=[("tuomas.sw", ["social_worker"])])
    outsider = make_org("muu", kind="provider", users=[("olli.sw", ["social_worker"])])
    return {"provider": provider, "te": te, "outsider": outsider}


def period_body(**changes: Any) -> dict[str, Any]:
    start = today() - dt.timedelta(days=100)
    body = {
        "client": {"hetu": HETU},
        "service": "kuntouttava_tyotoiminta",
        "start": start.isoformat(),
        "planned_end": (start + dt.timedelta(days=180)).isoformat(),
        "days_per_week": 3,
        "hours_per_day": 5,
        "guidance_hours_per_month": 4,
    }
    body.update(changes)
    return body


def record(http, world, **changes: Any) -> Any:
    return http.post(
        "/v1/service-periods",
        json=period_body(**changes),
        headers=world["provider"].client.headers("kalle.valmentaja"),
    )


def close(http, world, period_id: str, org: str = "provider", user="kalle.valmentaja", **body):
    payload = {"outcome": "employed", "ended_on": today().isoformat()} | body
    return http.post(
        f"/v1/service-periods/{period_id}/close",
        json=payload,
        headers=world[org].client.headers(user),
    )


def test_a_period_is_recorded_with_its_rules_and_audited(http, world, rt):
    made = record(http, world, next_step={"path": "employment_services", "owner": "te-vs"})
    assert made.status_code == 201, made.get_json()
    body = made.get_json()
    assert body["status"] == "open"
    assert body["organization"] == "kisalli"
    assert body["next_step"] == {"path": "employment_services", "owner": "te-vs"}
    assert body["hours_per_day"] == 5.0
    assert HETU not in str(body)
    assert audit_rows(rt, action="period.record", resource_id=body["id"])


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"days_per_week": 5}, "days_per_week"),  # kuty: 1 to 4 days a week
        ({"hours_per_day": 3}, "hours_per_day"),  # kuty: 4 to 8 hours a day
        ({"planned_end": (today() - dt.timedelta(days=200)).isoformat()}, "planned_end"),
        ({"service": "sirkuskoulu"}, "service"),
        ({"next_step": {"path": "somewhere", "owner": "te-vs"}}, "next_step.path"),
        ({"client": {"hetu": "010190-9000"}}, "client.hetu"),
    ],
)
def test_invalid_periods_are_refused_by_field(http, world, changes, field):
    refused = record(http, world, **changes)
    assert refused.status_code == 422
    assert field in {error["field"] for error in refused.get_json()["errors"]}


def test_an_unknown_next_step_owner_is_refused(http, world):
    refused = record(http, world, next_step={"path": "studies", "owner": "no-such-org"})
    assert refused.status_code == 422
    assert refused.get_json()["errors"][0]["field"] == "next_step.owner"


def test_other_organizations_see_nothing_but_the_next_step_owner_does(http, world):
    period = record(http, world, next_step={"path": "employment_services", "owner": "te-vs"})
    period_id = period.get_json()["id"]
    outsider = http.get(
        f"/v1/service-periods/{period_id}", headers=world["outsider"].client.headers()
    )
    unknown = http.get("/v1/service-periods/nope", headers=world["outsider"].client.headers())
    assert outsider.status_code == unknown.status_code == 404
    assert outsider.get_json()["detail"] == unknown.get_json()["detail"]
    owner = http.get(f"/v1/service-periods/{period_id}", headers=world["te"].client.headers())
    assert owner.status_code == 200
    listed = http.get("/v1/service-periods", headers=world["outsider"].client.headers())
    assert listed.get_json()["items"] == []
    # Only the provider closes it; the owner of the next step gets the same 404 as anyone.
    assert close(http, world, period_id, org="te", user="tuomas.sw").status_code == 404
    no_scope = http.get(
        "/v1/service-periods", headers=world["provider"].client.headers(scope="packets:send")
    )
    assert no_scope.status_code == 403


def test_closing_records_the_outcome_once(http, world, rt):
    period_id = record(http, world).get_json()["id"]
    future = close(http, world, period_id, ended_on=(today() + dt.timedelta(days=1)).isoformat())
    assert future.status_code == 422
    early = close(http, world, period_id, ended_on=(today() - dt.timedelta(days=400)).isoformat())
    assert early.status_code == 422
    assert close(http, world, period_id, outcome="astronaut").status_code == 422
    closed = close(
        http,
        world,
        period_id,
        outcome="studies",
        next_step={"path": "studies", "owner": "kisalli"},
    )
    assert closed.status_code == 200, closed.get_json()
    assert closed.get_json()["status"] == "closed"
    assert closed.get_json()["outcome"] == "studies"
    assert closed.get_json()["closed_by_user"] == "kalle.valmentaja"
    assert close(http, world, period_id).status_code == 409
    assert audit_rows(rt, action="period.close", resource_id=period_id)


def escalations(http, world) -> dict[str, Any]:
    answer = http.get("/v1/escalations", headers=world["provider"].client.headers())
    assert answer.status_code == 200
    return dict(answer.get_json())


def test_a_period_ending_soon_without_a_next_step_is_escalated(http, world):
    start = today() - dt.timedelta(days=100)
    ending = record(
        http,
        world,
        start=start.isoformat(),
        planned_end=(today() + dt.timedelta(days=20)).isoformat(),
    ).get_json()
    later = record(
        http,
        world,
        client={"hetu": OTHER_HETU},
        start=start.isoformat(),
        planned_end=(today() + dt.timedelta(days=45)).isoformat(),
    ).get_json()
    found = {item["id"] for item in escalations(http, world)["periods_ending_without_next_step"]}
    assert ending["id"] in found
    assert later["id"] not in found
    step = http.post(
        f"/v1/service-periods/{ending['id']}/next-step",
        json={"path": "employment_services", "owner": "te-vs"},
        headers=world["provider"].client.headers("kalle.valmentaja"),
    )
    assert step.status_code == 200
    found = {item["id"] for item in escalations(http, world)["periods_ending_without_next_step"]}
    assert ending["id"] not in found


def test_three_periods_in_a_row_in_the_same_service_call_for_a_review(http, world):
    def one_period(months_ago: int, outcome: str) -> str:
        start = today() - dt.timedelta(days=30 * months_ago)
        made = record(
            http,
            world,
            start=start.isoformat(),
            planned_end=(start + dt.timedelta(days=120)).isoformat(),
        )
        period_id = made.get_json()["id"]
        ended = start + dt.timedelta(days=90)
        assert (
            close(http, world, period_id, outcome=outcome, ended_on=ended.isoformat()).status_code
            == 200
        )
        return str(made.get_json()["client_id"])

    client = one_period(20, "continued_same_service")
    one_period(15, "continued_same_service")
    assert escalations(http, world)["review_needed"] == []
    one_period(10, "continued_same_service")
    (flagged,) = escalations(http, world)["review_needed"]
    assert flagged["client_id"] == client
    assert flagged["periods"] == 3
    one_period(5, "employed")  # the latest three are no longer all the same
    assert escalations(http, world)["review_needed"] == []


def packet_with_period(world, period_id: str) -> str:
    start = today() - dt.timedelta(days=100)
    return sign_packet(
        world["provider"].packet_key,
        {
            "client": {"hetu": HETU},
            "from": {"organization": "kisalli", "worker": "kalle.valmentaja"},
            "to": {"organization": "te-vs"},
            "kind": "information",
            "purpose": "employment_services",
            "sections": [
                {
                    "type": "service_period",
                    "service": "kuntouttava_tyotoiminta",
                    "start": start.isoformat(),
                    "end": (start + dt.timedelta(days=180)).isoformat(),
                    "days_per_week": 3,
                    "hours_per_day": 5,
                    "period_id": period_id,
                }
            ],
        },
    )


def test_a_packet_section_may_name_only_the_senders_own_period_of_the_client(http, world, session):
    grant_consent(
        http,
        world["provider"],
        "kalle.valmentaja",
        world["te"],
        "tuomas.sw",
        hetu=HETU,
        categories=("service_period",),
    )
    own = record(http, world).get_json()["id"]
    foreign = http.post(
        "/v1/service-periods",
        json=period_body(),
        headers=world["outsider"].client.headers("olli.sw"),
    ).get_json()["id"]
    headers = {**world["provider"].client.headers(), "Content-Type": "application/jose"}
    sent = http.post("/v1/packets", data=packet_with_period(world, own), headers=headers)
    assert sent.status_code == 201, sent.get_json()
    refused = http.post("/v1/packets", data=packet_with_period(world, foreign), headers=headers)
    assert refused.status_code == 422
    assert refused.get_json()["errors"][0]["field"] == "sections[0].period_id"
    assert session.get(ServicePeriod, foreign).organization_id == "muu"


def test_the_start_page_shows_the_period_signals(app, http, world, session, rt):
    from exchange.registry.models import User
    from tests.webtools import PASSWORD, sign_in

    start = today() - dt.timedelta(days=100)
    record(
        http,
        world,
        start=start.isoformat(),
        planned_end=(today() + dt.timedelta(days=10)).isoformat(),
    )
    session.get(User, "kalle.valmentaja").password_hash = rt.passwords.hash(PASSWORD)
    session.commit()
    browser = app.test_client()
    assert sign_in(browser, "kalle.valmentaja").status_code == 302
    page = browser.get("/ui/").get_data(as_text=True)
    assert "Palvelujaksot, jotka päättyvät 30 päivän sisällä ilman jatkopolkua: 1" in page
    assert "<td>kuntouttava työtoiminta</td>" in page
    # The period's client is named (no name was given: the masked identity code), linking to
    # the client's page.
    assert re.search(
        r'<th scope="row"><a href="/ui/clients/[0-9a-f-]+">010190-9\*\*\*</a></th>', page
    )
    assert "kuntouttava_tyotoiminta" not in page
