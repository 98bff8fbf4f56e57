"""The audit log at scale on PostgreSQL: sealing, verification and one client's events.

    .venv/bin/python bench/audit_scale.py [--events 1000000] \
        [--server postgresql+psycopg://postgres@127.0.0.1:5432/postgres]

Creates a scratch database on the server, fills it with synthetic events (as
the service writes them: unsealed), seals them, signs a checkpoint, verifies the
whole log, then times the auditor's query for one client's events (the API's
own query code) for random clients. Prints figures; drops the database.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import create_engine, make_url, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from adapters.db import Database  # after the path set-up above
from adapters.keys import KeyStore, init_keys
from exchange.audit import checkpoint, seal, verify
from exchange.audit.query import AuditQueries
from exchange.migrate import upgrade

ORGANIZATIONS = 10


def fill(db: Database, events: int, clients: int) -> None:
    """Insert synthetic events in bulk, server side."""
    with db.engine.begin() as connection:
        connection.execute(
            text(
                """
                INSERT INTO audit_event (occurred_at, request_id, actor_organization, actor_client,
                    actor_user, action, outcome, resource_type, resource_id, client_ref, basis_type,
                    basis_ref, reason)
                SELECT to_char(timestamp '2026-01-01' + i * interval '1 second',
                               'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
                       md5(i::text), 'org-' || (i % :orgs), 'org-' || (i % :orgs) || '-system',
                       'worker-' || (i % 97), 'packet.read', 'allowed', 'packet',
                       md5((i * 7)::text), 'client-' || (i % :clients), 'consent',
                       md5((i % :clients)::text), 'assessment'
                FROM generate_series(1, :events) AS i
                """
            ),
            {"events": events, "clients": clients, "orgs": ORGANIZATIONS},
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--clients", type=int, default=20_000)
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument(
        "--server",
        default=os.environ.get("BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"),
    )
    args = parser.parse_args()

    name = f"exchange_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(args.server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(args.server).set(database=name).render_as_string(hide_password=False)
    try:
        upgrade(url)
        keys_dir = Path(tempfile.mkdtemp())
        init_keys(keys_dir)
        keys = KeyStore.load(keys_dir)
        db = Database(url)

        started = time.perf_counter()
        fill(db, args.events, args.clients)
        filled = time.perf_counter() - started
        started = time.perf_counter()
        with db.unit_of_work() as session:
            sealed = seal(session, batch=20_000)
        sealing = time.perf_counter() - started
        with db.engine.begin() as connection:
            # What autovacuum would do after such a load; the planner needs real statistics.
            connection.execute(text("ANALYZE audit_event"))
        with db.unit_of_work() as session:
            checkpoint(session, keys, "http://bench", force=True)

        started = time.perf_counter()
        with db.unit_of_work() as session:
            report = verify(session, keys, batch=20_000)
        verifying = time.perf_counter() - started
        assert report.ok, report

        timings = []
        rng = random.Random(7)
        with db.unit_of_work() as session:
            queries = AuditQueries(session, keys, "http://bench")
            for _ in range(args.queries):
                client = rng.randrange(args.clients)
                organization = f"org-{client % ORGANIZATIONS}"
                begin = time.perf_counter_ns()
                page = queries.page(organization, {"client_id": f"client-{client}", "limit": 100})
                timings.append((time.perf_counter_ns() - begin) / 1e6)
                assert page["items"], "every synthetic client has events"
                session.expunge_all()
        timings.sort()
        p50 = statistics.median(timings)
        p99 = timings[int(len(timings) * 0.99) - 1]

        print(f"audit log at scale, {dt.datetime.now(dt.UTC).isoformat(timespec='seconds')}")
        print(
            f"  machine      : {platform.platform()}, {os.cpu_count()} cpus, "
            f"CPython {platform.python_version()}"
        )
        print(
            f"  events       : {args.events:,} over {args.clients:,} clients "
            f"(bulk insert {filled:.1f} s)"
        )
        print(
            f"  sealing      : {sealed:,} events in {sealing:.1f} s = "
            f"{sealed / sealing:,.0f} events/s"
        )
        print(
            f"  verification : {report.verified_through:,} events in {verifying:.1f} s = "
            f"{report.verified_through / verifying:,.0f} events/s"
        )
        print(
            f"  client query : {args.queries} queries (page of <= 100 of one client's events, "
            f"{args.events // args.clients} events per client): p50 {p50:.2f} ms, p99 {p99:.2f} ms"
        )
        db.engine.dispose()
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
