"""A Redis that stops or freezes: every answer within a second, 503 problem+json, recovery.

The suite starts its own ``redis-server`` on a free loopback port, so stopping it
touches nothing else; each test is bounded to seconds.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from exchange import create_app
from tests.conftest import ISSUER, org_factory, rolled_back

pytestmark = [
    pytest.mark.faults,
    pytest.mark.skipif(
        shutil.which("redis-server") is None, reason="needs redis-server (installed by .ci/run)"
    ),
]
LOOKUP = "/v1/clients/lookup"
BODY = {"hetu": "010190-900P"}


@pytest.fixture
def faulty_app(
    redis_server: subprocess.Popen[bytes], database_url: str, keys_dir: Any
) -> Iterator[Flask]:
    application = create_app(
        {
            "TESTING": True,
            "MODE": "embedded",
            "DATABASE_URL": database_url,
            "REDIS_URL": f"redis://127.0.0.1:{redis_server.port}/0",  # type: ignore[attr-defined]
            "KEYS_DIR": str(keys_dir),
            "ISSUER": ISSUER,
            "RATE_LIMIT": "10000/minute",
        }
    )
    with rolled_back(application):
        yield application


def timed(call: Any) -> tuple[Any, float]:
    started = time.monotonic()
    response = call()
    return response, time.monotonic() - started


@pytest.mark.parametrize("fault", ["stopped", "frozen"])
def test_a_redis_outage_answers_503_within_a_second_and_recovers(
    faulty_app: Flask, redis_server: subprocess.Popen[bytes], fault: str
) -> None:
    http = faulty_app.test_client()
    org = org_factory(faulty_app.extensions["exchange"], http)(
        "fault-org", users=[("fiona.sw", ["social_worker"])]
    )
    headers = org.client.headers("fiona.sw")  # the token is issued while Redis answers
    assert http.post(LOOKUP, json=BODY, headers=headers).status_code == 200

    os.kill(redis_server.pid, signal.SIGSTOP if fault == "frozen" else signal.SIGTERM)
    if fault == "stopped":
        redis_server.wait(timeout=5)
    refused, took = timed(lambda: http.post(LOOKUP, json=BODY, headers=headers))
    assert refused.status_code == 503
    assert refused.mimetype == "application/problem+json"
    assert refused.get_json()["code"] == "dependency_unavailable"
    assert refused.get_json()["request_id"]
    assert took < 1.0
    alive, took = timed(lambda: http.get("/healthz"))
    assert alive.status_code == 200
    assert took < 0.2  # liveness touches no dependency
    ready, took = timed(lambda: http.get("/readyz"))
    assert ready.status_code == 503
    assert took < 1.0
    assert ready.get_json()["checks"]["redis"] == "unavailable"

    if fault == "frozen":
        os.kill(redis_server.pid, signal.SIGCONT)
        answered = http.post(LOOKUP, json=BODY, headers=headers)
        assert answered.status_code == 200  # back as soon as Redis is
        assert http.get("/readyz").status_code == 200
