"""Packet submission with few and with many packets already stored.

    .venv/bin/python bench/stored_packets.py [--small 10000] [--large 1000000] [--seconds 10]

Two deployments of the service, set up alike (as in ``bench/http_load.py``: scratch
database, ``exchange db upgrade``, ``keys init``, ``registry load``, consents through the
API, ``exchange serve`` in production mode with 2 gunicorn workers), differ only in how
many packets their database already holds: ``--small`` and ``--large``, seeded with SQL
(``INSERT ... SELECT generate_series``) as plausible rows: closed transfers and
information packets over two years between the same two organizations, each with its
events, over 20,000 synthetic clients, with ``--content-bytes`` of encrypted content.
wrk then submits new signed packets to one and the other in turn (small, large, large,
small, ...), so that drift in the machine's other load falls on both alike. Reports the
submission rate of each and their ratio (target: large ≥ 0.9 × small, for the medians and
for the slowest large run against the fastest small one); writes its section
of ``bench/RESULTS.md``; stops the servers and drops both databases whatever happens.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import results
import rig
from rig import JOSE, Load, Options, Stack, split, write_lines, wrk
from sqlalchemy import create_engine, text

TARGET = 0.9
SEED_CLIENTS = 20_000
BATCH = 100_000

SEED_CLIENTS_SQL = """
INSERT INTO client (id, hetu_lookup, hetu_encrypted, created_at)
SELECT md5('seed-client-' || c)::uuid::text, md5('seed-lookup-' || c) || md5('x' || c),
       :sealed, now() - interval '3 years' + c * interval '1 hour'
