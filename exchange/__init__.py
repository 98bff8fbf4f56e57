"""Handover exchange: consent-aware exchange of handover packets between agencies."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from flask import Flask
from limits.storage import MemoryStorage, Storage, storage_from_string
from limits.strategies import MovingWindowRateLimiter
from werkzeug.middleware.proxy_fix import ProxyFix

from adapters.db import Database
from adapters.keys import KeyStore, init_keys
from adapters.redis import TIMEOUT_SECONDS as REDIS_TIMEOUT
from adapters.redis import make_redis
from exchange import config as configuration
from exchange.runtime import EXTENSION, Runtime

if TYPE_CHECKING:
    from exchange.consents.models import Consent
    from exchange.policy import Identity
    from exchange.unit import UnitOfWork

log = logging.getLogger(__name__)

API_DESCRIPTION = """\
Records client consents and brokers signed handover packets between Finnish
social services, employment services, Kela and service providers.

Authenticate with OAuth 2.0 `client_credentials` and `private_key_jwt`
(`POST /oauth/token`); send the access token in the `Authorization` header.
Errors are RFC 9457 `application/problem+json` with a stable `code`.
"""


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the application; ``config`` overrides the ``EXCHANGE_*`` environment."""
    settings = configuration.load(config)
    app = Flask(__name__)
    app.config.update(settings)
    if settings["TRUSTED_PROXIES"]:
        # Behind a reverse proxy: the client's address and scheme from X-Forwarded-*, as
        # many hops deep as there are proxies we run (never more: a client could forge it).
        hops = settings["TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]
    app.config.update(
        MAX_CONTENT_LENGTH=settings["MAX_BODY_BYTES"],
        API_TITLE="Handover exchange",
        API_VERSION="v1",
        OPENAPI_VERSION="3.1.0",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="/docs",
        OPENAPI_SWAGGER_UI_URL=settings["SWAGGER_UI_URL"],
        # No validator badge: it would send the document to swagger.io from the browser.
        OPENAPI_SWAGGER_UI_CONFIG={"validatorUrl": None},
        API_SPEC_OPTIONS={"info": {"description": API_DESCRIPTION}},
        JSON_SORT_KEYS=False,
    )
    from exchange.http import Metrics, configure_logging, init_request_lifecycle

    if not app.testing and not settings.get("TESTING"):
        configure_logging(settings["LOG_LEVEL"], bool(settings["LOG_JSON"]))

    embedded = settings["MODE"] == configuration.EMBEDDED
    if embedded:
        created = init_keys(settings["KEYS_DIR"])
        if created:
            log.warning("created service keys: %s (embedded mode)", ", ".join(created))
        if (
            settings["DATABASE_URL"].startswith("sqlite:///")
            and ":memory:" not in settings["DATABASE_URL"]
        ):
            Path(settings["DATABASE_URL"].removeprefix("sqlite:///")).parent.mkdir(
                parents=True, exist_ok=True
            )
    keys = KeyStore.load(settings["KEYS_DIR"])

    rate_storage: Storage = (
        cast(
            Storage,
            storage_from_string(
                settings["REDIS_URL"],
                socket_timeout=REDIS_TIMEOUT,
                socket_connect_timeout=REDIS_TIMEOUT,
            ),
        )
        if settings["REDIS_URL"]
        else MemoryStorage()
    )
    from consent.statutes import StatuteTable, default_statutes
    from exchange.oauth import setup_oauth
    from exchange.registry import cache as registry_cache
    from exchange.registry.service import password_hasher

    # Every session of every door raises the registry version when it writes registry rows.
    registry_cache.install()

    authorization_server, token_validator = setup_oauth(app)
    metrics = Metrics()
    app.extensions[EXTENSION] = Runtime(
        config=settings,
        db=Database(settings["DATABASE_URL"]),
        redis=make_redis(settings["REDIS_URL"]),
        keys=keys,
        rate_storage=rate_storage,
        rate_limiter=MovingWindowRateLimiter(rate_storage),
        statutes=(
            StatuteTable.load(settings["STATUTES_FILE"])
            if settings["STATUTES_FILE"]
            else default_statutes()
        ),
        authorization_server=authorization_server,
        token_validator=token_validator,
        metrics=metrics,
        passwords=password_hasher(settings["ARGON2_PROFILE"]),
        withdrawal_listeners=[block_packets_on_withdrawal],
    )

    from exchange.apidocs import blp as apidocs_blp
    from exchange.audit.views import blp as audit_blp
    from exchange.clients.views import blp as clients_blp
    from exchange.consents.views import blp as consents_blp
    from exchange.continuity.views import blp as continuity_blp
    from exchange.edge import init_edge
    from exchange.ops import blp as ops_blp
    from exchange.packets.views import blp as packets_blp
    from exchange.periods.views import blp as periods_blp
    from exchange.problems import ExchangeApi, register_error_handlers
    from exchange.webhooks.views import blp as webhooks_blp
    from schemas.packets import register_payload_schema
    from schemas.sections import register_section_schemas

    register_error_handlers(app)
    init_request_lifecycle(app, metrics)
    init_edge(app)  # before any route is added: it bounds the ``int`` converter
    app.register_blueprint(ops_blp)
    app.register_blueprint(apidocs_blp)

    api = ExchangeApi(app)
    api.spec.components.security_scheme(
        "oauth2",
        {
            "type": "oauth2",
            "description": "client_credentials with private_key_jwt client authentication",
            "flows": {
                "clientCredentials": {
                    "tokenUrl": settings["ISSUER"] + "/oauth/token",
                    "scopes": _scope_docs(),
                }
            },
        },
    )
    register_section_schemas(api.spec)
    register_payload_schema(api.spec)
    api.register_blueprint(clients_blp)
    api.register_blueprint(consents_blp)
    api.register_blueprint(packets_blp)
    api.register_blueprint(continuity_blp)
    api.register_blueprint(audit_blp)
    api.register_blueprint(webhooks_blp)
    api.register_blueprint(periods_blp)
    from exchange.web import setup_web

    setup_web(app)
    from exchange.policy import check_routes

    check_routes(app)  # every route names a declared action or is marked public

    if embedded:
        log.warning(
            "EMBEDDED MODE: SQLite and an in-process Redis stand-in, keys on local disk. "
            "Not for production."
        )
    return app


def block_packets_on_withdrawal(uow: UnitOfWork, identity: Identity, consent: Consent) -> None:
    """A withdrawn consent blocks, in the same transaction, every open packet that relied on it."""
    from exchange.runtime import runtime
    from exchange.services import Services

    Services(runtime(), uow).packets.on_consent_withdrawn(identity, consent)


def _scope_docs() -> dict[str, str]:
    from consent.vocabulary import SCOPES

    return {scope: scope.replace(":", " ") for scope in SCOPES}
