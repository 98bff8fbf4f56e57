"""Configuration: defaults in code, ``EXCHANGE_*`` environment overrides.

Every key is documented here, where it is defined; the README lists the same
keys. ``create_app(config)`` takes a mapping that wins over both (tests use it).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

EMBEDDED = "embedded"
PRODUCTION = "production"

# Argon2id parameters of new password hashes, by argon2-cffi profile name. Production always
# hashes with RFC 9106's low-memory recommendation; "cheapest" exists so that the test suite,
# which hashes and verifies passwords in hundreds of tests, does not spend minutes doing it.
ARGON2_PRODUCTION = "rfc_9106_low_memory"
ARGON2_PROFILES = (ARGON2_PRODUCTION, "cheapest")


class ConfigError(RuntimeError):
    """The configuration cannot start a service (a missing secret, a bad value)."""


def _int(value: str) -> int:
    return int(value)


def _str(value: str) -> str:
    return value


def _optional(value: str) -> str | None:
    return value or None


def _optional_bool(value: str) -> bool | None:
    if not value:
        return None
    if value.lower() in ("1", "true", "yes"):
        return True
    if value.lower() in ("0", "false", "no"):
        return False
    raise ValueError(f"expected true or false, not {value!r}")


@dataclass(frozen=True)
class Setting:
    default: Any
    parse: Callable[[str], Any]
    doc: str
    required_in_production: bool = False


SETTINGS: dict[str, Setting] = {
    "MODE": Setting(
        EMBEDDED,
        _str,
        "`embedded` (SQLite, in-process Redis stand-in, keys created on first start; "
        "not for production) or `production` (every secret and URL must be given).",
    ),
    "DATABASE_URL": Setting(
        "sqlite:///instance/exchange.db",
        _str,
        "SQLAlchemy URL; `postgresql+psycopg://...` in production.",
        required_in_production=True,
    ),
    "REDIS_URL": Setting(
        None,
        _optional,
        "redis:// URL; unset means the in-process stand-in (fakeredis), embedded mode only.",
        required_in_production=True,
    ),
    "ISSUER": Setting(
        "http://127.0.0.1:5000",
        _str,
        "The OAuth issuer identifier and public base URL (no trailing slash).",
        required_in_production=True,
    ),
    "KEYS_DIR": Setting(
        "instance/keys",
        _str,
        "Directory of the service's own keys (signing, key-encryption, HETU look-up).",
    ),
    "MAX_BODY_BYTES": Setting(1024 * 1024, _int, "Largest accepted request body (413 above)."),
    "RATE_LIMIT": Setting(
        "1200/minute",
        _str,
        "Requests allowed per OAuth client (and per address at the token endpoint), "
        "in the `limits` notation, e.g. `100/second`.",
    ),
    "ACCESS_TOKEN_LIFETIME": Setting(900, _int, "Access token lifetime in seconds (at most 900)."),
    "ASSERTION_MAX_LIFETIME": Setting(
        300, _int, "How far ahead a client assertion's `exp` may lie, in seconds (at most 300)."
    ),
    "CLOCK_SKEW": Setting(30, _int, "Leeway in seconds for `exp`/`nbf`/`iat` checks."),
    "CONSENT_MAX_MONTHS": Setting(
        24, _int, "Longest validity of a consent, in months from its valid_from."
    ),
    "STATUTES_FILE": Setting(
        None,
        _optional,
        "A reviewed statute table (JSON) replacing the packaged one: which recipient kind may "
        "receive which category for which purpose without consent, and under which law.",
    ),
    "FIRST_CONTACT_DAYS": Setting(
        14,
        _int,
        "Escorted transfer: days after acceptance by which the receiver is to record the first "
        "contact with the client, when the transfer names no `first_contact_by` (1..365).",
    ),
    "CHECKPOINT_INTERVAL": Setting(
        60, _int, "Seconds between signed audit checkpoints while events arrive."
    ),
    "RETENTION_DAYS": Setting(
        3650,
        _int,
        "Days after which a packet's content is crypto-shredded (its data key destroyed); "
        "its metadata and the audit log stay.",
    ),
    "ARGON2_PROFILE": Setting(
        ARGON2_PRODUCTION,
        _str,
        "Argon2id parameters of new password hashes: `rfc_9106_low_memory` (RFC 9106: 64 MiB, "
        "3 passes, 4 lanes) or `cheapest` (the test suite only; refused in production mode).",
    ),
    "WEB_IDLE_MINUTES": Setting(
        30, _int, "Minutes of inactivity after which a web UI session ends."
    ),
    "COOKIE_SECURE": Setting(
        None,
        _optional_bool,
        "Send the web session cookie over HTTPS only; default: true in production, false in "
        "the embedded demo (which serves plain HTTP on 127.0.0.1).",
    ),
    "OIDC_ISSUER": Setting(
        None,
        _optional,
        "Single sign-on: the OpenID Connect provider's issuer URL (its discovery document is "
        "read from `/.well-known/openid-configuration`). Unset: password sign-in only. "
        "HTTPS, except on loopback.",
    ),
    "OIDC_CLIENT_ID": Setting(None, _optional, "Single sign-on: this service's client id."),
    "OIDC_CLIENT_SECRET": Setting(
        None, _optional, "Single sign-on: this service's client secret at the provider."
    ),
    "OIDC_USERNAME_CLAIM": Setting(
        "preferred_username",
        _str,
        "Single sign-on: the ID-token claim matched to a registry username; only users in the "
        "registry, active, may sign in.",
    ),
    "WEBHOOK_TIMEOUT": Setting(
        5, _int, "Seconds a webhook receiver has to answer one notification."
    ),
    "WEBHOOK_RETRY_HOURS": Setting(
        24,
        _int,
        "Hours over which a failing notification is retried (exponential backoff with "
        "jitter) before it is dead-lettered.",
    ),
    "WEBHOOK_ALLOW_LOOPBACK": Setting(
        0,
        _int,
        "1 lets webhooks call loopback addresses (tests and local development only); "
        "link-local and metadata addresses are always refused.",
    ),
    "TRUSTED_PROXIES": Setting(
        0,
        _int,
        "How many reverse proxies (e.g. 1 for nginx) stand in front and set X-Forwarded-For and "
        "-Proto; 0 trusts none. Rate limits per address need it behind a proxy.",
    ),
    "LOG_LEVEL": Setting("INFO", _str, "Python logging level."),
    "LOG_JSON": Setting(1, _int, "1 for JSON log lines, 0 for plain text."),
    "SWAGGER_UI_URL": Setting(
        "/docs/assets/",
        _str,
        "Where the browser loads Swagger UI's files from for `/docs`: by default the service "
        "itself (no network needed); a URL ending in `/` to use another copy.",
    ),
}


def load(
    overrides: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Resolve the configuration: code defaults < ``EXCHANGE_*`` environment < ``overrides``."""
    env = os.environ if env is None else env
    overrides = dict(overrides or {})
    config: dict[str, Any] = {}
    explicit: set[str] = set()
    for key, setting in SETTINGS.items():
        if key in overrides:
            config[key] = overrides.pop(key)
            explicit.add(key)
            continue
        raw = env.get(f"EXCHANGE_{key}")
        if raw:
            explicit.add(key)
        try:
            config[key] = setting.default if raw is None else setting.parse(raw)
        except ValueError as exc:
            raise ConfigError(f"EXCHANGE_{key}: {exc}") from exc
    config.update(overrides)  # extra Flask keys (TESTING, ...) pass through

    if config["MODE"] not in (EMBEDDED, PRODUCTION):
        raise ConfigError(f"EXCHANGE_MODE must be {EMBEDDED!r} or {PRODUCTION!r}")
    if config["MODE"] == PRODUCTION:
        # Production has no defaults for where data and secrets live.
        missing = [
            f"EXCHANGE_{key}"
            for key, setting in SETTINGS.items()
            if setting.required_in_production and (key not in explicit or not config[key])
        ]
        if missing:
            raise ConfigError("production mode needs " + ", ".join(missing))
    if config["ARGON2_PROFILE"] not in ARGON2_PROFILES:
        raise ConfigError("EXCHANGE_ARGON2_PROFILE must be one of " + ", ".join(ARGON2_PROFILES))
    if config["MODE"] == PRODUCTION and config["ARGON2_PROFILE"] != ARGON2_PRODUCTION:
        raise ConfigError(f"production mode hashes passwords with {ARGON2_PRODUCTION} only")
    if not 0 < config["ACCESS_TOKEN_LIFETIME"] <= 900:
        raise ConfigError("EXCHANGE_ACCESS_TOKEN_LIFETIME must be 1..900 seconds (at most 900)")
    if not 0 < config["ASSERTION_MAX_LIFETIME"] <= 300:
        raise ConfigError("EXCHANGE_ASSERTION_MAX_LIFETIME must be 1..300 seconds")
    if not 1 <= config["FIRST_CONTACT_DAYS"] <= 365:
        raise ConfigError("EXCHANGE_FIRST_CONTACT_DAYS must be 1..365 days")
    config["ISSUER"] = config["ISSUER"].rstrip("/")
    _check_oidc(config)
    return config


def _check_oidc(config: dict[str, Any]) -> None:
    issuer = config["OIDC_ISSUER"]
    if not issuer:
        return
    if not (config["OIDC_CLIENT_ID"] and config["OIDC_CLIENT_SECRET"]):
        raise ConfigError(
            "EXCHANGE_OIDC_ISSUER needs EXCHANGE_OIDC_CLIENT_ID and EXCHANGE_OIDC_CLIENT_SECRET"
        )
    parsed = urlsplit(issuer)
    loopback = parsed.hostname in ("127.0.0.1", "::1", "localhost")
    if parsed.scheme != "https" and not (parsed.scheme == "http" and loopback):
        raise ConfigError("EXCHANGE_OIDC_ISSUER must be an https:// URL")
    config["OIDC_ISSUER"] = issuer.rstrip("/")
