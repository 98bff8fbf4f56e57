"""Web sign-in: registry users with Argon2id passwords, lockout, idle timeout.

The session cookie carries only the username and two timestamps, signed with
the secret in ``web.json``; it is HttpOnly, SameSite=Lax, and Secure unless the
embedded demo runs on plain HTTP.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from functools import wraps
from typing import Any, ParamSpec, TypeVar, cast

from flask import g, redirect, request, session, url_for

from exchange import policy
from exchange.errors import Denial, Forbidden
from exchange.policy import Identity
from exchange.registry.cache import UserEntry
from exchange.registry.models import User
from exchange.registry.service import verify_password
from exchange.runtime import runtime
from exchange.unit import current_unit

P = ParamSpec("P")
R = TypeVar("R")
USER_KEY = "user"
SEEN_KEY = "seen"
LOCK_AFTER = 5
LOCK_SECONDS = 15 * 60


class LockedOut(Exception):
    """Too many failed sign-ins for this username; try again after ``seconds``."""

    def __init__(self, seconds: int) -> None:
        super().__init__(seconds)
        self.seconds = seconds


def _failures_key(username: str) -> str:
    # Hashed: the key space should not list who tried to sign in.
    return "web:login-failures:" + hashlib.sha256(username.encode()).hexdigest()


def sign_in(username: str, password: str) -> User | None:
    """The user when the password matches; None otherwise. After LOCK_AFTER failures the
    username is locked for LOCK_SECONDS, right password or not (raises LockedOut)."""
    redis = runtime().redis
    key = _failures_key(username)
    failures = int(cast(bytes | None, redis.get(key)) or 0)
    if failures >= LOCK_AFTER:
        raise LockedOut(max(1, int(cast(int, redis.ttl(key)))))
    user = current_unit().session.get(User, username)
    if user is None or not user.active or not verify_password(user.password_hash, password):
        pipe = redis.pipeline()
        pipe.incr(key)
        pipe.expire(key, LOCK_SECONDS)
        pipe.execute()
        return None
    redis.delete(key)
    start_session(user)
    return user


def start_session(user: User | UserEntry) -> None:
    """Sign ``user`` in: a fresh session (no fixation), the idle clock started."""
    session.clear()
    session.permanent = True
    session[USER_KEY] = user.username
    session[SEEN_KEY] = int(time.time())


def sign_out() -> None:
    session.clear()


def current_user() -> UserEntry | None:
    """The signed-in, still active user; None after the idle timeout or deactivation."""
    cached: UserEntry | None = g.get("web_user")
    if cached is not None:
        return cached
    username = session.get(USER_KEY)
    if not username:
        return None
    idle_limit = runtime().config["WEB_IDLE_MINUTES"] * 60
    if time.time() - session.get(SEEN_KEY, 0) > idle_limit:
        session.clear()
        return None
    # From the registry cache: a deactivation or a role change holds from the next page on.
    user = runtime().registry.view(current_unit().session).user(username)
    if user is None or not user.active:
        session.clear()
        return None
    session[SEEN_KEY] = int(time.time())
    g.web_user = user
    current_unit().claim(web_identity(user))
    return user


def web_identity(user: User | UserEntry) -> Identity:
    """The signed-in person as the policy sees them: their organization and roles."""
    return Identity(
        organization=user.organization_id,
        client_id="web",
        username=user.username,
        roles=frozenset(user.roles),
        request_id=g.get("request_id"),
    )


def page(name: str) -> Callable[[Callable[P, R]], Callable[P, R | Any]]:
    """A page that does action ``name``: signed in (else to the sign-in page), and allowed by
    the policy (else 403, audited as ``web.page``)."""
    policy.action(name)  # a typo fails at import

    def decorator(view: Callable[P, R]) -> Callable[P, R | Any]:
        @wraps(view)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R | Any:
            user = current_user()
            if user is None:
                return redirect(url_for("web.login", next=request.path))
            identity = web_identity(user)
            unit = current_unit()
            refused = policy.refusal(identity, name)
            if refused is not None:
                # Audited as the page refused, not as the policy's own denial.
                raise unit.refuse(
                    Forbidden("Your role does not allow this page.", code=refused.code),
                    Denial("web.page", resource_type=request.endpoint, reason=refused.code),
                )
            unit.authorize(identity, name)
            return view(*args, **kwargs)

        setattr(wrapper, policy.ACTION_ATTRIBUTE, name)
        return wrapper

    return decorator
