"""The approver organization: a provider records a consent, the client's own social services
approves it. Only that organization's social workers decide (four eyes as ever), it sees the
consent in its queue while it waits, and a consent nobody has approved opens nothing beyond
itself: the approver organization is involved with the client only once it has approved."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import pytest

from consent.model import local_date
from schemas.consents import CONSENT_EXAMPLE, ConsentCreate
from tests.conftest import Org, audit_rows
from tests.webtools import csrf, give_passwords, signed_in

ROOT = Path(__file__).resolve().parent.parent
HETU = "010190-900P"
PROVIDER, SOCIAL, RECIPIENT, OUTSIDER = "kisalli-apr", "sosiaali-apr", "te-apr", "outsider-apr"
COACH, PROVIDER_SW = "kalle.apr", "liisa.apr"
SOCIAL_SW, SOCIAL_SW2, SOCIAL_STAFF = "sari.apr", "sanna.apr", "olli.apr"
RECIPIENT_SW, OUTSIDER_SW = "tuomas.apr", "oona.apr"


def today() -> dt.date:
    return local_date(dt.datetime.now(dt.UTC))


@pytest.fixture
def world(make_org: Any, session: Any, rt: Any) -> dict[str, Org]:
    """A provider that records, the client's social services that approves, employment
    services that receives, and an organization that has nothing to do with the client."""
    orgs = {
        "provider": make_org(
            PROVIDER,
            kind="provider",
            users=[(COACH, ["staff"]), (PROVIDER_SW, ["social_worker"])],
        ),
        "social": make_org(
            SOCIAL,
            kind="social_services",
            users=[
                (SOCIAL_SW, ["social_worker"]),
                (SOCIAL_SW2, ["social_worker"]),
                (SOCIAL_STAFF, ["staff"]),
            ],
        ),
        "recipient": make_org(
            RECIPIENT, kind="employment_services", users=[(RECIPIENT_SW, ["social_worker"])]
        ),
        "outsider": make_org(OUTSIDER, kind="provider", users=[(OUTSIDER_SW, ["social_worker"])]),
    }
    give_passwords(
        session, rt, (COACH, PROVIDER_SW, SOCIAL_SW, SOCIAL_SW2, RECIPIENT_SW, OUTSIDER_SW)
    )
    return orgs


def consent_body(**changes: Any) -> dict[str, Any]:
    body = {
        "client": {"hetu": HETU},
        "decision": "permit",
        "sources": [PROVIDER],
        "recipients": [RECIPIENT],
        "categories": ["assessment", "plan"],
        "purposes": ["employment_services"],
        "valid_until": (today() + dt.timedelta(days=200)).isoformat(),
        "method": "electronic_strong_auth",
        "language": "fi",
        "approver_organization": SOCIAL,
    } | changes
    return {name: value for name, value in body.items() if value is not None}


def record(http: Any, org: Org, user: str = COACH, **changes: Any) -> dict[str, Any]:
    response = http.post(
        "/v1/consents", json=consent_body(**changes), headers=org.client.headers(user)
    )
    assert response.status_code == 201, response.get_json()
    return dict(response.get_json())


def decide(http: Any, org: Org, user: str, consent_id: str, action: str = "approve") -> Any:
    body = {"reason": "The client did not sign the form"} if action == "reject" else None
    return http.post(
        f"/v1/consents/{consent_id}/{action}", json=body, headers=org.client.headers(user)
    )


def pending_ids(http: Any, org: Org, query: str = "") -> list[str]:
    """Every pending consent the organization lists, page by page (two to a page)."""
    seen: list[str] = []
    cursor = None
    while True:
        url = (
            "/v1/consents?status=pending&limit=2" + query + (f"&cursor={cursor}" if cursor else "")
        )
        response = http.get(url, headers=org.client.headers())
        assert response.status_code == 200, response.get_json()
        page = response.get_json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return seen


def sees_client(http: Any, org: Org, social_worker: str, client_id: str) -> bool:
    """Whether the organization reads the client's lead and access report (both or neither)."""
    lead = http.get(f"/v1/clients/{client_id}/lead", headers=org.client.headers()).status_code
    report = http.get(
        f"/v1/clients/{client_id}/access-report", headers=org.client.headers(social_worker)
    ).status_code
    assert {lead, report} <= {200, 404}, (lead, report)
    assert lead == report, (lead, report)
    return bool(lead == 200)


# --- recording -----------------------------------------------------------------------------


