"""Background work: sealing, checkpoints, deadlines and retention, escorted transfers whose
first contact is missing, notifications.

``exchange worker`` runs rounds in a loop (production); the embedded server runs
them in a daemon thread, so a single process keeps the log sealed as well.

Each job of a round runs on its own, as a unit of work of its own: one that fails
does not stop the others (sealing and checkpoints need only the database and go on
while Redis is down). A failing job is tried again on a later round, after a wait
that doubles from ``FIRST_RETRY`` to ``LONGEST_RETRY`` with jitter, and back to
every round once it succeeds. It is logged when it starts failing and when it
recovers, not on every round, and counted in the metrics
(``exchange_worker_last_success_timestamp`` and ``exchange_worker_job_failures_total``
by ``job``).
"""

from __future__ import annotations

import logging
import random
import re
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import redis
from flask import Flask
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from exchange import audit
from exchange.runtime import EXTENSION, Runtime
from exchange.unit import WORKER, unit_of_work
from exchange.webhooks import delivery as webhooks

log = logging.getLogger(__name__)
CONSUMER = webhooks.consumer_name()  # this process in the notification senders' group
FIRST_RETRY = 1.0  # seconds before a failed job is tried again
LONGEST_RETRY = 60.0  # no wait between attempts grows beyond this
STOP_CHECK = 0.2  # seconds between looks at whether to stop, between rounds
# What a dependency (database, Redis, the network) raises when it is down or slow: logged as
# a warning. Anything else is a fault of the job itself: logged as an error with its stack.
DEPENDENCY_ERRORS = (
    OperationalError,
    InterfaceError,
    DisconnectionError,
    PoolTimeout,
    redis.RedisError,
    OSError,
)


def seal(rt: Runtime) -> dict[str, Any]:
    """Seal pending audit events."""
    with unit_of_work(rt.db.sessions, WORKER, "audit.checkpoint") as uow:
        return {"sealed": audit.seal(uow.session, keys=rt.keys)}


def checkpoint(rt: Runtime) -> dict[str, Any]:
    """Sign a checkpoint of the log when one is due."""
    config = rt.config
    with unit_of_work(rt.db.sessions, WORKER, "audit.checkpoint") as uow:
        made = audit.checkpoint(
            uow.session, rt.keys, config["ISSUER"], min_interval=config["CHECKPOINT_INTERVAL"]
        )
    return {"checkpoint": made.tree_size if made is not None else None}


def deadlines(rt: Runtime) -> dict[str, Any]:
    """Expire overdue packets, crypto-shred content past retention."""
    from exchange.services import Services

    with unit_of_work(rt.db.sessions, WORKER, "packet.expire") as uow:
        packets = Services(rt, uow).packets
        expired = packets.expire_overdue(uow.identity)
        shredded = packets.shred_expired(uow.identity, rt.config["RETENTION_DAYS"])
    return {"expired": expired, "shredded": shredded}


def escorts(rt: Runtime) -> dict[str, Any]:
    """Raise ``first_contact_missing`` for escorted transfers past their first_contact_by."""
    from exchange.services import Services

    with unit_of_work(rt.db.sessions, WORKER, "packet.first_contact_missing") as uow:
        return {"first_contact_missing": Services(rt, uow).escorts.raise_missing(uow.identity)}


def notifications(rt: Runtime) -> dict[str, Any]:
    """Relay due notifications to the Redis stream and deliver what it holds."""
    done = webhooks.run_once(
        rt.db, rt.redis, rt.keys, webhooks.Policy.from_config(rt.config), CONSUMER
    )
    return {"notifications_relayed": done["relayed"], "notifications_handled": done["handled"]}


@dataclass(frozen=True)
class Job:
    """One job of a round: its name (the metrics' ``job`` label) and what it does."""

    name: str
    run: Callable[[Runtime], dict[str, Any]]


JOBS = (
    Job("seal", seal),
    Job("checkpoint", checkpoint),
    Job("deadlines", deadlines),
    Job("escorts", escorts),
    Job("webhooks", notifications),
)


def backoff(failures: int, rng: Callable[[float, float], float] = random.uniform) -> float:
    """Seconds to wait after ``failures`` failed attempts in a row (1, 2, ...): doubling from
    FIRST_RETRY up to LONGEST_RETRY, with jitter over the upper half so that workers failing
    together do not all come back at the same moment."""
    ceiling = min(LONGEST_RETRY, FIRST_RETRY * 2 ** max(0, failures - 1))
    return rng(ceiling / 2, ceiling)


@dataclass
class Health:
    """How one job is doing: failed attempts in a row, and when it may be tried again."""

    failures: int = 0
    retry_at: float = 0.0  # on the rounds' clock


