"""The acting person (``X-Acting-User``): one check used by every endpoint that needs a person."""

from __future__ import annotations

from dataclasses import replace

from flask import g, request

from exchange.errors import Denial, Forbidden
from exchange.oauth import Principal
from exchange.registry.models import User
from exchange.runtime import current_actor, db_session

HEADER = "X-Acting-User"


def optional_acting_user(principal: Principal) -> User | None:
    """For reads: the acting user when the header is given (checked the same way), else None."""
    if not request.headers.get(HEADER, "").strip():
        return None
    return acting_user(principal)


def acting_user(principal: Principal, *roles: str) -> User:
    """The user named by ``X-Acting-User``: existing, active, of the token's organization,
    holding one of ``roles`` (any role when none are given). Refusals are 403 and audited."""
    username = request.headers.get(HEADER, "").strip()
    if not username:
        raise Forbidden(
            f"This action needs the {HEADER} header naming the person acting.",
            code="acting_user_required",
            audit=Denial("auth.acting_user", reason="acting_user_required"),
        )
    user = db_session().get(User, username)
    if user is None or not user.active or user.organization_id != principal.organization:
        # One answer for unknown, inactive and foreign users: existence is not revealed.
        raise Forbidden(
            "The acting user is not an active user of your organization.",
            code="acting_user_invalid",
            audit=Denial(
                "auth.acting_user",
                resource_type="user",
                resource_id=username[:128],
                reason="acting_user_invalid",
            ),
        )
    if roles and not set(roles) & set(user.roles):
        raise Forbidden(
            f"The acting user needs the role {' or '.join(roles)}.",
            code="role_required",
            audit=Denial(
                "auth.acting_user",
                resource_type="user",
                resource_id=username,
                reason="role_required",
            ),
        )
    g.actor = replace(current_actor(), username=user.username)
    return user