def test_the_approver_organization_defaults_to_the_recorders_own(http, world):
    consent = record(http, world["provider"], approver_organization=None)
    assert consent["approver_organization"] == PROVIDER
    # The recipient, named in the consent, may read it but not decide it.
    refused = decide(http, world["recipient"], RECIPIENT_SW, consent["id"])
    assert refused.status_code == 403
    assert refused.get_json()["code"] == "not_the_approver"
    approved = decide(http, world["provider"], PROVIDER_SW, consent["id"])
    assert approved.status_code == 200, approved.get_json()
    assert approved.get_json()["decided"]["organization"] == PROVIDER


def test_the_named_approver_organization_is_in_every_representation(http, world):
    consent = record(http, world["provider"])
    assert consent["approver_organization"] == SOCIAL
    read = http.get(f"/v1/consents/{consent['id']}", headers=world["provider"].client.headers())
    assert read.get_json()["approver_organization"] == SOCIAL
    listed = http.get("/v1/consents", headers=world["provider"].client.headers()).get_json()
    assert [item["approver_organization"] for item in listed["items"]] == [SOCIAL]


@pytest.mark.parametrize("approver", ["no-such-organization", "Not An Id!"])
def test_an_unknown_approver_organization_is_422_naming_the_field(http, world, session, approver):
    response = http.post(
        "/v1/consents",
        json=consent_body(approver_organization=approver),
        headers=world["provider"].client.headers(COACH),
    )
    assert response.status_code == 422
    assert [error["field"] for error in response.get_json()["errors"]] == ["approver_organization"]
    listed = http.get("/v1/consents", headers=world["provider"].client.headers()).get_json()
    assert listed["items"] == []


# --- the approver organization's queue and decision -------------------------------------------


def test_the_approver_organization_sees_the_pending_consent_and_approves_it(http, world, rt):
    consent = record(http, world["provider"])
    social = world["social"]
    read = http.get(f"/v1/consents/{consent['id']}", headers=social.client.headers())
    assert read.status_code == 200
    assert read.get_json()["status"] == "pending"
    # Its queue needs no client id: the approver does not know the client yet.
    assert pending_ids(http, social) == [consent["id"]]
    approved = decide(http, social, SOCIAL_SW, consent["id"])
    assert approved.status_code == 200, approved.get_json()
    body = approved.get_json()
    assert body["status"] == "active"
    assert body["decided"] == body["decided"] | {"organization": SOCIAL, "user": SOCIAL_SW}
    event = audit_rows(rt, action="consent.approve")[-1]
    assert (event.actor_organization, event.actor_user, event.outcome) == (
        SOCIAL,
        SOCIAL_SW,
        "allowed",
    )
    assert pending_ids(http, social) == []


def test_the_queue_pages_with_a_cursor_and_keeps_what_the_organization_sees_anyway(http, world):
    social = world["social"]
    named = [record(http, world["provider"])["id"] for _ in range(3)]
    # Recorded by social services itself (its own to approve) and one it is only a source of.
    own = record(http, social, SOCIAL_STAFF, sources=[SOCIAL], approver_organization=None)["id"]
    source_only = record(http, world["provider"], sources=[SOCIAL], approver_organization=None)
    not_its = record(http, world["provider"], approver_organization=None)["id"]
    listed = pending_ids(http, social)
    assert sorted(listed) == sorted([*named, own, source_only["id"]])
    assert not_its not in listed
    assert pending_ids(http, world["outsider"]) == []


def test_the_approver_organization_rejects_and_is_audited(http, world, rt):
    consent = record(http, world["provider"])
    rejected = decide(http, world["social"], SOCIAL_SW, consent["id"], "reject")
    assert rejected.status_code == 200, rejected.get_json()
    assert rejected.get_json()["status"] == "rejected"
    event = audit_rows(rt, action="consent.reject")[-1]
    assert (event.actor_organization, event.outcome) == (SOCIAL, "allowed")


@pytest.mark.parametrize("action", ["approve", "reject"])
@pytest.mark.parametrize(
    ("which", "user"), [("provider", PROVIDER_SW), ("recipient", RECIPIENT_SW)]
)
def test_another_organization_that_sees_the_consent_may_not_decide_it(
    http, world, rt, action, which, user
):
    """The recorder's own social worker (and any other party) sees it but is refused, 403."""
    consent = record(http, world["provider"])
    refused = decide(http, world[which], user, consent["id"], action)
    assert refused.status_code == 403
    assert refused.get_json()["code"] == "not_the_approver"
    denied = audit_rows(rt, action=f"consent.{action}", outcome="denied")[-1]
    assert (denied.actor_user, denied.reason) == (user, "not_the_approver")
    still = http.get(f"/v1/consents/{consent['id']}", headers=world["social"].client.headers())
    assert still.get_json()["status"] == "pending"


