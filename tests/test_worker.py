"""The worker outlives its dependencies: each job of a round on its own, a failing one retried
with backoff and logged once per change, job metrics."""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable
from typing import Any

import pytest
import redis as redis_lib

from adapters.db import Database
from exchange import audit
from exchange.audit import Actor
from exchange.audit.models import AuditEvent
from exchange.background import (
    JOBS,
    LONGEST_RETRY,
    Job,
    Rounds,
    backoff,
    describe,
    run_round,
)
from exchange.registry.models import Organization
from exchange.runtime import Runtime
from exchange.webhooks.models import DELIVERED, WebhookDelivery
from exchange.webhooks.outbox import notify
from tests.conftest import Receiver, free_port

SOMEONE = Actor(organization="te-vs", client_id="te-vs-system", username="terhi.asiantuntija")


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    return {**app_config, "WEBHOOK_ALLOW_LOOPBACK": 1}


class Clock:
    """The rounds' clock, moved by the test."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def upper(low: float, high: float) -> float:
    """No jitter: the longest wait."""
    return high


class UnreachableRedis:
    """The app's Redis client, but every call raises ConnectionError while ``down``."""

    def __init__(self, real: redis_lib.Redis) -> None:
        self._real = real
        self.down = True
        self.refused = 0

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._real, name)
        if not callable(attribute):
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            if self.down:
                self.refused += 1
                raise redis_lib.ConnectionError(
                    "Error 111 connecting to 127.0.0.1:6379. Connection refused."
                )
            return attribute(*args, **kwargs)

        return call


def happen(rt: Runtime, n: int) -> tuple[int, str]:
    """What an instance writes while serving a request: an audit event and a notification to
    te-vs, in one transaction; their ids."""
    with rt.db.transaction() as session:
        event = audit.record(
            session, SOMEONE, "packet.read", resource_type="packet", resource_id=f"p-{n}"
        )
        notify(session, ["te-vs"], "packet.received", {"packet_id": f"p-{n}"})
        (notification,) = (row for row in session.new if isinstance(row, WebhookDelivery))
        session.flush()
        return event.id, notification.id


@pytest.fixture
def subscribed(rt: Runtime, make_org: Callable[..., Any], receiver: Receiver) -> Runtime:
    """te-vs receives notifications at ``receiver``."""
    make_org("te-vs", kind="employment_services")
    with rt.db.transaction() as session:
        session.get(Organization, "te-vs").webhook_url = receiver.url
    return rt


def webhook_ids(receiver: Receiver) -> list[str]:
    with receiver.lock:
        return [got["headers"]["Webhook-Id"] for got in receiver.received]


def background_logs(caplog: pytest.LogCaptureFixture, level: int) -> list[logging.LogRecord]:
    return [
        record
        for record in caplog.records
        if record.name == "exchange.background" and record.levelno == level
    ]


# --- one round, each job on its own -------------------------------------------------------------


def test_a_round_seals_and_checkpoints_while_redis_is_down(subscribed):
    rt = subscribed
    event, _ = happen(rt, 1)
    rt.redis = UnreachableRedis(rt.redis)  # type: ignore[assignment]

    result = run_round(rt)  # before: the round raised ConnectionError and sealed nothing after

    assert result["sealed"] >= 1
    assert result["checkpoint"] is not None
    assert (result["expired"], result["shredded"]) == (0, 0)
    assert result["failing"] == ["webhooks"]
    assert "notifications_handled" not in result
    with rt.db.transaction() as session:
        assert session.get(AuditEvent, event).seq is not None


def test_a_failing_job_backs_off_logs_once_and_delivers_once_when_redis_is_back(
    subscribed, receiver, caplog
):
    rt = subscribed
    _, notification = happen(rt, 1)
    redis = UnreachableRedis(rt.redis)
    rt.redis = redis  # type: ignore[assignment]
    clock = Clock()
    rounds = Rounds(rt, clock=clock, rng=upper)
    caplog.set_level(logging.INFO, logger="exchange.background")

    assert rounds.run()["failing"] == ["webhooks"]
    webhooks = rounds.health["webhooks"]
    waits = [webhooks.retry_at - clock.now]
    for n in range(2, 9):
        refused = redis.refused
        clock.now = webhooks.retry_at - 0.01
        early = rounds.run()
        assert early["failing"] == ["webhooks"]
        assert redis.refused == refused  # not tried before its time
        clock.now = webhooks.retry_at
        event, _ = happen(rt, n)
        result = rounds.run()
        assert redis.refused == refused + 1
        assert result["sealed"] == 1  # sealing goes on at every round
        with rt.db.transaction() as session:
            assert session.get(AuditEvent, event).seq is not None
        waits.append(webhooks.retry_at - clock.now)
    assert waits == [1, 2, 4, 8, 16, 32, LONGEST_RETRY, LONGEST_RETRY]
    assert webhook_ids(receiver) == []

    (warning,) = background_logs(caplog, logging.WARNING)  # one line, not one per round
    message = warning.getMessage()
    assert message.startswith("worker job webhooks failing: ConnectionError: Error 111")
    assert warning.exc_info is None
    assert "Traceback" not in caplog.text

    redis.down = False
    clock.now = webhooks.retry_at
    recovered = rounds.run()
    assert recovered["failing"] == []
    assert recovered["notifications_handled"] >= 1
    (info,) = background_logs(caplog, logging.INFO)
    assert info.getMessage() == "worker job webhooks recovered after 8 failures"
    for _ in range(3):  # later rounds send nothing again
        clock.now += 5
        assert rounds.run()["failing"] == []
    delivered = webhook_ids(receiver)
    assert delivered.count(notification) == 1
    assert len(delivered) == len(set(delivered))
    with rt.db.transaction() as session:
        assert session.get(WebhookDelivery, notification).status == DELIVERED


