"""The registry cache: a request reads the registry version, not the rows, and a change made
through any door (API, web page, command line, registry load, another process) holds from the
very next request."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event, select

from exchange import create_app
from exchange.acting import authorize_request
from exchange.registry import cache
from exchange.registry.models import OAuthClient, Organization, RegistryVersion, User
from exchange.registry.service import load_registry
from tests.conftest import (
    ALL_SCOPES,
    business_id,
    new_signing_key,
    org_factory,
    public_jwks,
    runtime_of,
)
from tests.test_cli import invoke
from tests.webtools import PASSWORD, csrf, sign_in

REGISTRY_TABLE = re.compile(
    r"\b(?:FROM|JOIN|UPDATE|INTO)\s+\"?(organization|oauth_client|app_user|registry_version)\b",
    re.IGNORECASE,
)


@contextmanager
def registry_statements(app: Flask) -> Iterator[list[str]]:
    """The SQL statements that touch a registry table (or its version) while the block runs."""
    engine = runtime_of(app).db.engine
    seen: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if REGISTRY_TABLE.search(statement):
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", note)


def entry(org_id: str, client_key: Any, *, scopes: list[str] | None = None, **changes: Any):
    """A registry file of one organization, its client and two people; ``changes`` replace
    parts of it (``org``, ``client``, ``users``)."""
    organization = {
        "id": org_id,
        "name": "Välimuistin testikunta",
        "kind": "provider",
        "business_id": business_id(4_200_017),
        "jwks": public_jwks(new_signing_key()),
    } | changes.get("org", {})
    client = {
        "client_id": f"{org_id}-system",
        "organization": org_id,
        "scopes": scopes or ALL_SCOPES,
        "jwks": public_jwks(client_key),
    } | changes.get("client", {})
    users = changes.get(
        "users",
        [
            {
                "username": "sara.sw",
                "organization": org_id,
                "name": "Sara Sosiaalityöntekijä",
                "roles": ["social_worker", "admin"],
            },
            {
                "username": "lea.leaver",
                "organization": org_id,
                "name": "Lea Lähtijä",
                "roles": ["staff"],
            },
        ],
    )
    return {"organizations": [organization], "oauth_clients": [client], "users": users}


def unassigned(http: Any, org: Any, user: str = "sara.sw", **kwargs: Any) -> Any:
    """An API request that needs the scope ``clients:manage`` and names an acting person."""
    return http.get(
        f"/v1/organizations/{org.id}/unassigned", headers=org.client.headers(user, **kwargs)
    )


@pytest.fixture
def team(make_org: Any, rt: Any) -> Any:
    made = make_org(
        "cache-org",
        users=[
            ("sara.sw", ["social_worker", "admin"]),
            ("ada.admin", ["admin"]),
            ("lea.leaver", ["staff"]),
        ],
    )
    with rt.db.transaction() as s:
        s.get(User, "ada.admin").password_hash = rt.passwords.hash(PASSWORD)
    return made


def reload(rt: Any, document: dict[str, Any]) -> None:
    with rt.db.transaction() as s:
        load_registry(s, document, passwords=rt.passwords)


# --- what a request costs ---------------------------------------------------------------


def test_authentication_and_the_acting_user_cost_one_registry_statement(app, http, team):
    assert unassigned(http, team).status_code == 200  # the client and the person are cached

    def authorize() -> Any:
        headers = team.client.headers("sara.sw")
        with app.test_request_context("/v1/ping", headers=headers):
            app.preprocess_request()
            with registry_statements(app) as seen:
                identity = authorize_request("lead.unassigned")
            app.process_response(app.response_class())
        return identity, seen

    identity, seen = authorize()
    assert (identity.client_id, identity.username) == (team.client.client_id, "sara.sw")
    assert len(seen) == 1, seen
    assert "registry_version" in seen[0]


def test_a_whole_request_reads_the_registry_version_once(app, http, team):
    assert unassigned(http, team).status_code == 200
    with registry_statements(app) as seen:
        assert unassigned(http, team).status_code == 200
    assert [s for s in seen if "registry_version" in s] == [seen[0]]
    # The service's own query joins people; no row of the client or the person is read.
    assert not [s for s in seen if re.match(r"SELECT (oauth_client|app_user|organization)\.", s)]


def test_a_registry_write_raises_the_version_and_a_write_of_nothing_does_not(rt, team, session):
    def version() -> int:
        session.expire_all()
        return session.execute(select(RegistryVersion.version)).scalar_one()

    before = version()
    with rt.db.transaction() as s:
        s.get(Organization, team.id).name = "Uusi nimi"
    raised = version()
    assert raised > before
    with rt.db.transaction() as s:
        s.get(Organization, team.id).name = "Uusi nimi"  # the same: nothing written
        s.get(User, "lea.leaver").roles = ["staff"]
    assert version() == raised


def test_a_write_after_a_rolled_back_savepoint_still_raises_the_version(http, rt, team):
    assert unassigned(http, team).status_code == 200
    with rt.db.transaction() as s:
        savepoint = s.begin_nested()
        s.get(User, "lea.leaver").name = "Lea Peruttu"
        s.flush()
        savepoint.rollback()
        s.get(OAuthClient, team.client.client_id).scopes = ["packets:send"]
    assert unassigned(http, team).status_code == 403


# --- every door -------------------------------------------------------------------------


def test_a_scope_removed_by_a_registry_load_stops_the_next_request(http, rt, team):
    assert unassigned(http, team).status_code == 200
    reload(rt, entry(team.id, team.client.key, scopes=["packets:send"]))
    refused = unassigned(http, team)
    assert refused.status_code == 403
    assert refused.get_json()["code"] == "insufficient_scope"


def test_a_scope_removed_by_any_session_write_stops_the_next_request(http, team, session):
    assert unassigned(http, team).status_code == 200
    session.get(OAuthClient, team.client.client_id).scopes = ["packets:send"]
    session.commit()
    assert unassigned(http, team).status_code == 403


def test_a_client_deactivated_by_a_registry_load_is_refused_at_once(http, rt, team):
    assert unassigned(http, team).status_code == 200
    reload(rt, entry(team.id, team.client.key, client={"active": False}))
    refused = unassigned(http, team)
    assert refused.status_code == 401
    assert refused.get_json()["code"] == "invalid_token"
    assert team.client.token_response().status_code == 401


def test_a_rotated_client_key_takes_effect_at_the_next_token_request(http, rt, team):
    assert team.client.token_response().status_code == 200
    new_key = new_signing_key()
    reload(rt, entry(team.id, new_key))
    old = team.client.token_response()
    assert old.status_code == 401
    assert old.get_json()["error"] == "invalid_client"
    new = team.client.token_response(
        team.client.assertion(header={"kid": new_key.kid}, key=new_key)
    )
    assert new.status_code == 200, new.get_json()


def test_an_organization_changed_by_a_registry_load_is_seen_at_once(app, rt, team):
    new_key = new_signing_key()

    def seen() -> Any:
        with app.test_request_context("/"):
            app.preprocess_request()
            found = cache.organization(team.id)
            app.process_response(app.response_class())
        return found

    assert seen().name != "Välimuistin testikunta"
    reload(rt, entry(team.id, team.client.key, org={"jwks": public_jwks(new_key)}))
    changed = seen()
    assert changed.name == "Välimuistin testikunta"
    assert [key.kid for key in changed.keys] == [new_key.kid]


def test_a_worker_deactivated_through_the_api_cannot_act_on_the_next_request(http, team):
    assert unassigned(http, team).status_code == 200
    left = http.post(
        "/v1/workers/sara.sw/deactivate",
        json={"successor": None},
        headers=team.client.headers("ada.admin"),
    )
    assert left.status_code == 200
    refused = unassigned(http, team)
    assert refused.status_code == 403
    assert refused.get_json()["code"] == "acting_user_invalid"


def test_a_worker_activated_through_the_api_acts_again_on_the_next_request(http, team):
    admin = team.client.headers("ada.admin")
    left = http.post("/v1/workers/sara.sw/deactivate", json={"successor": None}, headers=admin)
    assert left.status_code == 200
    assert unassigned(http, team).status_code == 403
    assert http.post("/v1/workers/sara.sw/activate", headers=admin).status_code == 200
    assert unassigned(http, team).status_code == 200


def test_a_worker_deactivated_on_the_web_page_cannot_act_on_the_next_request(app, http, rt, team):
    document = entry(team.id, team.client.key)
    document["users"][0]["password"] = PASSWORD
    reload(rt, document)
    assert unassigned(http, team).status_code == 200
    browser = app.test_client()
    assert sign_in(browser, "ada.admin").status_code == 302
    page = browser.get("/ui/packets").get_data(as_text=True)
    left = browser.post(
        "/ui/leads/deactivate",
        data={"csrf_token": csrf(page), "worker": "sara.sw", "successor": "", "confirmed": "yes"},
    )
    assert left.status_code == 302
    refused = unassigned(http, team)
    assert refused.status_code == 403
    assert refused.get_json()["code"] == "acting_user_invalid"


def test_a_signed_in_person_deactivated_through_the_api_is_out_at_the_next_page(app, http, team):
    browser = app.test_client()
    assert sign_in(browser, "ada.admin").status_code == 302
    assert browser.get("/ui/packets").status_code == 200
    left = http.post(
        "/v1/workers/ada.admin/deactivate",
        json={"successor": None},
        headers=team.client.headers("sara.sw"),
    )
    assert left.status_code == 200
    out = browser.get("/ui/packets")
    assert out.status_code == 302
    assert "/ui/login" in out.headers["Location"]


def test_a_person_removed_from_a_role_by_a_registry_load_loses_it_at_once(http, rt, team):
    assert unassigned(http, team).status_code == 200
    document = entry(team.id, team.client.key)
    document["users"][0]["roles"] = ["staff"]
    reload(rt, document)
    refused = unassigned(http, team)
    assert refused.status_code == 403
    assert refused.get_json()["code"] != "acting_user_invalid"  # the role, not the person


def test_a_rolled_back_registry_write_leaves_nothing_in_the_cache(app, http, rt, team):
    assert unassigned(http, team).status_code == 200

    def write_read_and_fail() -> None:
        with rt.db.transaction() as s:
            load_registry(
                s, entry(team.id, team.client.key, scopes=["packets:send"]), passwords=rt.passwords
            )
            # The writing transaction reads its own change, past the cache.
            assert rt.registry.view(s).oauth_client(team.client.client_id).scopes == {
                "packets:send"
            }
            raise RuntimeError("refused after the write")

    with pytest.raises(RuntimeError):
        write_read_and_fail()
    # Another write takes the version number the rolled-back one had used.
    with rt.db.transaction() as s:
        s.get(User, "lea.leaver").name = "Lea Toinen"
    assert unassigned(http, team).status_code == 200


# --- another process on the same database -----------------------------------------------


@pytest.fixture
def live(committed_database: str, keys_dir: Path, redis_url: str | None) -> Iterator[Any]:
    """Two applications on one committed database, each with its own engine and cache, as two
    processes have."""
    config = {
        "TESTING": True,
        "MODE": "embedded",
        "DATABASE_URL": committed_database,
        "REDIS_URL": redis_url,
        "KEYS_DIR": str(keys_dir),
        "ISSUER": "http://exchange.test",
        "RATE_LIMIT": "10000/minute",
    }
    first, second = create_app(config), create_app(config)
    try:
        yield first, second, config
    finally:
        for application in (first, second):
            runtime_of(application).db.engine.dispose()


def test_a_deactivation_in_another_process_holds_at_the_next_request(live):
    first, second, _config = live
    one, two = first.test_client(), second.test_client()
    org = org_factory(runtime_of(first), one)(
        "cache-live", users=[("sara.sw", ["social_worker", "admin"]), ("lea.leaver", ["admin"])]
    )
    assert unassigned(one, org).status_code == 200
    other = replace(org.client, http=two, _tokens={})
    left = two.post(
        "/v1/workers/sara.sw/deactivate",
        json={"successor": None},
        headers=other.headers("lea.leaver"),
    )
    assert left.status_code == 200
    assert unassigned(one, org).status_code == 403


def test_a_registry_loaded_by_the_command_line_holds_at_the_next_request(live, tmp_path):
    first, _second, config = live
    http = first.test_client()
    org = org_factory(runtime_of(first), http)("cache-cli", users=[("sara.sw", ["social_worker"])])
    assert unassigned(http, org).status_code == 200
    file = tmp_path / "registry.json"
    document = entry(org.id, org.client.key, scopes=["packets:send"])
    document["users"] = []
    file.write_text(json.dumps(document))
    env = {
        "EXCHANGE_DATABASE_URL": config["DATABASE_URL"],
        "EXCHANGE_KEYS_DIR": config["KEYS_DIR"],
        "EXCHANGE_MODE": "embedded",
        "EXCHANGE_REDIS_URL": config["REDIS_URL"],
        "EXCHANGE_ISSUER": config["ISSUER"],
    }
    loaded = invoke(["registry", "load", str(file)], env)
    assert loaded.exit_code == 0, loaded.output
    assert json.loads(loaded.stdout)["oauth_clients.updated"] == 1
    assert unassigned(http, org).status_code == 403


# --- a connection the database dropped ---------------------------------------------------


@pytest.mark.skipif(
    not os.environ.get("EXCHANGE_TEST_DATABASE_URL"), reason="needs PostgreSQL to drop sessions"
)
def test_a_pooled_connection_the_database_dropped_is_replaced_without_an_error(live):
    from sqlalchemy import create_engine, make_url, text

    first, _second, config = live
    http = first.test_client()
    org = org_factory(runtime_of(first), http)("cache-pool", users=[("sara.sw", ["admin"])])

    def cut_every_connection() -> None:
        killer = create_engine(config["DATABASE_URL"])
        try:
            with killer.connect() as connection:
                cut = connection.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = :name AND pid <> pg_backend_pid()"
                    ),
                    {"name": make_url(config["DATABASE_URL"]).database},
                ).all()
        finally:
            killer.dispose()
        assert cut, "the pooled connection was cut"

    assert unassigned(http, org).status_code == 200  # a connection waits in the pool
    cut_every_connection()
    answered = unassigned(http, org)
    assert answered.status_code == 200, answered.get_json()
    cut_every_connection()
    assert http.get("/readyz").status_code == 200
