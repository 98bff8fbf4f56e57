"""The worker outlives its dependencies: each job of a round on its own, a failing one retried
with backoff and logged once per change, job metrics, and an ``exchange worker`` process that
keeps sealing while its Redis is stopped or frozen."""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis as redis_lib
import requests
from sqlalchemy import select

from adapters.db import Database
from exchange import audit, create_app
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
from tests.conftest import (
    ISSUER,
    Receiver,
    free_port,
    org_factory,
    runtime_of,
    start_redis,
    stop_redis,
)

BIN = Path(sys.executable).parent
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
        audit.record(session, SOMEONE, "packet.read", resource_type="packet", resource_id=f"p-{n}")
        notify(session, ["te-vs"], "packet.received", {"packet_id": f"p-{n}"})
        (notification,) = (row for row in session.new if isinstance(row, WebhookDelivery))
        session.flush()
    with rt.db.transaction() as session:
        event = session.execute(
            select(AuditEvent.id).where(AuditEvent.resource_id == f"p-{n}")
        ).scalar_one()
    return event, notification.id


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
    rt.redis = UnreachableRedis(rt.redis)

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
    rt.redis = redis
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
    assert [record.job for record in warnings] == [job.name for job in JOBS]
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
    assert "in flaky" in errors[0].stack
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
    rt.redis = UnreachableRedis(rt.redis)
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


# --- the process: `exchange worker` with its Redis stopped, then frozen ------------------------


@dataclass
class WorkerProcess:
    process: subprocess.Popen[bytes]
    log: Path
    metrics: str

    def alive(self) -> bool:
        return self.process.poll() is None

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


