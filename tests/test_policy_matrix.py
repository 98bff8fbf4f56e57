"""Every route of the API and of the web UI, asked by every kind of caller.

The expected answer of each cell is read from the policy (``exchange.policy``):
no credentials, a token without the action's scope, a person without the role
(each role in turn, the auditor among them), a person of another organization,
a deactivated person, and the right person, who must get through. A route the
application serves that is missing here fails the test, and so does a cell that
answers otherwise. ``test_the_policy_says_what_the_spec_says`` pins the policy
itself to the contract, so that weakening one of its lines fails too.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from consent.model import local_date
from consent.vocabulary import ROLES
from exchange import create_app
from exchange.policy import ACTIONS, Person, Visibility, action, view_actions
from exchange.registry.models import User
from exchange.webhooks.models import DEAD, WebhookDelivery
from tests.conftest import ALL_SCOPES, ISSUER, Org, org_factory, rolled_back, sign_packet
from tests.webtools import PASSWORD, csrf, sign_in

HETU = "010190-900P"
# Requests that register a client make the asking organization involved with that client, so
# they name another one: the other organization's answers stay about the world's client.
FRESH_HETU = "020290-9016"
JOSE = "application/jose"
HOME, PARTNER, OTHER = "mx-home", "mx-partner", "mx-other"
# The refusals that only the policy gives; any other answer means the policy let it through.
POLICY_CODES = {
    "missing_token",
    "invalid_token",
    "unauthenticated",
    "insufficient_scope",
    "acting_user_required",
    "acting_user_invalid",
    "role_required",
}


def today() -> dt.date:
    return local_date(dt.datetime.now(dt.UTC))


def day(offset: int) -> str:
    return (today() + dt.timedelta(days=offset)).isoformat()


def users_of(prefix: str) -> list[tuple[str, list[str]]]:
    """One person per role, a second social worker, a deactivated one and two who leave."""
    people = [(f"{prefix}.{role}", [role]) for role in ROLES]
    people += [(f"{prefix}.sw2", ["social_worker"]), (f"{prefix}.gone", ["social_worker"])]
    people += [(f"{prefix}.leaver1", ["staff"]), (f"{prefix}.leaver2", ["staff"])]
    people += [(f"{prefix}.left", ["staff"])]  # deactivated through the service, to activate
    return people


@dataclass
class World:
    app: Flask
    orgs: dict[str, Org]
    ids: dict[str, str] = field(default_factory=dict)
    web: dict[str, FlaskClient] = field(default_factory=dict)

    def person(self, org: str, role: str) -> str:
        return f"{org}.{role}"


@pytest.fixture(scope="module")
def world(database_url: str, keys_dir: Any) -> Iterator[World]:
    """Three organizations, one client, and an object of every kind for every route."""
    application = create_app(
        {
            "TESTING": True,
            "MODE": "embedded",
            "DATABASE_URL": database_url,
            "REDIS_URL": None,
            "KEYS_DIR": str(keys_dir),
            "ISSUER": ISSUER,
            "RATE_LIMIT": "100000/minute",
            "ARGON2_PROFILE": "cheapest",
        }
    )
    with rolled_back(application):
        http = application.test_client()
        rt = application.extensions["exchange"]
        make = org_factory(rt, http)
        orgs = {
            HOME: make(HOME, kind="provider", users=users_of(HOME)),
            PARTNER: make(PARTNER, kind="employment_services", users=users_of(PARTNER)),
            OTHER: make(OTHER, kind="provider", users=users_of(OTHER)),
        }
        w = World(application, orgs)
        _arrange(w, http, rt)
        yield w


def _ok(response: Any, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    return dict(response.get_json() or {})


def _arrange(w: World, http: FlaskClient, rt: Any) -> None:
    home, partner = w.orgs[HOME], w.orgs[PARTNER]

    def consent(approve: bool, **extra: Any) -> str:
        body = {
            "client": {"hetu": HETU},
            "grantor": {"type": "self"},
            "decision": "permit",
            "sources": [HOME],
            "recipients": [PARTNER],
            "categories": ["assessment", "plan", "contact_persons"],
            "purposes": ["employment_services"],
            "valid_until": day(300),
            "method": "signed_paper",
            "evidence": {"reference": "paper form 2026/1"},
            "language": "fi",
        } | extra
        if approve:
            body["approver_organization"] = PARTNER
        recorded = _ok(
            http.post("/v1/consents", json=body, headers=home.client.headers(f"{HOME}.staff")),
            201,
        )
        if approve:  # by the partner, named its approver organization
            _ok(
                http.post(
                    f"/v1/consents/{recorded['id']}/approve",
                    headers=partner.client.headers(f"{PARTNER}.social_worker"),
                )
            )
        return str(recorded["id"])

    w.ids["consent"] = consent(True)
    # Consents that routes change are about other data, so packets never rely on them.
    other_terms = {"categories": ["benefits"], "purposes": ["benefit_processing"]}
    for name in ("approve", "reject"):
        for door in ("api", "web"):
            w.ids[f"{name}_{door}"] = consent(False, **other_terms)
    for door in ("api", "web"):
        w.ids[f"withdraw_{door}"] = consent(True, **other_terms)
    lookup = http.post(
        "/v1/clients/lookup", json={"hetu": HETU}, headers=home.client.headers(f"{HOME}.staff")
    )
    w.ids["client"] = _ok(lookup)["id"]
    _ok(
        http.post(
            f"/v1/clients/{w.ids['client']}/lead",
            json={"worker": f"{HOME}.staff"},
            headers=home.client.headers(f"{HOME}.social_worker"),
        )
    )

    _ok(
        http.post(
            f"/v1/workers/{HOME}.left/deactivate",
            json={"successor": None},
            headers=home.client.headers(f"{HOME}.social_worker"),
        )
    )

    def packet(kind: str = "information", hetu: str = HETU) -> str:
        payload: dict[str, Any] = {
            "client": {"hetu": hetu},
            "from": {"organization": HOME, "worker": f"{HOME}.staff"},
            "to": {"organization": PARTNER},
            "kind": kind,
            "purpose": "employment_services",
            "case_reference": f"MX-{uuid.uuid4().hex[:12]}",  # each its own packet
            "sections": [
                {
                    "type": "plan",
                    "kind": "employment_plan",
                    "goals": [{"text": "Work trial in retail"}],
                    "next_step": "work trial",
                }
            ],
        }
        if kind == "transfer":
            payload["respond_by"] = day(14)
        sent = http.post(
            "/v1/packets",
            data=sign_packet(home.packet_key, payload),
            headers={**home.client.headers(), "Content-Type": JOSE},
        )
        return str(_ok(sent, 201)["id"])

    w.ids["packet"] = packet()
    for name in ("accept", "decline", "withdraw"):
        for door in ("api", "web"):
            w.ids[f"packet_{name}_{door}"] = packet()
    # Accepted transfers of clients of their own (the world's client keeps its lead at home),
    # whose first contact the partner records.
    for door, hetu in (("api", "030390-9219"), ("web", "040490-921R")):
        consent(True, client={"hetu": hetu}, categories=["plan"])
        transfer = packet("transfer", hetu)
        _ok(
            http.post(
                f"/v1/packets/{transfer}/accept",
                headers=partner.client.headers(f"{PARTNER}.social_worker"),
            )
        )
        w.ids[f"packet_contact_{door}"] = transfer
    w.ids["payload"] = sign_packet(
        home.packet_key,
        {
            "client": {"hetu": HETU},
            "from": {"organization": HOME, "worker": f"{HOME}.staff"},
            "to": {"organization": PARTNER},
            "kind": "information",
            "purpose": "employment_services",
            "sections": [
                {"type": "contact_persons", "persons": [{"name": "K V", "role": "coach"}]}
            ],
        },
    )

    def period() -> str:
        body = {
            "client": {"id": w.ids["client"]},
            "service": "kuntouttava_tyotoiminta",
            "start": day(-60),
            "planned_end": day(120),
            "days_per_week": 3,
            "hours_per_day": 6,
        }
        recorded = http.post(
            "/v1/service-periods", json=body, headers=home.client.headers(f"{HOME}.staff")
        )
        return str(_ok(recorded, 201)["id"])

    w.ids["period"] = period()
    w.ids["period_next"] = period()
    w.ids["period_close"] = period()

    with rt.db.sessions() as s:
        for org in (HOME, OTHER):
            s.add(
                WebhookDelivery(
                    id=str(uuid.uuid4()),
                    organization_id=org,
                    event_type="packet.received",
                    data={"packet_id": w.ids["packet"]},
                    status=DEAD,
                )
            )
        s.commit()
        w.ids["delivery"] = s.query(WebhookDelivery.id).filter_by(organization_id=HOME).scalar()

    auditor = home.client.headers(f"{HOME}.auditor")
    first = _ok(http.post("/v1/audit/checkpoints", headers=auditor), 201)
    http.get("/v1/audit/verify", headers=auditor)
    second = _ok(http.post("/v1/audit/checkpoints", headers=auditor), 201)
    w.ids["seq"] = "1"
    w.ids["from"], w.ids["to"] = str(first["tree_size"]), str(second["tree_size"])

    # Web sessions: every person who will ask, signed in through the form.
    digest = rt.passwords.hash(PASSWORD)
    with rt.db.sessions() as s:
        for user in s.query(User).filter(User.organization_id.in_([HOME, PARTNER, OTHER])):
            user.password_hash = digest
        s.commit()
    for org in (HOME, PARTNER, OTHER):
        for username, _roles in users_of(org):
            if username.endswith(".left"):
                continue  # deactivated already: no session to open
            client = w.app.test_client()
            assert sign_in(client, username).status_code == 302, username
            w.web[username] = client
    with rt.db.sessions() as s:
        for org in (HOME, PARTNER, OTHER):
            s.get(User, f"{org}.gone").active = False
        s.commit()


# --- the routes -------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    """One operation: how to call it, whose it is, and what the right person gets."""

    method: str
    rule: str  # as Flask knows it
    path: str  # with {placeholders} from World.ids
    home: str = HOME  # whose object it is: the right person works there
    json: dict[str, Any] | None = None
    form: dict[str, str] | None = None
    jose: bool = False
    fine: tuple[int, ...] = ()  # besides 2xx and 3xx, what the right person may get

    def url(self, w: World) -> str:
        return self.path.format(**w.ids)

    @property
    def names_object(self) -> bool:
        """Whether the request names an object of the home organization (path or body)."""
        return "{" in self.path or HOME in self.path or HOME in str(self.json or self.form)

    @property
    def web(self) -> bool:
        return self.rule.startswith("/ui")

    def __str__(self) -> str:
        return f"{self.method} {self.rule}"


LEAD_BODY = {"worker": f"{HOME}.staff"}
REASON = {"reason": "The client asked for it."}
CHECK = {
    "client": {"hetu": FRESH_HETU},
    "source": HOME,
    "recipient": PARTNER,
    "purpose": "employment_services",
    "categories": ["plan"],
}
CONSENT = {
    "client": {"hetu": FRESH_HETU},
    "grantor": {"type": "self"},
    "decision": "deny",
    "sources": [HOME],
    "recipients": [PARTNER],
    "categories": ["health"],
    "purposes": ["rehabilitation"],
    "valid_until": "2027-06-30",
    "method": "electronic_strong_auth",
    "language": "fi",
}
FIRST_CONTACT = {"date": day(0), "mode": "phone"}
PERIOD = {
    "client": {"hetu": FRESH_HETU},
    "service": "tyohonvalmennus",
    "start": "2026-09-01",
    "planned_end": "2027-02-28",
    "days_per_week": 3,
    "hours_per_day": 5,
}

API_ROUTES = [
    Route("POST", "/v1/clients/lookup", "/v1/clients/lookup", json={"hetu": FRESH_HETU}),
    Route("GET", "/v1/clients/<client_record_id:client_id>", "/v1/clients/{client}"),
    Route("POST", "/v1/clients/<string:client_id>/reveal", "/v1/clients/{client}/reveal"),
    Route(
        "GET",
        "/v1/clients/<string:client_id>/access-report",
        "/v1/clients/{client}/access-report",
    ),
    Route("GET", "/v1/clients/<string:client_id>/lead", "/v1/clients/{client}/lead"),
    Route(
        "POST", "/v1/clients/<string:client_id>/lead", "/v1/clients/{client}/lead", json=LEAD_BODY
    ),
    Route(
        "GET",
        "/v1/organizations/<string:organization_id>/unassigned",
        f"/v1/organizations/{HOME}/unassigned",
    ),
    Route(
        "POST",
        "/v1/workers/<string:username>/deactivate",
        f"/v1/workers/{HOME}.leaver1/deactivate",
        json={"successor": None},
    ),
    Route(
        "POST",
        "/v1/workers/<string:username>/activate",
        f"/v1/workers/{HOME}.left/activate",
    ),
    Route("GET", "/v1/escalations", "/v1/escalations"),
    Route("POST", "/v1/consents", "/v1/consents", json=CONSENT),
    Route("GET", "/v1/consents", "/v1/consents"),
    Route("GET", "/v1/consents/<string:consent_id>", "/v1/consents/{consent}"),
    Route("POST", "/v1/consents/<string:consent_id>/approve", "/v1/consents/{approve_api}/approve"),
    Route(
        "POST",
        "/v1/consents/<string:consent_id>/reject",
        "/v1/consents/{reject_api}/reject",
        json=REASON,
    ),
    Route(
        "POST",
        "/v1/consents/<string:consent_id>/withdraw",
        "/v1/consents/{withdraw_api}/withdraw",
        json=REASON,
    ),
    Route("GET", "/v1/consents/<string:consent_id>/receipt", "/v1/consents/{consent}/receipt"),
    Route("POST", "/v1/consent-checks", "/v1/consent-checks", json=CHECK),
    Route("POST", "/v1/packets", "/v1/packets", jose=True),
    Route("GET", "/v1/packets", "/v1/packets?box=outbox"),
    Route("GET", "/v1/packets/<string:packet_id>", "/v1/packets/{packet}"),
    Route("GET", "/v1/packets/<string:packet_id>/events", "/v1/packets/{packet}/events"),
    Route(
        "POST",
        "/v1/packets/<string:packet_id>/accept",
        "/v1/packets/{packet_accept_api}/accept",
        home=PARTNER,
    ),
    Route(
        "POST",
        "/v1/packets/<string:packet_id>/decline",
        "/v1/packets/{packet_decline_api}/decline",
        home=PARTNER,
        json=REASON,
    ),
    Route(
        "POST",
        "/v1/packets/<string:packet_id>/first-contact",
        "/v1/packets/{packet_contact_api}/first-contact",
        home=PARTNER,
        json=FIRST_CONTACT,
    ),
    Route(
        "POST",
        "/v1/packets/<string:packet_id>/withdraw",
        "/v1/packets/{packet_withdraw_api}/withdraw",
    ),
    Route("POST", "/v1/service-periods", "/v1/service-periods", json=PERIOD),
    Route("GET", "/v1/service-periods", "/v1/service-periods"),
    Route("GET", "/v1/service-periods/<string:period_id>", "/v1/service-periods/{period}"),
    Route(
        "POST",
        "/v1/service-periods/<string:period_id>/next-step",
        "/v1/service-periods/{period_next}/next-step",
        json={"path": "employment_services", "owner": PARTNER},
    ),
    Route(
        "POST",
        "/v1/service-periods/<string:period_id>/close",
        "/v1/service-periods/{period_close}/close",
        json={"outcome": "studies", "ended_on": day(-1)},
    ),
    # A report over fewer than ten clients is refused by its own rule, after the policy.
    Route(
        "GET", "/v1/reports/outcomes", "/v1/reports/outcomes?from=2026-01&to=2026-12", fine=(403,)
    ),
    Route("GET", "/v1/audit/events", "/v1/audit/events"),
    Route("GET", "/v1/audit/verify", "/v1/audit/verify"),
    Route("GET", "/v1/audit/checkpoints", "/v1/audit/checkpoints"),
    Route("POST", "/v1/audit/checkpoints", "/v1/audit/checkpoints"),
    Route("GET", "/v1/audit/events/<int:seq>/proof", "/v1/audit/events/{seq}/proof"),
    Route("GET", "/v1/audit/consistency", "/v1/audit/consistency?from={from}&to={to}"),
    Route("GET", "/v1/webhooks/deliveries", "/v1/webhooks/deliveries"),
    Route(
        "POST",
        "/v1/webhooks/deliveries/<string:delivery_id>/retry",
        "/v1/webhooks/deliveries/{delivery}/retry",
    ),
]

WEB_ROUTES = [
    Route("GET", "/ui/", "/ui/"),
    Route("GET", "/ui/audit", "/ui/audit"),
    Route("GET", "/ui/audit/export.csv", "/ui/audit/export.csv"),
    Route("GET", "/ui/audit/events/<int:seq>/proof", "/ui/audit/events/{seq}/proof"),
    Route(
        "GET",
        "/ui/clients/<string:client_id>/access-report",
        "/ui/clients/{client}/access-report",
    ),
    Route("GET", "/ui/clients", "/ui/clients"),
    # An empty search: the right person gets the form back asking for a code or a name.
    Route("POST", "/ui/clients", "/ui/clients", form={}, fine=(422,)),
    Route("GET", "/ui/clients/<string:client_id>", "/ui/clients/{client}"),
    Route("POST", "/ui/clients/<string:client_id>/reveal", "/ui/clients/{client}/reveal", form={}),
    Route("GET", "/ui/consents/new", "/ui/consents/new"),
    # An empty form: the right person gets the form back with what is missing.
    Route("POST", "/ui/consents/new", "/ui/consents/new", form={}, fine=(422,)),
    Route("GET", "/ui/consents/<string:consent_id>", "/ui/consents/{consent}"),
    Route("GET", "/ui/consents/<string:consent_id>/actions", "/ui/consents/{withdraw_web}/actions"),
    Route(
        "POST",
        "/ui/consents/<string:consent_id>/approve",
        "/ui/consents/{approve_web}/approve",
        form={},
    ),
    Route(
        "POST",
        "/ui/consents/<string:consent_id>/reject",
        "/ui/consents/{reject_web}/reject",
        form=REASON,
    ),
    Route(
        "POST",
        "/ui/consents/<string:consent_id>/withdraw",
        "/ui/consents/{withdraw_web}/withdraw",
        form=REASON,
    ),
    Route("GET", "/ui/consents/<string:consent_id>/receipt", "/ui/consents/{consent}/receipt"),
    Route("GET", "/ui/packets", "/ui/packets"),
    Route("GET", "/ui/packets/<string:packet_id>", "/ui/packets/{packet}"),
    Route(
        "POST",
        "/ui/packets/<string:packet_id>/accept",
        "/ui/packets/{packet_accept_web}/accept",
        home=PARTNER,
        form={},
    ),
    Route(
        "POST",
        "/ui/packets/<string:packet_id>/decline",
        "/ui/packets/{packet_decline_web}/decline",
        home=PARTNER,
        form=REASON,
    ),
    Route(
        "POST",
        "/ui/packets/<string:packet_id>/first-contact",
        "/ui/packets/{packet_contact_web}/first-contact",
        home=PARTNER,
        form=FIRST_CONTACT,
    ),
    Route(
        "POST",
        "/ui/packets/<string:packet_id>/withdraw",
        "/ui/packets/{packet_withdraw_web}/withdraw",
        form={},
    ),
    Route("GET", "/ui/leads", "/ui/leads"),
    *(
        Route("GET", f"/ui/lists/{name}", f"/ui/lists/{name}")
        for name in (
            "approvals",
            "waiting",
            "first-contacts",
            "periods-ending",
            "unassigned",
            "my-clients",
            "due",
            "denials",
        )
    ),
    Route(
        "POST", "/ui/leads/<string:client_id>/assign", "/ui/leads/{client}/assign", form=LEAD_BODY
    ),
    Route(
        "POST",
        "/ui/leads/deactivate",
        "/ui/leads/deactivate",
        form={"worker": f"{HOME}.leaver2", "successor": "", "confirmed": "yes"},
    ),
    Route("GET", "/ui/reports/outcomes", "/ui/reports/outcomes", fine=(403,)),
    Route("GET", "/ui/reports/outcomes.csv", "/ui/reports/outcomes.csv", fine=(403, 422)),
]
ROUTES = API_ROUTES + WEB_ROUTES


def test_every_route_is_in_the_matrix(world: World) -> None:
    served = {key for key, name in view_actions(world.app).items() if name is not None}
    listed = {(route.rule, route.method) for route in ROUTES}
    assert served - listed == set(), "routes the matrix does not ask"
    assert listed - served == set(), "routes in the matrix that are not served"


# --- the callers ------------------------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    """One caller of one route, and what the policy says it must get."""

    caller: str
    status: int | None  # None: through the policy (neither a policy refusal nor a 404)
    code: str | None = None


def expected_cells(route: Route, name: str) -> list[Cell]:
    """The cells of ``route`` (whose action is ``name``), refusals first, the right person last."""
    declared = action(name)
    cells: list[Cell] = []
    if route.web:
        cells.append(Cell("anonymous", 302))
    else:
        cells.append(Cell("anonymous", 401, "missing_token"))
        if declared.scopes:
            cells.append(Cell("wrong-scope", 403, "insufficient_scope"))
    if declared.person is not Person.NONE:
        for role in ROLES:
            if not declared.allows_roles([role]):
                cells.append(Cell(f"role:{role}", 403, "role_required"))
        if not route.web:
            cells.append(Cell("foreign-person", 403, "acting_user_invalid"))
        cells.append(
            Cell(
                "deactivated",
                302 if route.web else 403,
                None if route.web else "acting_user_invalid",
            )
        )
        if not route.web and declared.person is Person.REQUIRED:
            cells.append(Cell("no-person", 403, "acting_user_required"))
    hidden = declared.visibility is not Visibility.NONE and route.names_object
    cells.append(Cell("other-organization", 404 if hidden else None))
    cells.append(Cell("right", 0))
    return cells


def right_role(name: str) -> str:
    declared = action(name)
    return declared.roles[0] if declared.roles else "staff"


def ask(w: World, route: Route, caller: str, name: str) -> Any:
    """Make ``route``'s request as ``caller``."""
    org, role = route.home, right_role(name)
    scope: str | None = None
    person: str | None = f"{org}.{role}"
    if caller == "other-organization":
        org = OTHER
        person = f"{OTHER}.{role}"
    elif caller.startswith("role:"):
        person = f"{org}.{caller.removeprefix('role:')}"
    elif caller == "foreign-person":
        person = f"{OTHER}.{role}"
    elif caller == "deactivated":
        person = f"{org}.gone"
    elif caller == "no-person":
        person = None
    elif caller == "wrong-scope":
        scope = " ".join(s for s in ALL_SCOPES if s not in action(name).scopes)
    if action(name).person is Person.NONE:
        person = None
    url = route.url(w)
    if route.web:
        client = w.app.test_client() if caller == "anonymous" else w.web[person or ""]
        if route.method == "GET":
            return client.get(url)
        signed_out = caller in ("anonymous", "deactivated")
        token = "" if signed_out else csrf(client.get("/ui/").get_data(as_text=True))
        return client.post(url, data={**(route.form or {}), "csrf_token": token})
    http = w.app.test_client()
    headers = {} if caller == "anonymous" else w.orgs[org].client.headers(person, scope=scope)
    if route.jose:
        headers["Content-Type"] = JOSE
        return http.post(url, data=w.ids["payload"], headers=headers)
    return http.open(url, method=route.method, json=route.json, headers=headers)


