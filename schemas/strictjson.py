"""JSON parsing that refuses what ``json.loads`` lets through: duplicate keys, NaN, Infinity."""

from __future__ import annotations

import json
from typing import Any

from consent.errors import Malformed


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise Malformed(f"Duplicate key {key[:64]!r} in JSON.", code="duplicate_json_key")
        result[key] = value
    return result


def _no_constant(name: str) -> Any:
    raise Malformed(f"{name} is not valid JSON.", code="invalid_json")


def loads(data: bytes | str) -> Any:
    """Parse JSON strictly; raise Malformed (400) on anything ambiguous or broken."""
    try:
        return json.loads(data, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise Malformed("The body is not valid JSON.", code="invalid_json") from exc
    except RecursionError as exc:
        raise Malformed("The JSON is nested too deeply.", code="invalid_json") from exc
