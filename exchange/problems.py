"""RFC 9457 problem+json: the one place where errors become HTTP responses.

The flask-smorest error handler and ``ERROR_SCHEMA`` are overridden together,
so that the OpenAPI document describes exactly the bodies that are sent.
"""

from __future__ import annotations

import http
import logging
from typing import Any

import marshmallow as ma
import redis
from flask import Flask, Response, g, json, request
from flask_smorest import Api
from flask_smorest.utils import prepare_response
from sqlalchemy.exc import DataError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from werkzeug.exceptions import HTTPException

from exchange import errors
from exchange.errors import ExchangeError, FieldError
from schemas import flatten_errors

log = logging.getLogger(__name__)

PROBLEM_MIMETYPE = "application/problem+json"

STATUS: dict[type[ExchangeError], int] = {
    errors.Malformed: 400,
    errors.Unauthenticated: 401,
    errors.Forbidden: 403,
    errors.NotFound: 404,
    errors.Conflict: 409,
    errors.PayloadTooLarge: 413,
    errors.UnsupportedMediaType: 415,
    errors.Invalid: 422,
    errors.RateLimited: 429,
    errors.Unavailable: 503,
    errors.Corrupted: 500,
}

# Stable codes for errors raised by Flask/werkzeug/webargs rather than by our code.
HTTP_CODES = {
    400: "malformed_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "body_too_large",
    415: "unsupported_media_type",
    422: "validation_failed",
    429: "rate_limited",
    500: "internal_error",
    503: "dependency_unavailable",
}

TITLES = {
    400: "Malformed request",
    401: "Authentication required",
    403: "Not allowed",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict with the current state",
    413: "Request body too large",
    415: "Unsupported content type",
    422: "Invalid input",
    429: "Too many requests",
    500: "Internal error",
    503: "Service temporarily unavailable",
}


class FieldErrorSchema(ma.Schema):
    field = ma.fields.String(
        metadata={"description": "Path of the invalid value, e.g. `client.hetu`"}
    )
    message = ma.fields.String()


class ProblemSchema(ma.Schema):
    """An RFC 9457 problem details object with this service's extensions."""

    type = ma.fields.String(metadata={"description": "URI reference identifying the problem type"})
    title = ma.fields.String()
    status = ma.fields.Integer()
    detail = ma.fields.String()
    code = ma.fields.String(metadata={"description": "Stable machine-readable error code"})
    errors = ma.fields.List(ma.fields.Nested(FieldErrorSchema))
    request_id = ma.fields.String()