def verdict(route: Route, cell: Cell, response: Any) -> str | None:
    """What is wrong with ``response`` for ``cell``; None when it is what the policy says."""
    status = response.status_code
    body = response.get_json(silent=True) or {}
    code = body.get("code") if isinstance(body, dict) else None
    if cell.status == 302:
        if status != 302 or "/ui/login" not in response.headers.get("Location", ""):
            return f"expected a redirect to sign in, got {status}"
        return None
    if cell.status == 0:  # the right person gets through and is served
        if status < 400 or status in route.fine:
            if status == 403 and code in POLICY_CODES | {"role_required"}:
                return f"the right person was refused: {code}"
            if status == 302 and "/ui/login" in response.headers.get("Location", ""):
                return "the right person was sent to sign in"
            return None
        return f"the right person got {status} {code or ''}"
    if cell.status is None:
        if status == 401 or (status == 403 and code in POLICY_CODES) or status == 404:
            return f"expected to get through, got {status} {code or ''}"
        return None
    if status != cell.status:
        return f"expected {cell.status} {cell.code or ''}, got {status} {code or ''}"
    if cell.code is not None and not route.web and code != cell.code:
        return f"expected code {cell.code}, got {code}"
    return None


@pytest.mark.parametrize("route", ROUTES, ids=str)
def test_route_answers_every_caller_as_the_policy_says(world: World, route: Route) -> None:
    name = view_actions(world.app)[(route.rule, route.method)]
    assert name is not None, "a route that names an action"
    wrong = []
    for cell in expected_cells(route, name):
        problem = verdict(route, cell, ask(world, route, cell.caller, name))
        if problem is not None:
            wrong.append(f"{cell.caller}: {problem}")
    assert wrong == [], f"{route} ({name})"


