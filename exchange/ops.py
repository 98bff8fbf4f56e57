"""Operations endpoints: liveness, readiness, Prometheus metrics."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

import redis
from flask import Blueprint, Response, g, jsonify
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy.exc import SQLAlchemyError

from exchange.policy import public
from exchange.problems import problem
from exchange.runtime import runtime

blp = Blueprint("ops", __name__)
DATABASE_DEADLINE = 0.8  # seconds: /readyz answers within a second, either way
_PROBES = ThreadPoolExecutor(max_workers=2, thread_name_prefix="readiness")
log = logging.getLogger(__name__)


@blp.get("/healthz")
@public
def healthz() -> Response:
    """Liveness: the process answers."""
    return jsonify({"status": "ok"})


@blp.get("/readyz")
@public
def readyz() -> Response:
    """Readiness: the database and Redis both answer; 503 naming the one that does not."""
    rt = runtime()
    checks = {}
    try:
        # A frozen database server never answers and libpq has no read timeout: wait for the
        # probe in a worker thread, and for at most a deadline (probes share two threads, so a
        # hung server cannot make them pile up).
        _PROBES.submit(rt.db.ping).result(timeout=DATABASE_DEADLINE)
        checks["database"] = "ok"
    except (SQLAlchemyError, FutureTimeout) as exc:
        log.warning("readiness: database down: %s", type(exc).__name__)
        checks["database"] = "unavailable"
    try:
        rt.redis.ping()
        checks["redis"] = "ok"
    except (redis.exceptions.RedisError, OSError) as exc:
        log.warning("readiness: redis down: %s", type(exc).__name__)
        checks["redis"] = "unavailable"
    if all(value == "ok" for value in checks.values()):
        return jsonify({"status": "ready", "checks": checks})
    down = ", ".join(name for name, value in checks.items() if value != "ok")
    return problem(
        503, "dependency_unavailable", f"Not ready: {down} unavailable.", extra={"checks": checks}
    )


@blp.get("/metrics")
@public
def metrics() -> Response:
    """Prometheus exposition of this process's metrics."""
    return Response(generate_latest(g.metrics.registry), mimetype=CONTENT_TYPE_LATEST)