def test_a_third_organization_gets_404_for_read_approve_and_reject(http, world, rt):
    consent = record(http, world["provider"])
    outsider = world["outsider"]
    for method, suffix, body in [
        ("get", "", None),
        ("post", "/approve", None),
        ("post", "/reject", {"reason": "not mine"}),
    ]:
        response = getattr(http, method)(
            f"/v1/consents/{consent['id']}{suffix}",
            json=body,
            headers=outsider.client.headers(OUTSIDER_SW),
        )
        assert response.status_code == 404, suffix
        assert response.get_json()["code"] == "consent_not_found"
    assert len(audit_rows(rt, outcome="denied", actor_organization=OUTSIDER)) == 3


def test_four_eyes_holds_in_the_approver_organization(http, world):
    consent = record(http, world["social"], SOCIAL_SW, sources=[SOCIAL])
    refused = decide(http, world["social"], SOCIAL_SW, consent["id"])
    assert refused.status_code == 403
    assert refused.get_json()["code"] == "four_eyes_required"
    approved = decide(http, world["social"], SOCIAL_SW2, consent["id"])
    assert approved.status_code == 200, approved.get_json()


def test_staff_of_the_approver_organization_may_not_decide(http, world):
    consent = record(http, world["provider"])
    refused = decide(http, world["social"], SOCIAL_STAFF, consent["id"])
    assert refused.status_code == 403
    assert refused.get_json()["code"] == "role_required"


# --- what a consent opens -------------------------------------------------------------------


def test_a_pending_consent_opens_nothing_to_the_approver_until_it_approves(http, world):
    consent = record(http, world["provider"])
    client_id = consent["client_id"]
    social = world["social"]
    assert not sees_client(http, social, SOCIAL_SW, client_id)
    assert decide(http, social, SOCIAL_SW, consent["id"]).status_code == 200
    assert sees_client(http, social, SOCIAL_SW, client_id)
    assert not sees_client(http, world["outsider"], OUTSIDER_SW, client_id)


def test_a_rejected_consent_opens_nothing_to_the_approver(http, world):
    consent = record(http, world["provider"])
    assert decide(http, world["social"], SOCIAL_SW, consent["id"], "reject").status_code == 200
    assert not sees_client(http, world["social"], SOCIAL_SW, consent["client_id"])


def test_a_ban_stores_its_approver_but_opens_nothing_to_it(http, world):
    """A ban is active at once; the organization named to approve never approved anything."""
    ban = record(http, world["provider"], decision="deny")
    assert ban["status"] == "active"
    assert ban["approver_organization"] == SOCIAL
    social = world["social"]
    read = http.get(f"/v1/consents/{ban['id']}", headers=social.client.headers())
    assert read.status_code == 200
    assert not sees_client(http, social, SOCIAL_SW, ban["client_id"])
    assert decide(http, social, SOCIAL_SW, ban["id"]).status_code == 409


# --- the web UI -----------------------------------------------------------------------------


def test_the_start_page_queue_shows_what_the_organization_is_to_approve(app, http, world):
    theirs = record(http, world["provider"])
    not_theirs = record(http, world["provider"], approver_organization=None)
    own = record(http, world["social"], SOCIAL_SW, sources=[SOCIAL], approver_organization=None)
    worker = signed_in(app, SOCIAL_SW)
    assert 'href="/ui/lists/approvals"' in worker.get("/ui/").get_data(as_text=True)
    start = worker.get("/ui/lists/approvals").get_data(as_text=True)
    assert f"/ui/consents/{theirs['id']}" in start
    assert f"/ui/consents/{own['id']}" in start
    assert f"/ui/consents/{not_theirs['id']}" not in start
    # The one the social worker recorded is marked: a colleague must approve it.
    rows = re.findall(r"<tr data-item.*?</tr>", start, flags=re.S)
    mine = [row for row in rows if own["id"] in row]
    others = [row for row in rows if theirs["id"] in row]
    assert "Kirjasit tämän itse" in mine[0]
    assert "Kirjasit tämän itse" not in others[0]
    colleague = signed_in(app, SOCIAL_SW2).get("/ui/lists/approvals").get_data(as_text=True)
    assert f"/ui/consents/{own['id']}" in colleague
    assert "Kirjasit tämän itse" not in colleague
    provider_start = signed_in(app, PROVIDER_SW).get("/ui/lists/approvals").get_data(as_text=True)
    assert f"/ui/consents/{theirs['id']}" not in provider_start
    assert f"/ui/consents/{not_theirs['id']}" in provider_start


