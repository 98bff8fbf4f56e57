"""X-Acting-User: the person a machine client acts for."""

from __future__ import annotations

from tests.conftest import audit_rows

LOOKUP = "/v1/clients/lookup"
BODY = {"hetu": "010190-900P"}


def test_missing_acting_user_is_403(org, http):
    response = http.post(LOOKUP, json=BODY, headers=org.client.headers())
    assert response.status_code == 403
    assert response.get_json()["code"] == "acting_user_required"


def test_unknown_acting_user_is_403(org, http):
    response = http.post(LOOKUP, json=BODY, headers=org.client.headers("nobody.here"))
    assert response.status_code == 403
    assert response.get_json()["code"] == "acting_user_invalid"


def test_user_of_another_organization_is_403_and_audited(org, make_org, http, rt):
    make_org("other-org", users=[("olga.other", ["social_worker"])])
    response = http.post(LOOKUP, json=BODY, headers=org.client.headers("olga.other"))
    assert response.status_code == 403
    assert response.get_json()["code"] == "acting_user_invalid"
    denied = audit_rows(rt, action="auth.acting_user", outcome="denied")
    assert denied[-1].resource_id == "olga.other"
    assert denied[-1].actor_organization == org.id


def test_inactive_user_is_403(org, http, session):
    from exchange.registry.models import User

    session.get(User, "kalle.staff").active = False
    session.commit()
    response = http.post(LOOKUP, json=BODY, headers=org.client.headers("kalle.staff"))
    assert response.status_code == 403


def test_role_is_checked_by_the_policy(org, http):
    """consent.approve needs an acting social worker: a staff member is refused, audited."""
    response = http.post("/v1/consents/no-such/approve", headers=org.client.headers("kalle.staff"))
    assert response.status_code == 403
    assert response.get_json()["code"] == "role_required"
    response = http.post("/v1/consents/no-such/approve", headers=org.client.headers("sanna.sw"))
    assert response.status_code == 404  # past the policy: the consent is unknown


def test_acting_user_is_recorded_in_the_audit_trail(org, http, rt):
    http.post(LOOKUP, json=BODY, headers=org.client.headers("sanna.sw"))
    assert audit_rows(rt, action="client.lookup")[-1].actor_user == "sanna.sw"
