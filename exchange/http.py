"""The request lifecycle: request id, strict JSON bodies, one commit per request, logs, metrics."""

from __future__ import annotations

import logging
import re
import sys
import time
import uuid
from copy import deepcopy
from functools import wraps
from http import HTTPStatus
from typing import Any, NoReturn

from flask import Flask, Response, g, request
from flask_smorest import Blueprint
from marshmallow import ValidationError
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from pythonjsonlogger.json import JsonFormatter
from sqlalchemy.exc import SQLAlchemyError
from webargs import core
from webargs.flaskparser import FlaskParser

from exchange import policy
from exchange.acting import authorize_request
from exchange.errors import Invalid, UnsupportedMediaType
from exchange.policy import Person
from exchange.problems import problem
from exchange.runtime import runtime
from exchange.unit import UnitOfWork
from schemas import flatten_errors, strictjson

log = logging.getLogger("exchange.request")
REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
ACTING_USER_PARAMETER = {
    "in": "header",
    "name": "X-Acting-User",
    "required": True,
    "schema": {"type": "string"},
    "description": "Username of the person the system acts for (active, same organization).",
}
LOCATIONS = ("json", "query", "form", "headers", "files", "view_args", "querystring")


class StrictParser(FlaskParser):
    """webargs parser: JSON bodies must say so, duplicate keys are 400, invalid input 422, and
    an unknown query parameter is an error too (a mistyped audit filter must not widen a search)."""

    DEFAULT_UNKNOWN_BY_LOCATION = {  # noqa: RUF012  # overrides webargs' attribute of this shape
        **FlaskParser.DEFAULT_UNKNOWN_BY_LOCATION,
        "query": None,  # None: the schema decides (StrictSchema raises)
        "querystring": None,
    }

    def _raw_load_json(self, req: Any) -> Any:
        if not core.is_json(req.mimetype):
            # A form body may have been parsed (and its stream consumed) already: ask all three.
            if req.content_length or req.get_data(cache=True) or req.form:
                raise UnsupportedMediaType("Send the body as application/json.")
            return core.missing
        data = req.get_data(cache=True)
        if not data:
            return core.missing
        return strictjson.loads(data)

    def handle_error(
        self, error: ValidationError, req: Any, schema: Any, **_kwargs: Any
    ) -> NoReturn:
        messages: Any = error.messages
        if isinstance(messages, dict) and set(messages) <= set(LOCATIONS) and len(messages) == 1:
            messages = next(iter(messages.values()))
        raise Invalid("The request has invalid fields.", errors=flatten_errors(messages))


class ApiBlueprint(Blueprint):  # type: ignore[misc]  # flask-smorest is untyped
    """The blueprint every API module uses: strict JSON parsing, problem+json validation errors,
    and one declared action per operation (``exchange.policy``), enforced and documented."""

    ARGUMENTS_PARSER = StrictParser()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._prepare_doc_cbks.append(_prepare_policy_doc)

    def also_returns(self, **media: str) -> Any:
        """Document other media types of the 200 answer (``text_csv="…"`` for ``text/csv``)
        beside its JSON body; an ``alt_response`` for 200 would replace the JSON one."""
        content = {
            name.replace("_", "/", 1).replace("_", "-"): {
                "schema": {"type": "string", "description": description}
            }
            for name, description in media.items()
        }
        return self.doc(responses={200: {"content": content}})

    def action(self, name: str, *, errors: tuple[int, ...] = ()) -> Any:
        """The operation does action ``name``: the request is authorized by the policy before
        its arguments are parsed; scopes, the acting person and roles go into the document."""
        declared = policy.action(name)
        statuses = sorted({400, 401, 403, 429, 503, *errors})

        def decorator(view: Any) -> Any:
            for status in statuses:
                view = self.alt_response(status, response=HTTPStatus(status).name)(view)

            @wraps(view)
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                authorize_request(name)
                return view(*args, **kwargs)

            apidoc = deepcopy(getattr(view, "_apidoc", {}))
            apidoc["policy"] = declared.name
            setattr(wrapper, "_apidoc", apidoc)  # noqa: B010  # read by flask-smorest's docs
            setattr(wrapper, policy.ACTION_ATTRIBUTE, declared.name)
            return wrapper

        return decorator