def test_the_approver_organization_approves_in_the_web_ui(app, http, world, rt):
    consent = record(http, world["provider"])
    client = signed_in(app, SOCIAL_SW)
    page = client.get(f"/ui/consents/{consent['id']}").get_data(as_text=True)
    assert f"/ui/consents/{consent['id']}/approve" in page
    approved = client.post(f"/ui/consents/{consent['id']}/approve", data={"csrf_token": csrf(page)})
    assert approved.status_code == 302
    status = http.get(f"/v1/consents/{consent['id']}", headers=world["social"].client.headers())
    assert status.get_json()["status"] == "active"
    event = audit_rows(rt, action="consent.approve")[-1]
    assert (event.actor_organization, event.actor_client) == (SOCIAL, "web")


@pytest.mark.parametrize("action", ["approve", "reject"])
def test_the_web_ui_refuses_the_others(app, http, world, action):
    consent = record(http, world["provider"])
    url = f"/ui/consents/{consent['id']}/{action}"
    form = {"reason": "The client did not sign the form"}
    recorder_org = signed_in(app, PROVIDER_SW)
    page = recorder_org.get(f"/ui/consents/{consent['id']}").get_data(as_text=True)
    assert url not in page
    assert "Tämän suostumuksen hyväksyy tai hylkää organisaation" in page
    assert recorder_org.post(url, data=form | {"csrf_token": csrf(page)}).status_code == 403
    third = signed_in(app, OUTSIDER_SW)
    token = csrf(third.get("/ui/").get_data(as_text=True))
    assert third.get(f"/ui/consents/{consent['id']}").status_code == 404
    assert third.post(url, data=form | {"csrf_token": token}).status_code == 404
    status = http.get(f"/v1/consents/{consent['id']}", headers=world["social"].client.headers())
    assert status.get_json()["status"] == "pending"


def test_the_recording_form_names_the_approver_organization(app, http, world, session):
    client = signed_in(app, COACH)
    page = client.get("/ui/consents/new").get_data(as_text=True)
    chosen = re.search(r'<select id="approver_organization".*?</select>', page, flags=re.S)
    assert chosen is not None
    assert re.search(rf'<option value="{PROVIDER}" selected', chosen.group(0))
    data = {
        "csrf_token": csrf(page),
        "hetu": HETU,
        "decision": "permit",
        "grantor_type": "self",
        "sources": [PROVIDER],
        "recipients": [RECIPIENT],
        "categories": ["assessment"],
        "purposes": ["employment_services"],
        "valid_until": (today() + dt.timedelta(days=60)).isoformat(),
        "method": "electronic_strong_auth",
        "language": "fi",
    }
    unknown = client.post("/ui/consents/new", data=data | {"approver_organization": "nobody-x"})
    assert unknown.status_code == 422
    assert 'id="approver_organization-error"' in unknown.get_data(as_text=True)
    saved = client.post(
        "/ui/consents/new", data=data | {"record": "1", "approver_organization": SOCIAL}
    )
    assert saved.status_code == 303
    consent_id = saved.headers["Location"].rsplit("/", 1)[-1]
    read = http.get(f"/v1/consents/{consent_id}", headers=world["social"].client.headers())
    assert read.get_json()["approver_organization"] == SOCIAL


# --- documentation ----------------------------------------------------------------------------


def test_the_documented_consent_bodies_are_valid_requests(app):
    """The OpenAPI example and the README's consent body load through the API's schema, and
    name an approver organization of the demo registry."""
    from exchange.demo import ORGANIZATIONS

    demo = {entry[0] for entry in ORGANIZATIONS}
    assert ConsentCreate().load(CONSENT_EXAMPLE)["approver_organization"] in demo
    document = app.test_client().get("/openapi.json").get_json()
    body = document["paths"]["/v1/consents"]["post"]["requestBody"]["content"]["application/json"]
    assert body["example"] == CONSENT_EXAMPLE
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Consents") : readme.index("## Handover packets")]
    blocks = re.findall(r"```json\n(.*?)```", section, flags=re.S)
    documented = [json.loads(block) for block in blocks if '"approver_organization"' in block]
    assert documented, "the README's Consents section shows a consent body"
    for example in documented:
        loaded = ConsentCreate().load(example)
        assert loaded["approver_organization"] in demo
        assert set(loaded["sources"]) | set(loaded["recipients"]) <= demo


