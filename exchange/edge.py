"""Input at the edge: text no database can store and integers no column can hold are refused
before any view runs, with a problem naming the field (never a 500 from the driver).

JSON bodies and JWS payloads are checked where they are parsed (``schemas.strictjson``);
this module checks the path, the query string, header values and form fields.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, jsonify, request
from werkzeug.routing import IntegerConverter

from exchange.errors import FieldError, Invalid
from exchange.oauth import TOKEN_PATH
from schemas import MAX_INTEGER
from schemas.strictjson import unstorable


class BoundedIntegerConverter(IntegerConverter):
    """``<int:…>`` path parts that fit a database integer; larger ones are not found (404)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", MAX_INTEGER)
        super().__init__(*args, **kwargs)


def _refuse_unstorable_text() -> Response | None:
    problems = _unstorable_fields()
    if not problems:
        return None
    if request.path == TOKEN_PATH:
        # The token endpoint answers in RFC 6749's words, whatever is wrong.
        refused = jsonify({"error": "invalid_request", "error_description": problems[0].message})
        refused.status_code = 400
        refused.headers["Cache-Control"] = "no-store"
        return refused
    raise Invalid("Some text cannot be stored.", code="invalid_text", errors=problems)


def _unstorable_fields() -> list[FieldError]:
    problems: list[FieldError] = []
    why = unstorable(request.path)
    if why:
        problems.append(FieldError("path", why))
    for name, value in request.args.items(multi=True):
        why = unstorable(name) or unstorable(value)
        if why:
            problems.append(FieldError(f"query.{name[:64]}", why))
    for name, value in request.headers.items():
        why = unstorable(value)
        if why:
            problems.append(FieldError(f"header.{name[:64]}", why))
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        for name, value in request.form.items(multi=True):
            why = unstorable(name) or unstorable(value)
            if why:
                problems.append(FieldError(f"form.{name[:64]}", why))
    return problems


def init_edge(app: Flask) -> None:
    """Bound path integers (before routes are added) and check every request's text."""
    app.url_map.converters["int"] = BoundedIntegerConverter
    app.before_request(_refuse_unstorable_text)
