"""Who may do what: every action of the product, declared once, asked by every door.

An :class:`Action` names the OAuth scopes a machine client needs (any one of them),
whether a person must act (``X-Acting-User`` over the API; the signed-in user in
the web UI; ``--user`` on the command line), the roles that person must hold (any
one of them), and which objects the caller may reach (its visibility rule). The
API decorator, the web pages, the CLI and the worker call :func:`authorize` (or
:func:`permits` to decide what to offer); nothing else decides who may do what.
The OpenAPI document is generated from the same declarations (``exchange.http``),
and ``check_routes`` refuses to start an application with a route that names no
action and is not marked public.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from flask import Flask

from consent.vocabulary import ROLES
from exchange.errors import Denial, Forbidden

# People who work with clients. Auditors only read the audit log; reporters see statistics.
CASEWORK = ("social_worker", "staff", "admin")
SOCIAL_WORKER = ("social_worker",)
# Who decides who works with which client: the unassigned queue, assignments, staff changes.
LEAD_MANAGERS = ("social_worker", "admin")
AUDITOR = ("auditor",)
ANY_ROLE = tuple(ROLES)
# Notifications concern packets, consents and leads: a system with any of these may see them.
WEBHOOK_SCOPES = ("packets:send", "packets:receive", "consents:read", "clients:manage")


class Person(enum.Enum):
    """Whether a person must act for a machine client (``X-Acting-User``)."""

    REQUIRED = "required"
    OPTIONAL = "optional"  # reads: a system may read alone; a named person is checked
    NONE = "none"  # the person is named inside the signed payload (packets)


class Visibility(enum.Enum):
    """Which objects the action reaches; another organization's answer 404, never 403."""

    NONE = "none"  # no object of another organization is named (collections, own records)
    ORGANIZATION = "organization"  # objects of the caller's own organization
    PARTY = "party"  # consent parties, packet sender and recipient, period provider and owner
    INVOLVED = "involved"  # organizations involved with the client (SPEC section 4)


@dataclass(frozen=True)
class Action:
    name: str
    summary: str  # also its label in the audit log: extracted for translation (Action:2)
    scopes: tuple[str, ...] = ()  # any one of them; () means any valid token
    person: Person = Person.REQUIRED
    roles: tuple[str, ...] = CASEWORK  # the acting person's roles, any one of them
    visibility: Visibility = Visibility.NONE
    system: bool = False  # also done by the service itself (worker, operator commands)

    def allows_roles(self, roles: Iterable[str]) -> bool:
        return bool(set(self.roles) & set(roles))


def _declare(*actions: Action) -> Mapping[str, Action]:
    table: dict[str, Action] = {}
    for action in actions:
        if action.name in table:
            raise ValueError(f"action {action.name} is declared twice")
        table[action.name] = action
    return table


REQUIRED, OPTIONAL, NO_PERSON = Person.REQUIRED, Person.OPTIONAL, Person.NONE
CONSENTS_READ = ("consents:read",)
CONSENTS_WRITE = ("consents:write",)
APPROVE = ("consents:approve",)
SEND = ("packets:send",)
RECEIVE = ("packets:receive",)
MANAGE = ("clients:manage",)
AUDIT = ("audit:read",)
PACKETS = ("packets:receive", "packets:send")
PARTY, INVOLVED, OWN = Visibility.PARTY, Visibility.INVOLVED, Visibility.ORGANIZATION

