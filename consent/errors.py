"""Errors of the consent domain: plain exceptions with a stable ``code``."""

from __future__ import annotations


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
