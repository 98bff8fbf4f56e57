"""Benchmark of consent.decision.decide: one client, 50 records, 10,000 calls of 3 categories.

Run from the project root: ``.venv/bin/python bench/consent_decision.py``.
The records and requests come from a seeded generator, so every run measures the same work.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import random
import statistics
import sys
import time
from collections import Counter

from consent.decision import DisclosureRequest, decide
from consent.model import ACTIVE, DENY, PENDING, PERMIT, REJECTED, ConsentRecord, withdraw
from consent.statutes import default_statutes
from consent.vocabulary import CATEGORIES, PURPOSES

CALLS = 10_000
RECORDS = 50
CATEGORIES_PER_CALL = 3
SEED = 2026

ORGANIZATIONS = {
    "lieto-kisalli": "provider",
    "turku-tyopaja": "provider",
    "salo-valmennus": "provider",
    "vs-hyvinvointialue": "social_services",
    "vs-sosiaalipalvelut": "social_services",
    "te-vs": "employment_services",
    "kela": "kela",
    "vs-terveys": "health_care",
}
NOW = dt.datetime(2026, 12, 15, 10, 0, tzinfo=dt.UTC)
TODAY = dt.date(2026, 12, 15)


def make_records(rng: random.Random) -> list[ConsentRecord]:
    """Permits and bans in every status, valid in the past, now and in the future."""
    orgs = list(ORGANIZATIONS)
    records = []
    for index in range(RECORDS):
        decision = DENY if rng.random() < 0.2 else PERMIT
        valid_from = TODAY + dt.timedelta(days=rng.randint(-400, 30))
        record = ConsentRecord(
            id=f"consent-{index:03d}",
            client_id="client-bench",
            decision=decision,
            status=ACTIVE if decision == DENY else rng.choice([ACTIVE, ACTIVE, PENDING, REJECTED]),
            sources=frozenset(rng.sample(orgs, rng.randint(1, 3))),
            recipients=frozenset(rng.sample(orgs, rng.randint(1, 3))),
            categories=frozenset(rng.sample(CATEGORIES, rng.randint(1, 4))),
            purposes=frozenset(rng.sample(PURPOSES, rng.randint(1, 2))),
            valid_from=valid_from,
            valid_until=valid_from + dt.timedelta(days=rng.randint(30, 730)),
            recorded_at=NOW - dt.timedelta(days=rng.randint(0, 500), seconds=rng.randint(0, 86400)),
            recorded_by_user="bench.recorder",
        )
        if record.status_at(NOW) == ACTIVE and rng.random() < 0.15:
            record = withdraw(record, NOW - dt.timedelta(days=rng.randint(0, 30)))
        records.append(record)
    return records


def make_requests(rng: random.Random, records: list[ConsentRecord]) -> list[DisclosureRequest]:
    """Half aimed at what some record speaks about, so every rule gets exercised."""
    orgs = list(ORGANIZATIONS)
    requests = []
    for _ in range(CALLS):
        if rng.random() < 0.5:
            aim = rng.choice(records)
            source = rng.choice(sorted(aim.sources))
            recipient = rng.choice(sorted(aim.recipients))
            purpose = rng.choice(sorted(aim.purposes))
        else:
            source, recipient = rng.sample(orgs, 2)
            purpose = rng.choice(PURPOSES)
        requests.append(
            DisclosureRequest(
                source=source,
                source_kind=ORGANIZATIONS[source],
                recipient=recipient,
                recipient_kind=ORGANIZATIONS[recipient],
                purpose=purpose,
                categories=tuple(rng.sample(CATEGORIES, CATEGORIES_PER_CALL)),
                at=NOW + dt.timedelta(minutes=rng.randint(-60 * 24 * 90, 60 * 24 * 90)),
            )
        )
    return requests


def main() -> None:
    rng = random.Random(SEED)
    records = make_records(rng)
    requests = make_requests(rng, records)
    statutes = default_statutes()

    for request in requests[:500]:  # warm-up: caches, branch predictors, zoneinfo
        decide(records, statutes, request)

    durations = []
    allowed = 0
    reasons: Counter[str] = Counter()
    started = time.perf_counter_ns()
    for request in requests:
        before = time.perf_counter_ns()
        result = decide(records, statutes, request)
        durations.append(time.perf_counter_ns() - before)
        allowed += result.allowed
        reasons.update(item.reason_code for item in result.decisions)
    total_ns = time.perf_counter_ns() - started

    durations.sort()
    p99 = durations[int(len(durations) * 0.99) - 1]
    print(f"decide(): {CALLS} calls, {RECORDS} records, {CATEGORIES_PER_CALL} categories each")
    print(f"  decisions/s : {CALLS / (total_ns / 1e9):,.0f}")
    print(f"  mean        : {statistics.fmean(durations) / 1000:.1f} µs")
    print(f"  median      : {durations[len(durations) // 2] / 1000:.1f} µs")
    print(f"  p99         : {p99 / 1000:.1f} µs")
    print(f"  allowed     : {allowed} of {CALLS} requests wholly allowed")
    print(f"  per category: {', '.join(f'{code} {n}' for code, n in sorted(reasons.items()))}")
    print(f"  machine     : {platform.platform()}, {platform.processor() or platform.machine()}")
    print(f"  python      : {platform.python_implementation()} {sys.version.split()[0]}")
    print(f"  cpus        : {os.cpu_count()}")
    print(f"  date        : {dt.datetime.now(dt.UTC).isoformat(timespec='seconds')}")


if __name__ == "__main__":
    main()