def test_with_the_database_down_every_job_fails_on_its_own_and_comes_back(rt, tmp_path, caplog):
    server = os.environ.get("EXCHANGE_TEST_DATABASE_URL")
    if server:  # a PostgreSQL port nobody listens on
        from sqlalchemy import make_url

        nowhere = make_url(server).set(port=free_port()).render_as_string(hide_password=False)
    else:  # a SQLite file in a directory that does not exist
        nowhere = f"sqlite:///{tmp_path / 'missing' / 'exchange.db'}"
    working, rt.db = rt.db, Database(nowhere)
    clock = Clock()
    rounds = Rounds(rt, clock=clock, rng=upper)
    caplog.set_level(logging.INFO, logger="exchange.background")
    try:
        for _ in range(3):
            assert rounds.run() == {"failing": [job.name for job in JOBS]}
            clock.now += LONGEST_RETRY
    finally:
        rt.db.engine.dispose()
        rt.db = working

    warnings = background_logs(caplog, logging.WARNING)
    assert [record.job for record in warnings] == [job.name for job in JOBS]  # type: ignore[attr-defined]
    for record in warnings:
        assert "OperationalError" in record.getMessage()
        assert "[SQL" not in record.getMessage()  # the driver's message, not the statement
    result = rounds.run()
    assert result["failing"] == []
    assert {record.getMessage() for record in background_logs(caplog, logging.INFO)} == {
        f"worker job {job.name} recovered after 3 failures" for job in JOBS
    }


def test_a_job_failing_with_a_fault_of_its_own_is_logged_with_its_stack_and_no_data(rt, caplog):
    steady_runs: list[int] = []
    faults = [True, True, False, True]

    def steady(_rt: Runtime) -> dict[str, Any]:
        steady_runs.append(1)
        return {"steady": len(steady_runs)}

    def flaky(_rt: Runtime) -> dict[str, Any]:
        if faults.pop(0):
            raise ValueError(
                "no packet for 010190-900P, Authorization: Bearer eyJhbGciOiJFUzI1NiJ9.e30.c2ln"
            )
        return {"flaky": "done"}

    clock = Clock()
    rounds = Rounds(rt, [Job("flaky", flaky), Job("steady", steady)], clock=clock, rng=upper)
    caplog.set_level(logging.DEBUG, logger="exchange.background")
    flaky_health = rounds.health["flaky"]
    waits: list[float | None] = []
    for _ in range(4):
        result = rounds.run()
        assert result["steady"] == len(steady_runs)
        waits.append(flaky_health.retry_at - clock.now if flaky_health.failures else None)
        clock.now = max(clock.now + 0.5, flaky_health.retry_at)
    assert len(steady_runs) == 4  # the other job ran every round
    assert waits == [1, 2, None, 1]  # back to the first wait after a success

    errors = background_logs(caplog, logging.ERROR)
    assert len(errors) == 2  # once per change from ok to failing
    assert "worker job flaky failing: ValueError: no packet for [identity code]" in (
        errors[0].getMessage()
    )
    assert "in flaky" in errors[0].stack  # type: ignore[attr-defined]
    assert "010190-900P" not in caplog.text
    assert "eyJ" not in caplog.text
    assert "c2ln" not in caplog.text


def test_backoff_doubles_from_a_second_to_a_minute_with_jitter():
    assert [backoff(n, rng=upper) for n in range(1, 10)] == [1, 2, 4, 8, 16, 32, 60, 60, 60]
    assert backoff(1, rng=lambda low, high: low) == 0.5
    spread = {round(backoff(5), 3) for _ in range(50)}
    assert len(spread) > 10
    assert all(8 <= wait <= 16 for wait in spread)


def test_describe_names_the_exception_without_identity_codes_or_credentials():
    error = redis_lib.ConnectionError("Error connecting to redis://worker:s3cret@10.0.0.5:6379")
    assert (
        describe(error)
        == "ConnectionError: Error connecting to redis://[credentials]@10.0.0.5:6379"
    )
    assert describe(KeyError()) == "KeyError"


# --- metrics ------------------------------------------------------------------------------------


def sample(text: str, name: str, job: str) -> float | None:
    found = re.search(rf'^{name}{{job="{job}"}} (\S+)$', text, re.MULTILINE)
    return float(found.group(1)) if found else None


def test_the_job_metrics_are_in_the_apps_metrics_by_job(subscribed, http):
    rt = subscribed
    rt.redis = UnreachableRedis(rt.redis)  # type: ignore[assignment]
    before = time.time()
    Rounds(rt).run()

    text = http.get("/metrics").get_data(as_text=True)
    for job in ("seal", "checkpoint", "deadlines"):
        last = sample(text, "exchange_worker_last_success_timestamp", job)
        assert last is not None
        assert before - 1 <= last <= time.time() + 1
        assert sample(text, "exchange_worker_job_failures_total", job) == 0
    assert sample(text, "exchange_worker_last_success_timestamp", "webhooks") is None
    assert sample(text, "exchange_worker_job_failures_total", "webhooks") == 1