# --- the domain rule and the migration ----------------------------------------------------------


def test_the_rule_asks_the_organization_before_the_status_and_fails_closed():
    from consent import model

    now = dt.datetime.now(dt.UTC)
    pending = model.ConsentRecord(
        id="c1",
        client_id="x",
        decision=model.PERMIT,
        status=model.PENDING,
        sources=frozenset({"a"}),
        recipients=frozenset({"b"}),
        categories=frozenset({"plan"}),
        purposes=frozenset({"employment_services"}),
        valid_from=today(),
        valid_until=today() + dt.timedelta(days=30),
        recorded_at=now,
        recorded_by_user="kalle",
        approver_organization="sos",
    )
    assert model.decision_refusal(pending, "sos", "sari", now, "approve") is None
    assert model.decision_refusal(pending, "sos", "sari", now, "reject") is None
    for organization in ("a", "b", ""):
        refused = model.decision_refusal(pending, organization, "sari", now, "approve")
        assert refused is not None
        assert refused.code == "not_the_approver"
    assert model.decision_refusal(pending, "sos", "kalle", now, "approve").code == (
        "four_eyes_required"
    )
    active = model.approve(pending, "sari", now, "sos")
    assert model.decision_refusal(active, "a", "liisa", now, "approve").code == "not_the_approver"
    assert model.decision_refusal(active, "sos", "sanna", now, "approve").code == "consent_active"
    with pytest.raises(model.TransitionNotAllowed):
        model.approve(pending, "sari", now)  # no organization given: refused


def test_the_migration_makes_the_recorder_the_approver_of_earlier_consents(tmp_path):
    """Consents recorded before revision 0012 were decided by their recorder's organization."""
    import sqlalchemy as sa
    from alembic.command import downgrade

    from adapters.db import make_engine
    from exchange.migrate import alembic_config, upgrade

    url = f"sqlite:///{tmp_path / 'before.db'}"
    upgrade(url, revision="0011")
    engine = make_engine(url)
    try:
        meta = sa.MetaData()
        meta.reflect(engine, only=["organization", "client", "consent", "consent_party"])

        def filled(table: sa.Table, **given: Any) -> dict[str, Any]:
            placeholders = {
                sa.String: "x",
                sa.Text: "x",
                sa.JSON: [],
                sa.Date: today(),
                sa.DateTime: dt.datetime.now(dt.UTC),
                sa.LargeBinary: b"x",
            }
            row = dict(given)
            for column in table.columns:
                if column.name in row or column.nullable:
                    continue
                row[column.name] = next(
                    value for kind, value in placeholders.items() if isinstance(column.type, kind)
                )
            return row

        tables = meta.tables
        with engine.begin() as connection:
            connection.execute(
                tables["organization"].insert(), filled(tables["organization"], id="old-org")
            )
            connection.execute(tables["client"].insert(), filled(tables["client"], id="old-client"))
            connection.execute(
                tables["consent"].insert(),
                filled(
                    tables["consent"],
                    id="old-consent",
                    client_id="old-client",
                    recorded_by_org="old-org",
                    supersedes=None,
                ),
            )
            connection.execute(
                tables["consent_party"].insert(),
                {"consent_id": "old-consent", "organization_id": "old-org", "role": "recorder"},
            )
        upgrade(url, revision="0012")
        with engine.connect() as connection:
            approver = connection.execute(
                sa.text("SELECT approver_organization FROM consent WHERE id = 'old-consent'")
            ).scalar_one()
            roles = connection.execute(
                sa.text("SELECT role FROM consent_party WHERE consent_id = 'old-consent'")
            ).scalars()
            assert approver == "old-org"
            assert sorted(roles) == ["named_approver", "recorder"]
        downgrade(alembic_config(url), "0011")
        with engine.connect() as connection:
            columns = {column["name"] for column in sa.inspect(connection).get_columns("consent")}
            roles = connection.execute(
                sa.text("SELECT role FROM consent_party WHERE consent_id = 'old-consent'")
            ).scalars()
            assert "approver_organization" not in columns
            assert list(roles) == ["recorder"]
    finally:
        engine.dispose()