# --- the policy itself, against the contract --------------------------------------------

# SPEC section 4: the scopes of each operation, and the roles it names for the person acting.
SPEC_SCOPES = {
    "client.lookup": {"clients:manage", "consents:write"},
    "client.read": set(),
    "client.reveal": {"clients:manage"},
    "client.access_report": {"consents:read"},
    "lead.read": set(),
    "lead.assign": {"clients:manage"},
    "lead.unassigned": {"clients:manage"},
    "worker.deactivate": {"clients:manage"},
    "worker.activate": {"clients:manage"},
    "escalation.list": {"packets:send", "clients:manage"},
    "consent.record": {"consents:write"},
    "consent.list": {"consents:read"},
    "consent.read": {"consents:read"},
    "consent.approve": {"consents:approve"},
    "consent.reject": {"consents:approve"},
    "consent.withdraw": {"consents:write"},
    "consent.receipt": {"consents:read"},
    "consent.check": {"consents:read"},
    "packet.send": {"packets:send"},
    "packet.inbox": {"packets:receive"},
    "packet.outbox": {"packets:send"},
    "packet.accept": {"packets:receive"},
    "packet.decline": {"packets:receive"},
    "packet.withdraw": {"packets:send"},
    "packet.first_contact": {"packets:receive"},
    "audit.search": {"audit:read"},
    "audit.verify": {"audit:read"},
    "audit.checkpoints": {"audit:read"},
    "audit.checkpoint": {"audit:read"},
    "audit.proof": {"audit:read"},
    "audit.consistency": {"audit:read"},
    "packet.list": {"packets:receive", "packets:send"},
    "packet.read": {"packets:receive", "packets:send"},
    "packet.events": {"packets:receive", "packets:send"},
    "period.record": {"clients:manage"},
    "period.list": {"clients:manage"},
    "period.read": {"clients:manage"},
    "period.next_step": {"clients:manage"},
    "period.close": {"clients:manage"},
    "report.outcomes": {"clients:manage"},
    "webhook.list": {"packets:send", "packets:receive", "consents:read", "clients:manage"},
    "webhook.retry": {"packets:send", "packets:receive", "consents:read", "clients:manage"},
}
SPEC_ROLES = {
    "consent.approve": {"social_worker"},
    "consent.reject": {"social_worker"},
    "client.access_report": {"social_worker"},
    # Auditors are not casework people: the client's record and identity code are casework.
    "client.read": {"social_worker", "staff", "admin"},
    "client.reveal": {"social_worker", "staff", "admin"},
    "worker.deactivate": {"admin", "social_worker"},
    "worker.activate": {"admin"},
    "audit.search": {"auditor"},
    "audit.verify": {"auditor"},
    "audit.checkpoints": {"auditor"},
}
# Every write names its person (SPEC: "Every write needs X-Acting-User"), except a packet,
# whose signed payload names the worker.
SPEC_PERSON_REQUIRED = {
    "client.lookup",
    "client.reveal",
    "lead.assign",
    "worker.deactivate",
    "worker.activate",
    "consent.record",
    "consent.approve",
    "consent.reject",
    "consent.withdraw",
    "packet.accept",
    "packet.decline",
    "packet.withdraw",
    "packet.first_contact",
    "client.access_report",
    "audit.search",
}
# Auditors read the log and nothing else (issue: auditors are read-only everywhere).
AUDITOR_MAY = {
    "home.read",
    "home.denials",
    "audit.search",
    "audit.verify",
    "audit.checkpoints",
    "audit.checkpoint",
    "audit.proof",
    "audit.consistency",
}
# What another organization must not reach (its objects answer 404).
SPEC_HIDDEN = {
    "consent.read",
    "consent.approve",
    "consent.reject",
    "consent.withdraw",
    "consent.receipt",
    "packet.read",
    "packet.events",
    "packet.accept",
    "packet.decline",
    "packet.withdraw",
    "packet.first_contact",
    "lead.read",
    "client.access_report",
    "client.read",
    "client.reveal",
}


