"""The domain errors of ``consent.errors``, re-exported for the application's modules.

They are defined in the lowest layer so that ``schemas`` and ``adapters`` can raise them
without importing the application.
"""

from __future__ import annotations

from consent.errors import (
    Conflict,
    Corrupted,
    Denial,
    ExchangeError,
    FieldError,
    Forbidden,
    Invalid,
    Malformed,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    Unauthenticated,
    Unavailable,
    UnsupportedMediaType,
)

__all__ = [
    "Conflict",
    "Corrupted",
    "Denial",
    "ExchangeError",
    "FieldError",
    "Forbidden",
    "Invalid",
    "Malformed",
    "NotFound",
    "PayloadTooLarge",
    "RateLimited",
    "Unauthenticated",
    "Unavailable",
    "UnsupportedMediaType",
]