def _prepare_policy_doc(doc: dict[str, Any], doc_info: dict[str, Any], **_kwargs: Any) -> Any:
    """Security, the acting person's header and the roles of an operation, from the policy;
    added to the parameters the arguments produced (never replacing them)."""
    name = doc_info.get("policy")
    if name is None:
        return doc
    declared = policy.action(name)
    doc["security"] = [{"oauth2": [scope]} for scope in declared.scopes] or [{"oauth2": []}]
    doc["x-action"] = declared.name
    if declared.person is not Person.NONE:
        doc["x-roles"] = list(declared.roles)
        header = dict(ACTING_USER_PARAMETER)
        header["required"] = declared.person is Person.REQUIRED
        roles = " or ".join(f"`{role}`" for role in declared.roles)
        header["description"] = (
            f"Username of the person acting (active, same organization, role {roles})."
            if header["required"]
            else f"Username of the person acting, when a person acts (role {roles})."
        )
        doc.setdefault("parameters", []).append(header)
    return doc


class RequestIdFilter(logging.Filter):
    """Adds the current request id to every log record emitted during a request."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            record.request_id = g.get("request_id")
        except RuntimeError:  # outside a request
            record.request_id = None
        return True


def configure_logging(level: str, as_json: bool) -> None:
    """Structured JSON log lines on stderr (plain text when ``as_json`` is false)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RequestIdFilter())
    if as_json:
        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
                rename_fields={"levelname": "level"},
            )
        )
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


class Metrics:
    """Prometheus metrics of one application (its own registry, so test apps do not collide)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "exchange_http_requests_total",
            "HTTP requests",
            ["method", "endpoint", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "exchange_http_request_duration_seconds",
            "HTTP request duration",
            ["method", "endpoint"],
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )
        self.audit_events = Counter(
            "exchange_audit_denials_total",
            "Denied actions written to the audit log",
            ["action"],
            registry=self.registry,
        )
        # The background jobs (exchange.background), where this process runs them.
        self.job_last_success = Gauge(
            "exchange_worker_last_success_timestamp",
            "When each background job last succeeded (unix seconds)",
            ["job"],
            registry=self.registry,
        )
        self.job_failures = Counter(
            "exchange_worker_job_failures_total",
            "Failed runs of each background job",
            ["job"],
            registry=self.registry,
        )


def _finish_unit_of_work(response: Response) -> Response:
    """Commit the request's unit of work, or (an error status: refused) roll it back, keeping
    only its denials and after-refusal work."""
    unit: UnitOfWork | None = g.get("unit")
    if unit is None:
        return response
    try:
        if response.status_code < 400:
            unit.commit()
        else:
            unit.rollback()
    except SQLAlchemyError:
        log.exception("commit failed")
        unit.discard()
        return problem(
            503, "dependency_unavailable", "The change could not be saved; nothing was changed."
        )
    return response


def init_request_lifecycle(app: Flask, metrics: Metrics) -> None:
    """Install the before/after hooks on ``app``."""

    @app.before_request
    def _start() -> None:
        given = request.headers.get("X-Request-ID", "")
        g.request_id = given if REQUEST_ID.match(given) else uuid.uuid4().hex
        g.started = time.perf_counter()
        g.metrics = metrics
        g.unit = UnitOfWork(
            runtime().db.sessions,
            request_id=g.request_id,
            on_denial=lambda denial: metrics.audit_events.labels(denial.action).inc(),
        )

    @app.after_request
    def _finish(response: Response) -> Response:
        response = _finish_unit_of_work(response)
        response.headers["X-Request-ID"] = g.get("request_id", "")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Cache-Control", "no-store")
        endpoint = request.url_rule.rule if request.url_rule else "unmatched"
        elapsed = time.perf_counter() - g.get("started", time.perf_counter())
        metrics.requests.labels(request.method, endpoint, str(response.status_code)).inc()
        metrics.latency.labels(request.method, endpoint).observe(elapsed)
        principal = g.get("principal")
        # The path only: a query string could carry what must never be logged.
        log.info(
            "request",
            extra={
                "request_id": g.get("request_id"),
                "method": request.method,
                "path": request.path,
                "status": response.status_code,
                "duration_ms": round(elapsed * 1000, 2),
                "client_id": principal.client_id if principal else None,
                "organization": principal.organization if principal else None,
            },
        )
        return response

    @app.teardown_request
    def _close(_exc: BaseException | None) -> None:
        unit: UnitOfWork | None = g.pop("unit", None)
        if unit is not None:
            unit.close()
