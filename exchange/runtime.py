"""The application's bound dependencies and the request-scoped unit of work.

``create_app`` builds one ``Runtime`` and keeps it in ``app.extensions``; views
and hooks reach it through ``runtime()``. The request's database session is
opened lazily and committed (or rolled back) once, by ``exchange.http``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import redis
from flask import current_app, g
from limits.storage import Storage
from limits.strategies import RateLimiter
from sqlalchemy.orm import Session

from adapters.db import Database
from adapters.keys import KeyStore
from consent.statutes import StatuteTable
from exchange.audit import Actor
from exchange.errors import Denial

if TYPE_CHECKING:
    from authlib.integrations.flask_oauth2 import AuthorizationServer

    from exchange.consents.service import WithdrawalListener
    from exchange.oauth import AccessTokenValidator

EXTENSION = "exchange"


@dataclass
class Runtime:
    """What ``create_app`` binds once per application; every door builds its services from it."""

    config: dict[str, Any]
    db: Database
    redis: redis.Redis
    keys: KeyStore
    rate_storage: Storage
    rate_limiter: RateLimiter
    statutes: StatuteTable  # the statutory disclosures (SPEC section 3), in force for decisions
    authorization_server: AuthorizationServer  # the token endpoint's authlib server
    token_validator: AccessTokenValidator  # RFC 9068 access tokens of API requests
    # Told, in the withdrawing transaction, of every consent withdrawn (packets are blocked).
    withdrawal_listeners: list[WithdrawalListener] = field(default_factory=list)


def runtime() -> Runtime:
    """The current application's runtime."""
    value: Runtime = current_app.extensions[EXTENSION]
    return value


def db_session() -> Session:
    """The request's session, opened on first use."""
    session: Session | None = g.get("db_session")
    if session is None:
        session = runtime().db.sessions()
        g.db_session = session
    return session


def current_actor() -> Actor:
    """Who is acting in this request, as far as it is known yet."""
    actor: Actor | None = g.get("actor")
    return actor if actor is not None else Actor(request_id=g.get("request_id"))


def queue_followup(work: Callable[[Session], None]) -> None:
    """Remember work to do in a fresh transaction after the request's changes are rolled back."""
    g.setdefault("followups", []).append(work)


def queue_denial(denial: Denial) -> None:
    """Remember a refusal to audit once the request's own changes are rolled back."""
    g.setdefault("denials", []).append(denial)
