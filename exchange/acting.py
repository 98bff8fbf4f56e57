"""The API door: who a request is (token, acting person) and whether the policy lets them act.

``authorize_request(action)`` is the one check every API view runs before it
parses its arguments: the bearer token (``exchange.oauth.authenticate``), the
person named by ``X-Acting-User`` (existing, active, of the token's organization),
then :func:`exchange.policy.authorize` for the scopes and roles.
"""

from __future__ import annotations

from dataclasses import replace

from flask import g, request

from exchange import policy
from exchange.errors import Denial, Forbidden
from exchange.oauth import Principal, authenticate
from exchange.policy import Identity, Person
from exchange.registry.cache import UserEntry
from exchange.runtime import runtime
from exchange.unit import current_unit

HEADER = "X-Acting-User"


def acting_person(principal: Principal) -> UserEntry | None:
    """The user named by ``X-Acting-User`` (None without the header): existing, active and of
    the token's organization, else 403 (audited) with one answer for all three."""
    username = request.headers.get(HEADER, "").strip()
    if not username:
        return None
    unit = current_unit()
    user = runtime().registry.view(unit.session).user(username)  # cached for this version
    if user is None or not user.active or user.organization_id != principal.organization:
        # One answer for unknown, inactive and foreign users: existence is not revealed.
        raise unit.refuse(
            Forbidden(
                "The acting user is not an active user of your organization.",
                code="acting_user_invalid",
            ),
            Denial(
                "auth.acting_user",
                resource_type="user",
                resource_id=username[:128],
                reason="acting_user_invalid",
            ),
        )
    return user


def authorize_request(name: str) -> Identity:
    """The request's identity, allowed to do action ``name``; 401/403 (audited) otherwise."""
    principal = authenticate()
    identity = Identity(
        organization=principal.organization,
        client_id=principal.client_id,
        scopes=principal.scopes,
        request_id=g.get("request_id"),
    )
    unit = current_unit()
    # Scope first: a system without the scope learns nothing about the people it names.
    policy.authorize_scope(identity, name, denials=unit)
    user = acting_person(principal) if policy.action(name).person is not Person.NONE else None
    if user is not None:
        identity = replace(identity, username=user.username, roles=frozenset(user.roles))
    return unit.authorize(identity, name, person_named=user is not None)


def current_identity() -> Identity:
    """The identity ``authorize_request`` (or a web page) established for this request."""
    return current_unit().identity