ACTIONS: Mapping[str, Action] = _declare(
    # --- the start page of the web UI ------------------------------------------------
    Action("home.read", "See what needs you now", person=REQUIRED, roles=ANY_ROLE),
    # The lists behind the start page's counts: each section for the roles whose work it is.
    Action("home.approvals", "List the consents to approve", APPROVE, roles=SOCIAL_WORKER),
    Action("home.waiting", "List the hand-overs to answer", RECEIVE, roles=SOCIAL_WORKER),
    Action("home.first_contacts", "List the first contacts due", RECEIVE, roles=SOCIAL_WORKER),
    Action(
        "home.periods_ending",
        "List the periods ending without a next step",
        MANAGE,
        roles=SOCIAL_WORKER,
    ),
    Action("home.unassigned", "List the clients without a worker", MANAGE, roles=LEAD_MANAGERS),
    Action("home.my_clients", "List my clients and what is due", MANAGE, roles=("staff",)),
    Action("home.denials", "List the recent denials", AUDIT, roles=AUDITOR),
    # --- clients ------------------------------------------------------------------------
    Action("client.lookup", "Find or register a client", ("clients:manage", *CONSENTS_WRITE)),
    # The web UI's client search: by identity code or by name, among the clients the person's
    # organization is involved with only; it registers nobody.
    Action("client.search", "Find a client", (), roles=CASEWORK),
    # Name and masked identity code: as the lead, for any system of an involved organization.
    Action("client.read", "See a client's name", (), person=OPTIONAL, visibility=INVOLVED),
    # The full identity code: a person who works with clients, never a system alone.
    Action("client.reveal", "Show a client's identity code", MANAGE, visibility=INVOLVED),
    Action(
        "client.access_report",
        "Print a client's access report",
        CONSENTS_READ,
        roles=SOCIAL_WORKER,
        visibility=INVOLVED,
    ),
    # --- leads, staff changes, escalations ----------------------------------------------
    Action("lead.read", "See a client's lead", (), person=OPTIONAL, visibility=INVOLVED),
    Action(
        "lead.assign",
        "Assign a client's lead",
        MANAGE,
        roles=LEAD_MANAGERS,
        visibility=INVOLVED,
    ),
    Action(
        "lead.unassigned",
        "See the unassigned queue",
        MANAGE,
        person=OPTIONAL,
        roles=LEAD_MANAGERS,
        visibility=OWN,
    ),
    Action(
        "worker.deactivate",
        "Deactivate a worker and move their clients",
        MANAGE,
        roles=LEAD_MANAGERS,
        visibility=OWN,
    ),
    Action(
        "worker.activate",
        "Undo a worker's deactivation",
        MANAGE,
        roles=("admin",),
        visibility=OWN,
    ),
    Action(
        "escalation.list", "See escalations", ("packets:send", "clients:manage"), person=OPTIONAL
    ),
    # --- consents -----------------------------------------------------------------------
    Action("consent.record", "Record a consent", CONSENTS_WRITE),
    Action("consent.list", "List consents", CONSENTS_READ, person=OPTIONAL),
    Action("consent.read", "Read a consent", CONSENTS_READ, person=OPTIONAL, visibility=PARTY),
    Action("consent.approve", "Approve a consent", APPROVE, roles=SOCIAL_WORKER, visibility=PARTY),
    Action("consent.reject", "Reject a consent", APPROVE, roles=SOCIAL_WORKER, visibility=PARTY),
    Action("consent.withdraw", "Withdraw a consent", CONSENTS_WRITE, visibility=PARTY),
    Action(
        "consent.receipt",
        "Print a consent receipt",
        CONSENTS_READ,
        person=OPTIONAL,
        visibility=PARTY,
    ),
    Action("consent.check", "Check a disclosure", CONSENTS_READ, person=OPTIONAL),
    # --- packets ------------------------------------------------------------------------
    Action("packet.send", "Send a packet", SEND, person=NO_PERSON),
    Action("packet.list", "List packets", PACKETS, person=OPTIONAL),
    Action("packet.inbox", "List received packets", RECEIVE, person=OPTIONAL),
    Action("packet.outbox", "List sent packets", SEND, person=OPTIONAL),
    Action("packet.read", "Read a packet", PACKETS, person=OPTIONAL, visibility=PARTY),
    Action("packet.events", "Read a packet's history", PACKETS, person=OPTIONAL, visibility=PARTY),
    Action("packet.accept", "Accept a packet", RECEIVE, visibility=PARTY),
    Action("packet.decline", "Decline a packet", RECEIVE, visibility=PARTY),
    Action("packet.withdraw", "Withdraw a packet", SEND, visibility=PARTY),
    Action(
        "packet.first_contact",
        "Record the first contact after a transfer",
        RECEIVE,
        visibility=PARTY,
    ),
    Action("packet.expire", "Expire overdue packets", system=True, person=NO_PERSON, roles=()),
    Action(
        "packet.first_contact_missing",
        "Escalate transfers without a first contact",
        system=True,
        person=NO_PERSON,
        roles=(),
    ),
    # --- service periods and outcomes ---------------------------------------------------
    Action("period.record", "Record a service period", MANAGE, system=True),
    Action("period.list", "List service periods", MANAGE, person=OPTIONAL),
    Action("period.read", "Read a service period", MANAGE, person=OPTIONAL, visibility=PARTY),
    Action("period.next_step", "Set a period's next step", MANAGE, visibility=PARTY),
    Action("period.close", "Close a service period", MANAGE, visibility=PARTY),
    Action(
        "report.outcomes",
        "See the outcome report",
        MANAGE,
        roles=("social_worker", "staff", "reporter", "admin"),
    ),
    # --- audit --------------------------------------------------------------------------
    Action("audit.search", "Search and export the audit log", AUDIT, roles=AUDITOR),
    Action("audit.verify", "Verify the audit log", AUDIT, roles=AUDITOR, system=True),
    Action("audit.checkpoints", "List signed checkpoints", AUDIT, roles=AUDITOR),
    Action("audit.checkpoint", "Sign a checkpoint now", AUDIT, roles=AUDITOR, system=True),
    Action("audit.proof", "Prove an event's inclusion", AUDIT, roles=AUDITOR, visibility=OWN),
    Action("audit.consistency", "Prove two checkpoints consistent", AUDIT, roles=AUDITOR),
    # --- notifications ------------------------------------------------------------------
    Action("webhook.list", "List notifications", WEBHOOK_SCOPES, person=OPTIONAL),
    Action(
        "webhook.retry", "Retry a notification", WEBHOOK_SCOPES, person=OPTIONAL, visibility=OWN
    ),
    Action("webhook.deliver", "Deliver notifications", system=True, person=NO_PERSON, roles=()),
    # --- the operator's commands --------------------------------------------------------
    Action("registry.load", "Load the registry file", system=True, person=NO_PERSON, roles=()),
    Action("keys.rewrap", "Re-encrypt data keys", system=True, person=NO_PERSON, roles=()),
)

