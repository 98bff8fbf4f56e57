"""JSON parsing that refuses what ``json.loads`` lets through: duplicate keys, NaN, Infinity,
NUL characters and lone surrogates (which no database column can store as text)."""

from __future__ import annotations

import json
from typing import Any

from consent.errors import FieldError, Invalid, Malformed


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise Malformed(f"Duplicate key {key[:64]!r} in JSON.", code="duplicate_json_key")
        result[key] = value
    return result


def _no_constant(name: str) -> Any:
    raise Malformed(f"{name} is not valid JSON.", code="invalid_json")


def unstorable(text: str) -> str | None:
    """Why ``text`` cannot be stored as text (a NUL or a lone surrogate); None when it can."""
    if "\x00" in text:
        return "Contains a NUL character."
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "Contains a lone surrogate (not valid Unicode text)."
    return None


def _text_problems(value: Any, path: str) -> list[FieldError]:
    if isinstance(value, str):
        why = unstorable(value)
        return [FieldError(path or "body", why)] if why else []
    found: list[FieldError] = []
    if isinstance(value, dict):
        for key, item in value.items():
            child = f"{path}.{key}" if path else str(key)
            why = unstorable(key)
            if why:
                found.append(FieldError(path or "body", f"A key: {why[0].lower()}{why[1:]}"))
            else:
                found.extend(_text_problems(item, child))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.extend(_text_problems(item, f"{path}[{index}]"))
    return found


def loads(data: bytes | str) -> Any:
    """Parse JSON strictly; raise Malformed (400) on anything ambiguous or broken, and
    Invalid (422, naming the fields) on text no database can store."""
    try:
        value = json.loads(data, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise Malformed("The body is not valid JSON.", code="invalid_json") from exc
    except RecursionError as exc:
        raise Malformed("The JSON is nested too deeply.", code="invalid_json") from exc
    problems = _text_problems(value, "")
    if problems:
        raise Invalid("Some text cannot be stored.", code="invalid_text", errors=problems[:50])
    return value
