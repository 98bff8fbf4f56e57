"""marshmallow schemas of the wire format; used at the edge only."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from marshmallow import RAISE, Schema

from consent.errors import FieldError

# The largest value a BIGINT column (PostgreSQL's int8) holds: integers in requests stay below.
MAX_INTEGER = 2**63 - 1


class StrictSchema(Schema):
    """A request body schema: unknown fields are errors."""

    class Meta:
        unknown = RAISE


def _join(prefix: str, key: Any) -> str:
    if isinstance(key, int):
        return f"{prefix}[{key}]"
    if key == "_schema":
        return prefix
    return f"{prefix}.{key}" if prefix else str(key)


def flatten_errors(messages: Any, prefix: str = "") -> list[FieldError]:
    """marshmallow's nested error dict as a flat list of field paths (``users[2].roles``)."""
    if isinstance(messages, Mapping):
        out: list[FieldError] = []
        for key, value in messages.items():
            out.extend(flatten_errors(value, _join(prefix, key)))
        return out
    if isinstance(messages, list | tuple):
        if all(isinstance(item, str) for item in messages):
            return [FieldError(prefix or "body", str(item)) for item in messages]
        out = []
        for item in messages:
            out.extend(flatten_errors(item, prefix))
        return out
    return [FieldError(prefix or "body", str(messages))]