FROM generate_series(0, :clients - 1) AS c
"""

# Row i of the seed: the i-th packet before the live ones, about an hour apart, with its
# "sent" event and the event of where it ended.
SEED_PACKETS_SQL = """
WITH seeded AS (
    INSERT INTO packet (id, client_id, kind, purpose, status, sender_org, sender_user,
        recipient_org, recipient_user, respond_by, case_reference, categories, basis,
        warnings, payload_sha256, signing_kid, ciphertext, wrapped_key, kek_version, receipt,
        received_at, delivered_at, decided_at, decided_by_user, decline_reason)
    SELECT md5('seed-packet-' || i)::uuid::text,
           md5('seed-client-' || (i % :clients))::uuid::text,
           CASE WHEN i % 3 = 0 THEN 'information' ELSE 'transfer' END,
           'employment_services',
           CASE i % 10 WHEN 0 THEN 'declined' WHEN 1 THEN 'withdrawn' WHEN 2 THEN 'expired'
                WHEN 3 THEN 'delivered' ELSE 'accepted' END,
           CASE WHEN i % 4 = 0 THEN :recipient ELSE :sender END,
           CASE WHEN i % 4 = 0 THEN :recipient_user ELSE :sender_user END,
           CASE WHEN i % 4 = 0 THEN :sender ELSE :recipient END,
           NULL,
           CASE WHEN i % 3 = 0 THEN NULL ELSE (at - interval '20 days')::date + 14 END,
           'SEED-' || i,
           CAST(:categories AS json),
           CAST(:basis AS json),
           CAST('[]' AS json),
           md5('payload-' || i) || md5('payload2-' || i),
           :kid,
           :content,
           :wrapped,
           1,
           :receipt,
           at - interval '20 days',
           at - interval '19 days',
           CASE WHEN i % 10 IN (0, 4, 5, 6, 7, 8, 9) THEN at - interval '18 days' END,
           CASE WHEN i % 10 IN (0, 4, 5, 6, 7, 8, 9) THEN :recipient_user END,
           CASE WHEN i % 10 = 0 THEN 'Asiakas ohjattu toiseen palveluun.' END
    FROM (SELECT i, now() - i * interval '63 seconds' AS at
          FROM generate_series(CAST(:first AS bigint), CAST(:last AS bigint)) AS i) AS numbered
    RETURNING id, status, sender_org, sender_user, recipient_org, received_at, delivered_at,
              decided_at, decided_by_user
)
INSERT INTO packet_event (packet_id, at, action, status, organization_id, username)
SELECT seeded.id, event.at, event.action, event.status, event.organization_id, event.username
FROM seeded
CROSS JOIN LATERAL (VALUES
    (seeded.received_at, 'sent', 'sent', seeded.sender_org, seeded.sender_user),
    (COALESCE(seeded.decided_at, seeded.delivered_at), seeded.status, seeded.status,
     seeded.recipient_org, seeded.decided_by_user)
) AS event(at, action, status, organization_id, username)
"""


def seed(stack: Stack, count: int, content_bytes: int) -> float:
    """Add ``count`` packets (and their two events each) in batches; returns seconds taken."""
    sender, recipient = stack.sender, stack.recipient
    basis = [
        {"category": c, "basis": "consent", "consent_id": "seed", "statute": None}
        for c in rig.CATEGORIES
    ]
    started = time.perf_counter()
    # A bound on every statement, so that a stuck seed cannot hold the run for ever.
    engine = create_engine(
        stack.database_url, connect_args={"options": "-c statement_timeout=900000"}
    )
    try:
        with engine.begin() as connection:
            connection.execute(
                text(SEED_CLIENTS_SQL), {"sealed": os.urandom(60), "clients": SEED_CLIENTS}
            )
        params = {
            "clients": SEED_CLIENTS,
            "sender": sender.organization,
            "recipient": recipient.organization,
            "sender_user": rig.SENDER_WORKER,
            "recipient_user": rig.RECIPIENT_STAFF,
            "categories": json.dumps(rig.CATEGORIES),
            "basis": json.dumps(basis),
            "kid": sender.packet_key.kid,
            # One random block for every row: each is stored (and TOAST-compressed) on its
            # own, so it costs what real ciphertext does, without making a gigabyte of it.
            "content": os.urandom(content_bytes),
            "wrapped": os.urandom(60),
            "receipt": "eyJ" + "A" * 700,
        }
        for first in range(1, count + 1, BATCH):
            last = min(count, first + BATCH - 1)
            with engine.begin() as connection:
                connection.execute(text(SEED_PACKETS_SQL), {**params, "first": first, "last": last})
            print(f"    {stack.label}: {last:,} packets seeded", flush=True)
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            # What autovacuum does after a bulk load: the planner gets real statistics.
            for table in ("client", "packet", "packet_event"):
                connection.execute(text(f"VACUUM ANALYZE {table}"))
    finally:
        engine.dispose()
    return time.perf_counter() - started


def submit(stack: Stack, seconds: int, connections: int) -> rig.Run:
    """Warm up, then measure submission, every packet new, with wrk's connections spread
    over the workers (``rig.wrk_balanced``)."""
    assert stack.server is not None
    options = Options(
        "post_lines.lua",
        connections,
        token=stack.token(stack.sender),
        content_type=JOSE,
        path="/v1/packets",
        expect=201,
        must_be_distinct=True,
    )
    warm = wrk(stack.url, write_lines(stack.workdir / "warm.txt", stack.packets(1000)), 2, options)
    # Enough distinct packets for the probe and the measured seconds at twice the warm-up's pace.
    count = int(warm.rate * (seconds + rig.PROBE) * 2) + 500
    run = rig.wrk_balanced(
        stack.server,
        lambda: write_lines(stack.workdir / "packets.txt", stack.packets(count)),
        seconds,
        options,
    )
    if warm.problems:
        run.load.problems.append(f"warm-up: {'; '.join(warm.problems)}")
    return run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=10_000, help="packets stored in one")
    parser.add_argument("--large", type=int, default=1_000_000, help="packets in the other")
    parser.add_argument("--content-bytes", type=int, default=1024, help="per seeded packet")
    parser.add_argument("--seconds", type=int, default=10, help="measured seconds per run")
    parser.add_argument("--rounds", type=int, default=4, help="runs of each, alternating")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--server", default=rig.DEFAULT_PG, help="PostgreSQL server URL")
    parser.add_argument(
        "--redis", nargs=2, default=["redis://127.0.0.1:6379/10", "redis://127.0.0.1:6379/11"]
    )
    parser.add_argument("--results", type=Path, default=results.RESULTS)
    parser.add_argument("--no-results", action="store_true", help="print only")
    args = parser.parse_args()
    rig.terminate_on_sigterm()

    machine = results.machine(*results.server_versions(args.server, args.redis[0]))
    print(f"Stored packets, {machine}", flush=True)
    runs: dict[str, list[tuple[Load, float, list[float], int]]] = {"small": [], "large": []}
    redis_pid = rig.redis_pid(args.redis[0])
    seeding: dict[str, float] = {}
    with contextlib.ExitStack() as cleanup:
        stacks: dict[str, Stack] = {}
        for label, redis_url in zip(("small", "large"), args.redis, strict=True):
            workdir = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="bench-")))
            database = cleanup.enter_context(rig.scratch_database(args.server, "exchange_bench"))
            redis = cleanup.enter_context(rig.scratch_redis(redis_url))
            stack = Stack(workdir, database, redis, label=label)
            stack.prepare()
            cleanup.callback(stack.stop)
            stack.start()
            stack.record_consents()
            stacks[label] = stack
        for label, count in (("small", args.small), ("large", args.large)):
            print(f"  seeding {count:,} packets ({label})", flush=True)
            seeding[label] = seed(stacks[label], count, args.content_bytes)
        stored = {
            label: int(stack.query("SELECT count(*) FROM packet")[0][0])
            for label, stack in stacks.items()
        }
        sizes = {
            label: stack.query("SELECT pg_size_pretty(pg_database_size(current_database()))")[0][0]
            for label, stack in stacks.items()
        }
        for round_ in range(args.rounds):
            order = ("small", "large") if round_ % 2 == 0 else ("large", "small")
            for label in order:
                stack = stacks[label]
                assert stack.server is not None
                meter = rig.CpuMeter([*stack.server.pids(), *stack.backends(), redis_pid])
                run = submit(stack, args.seconds, args.connections)
                load, others = run.load, meter.others()
                runs[label].append((load, others, run.shares, run.tries))
                print(
                    f"  {label:<6} {load.rate:7.1f} req/s  p50 {load.p50_ms:7.2f} ms  "
                    f"p99 {load.p99_ms:7.2f} ms  others {others:4.0%}  workers "
                    f"{split(run.shares)} (try {run.tries})  {load.statuses} "
                    f"{'; '.join(load.problems)}",
                    flush=True,
                )

    small = statistics.median(run[0].rate for run in runs["small"])
    large = statistics.median(run[0].rate for run in runs["large"])
    ratio = large / small if small else 0.0
    # The strict evidence: the slowest run with many packets against the fastest with few.
    # It holds whichever runs are compared, so it does not rest on ranges that overlap.
    slowest_large = min(run[0].rate for run in runs["large"])
    fastest_small = max(run[0].rate for run in runs["small"])
    strict = slowest_large / fastest_small if fastest_small else 0.0
    verdict = (
        f"met (≥ {TARGET}, also run against run)"
        if ratio >= TARGET and strict >= TARGET
        else f"**missed**: ≥ {TARGET} wanted, median {ratio:.2f}, run against run {strict:.2f}"
    )
    problems = [
        f"{label} run {n + 1}: {'; '.join(load.problems)}"
        for label, loads in runs.items()
        for n, (load, *_) in enumerate(loads)
        if load.problems
    ]
    lines = [
        f"## Submission with {args.small:,} vs {args.large:,} packets stored "
        "(`bench/stored_packets.py`)",
        "",
        f"- Date: {results.now()}",
        f"- Command: `{results.command()}`",
        f"- Code: {results.source_state()}",
        f"- Machine: {machine}",
        "- Two deployments set up alike (production mode, gunicorn 2 workers × 4 threads, "
        "PostgreSQL and Redis, the settings of `bench/http_load.py`), seeded with SQL: "
        f"{args.small:,} and {args.large:,} packets (closed transfers and information "
        "packets over two years, two events each, over 20,000 synthetic clients, "
        f"{args.content_bytes:,} bytes of content per packet; seeding took "
        f"{seeding['small']:.0f} s and {seeding['large']:.0f} s, databases "
        f"{sizes['small']} and {sizes['large']}), then `VACUUM ANALYZE`. No audit events were "
        "seeded (the audit log at scale has its own section).",
        f"- {rig.wrk_version()} `-t1 -c{args.connections}`, 2 s warm-up and {args.seconds} s "
        "measured per run, "
        "a new signed packet (4 sections, 7 KB) per request; "
        f"{args.rounds} runs each, alternating (small, large, large, small, ...). *Other "
        f"load*: {rig.OTHER_LOAD} *Workers*: each gunicorn "
        "worker's share of the server's CPU, %, and the "
        f"try that counted (a run is restarted when one worker did ≥ {rig.LOPSIDED:.0%} of the "
        f"work after {rig.PROBE:.0f} s, up to {rig.TRIES} tries; see the HTTP load section).",
        "",
        "| packets stored at the start | run | requests/s | p50 ms | p99 ms | other load "
        "| workers (tries) | answers |",
        "|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for label, loads in runs.items():
        for n, (load, others, shares, tries) in enumerate(loads):
            statuses = ", ".join(f"{c:,}× {code}" for code, c in load.statuses.items())
            lines.append(
                f"| {stored[label]:,} | {n + 1} | {load.rate:,.1f} | {load.p50_ms:.2f} | "
                f"{load.p99_ms:.2f} | {others:.0%} | {split(shares)} ({tries}) | {statuses} |"
            )
    ranges = {label: [run[0].rate for run in loads] for label, loads in runs.items()}
    overlap = min(ranges["small"]) <= max(ranges["large"]) and min(ranges["large"]) <= max(
        ranges["small"]
    )
    lines += [
        "",
        f"**Ratio** (median requests/s, large / small): {large:,.1f} / {small:,.1f} = "
        f"**{ratio:.2f}**; the slowest run with {args.large:,} / the fastest with "
        f"{args.small:,}: {slowest_large:,.1f} / {fastest_small:,.1f} = **{strict:.2f}** "
        f"(target ≥ {TARGET} for both: {verdict}). The runs range over "
        f"{min(ranges['small']):,.1f}–{max(ranges['small']):,.1f} (small) and "
        f"{min(ranges['large']):,.1f}–{max(ranges['large']):,.1f} requests/s (large)"
        + (
            ": the ranges overlap, so the difference is within the run-to-run variation on "
            "this machine."
            if overlap
            else "."
        ),
    ]
    if problems:
        lines += ["", "**ERRORS**: " + "; ".join(problems)]
    markdown = "\n".join(lines)
    print()
    print(markdown)
    if not args.no_results:
        results.write_section("stored_packets", markdown, args.results)
        print(f"\nwritten to {args.results.name}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
