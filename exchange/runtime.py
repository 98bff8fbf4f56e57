"""The application's bound dependencies.

``create_app`` builds one ``Runtime`` and keeps it in ``app.extensions``; views
and hooks reach it through ``runtime()``. The request's session belongs to its
unit of work (``exchange.unit``), committed or rolled back once by ``exchange.http``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import redis
from argon2 import PasswordHasher
from flask import current_app
from limits.storage import Storage
from limits.strategies import RateLimiter

from adapters.db import Database
from adapters.keys import KeyStore
from consent.statutes import StatuteTable
from exchange.registry.cache import RegistryCache

if TYPE_CHECKING:
    from authlib.integrations.flask_oauth2 import AuthorizationServer

    from exchange.consents.service import WithdrawalListener
    from exchange.http import Metrics
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
    metrics: Metrics  # this application's Prometheus registry, served at /metrics
    passwords: PasswordHasher  # hashes new passwords (EXCHANGE_ARGON2_PROFILE)
    # Told, in the withdrawing transaction, of every consent withdrawn (packets are blocked).
    withdrawal_listeners: list[WithdrawalListener] = field(default_factory=list)
    # This process's registry rows, good for one registry version (exchange.registry.cache).
    registry: RegistryCache = field(default_factory=RegistryCache)


def runtime() -> Runtime:
    """The current application's runtime."""
    value: Runtime = current_app.extensions[EXTENSION]
    return value