# Who may be given a client: the roles that may accept a transfer and so hold a lead.
LEAD_HOLDER = "packet.accept"


def action(name: str) -> Action:
    """The declared action ``name`` (a KeyError names a typo at import or start-up)."""
    return ACTIONS[name]


@dataclass(frozen=True)
class Identity:
    """Who is acting: an organization through a machine client, a person, or the service."""

    organization: str  # "" for the service itself, which belongs to no organization
    client_id: str = ""  # the OAuth client; ``web`` for the UI, ``cli``, ``worker``
    username: str | None = None
    roles: frozenset[str] = frozenset()
    scopes: frozenset[str] | None = None  # a machine client's token scopes; None for people
    system: bool = False
    request_id: str | None = None

    @property
    def person(self) -> str:
        """The acting person's username, for actions the policy lets only a person do."""
        if self.username is None:
            raise RuntimeError("this action was authorized without a person")
        return self.username

    @classmethod
    def service(cls, door: str, request_id: str | None = None) -> Identity:
        """The service itself (a worker job or an operator's command)."""
        return cls(organization="", client_id=door, system=True, request_id=request_id)


@dataclass
class Refusal:
    """Why an identity may not do an action (``None`` from :func:`refusal` means it may)."""

    code: str
    detail: str
    denial: Denial = field(repr=False)


def refusal(identity: Identity, name: str, *, person_named: bool | None = None) -> Refusal | None:
    """Why ``identity`` may not do ``name``; None when it may.

    ``person_named`` says whether a person acts (for machine clients: whether
    ``X-Acting-User`` was given); it defaults to whether the identity has a username."""
    declared = action(name)
    if identity.system:
        if declared.system:
            return None
        return Refusal(
            "not_a_service_action",
            f"{name} is not done by the service itself.",
            Denial(name, reason="not_a_service_action"),
        )
    scoped = _scope_refusal(identity, declared)
    if scoped is not None:
        return scoped
    if person_named is None:
        person_named = identity.username is not None
    if not person_named:
        if declared.person is Person.REQUIRED and not identity.system:
            return Refusal(
                "acting_user_required",
                "This action needs the X-Acting-User header naming the person acting.",
                Denial("auth.acting_user", reason="acting_user_required"),
            )
        return None
    if declared.person is not Person.NONE and not declared.allows_roles(identity.roles):
        return Refusal(
            "role_required",
            f"The acting user needs the role {' or '.join(declared.roles)}.",
            Denial(
                "auth.acting_user",
                resource_type="user",
                resource_id=identity.username,
                reason="role_required",
            ),
        )
    return None


