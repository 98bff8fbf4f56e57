"""The unit of work: a refusal keeps its denial and its after-refusal work, nothing else."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import text

from adapters.db import utcnow
from consent.model import local_date
from exchange import audit, policy
from exchange.audit import Actor
from exchange.errors import Denial, Forbidden, NotFound
from exchange.policy import Identity
from exchange.unit import WORKER, UnitOfWork, current_unit, unit_of_work
from tests.conftest import audit_rows

PERSON = Identity(
    organization="org-a",
    client_id="org-a-system",
    username="ulla",
    roles=frozenset({"staff"}),
    request_id="r-1",
)
SYSTEM = Identity.service("system")


def changed(uow: UnitOfWork, marker: str) -> None:
    """A business change: an event the action itself writes."""
    audit.record(uow.session, Actor.of(PERSON), "consent.read", resource_id=marker)


def test_commit_keeps_the_change_with_its_audit_rows(rt):
    uow = UnitOfWork(rt.db.sessions, request_id="r-1")
    uow.authorize(PERSON, "consent.list")
    changed(uow, "kept")
    uow.commit()
    uow.close()
    [row] = audit_rows(rt, resource_id="kept")
    assert (row.actor_organization, row.actor_client, row.actor_user, row.request_id) == (
        "org-a",
        "org-a-system",
        "ulla",
        "r-1",
    )


def test_a_refusal_keeps_its_denial_and_after_refusal_work_and_nothing_of_the_change(rt):
    counted = []
    uow = UnitOfWork(rt.db.sessions, request_id="r-1", on_denial=counted.append)
    uow.claim(PERSON)
    changed(uow, "rolled-back")
    error = uow.refuse(
        Forbidden("No.", code="not_a_party"),
        Denial("consent.check", "consent", "c-1", client_ref="k-1", reason="not_a_party"),
    )
    uow.after_refusal(
        lambda: audit.record(uow.session, Actor.of(SYSTEM), "packet.block", resource_id="p-1")
    )
    assert isinstance(error, Forbidden)
    # Nothing that must be written rides on the exception.
    assert not hasattr(error, "audit")
    assert not hasattr(error, "followup")
    uow.rollback()
    uow.close()

    assert audit_rows(rt, resource_id="rolled-back") == []
    [denied] = audit_rows(rt, outcome="denied")
    assert (denied.action, denied.resource_type, denied.resource_id, denied.reason) == (
        "consent.check",
        "consent",
        "c-1",
        "not_a_party",
    )
    assert (denied.client_ref, denied.actor_user, denied.request_id) == ("k-1", "ulla", "r-1")
    [blocked] = audit_rows(rt, action="packet.block")
    assert (blocked.actor_organization, blocked.actor_client) == (None, "system")
    assert [denial.action for denial in counted] == ["consent.check"]


def test_the_policy_refusal_is_recorded_on_the_unit_and_no_principal_is_set(rt):
    uow = UnitOfWork(rt.db.sessions, request_id="r-2")
    auditor = Identity(organization="org-a", username="aino", roles=frozenset({"auditor"}))
    with pytest.raises(Forbidden) as refused:
        uow.authorize(auditor, "consent.record")
    assert refused.value.code == "role_required"
    assert uow.principal is None
    with pytest.raises(RuntimeError):
        uow.identity  # noqa: B018  # the property raises
    uow.rollback()
    uow.close()
    [denied] = audit_rows(rt, outcome="denied")
    assert (denied.action, denied.reason, denied.actor_user) == (
        "auth.acting_user",
        "role_required",
        "aino",
    )


def test_the_policy_records_its_refusal_on_the_request_unit_by_default(app, rt):
    auditor = Identity(organization="org-a", username="aino", roles=frozenset({"auditor"}))
    with app.test_request_context("/v1/consents", headers={"X-Request-ID": "r-3"}):
        app.preprocess_request()  # the request hooks open the unit of work
        unit = current_unit()
        with pytest.raises(Forbidden):
            policy.authorize(auditor, "consent.record")
        unit.rollback()
    [denied] = audit_rows(rt, outcome="denied")
    assert (denied.action, denied.reason, denied.request_id) == (
        "auth.acting_user",
        "role_required",
        "r-3",
    )


def test_a_worker_job_is_a_unit_of_work_of_its_own(rt):
    with unit_of_work(rt.db.sessions, WORKER, "packet.expire") as uow:
        assert uow.identity == WORKER
        audit.record(uow.session, Actor.of(uow.identity), "packet.expire", resource_id="done")
    [done] = audit_rows(rt, resource_id="done")
    assert (done.actor_organization, done.actor_client, done.request_id) == (
        None,
        "exchange-worker",
        "worker",
    )

    def refused_job() -> None:
        with unit_of_work(rt.db.sessions, WORKER, "packet.expire") as uow:
            audit.record(uow.session, Actor.of(uow.identity), "packet.expire", resource_id="undone")
            raise uow.refuse(NotFound("Gone."), Denial("packet.expire", "packet", "p-2"))

    with pytest.raises(NotFound):
        refused_job()
    assert audit_rows(rt, resource_id="undone") == []
    [denied] = audit_rows(rt, outcome="denied")
    assert (denied.action, denied.resource_id, denied.actor_client) == (
        "packet.expire",
        "p-2",
        "exchange-worker",
    )


def test_a_door_of_the_service_may_not_do_what_only_people_do(rt):
    with pytest.raises(Forbidden), unit_of_work(rt.db.sessions, WORKER, "consent.record"):
        pytest.fail("the block must not run")
    [denied] = audit_rows(rt, outcome="denied")
    assert (denied.action, denied.reason, denied.actor_client) == (
        "consent.record",
        "not_a_service_action",
        "exchange-worker",
    )


def test_a_refused_request_commits_its_denial_and_nothing_of_the_change(http, make_org, rt):
    source = make_org(users=[("kalle.staff", ["staff"])])
    recipient = make_org()
    body = {
        "client": {"hetu": "010190-900P"},
        "decision": "permit",
        "sources": [source.id],
        "recipients": [recipient.id],
        "categories": ["assessment"],
        "purposes": ["employment_services"],
        "valid_until": (local_date(utcnow()) + dt.timedelta(days=90)).isoformat(),
        "method": "electronic_strong_auth",
        "language": "fi",
        # The client is registered (a change, audited) before this reference is refused.
        "supersedes": "no-such-consent",
    }
    response = http.post("/v1/consents", json=body, headers=source.client.headers("kalle.staff"))
    assert response.status_code == 404
    assert response.get_json()["code"] == "consent_not_found"

    with rt.db.sessions() as session:
        assert session.execute(text("SELECT count(*) FROM client")).scalar() == 0
    assert audit_rows(rt, action="client.lookup") == []
    [denied] = audit_rows(rt, outcome="denied")
    assert (denied.action, denied.resource_type, denied.resource_id) == (
        "consent.record",
        "consent",
        "no-such-consent",
    )
    assert (denied.actor_organization, denied.actor_client, denied.actor_user) == (
        source.id,
        source.client.client_id,
        "kalle.staff",
    )
    assert denied.request_id == response.headers["X-Request-ID"]
    metrics = http.get("/metrics").get_data(as_text=True)
    assert 'exchange_audit_denials_total{action="consent.record"} 1.0' in metrics