def problem(
    status: int,
    code: str,
    detail: str,
    *,
    field_errors: list[FieldError] | None = None,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> Response:
    """A problem+json response."""
    body: dict[str, Any] = {
        "type": f"/problems/{code}",
        "title": TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "code": code,
    }
    if field_errors:
        body["errors"] = [error.as_dict() for error in field_errors]
    if extra:
        body.update(extra)
    if g.get("request_id"):
        body["request_id"] = g.request_id
    response = Response(json.dumps(body), status=status, mimetype=PROBLEM_MIMETYPE)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def status_of(error: ExchangeError) -> int:
    """The HTTP status of a domain error."""
    return next(code for cls, code in STATUS.items() if isinstance(error, cls))


def handle_exchange_error(error: ExchangeError) -> Response:
    """A domain error as problem+json. What the refusal leaves behind (its denial, work that
    must persist) is already on the request's unit of work, which the error status rolls back
    (``exchange.http``)."""
    status = status_of(error)
    headers: dict[str, str] = {}
    if status == 401:
        headers["WWW-Authenticate"] = (
            f'Bearer realm="exchange", error="{_bearer_error(error.code)}"'
        )
    if isinstance(error, errors.RateLimited):
        headers["Retry-After"] = str(error.retry_after)
    field_errors = list(error.errors) if isinstance(error, errors.Invalid) else None
    return problem(
        status,
        error.code,
        error.detail,
        field_errors=field_errors,
        headers=headers,
        extra=dict(error.extra),
    )


def _bearer_error(code: str) -> str:
    return "invalid_request" if code == "missing_token" else "invalid_token"


def handle_http_error(error: HTTPException) -> Response:
    status = error.code or 500
    if status == 401:
        return problem(
            status,
            "unauthenticated",
            error.description or "",
            headers={"WWW-Authenticate": 'Bearer realm="exchange"'},
        )
    data = getattr(error, "data", None) or {}
    messages = data.get("messages") or data.get("errors")
    field_errors = None
    if messages:
        # webargs nests messages under the location ("json", "query"); the location is not a field.
        if (
            isinstance(messages, dict)
            and len(messages) == 1
            and next(iter(messages)) in ("json", "query", "form", "headers", "files", "view_args")
        ):
            messages = next(iter(messages.values()))
        field_errors = flatten_errors(messages)
    detail = error.description or TITLES.get(status, "")
    headers = {}
    if status == 413:
        detail = "The request body exceeds the configured limit."
        # The unread body is still on the wire: the connection cannot carry another request.
        headers["Connection"] = "close"
    allowed = getattr(error, "valid_methods", None)
    if status == 405 and allowed:
        headers["Allow"] = ", ".join(allowed)
    return problem(
        status,
        HTTP_CODES.get(status, "http_error"),
        detail,
        field_errors=field_errors,
        headers=headers,
    )


def handle_dependency_down(error: Exception) -> Response:
    log.error("dependency unavailable: %s", type(error).__name__)
    return problem(
        503,
        "dependency_unavailable",
        "A dependency is unavailable; nothing was changed.",
        headers={"Retry-After": "5"},
    )


def handle_data_error(error: DataError) -> Response:
    """A value the database cannot take (out of range, not text): the input's fault, not ours.
    The statement's values are not logged (the engine hides them)."""
    log.warning("database refused a value: %s", type(error.orig).__name__)
    return problem(422, "invalid_value", "A value in the request cannot be stored.")


def handle_unexpected(error: Exception) -> Response:
    log.exception("unhandled error in %s %s", request.method, request.path)
    return problem(500, "internal_error", "An unexpected error occurred; nothing was changed.")


class ExchangeApi(Api):  # type: ignore[misc]  # flask-smorest is untyped
    """flask-smorest with problem+json errors, documented by the same schema."""

    ERROR_SCHEMA = ProblemSchema

    def handle_http_exception(self, error: HTTPException) -> Response:
        return handle_http_error(error)

    def _register_responses(self) -> None:
        # As flask-smorest does, but error bodies are documented as application/problem+json.
        for status in http.HTTPStatus:
            if status < 400:
                continue
            response: dict[str, Any] = {"description": status.phrase, "schema": self.ERROR_SCHEMA}
            prepare_response(response, self.spec, PROBLEM_MIMETYPE)
            self.spec.components.response(status.name, response, lazy=True)
        default: dict[str, Any] = {
            "description": "Error (problem details)",
            "schema": self.ERROR_SCHEMA,
        }
        prepare_response(default, self.spec, PROBLEM_MIMETYPE)
        self.spec.components.response("DEFAULT_ERROR", default, lazy=True)


def register_error_handlers(app: Flask) -> None:
    """Map domain errors, HTTP errors and dependency failures to problem+json."""
    app.register_error_handler(ExchangeError, handle_exchange_error)
    app.register_error_handler(HTTPException, handle_http_error)
    app.register_error_handler(DataError, handle_data_error)
    app.register_error_handler(OperationalError, handle_dependency_down)
    app.register_error_handler(PoolTimeoutError, handle_dependency_down)
    app.register_error_handler(redis.exceptions.ConnectionError, handle_dependency_down)
    app.register_error_handler(redis.exceptions.TimeoutError, handle_dependency_down)
    app.register_error_handler(Exception, handle_unexpected)