class Rounds:
    """The worker's jobs and their health: ``run`` does one round, each due job on its own."""

    def __init__(
        self,
        rt: Runtime,
        jobs: Sequence[Job] = JOBS,
        *,
        clock: Callable[[], float] = time.monotonic,
        rng: Callable[[float, float], float] = random.uniform,
    ) -> None:
        self.rt = rt
        self.jobs = tuple(jobs)
        self.clock = clock
        self.rng = rng
        self.health = {job.name: Health() for job in self.jobs}
        for job in self.jobs:
            rt.metrics.job_failures.labels(job.name)  # shown as 0 before any failure

    @property
    def failing(self) -> list[str]:
        """The jobs whose last attempt failed."""
        return [name for name, health in self.health.items() if health.failures]

    def run(self) -> dict[str, Any]:
        """One round: every job that is due, each on its own. What the jobs that ran report,
        and ``failing``: the jobs whose last attempt failed (this round or before)."""
        result: dict[str, Any] = {}
        for job in self.jobs:
            health = self.health[job.name]
            if health.failures and self.clock() < health.retry_at:
                continue  # still waiting after a failure
            try:
                result.update(job.run(self.rt))
            except Exception as exc:  # every failure is the job's own; the others go on
                self._failed(job, health, exc)
            else:
                self._succeeded(job, health)
        result["failing"] = self.failing
        return result

    def _failed(self, job: Job, health: Health, exc: Exception) -> None:
        health.failures += 1
        wait = backoff(health.failures, self.rng)
        health.retry_at = self.clock() + wait
        self.rt.metrics.job_failures.labels(job.name).inc()
        if health.failures > 1:
            log.debug("worker job %s failed again (%d in a row)", job.name, health.failures)
            return
        dependency = isinstance(exc, DEPENDENCY_ERRORS)
        extra: dict[str, Any] = {"job": job.name}
        if not dependency:  # the code's path, without the values an exception may carry
            extra["stack"] = "".join(traceback.format_tb(exc.__traceback__))
        log.log(
            logging.WARNING if dependency else logging.ERROR,
            "worker job %s failing: %s (next try in %.1f s)",
            job.name,
            describe(exc),
            wait,
            extra=extra,
        )

    def _succeeded(self, job: Job, health: Health) -> None:
        if health.failures:
            log.info(
                "worker job %s recovered after %d %s",
                job.name,
                health.failures,
                "failure" if health.failures == 1 else "failures",
                extra={"job": job.name},
            )
        health.failures, health.retry_at = 0, 0.0
        self.rt.metrics.job_last_success.labels(job.name).set_to_current_time()


def run_round(rt: Runtime) -> dict[str, Any]:
    """One round of every job, each on its own (no memory of earlier rounds)."""
    return Rounds(rt).run()


# An identity code (DDMMYY, century sign, individual number, check character), a JWT, a
# bearer token or a password in a URL: never copied from an exception into a log line.
_SECRETS = (
    (re.compile(r"\b\d{6}[-+A-FU-Y]\d{3}[0-9A-Y]\b"), "[identity code]"),
    (re.compile(r"\beyJ[\w-]*\.[\w-]*\.[\w-]*"), "[token]"),
    (re.compile(r"(?i)\bbearer\s+\S+"), "Bearer [token]"),
    (re.compile(r"://[^/\s@]*@"), "://[credentials]@"),
)


def describe(exc: BaseException) -> str:
    """The exception's type and the first line of its message (a database error: the
    driver's own), without identity codes, tokens or credentials."""
    cause = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    lines = str(cause).strip().splitlines()
    message = lines[0] if lines else ""
    for pattern, replacement in _SECRETS:
        message = pattern.sub(replacement, message)
    return f"{type(cause).__name__}: {message[:300]}" if message else type(cause).__name__


def run_forever(
    app: Flask,
    rounds: Rounds,
    interval: float,
    stopped: Callable[[], bool],
    report: Callable[[dict[str, Any]], None] = lambda _result: None,
) -> None:
    """Run a round every ``interval`` seconds until ``stopped()`` says so; a round under way
    is finished first. ``report`` gets what each round did."""
    while not stopped():
        with app.app_context():
            result = rounds.run()
        report(result)
        # Short naps, not one wait on a lock: a signal handler may ask to stop at any moment,
        # and it can neither interrupt a sleep nor safely take a lock this thread may hold.
        wake = time.monotonic() + interval
        while not stopped() and (left := wake - time.monotonic()) > 0:
            time.sleep(min(STOP_CHECK, left))


def start_sealer_thread(app: Flask, interval: float) -> threading.Thread:
    """Run rounds every ``interval`` seconds in a daemon thread (embedded mode); the job
    metrics go to the application's ``/metrics``."""
    rt: Runtime = app.extensions[EXTENSION]
    thread = threading.Thread(
        target=run_forever,
        args=(app, Rounds(rt), interval, lambda: False),
        name="exchange-sealer",
        daemon=True,
    )
    thread.start()
    return thread
