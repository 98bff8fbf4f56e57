"""A deactivation stays until an admin undoes it: the registry file cannot bring a person back."""

from __future__ import annotations

from typing import Any

import pytest

from exchange.registry.models import User
from exchange.registry.service import load_registry
from tests.conftest import audit_rows


@pytest.fixture
def team(make_org: Any) -> Any:
    return make_org(
        "act-org",
        users=[
            ("ada.admin", ["admin"]),
            ("sid.sw", ["social_worker"]),
            ("lea.leaver", ["staff"]),
        ],
    )


def deactivate(http: Any, team: Any) -> None:
    response = http.post(
        "/v1/workers/lea.leaver/deactivate",
        json={"successor": None},
        headers=team.client.headers("sid.sw"),
    )
    assert response.status_code == 200


def registry_with_lea(active: bool = True) -> dict[str, Any]:
    return {
        "organizations": [],
        "oauth_clients": [],
        "users": [
            {
                "username": "lea.leaver",
                "organization": "act-org",
                "name": "Lea Leaver",
                "roles": ["staff"],
                "active": active,
            }
        ],
    }


def test_a_registry_load_never_reactivates_a_deactivated_worker(http, team, rt, session):
    deactivate(http, team)
    with rt.db.transaction() as s:
        load_registry(s, registry_with_lea(), passwords=rt.passwords)
    session.expire_all()
    lea = session.get(User, "lea.leaver")
    assert lea.active is False
    assert lea.deactivated_by == "sid.sw"


def test_an_admin_activates_a_worker_again(http, team, rt, session):
    deactivate(http, team)
    response = http.post(
        "/v1/workers/lea.leaver/activate", headers=team.client.headers("ada.admin")
    )
    assert response.status_code == 200
    assert response.get_json() == {"username": "lea.leaver", "active": True}
    session.expire_all()
    assert session.get(User, "lea.leaver").deactivated_at is None
    (event,) = audit_rows(rt, action="worker.activate", outcome="allowed")
    assert (event.actor_user, event.resource_id) == ("ada.admin", "lea.leaver")
    again = http.post("/v1/workers/lea.leaver/activate", headers=team.client.headers("ada.admin"))
    assert again.status_code == 409
    assert again.get_json()["code"] == "already_active"
    # Once activated, the registry file governs the person again.
    with rt.db.transaction() as s:
        load_registry(s, registry_with_lea(active=False), passwords=rt.passwords)
    session.expire_all()
    assert session.get(User, "lea.leaver").active is False


def test_only_an_admin_of_the_organization_activates(http, team, make_org):
    deactivate(http, team)
    refused = http.post("/v1/workers/lea.leaver/activate", headers=team.client.headers("sid.sw"))
    assert refused.status_code == 403
    assert refused.get_json()["code"] == "role_required"
    other = make_org("act-other", users=[("oda.admin", ["admin"])])
    hidden = http.post("/v1/workers/lea.leaver/activate", headers=other.client.headers("oda.admin"))
    unknown = http.post("/v1/workers/no.body/activate", headers=team.client.headers("ada.admin"))
    assert hidden.status_code == unknown.status_code == 404
    assert hidden.get_json()["code"] == unknown.get_json()["code"]