def test_the_policy_says_what_the_spec_says(world: World) -> None:
    api_actions = {
        name for (rule, _method), name in view_actions(world.app).items() if rule.startswith("/v1")
    }
    assert api_actions - {"packet.list"} <= set(SPEC_SCOPES), "an API action the test does not pin"
    for name, scopes in SPEC_SCOPES.items():
        assert set(action(name).scopes) == scopes, name
    for name, roles in SPEC_ROLES.items():
        assert set(action(name).roles) == roles, name
    for name in SPEC_PERSON_REQUIRED:
        assert action(name).person is Person.REQUIRED, name
    for name in SPEC_HIDDEN:
        assert action(name).visibility is not Visibility.NONE, name
    auditor_may = {
        name
        for name, declared in ACTIONS.items()
        if declared.person is not Person.NONE and declared.allows_roles(["auditor"])
    }
    assert auditor_may == AUDITOR_MAY


def test_a_route_without_an_action_stops_the_application(database_url: str, keys_dir: Any) -> None:
    from exchange.policy import check_routes

    application = create_app(
        {"TESTING": True, "DATABASE_URL": database_url, "KEYS_DIR": str(keys_dir)}
    )
    check_routes(application)
    application.add_url_rule("/ui/forgotten", "forgotten", lambda: "secret")
    with pytest.raises(RuntimeError, match="/ui/forgotten"):
        check_routes(application)


