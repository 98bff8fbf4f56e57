"""Domain errors: plain exceptions with a stable ``code``; no HTTP here.

``ConsentError`` and its subclasses are the consent model's. ``ExchangeError`` and its
subclasses are the service's, raised in every layer; ``exchange.problems`` maps each class
to an HTTP status in one place. An error only says what went wrong: the audit event a
refusal must leave behind (a ``Denial``) is recorded on the unit of work by whoever refuses
(``exchange.unit``), never carried by the exception.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


class ConsentError(Exception):
    """Base of consent domain errors."""

    code = "consent_error"

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class TransitionNotAllowed(ConsentError):
    """The consent's status does not allow the change asked for."""

    code = "transition_not_allowed"


class RuleViolation(ConsentError):
    """A consent breaks a domain rule; ``field`` names the input at fault."""

    code = "consent_rule"

    def __init__(self, field: str, message: str, code: str | None = None) -> None:
        super().__init__(message, code)
        self.field = field


@dataclass(frozen=True)
class Denial:
    """What the audit log must record about a refused action."""

    action: str
    resource_type: str | None = None
    resource_id: str | None = None
    client_ref: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class FieldError:
    """One invalid input value, by its path (``client.hetu``, ``users[2].roles[0]``)."""

    field: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}


@dataclass
class ExchangeError(Exception):
    """Base of every domain error."""

    detail: str = ""
    code: str = "error"
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(self.detail)

    def __str__(self) -> str:
        return self.detail


@dataclass
class Malformed(ExchangeError):
    """The request cannot be parsed (bad JSON, duplicate keys, bad JWS, bad header)."""

    code: str = "malformed_request"


@dataclass
class Unauthenticated(ExchangeError):
    """No valid credentials: missing, expired, tampered or wrongly issued."""

    code: str = "unauthenticated"


@dataclass
class Forbidden(ExchangeError):
    """Authenticated but not allowed (scope, role, acting user, legal basis)."""

    code: str = "forbidden"


@dataclass
class NotFound(ExchangeError):
    """Unknown, or not visible to the caller's organization."""

    code: str = "not_found"


@dataclass
class Conflict(ExchangeError):
    """The object's state does not allow the action."""

    code: str = "conflict"


@dataclass
class Invalid(ExchangeError):
    """Well-formed but invalid input: schema, vocabulary, identifier check, domain rule."""

    code: str = "validation_failed"
    errors: Sequence[FieldError] = ()


@dataclass
class RateLimited(ExchangeError):
    """Too many requests for this client; ``retry_after`` seconds until the window frees."""

    code: str = "rate_limited"
    retry_after: int = 1


@dataclass
class Unavailable(ExchangeError):
    """A dependency (database, Redis) is down; nothing was changed."""

    code: str = "dependency_unavailable"


@dataclass
class Corrupted(ExchangeError):
    """Stored data fails its integrity check (altered ciphertext or key): an operator matter."""

    code: str = "integrity_failed"


@dataclass
class PayloadTooLarge(ExchangeError):
    """The body is larger than the configured limit."""

    code: str = "body_too_large"


@dataclass
class UnsupportedMediaType(ExchangeError):
    """The body's content type is not the one the endpoint takes."""

    code: str = "unsupported_media_type"