def wait_until(what: Callable[[], bool], worker: WorkerProcess, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if what():
            return
        assert worker.alive(), f"the worker exited: {worker.output()}"
        time.sleep(0.1)
    raise AssertionError(f"not within {seconds} s: {worker.output()}")


@pytest.fixture
def outside_world(
    committed_database: str, keys_dir: Path, redis_server: Any, receiver: Receiver
) -> Iterator[Runtime]:
    """te-vs subscribed to ``receiver`` on a database where transactions really commit, and
    the suite's own Redis."""
    application = create_app(
        {
            "TESTING": True,
            "MODE": "embedded",
            "DATABASE_URL": committed_database,
            "REDIS_URL": f"redis://127.0.0.1:{redis_server.port}/0",
            "KEYS_DIR": str(keys_dir),
            "ISSUER": ISSUER,
            "RATE_LIMIT": "10000/minute",
        }
    )
    rt = runtime_of(application)
    org_factory(rt, application.test_client())("te-vs", kind="employment_services")
    with rt.db.transaction() as session:
        session.get(Organization, "te-vs").webhook_url = receiver.url
    yield rt
    rt.db.engine.dispose()


@pytest.fixture
def worker(
    outside_world: Runtime, committed_database: str, keys_dir: Path, redis_server: Any, tmp_path
) -> Iterator[WorkerProcess]:
    """``exchange worker --interval 1`` in production mode, its metrics on a loopback port."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXCHANGE_")} | {
        "EXCHANGE_MODE": "production",
        "EXCHANGE_DATABASE_URL": committed_database,
        "EXCHANGE_REDIS_URL": f"redis://127.0.0.1:{redis_server.port}/0",
        "EXCHANGE_KEYS_DIR": str(keys_dir),
        "EXCHANGE_ISSUER": ISSUER,
        "EXCHANGE_WEBHOOK_ALLOW_LOOPBACK": "1",
        "EXCHANGE_LOG_JSON": "1",
        "EXCHANGE_LOG_LEVEL": "INFO",
    }
    log = tmp_path / "worker.log"
    with log.open("wb") as handle:
        process = subprocess.Popen(
            [BIN / "exchange", "worker", "--interval", "1", "--metrics-port", str(port)],
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
    running = WorkerProcess(process, log, f"http://127.0.0.1:{port}/metrics")
    try:
        yield running
    finally:
        if running.alive():
            process.kill()
            process.wait(timeout=5)


def sealed(rt: Runtime, event: int) -> bool:
    with rt.db.transaction() as session:
        return session.get(AuditEvent, event).seq is not None


def delivered(rt: Runtime, notification: str) -> bool:
    with rt.db.transaction() as session:
        return session.get(WebhookDelivery, notification).status == DELIVERED


def scrape(worker: WorkerProcess, name: str, job: str) -> float | None:
    """One sample of the worker's metrics; None while it is not served (yet)."""
    try:
        return sample(requests.get(worker.metrics, timeout=2).text, name, job)
    except requests.RequestException:  # still starting
        return None


def webhook_failures(worker: WorkerProcess) -> float:
    return scrape(worker, "exchange_worker_job_failures_total", "webhooks") or 0


def webhooks_succeeded_since(worker: WorkerProcess, moment: float) -> bool:
    last = scrape(worker, "exchange_worker_last_success_timestamp", "webhooks")
    return last is not None and last >= moment


@pytest.mark.faults
def test_the_worker_process_keeps_sealing_while_redis_is_stopped_then_frozen(
    outside_world, worker, redis_server, receiver
):
    rt = outside_world
    port = redis_server.port
    wait_until(
        lambda: scrape(worker, "exchange_worker_last_success_timestamp", "seal") is not None,
        worker,
        20,
    )

    # Stopped: the worker goes on sealing; the notification waits for Redis.
    redis_server.terminate()
    redis_server.wait(timeout=5)
    event, first = happen(rt, 1)
    wait_until(lambda: sealed(rt, event), worker, 5)
    wait_until(lambda: webhook_failures(worker) >= 2, worker, 5)
    assert not delivered(rt, first)
    back = time.time()
    restarted = start_redis(port)
    try:
        wait_until(lambda: webhooks_succeeded_since(worker, back), worker, 10)
        assert delivered(rt, first)

        # Frozen: every Redis call times out; the same again.
        os.kill(restarted.pid, signal.SIGSTOP)
        failures = webhook_failures(worker)
        event, second = happen(rt, 2)
        wait_until(lambda: sealed(rt, event), worker, 5)
        wait_until(lambda: webhook_failures(worker) >= failures + 2, worker, 8)
        assert not delivered(rt, second)
        back = time.time()
        os.kill(restarted.pid, signal.SIGCONT)
        wait_until(lambda: webhooks_succeeded_since(worker, back), worker, 10)
        assert delivered(rt, second)
        time.sleep(1.5)  # a round or more later: nothing is sent again
        received = webhook_ids(receiver)
        assert received.count(first) == received.count(second) == 1
        assert len(received) == len(set(received))
        assert scrape(worker, "exchange_worker_job_failures_total", "seal") == 0

        # SIGTERM: the worker finishes its round and exits cleanly.
        worker.process.send_signal(signal.SIGTERM)
        assert worker.process.wait(timeout=10) == 0
    finally:
        stop_redis(restarted)

    output = worker.log.read_text()
    assert "Traceback" not in output
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    rounds = [line for line in lines if "name" not in line]
    assert all(line["failing"] in ([], ["webhooks"]) for line in rounds)
    assert sum(line.get("sealed", 0) for line in rounds) >= 2
    logged = [line["message"] for line in lines if line.get("name") == "exchange.background"]
    assert len(logged) == 4, logged  # once per change: failing, recovered, failing, recovered
    assert logged[0].startswith("worker job webhooks failing: ConnectionError")
    assert logged[2].startswith("worker job webhooks failing: ")
    for message in logged[1::2]:
        assert re.fullmatch(r"worker job webhooks recovered after \d+ failures?", message)
    (stopped,) = [line for line in lines if line.get("name") == "exchange.cli"]
    assert stopped["message"] == "worker stopped on SIGTERM, its last round finished"