def _scope_refusal(identity: Identity, declared: Action) -> Refusal | None:
    if identity.scopes is None or not declared.scopes or identity.scopes & set(declared.scopes):
        return None
    return Refusal(
        "insufficient_scope",
        f"This needs the scope {' or '.join(declared.scopes)}.",
        Denial("auth.scope", resource_type=declared.name, reason="insufficient_scope"),
    )


class Denials(Protocol):
    """Where a door records the denial a refusal leaves in the audit log (its unit of work)."""

    def deny(self, denial: Denial) -> None: ...


def _denials(given: Denials | None) -> Denials:
    if given is not None:
        return given
    from exchange.unit import current_unit  # the request's; unit.py imports this module

    return current_unit()


def authorize_scope(identity: Identity, name: str, *, denials: Denials | None = None) -> None:
    """403 when a machine client's token lacks every scope ``name`` accepts; the refusal's
    denial is recorded in ``denials`` (by default the current request's unit of work)."""
    refused = _scope_refusal(identity, action(name))
    if refused is not None:
        _denials(denials).deny(refused.denial)
        raise Forbidden(refused.detail, code=refused.code)


def permits(identity: Identity, name: str) -> bool:
    """Whether ``identity`` may do ``name`` (to decide what a page offers)."""
    return refusal(identity, name) is None


def authorize(
    identity: Identity,
    name: str,
    *,
    person_named: bool | None = None,
    denials: Denials | None = None,
) -> Identity:
    """``identity`` when it may do ``name``; otherwise 403 (``Forbidden``), the refusal's
    denial recorded in ``denials`` (by default the current request's unit of work)."""
    refused = refusal(identity, name, person_named=person_named)
    if refused is not None:
        _denials(denials).deny(refused.denial)
        raise Forbidden(refused.detail, code=refused.code)
    return identity


def may_hold_lead(roles: Iterable[str]) -> bool:
    """Whether a person with ``roles`` may be given clients (lead, successor, addressee)."""
    return action(LEAD_HOLDER).allows_roles(roles)


# --- routes ------------------------------------------------------------------------------

ACTION_ATTRIBUTE = "_policy_action"
PUBLIC_ATTRIBUTE = "_policy_public"
# Routes that Flask and flask-smorest add themselves: static files and the API's documents.
FRAMEWORK_ENDPOINTS = frozenset({"static", "api-docs.openapi_json", "api-docs.openapi_swagger_ui"})


def public(view: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a view as open to anyone (sign-in, discovery, health); no action is asked."""
    setattr(view, PUBLIC_ATTRIBUTE, True)
    return view


def view_actions(app: Flask) -> dict[tuple[str, str], str | None]:
    """Every (rule, method) the application serves, with its action (None: public)."""
    found: dict[tuple[str, str], str | None] = {}
    missing: list[str] = []
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        view_class = getattr(view, "view_class", None)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            handler = getattr(view_class, method.lower(), None) if view_class else view
            name = getattr(handler, ACTION_ATTRIBUTE, None)
            if name is not None:
                action(name)  # a declared action, or the KeyError says which is not
                found[(rule.rule, method)] = name
            elif getattr(handler, PUBLIC_ATTRIBUTE, False) or rule.endpoint in FRAMEWORK_ENDPOINTS:
                found[(rule.rule, method)] = None
            else:
                missing.append(f"{method} {rule.rule} ({rule.endpoint})")
    if missing:
        raise RuntimeError(
            "Routes without a declared action or a public mark: " + "; ".join(sorted(missing))
        )
    return found


def check_routes(app: Flask) -> None:
    """Refuse to start when a route names neither an action nor ``public``."""
    view_actions(app)