# --- auditors read the log and nothing else ---------------------------------------------


def test_an_auditor_is_never_given_clients(world: World) -> None:
    http = world.app.test_client()
    home = world.orgs[HOME]
    assigned = http.post(
        f"/v1/clients/{world.ids['client']}/lead",
        json={"worker": f"{HOME}.auditor"},
        headers=home.client.headers(f"{HOME}.social_worker"),
    )
    assert assigned.status_code == 422
    assert assigned.get_json()["errors"][0]["field"] == "worker"
    successor = http.post(
        f"/v1/workers/{HOME}.sw2/deactivate",
        json={"successor": f"{HOME}.auditor"},
        headers=home.client.headers(f"{HOME}.social_worker"),
    )
    assert successor.status_code == 422
    assert successor.get_json()["errors"][0]["field"] == "successor"
    page = world.web[f"{HOME}.social_worker"].get("/ui/leads").get_data(as_text=True)
    successors = page[page.index('id="deactivate-successor"') :]
    assert f'value="{HOME}.staff"' in successors
    assert f'value="{HOME}.auditor"' not in successors


def test_an_auditor_start_page_offers_the_log_only(world: World) -> None:
    page = world.web[f"{HOME}.auditor"].get("/ui/").get_data(as_text=True)
    assert 'href="/ui/audit"' in page
    assert 'href="/ui/consents/' not in page
    assert 'href="/ui/packets/' not in page
    assert 'href="/ui/lists/denials"' in page
    assert 'href="/ui/lists/waiting"' not in page
    worker = world.web[f"{PARTNER}.social_worker"].get("/ui/").get_data(as_text=True)
    assert 'href="/ui/lists/waiting"' in worker  # the same page shows casework to a social worker
    assert 'href="/ui/lists/denials"' not in worker


def test_the_document_says_what_the_policy_says(world: World) -> None:
    document = world.app.test_client().get("/openapi.json").get_json()
    operations = {
        (path, method.upper()): operation
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in ("get", "post")
    }
    for (path, _method), operation in operations.items():
        declared = action(operation["x-action"])
        assert operation["security"] == (
            [{"oauth2": [scope]} for scope in declared.scopes] or [{"oauth2": []}]
        ), path
        headers = {p["name"]: p for p in operation.get("parameters", []) if p["in"] == "header"}
        if declared.person is Person.NONE:
            assert "X-Acting-User" not in headers, path
        else:
            assert headers["X-Acting-User"]["required"] is (declared.person is Person.REQUIRED)
            assert operation["x-roles"] == list(declared.roles)
    inbox = {p["name"] for p in operations[("/v1/packets", "GET")]["parameters"]}
    assert {"box", "limit", "cursor", "X-Acting-User"} <= inbox  # the query is kept
