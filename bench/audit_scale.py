"""The audit log at scale on PostgreSQL: sealing, verification and one client's events.

    .venv/bin/python bench/audit_scale.py [--events 1000000] \
        [--server postgresql+psycopg://postgres@127.0.0.1:5432/postgres] [--results FILE]

Creates a scratch database on the server, fills it with synthetic events (as
the service writes them: unsealed), seals them, signs a checkpoint, verifies the
whole log, then times the auditor's query for one client's events (the API's
own query code) for random clients. Prints figures (and with ``--results`` writes
them as its section of that file, e.g. bench/RESULTS.md); drops the database.
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
from types import SimpleNamespace
from typing import Any

from sqlalchemy import create_engine, make_url, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from adapters.db import Database  # after the path set-up above
from adapters.keys import KeyStore, init_keys
from exchange.audit import checkpoint, seal, verify
from exchange.audit.query import AuditQueries
from exchange.migrate import upgrade
from exchange.policy import Identity

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


class Cost:
    """Wall time, this process's CPU time, the PostgreSQL backend's CPU time and the load
    average over one phase: on a shared machine the wall time alone says little."""

    def __init__(self, session: Any, local_server: bool) -> None:
        pid = session.execute(text("SELECT pg_backend_pid()")).scalar()
        # The backend's /proc entry is only this server's if the server runs on this machine.
        self._stat = Path(f"/proc/{pid}/stat") if local_server else None

    def _backend(self) -> float | None:
        if self._stat is None:
            return None
        try:
            fields = self._stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def __enter__(self) -> Cost:
        self._load = os.getloadavg()[0]
        self._wall, self._cpu, self._server = (
            time.perf_counter(),
            time.process_time(),
            self._backend(),
        )
        return self

    def __exit__(self, *_exc: object) -> None:
        self.wall = time.perf_counter() - self._wall
        self.cpu = time.process_time() - self._cpu
        end = self._backend()
        self.server = None if end is None or self._server is None else end - self._server
        self.load = (self._load, os.getloadavg()[0])

    def describe(self, events: int) -> str:
        per_event = f"client CPU {self.cpu / events * 1e6:.1f} µs"
        if self.server is not None:
            per_event += f", PostgreSQL backend CPU {self.server / events * 1e6:.1f} µs"
        return (
            f"{events:,} events in {self.wall:.1f} s = {events / self.wall:,.0f} events/s "
            f"(per event: {per_event}; load average {self.load[0]:.1f} → {self.load[1]:.1f})"
        )


def write_results(path: Path, figures: list[tuple[str, str]], postgres: str, events: int) -> None:
    import results  # bench/results.py, next to this script

    lines = [
        f"## The audit log at {events:,} events (`bench/audit_scale.py`)",
        "",
        f"- Date: {results.now()}",
        f"- Command: `{results.command()}`",
        f"- Code: {results.source_state()}",
        f"- Machine: {results.machine(postgres)}",
        "- A scratch database filled with synthetic unsealed events in bulk, then sealed, "
        "checkpointed and verified as `exchange worker` and `GET /v1/audit/verify` do; the "
        "client query is the auditor's API query code, called in-process.",
        "",
        "| what | figure |",
        "|---|---|",
        *(f"| {label} | {value} |" for label, value in figures),
    ]
    results.write_section("audit_scale", "\n".join(lines), path)
    print(f"written to {path.name}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--clients", type=int, default=20_000)
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument(
        "--server",
        default=os.environ.get("BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"),
    )
    parser.add_argument(
        "--results", type=Path, help="write the figures as a section of this file (RESULTS.md)"
    )
    args = parser.parse_args()

    name = f"exchange_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(args.server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(args.server).set(database=name).render_as_string(hide_password=False)
    scratch = tempfile.TemporaryDirectory(prefix="bench-audit-")  # the service keys, removed
    try:
        upgrade(url)
        keys_dir = Path(scratch.name)
        init_keys(keys_dir)
        keys = KeyStore.load(keys_dir)
        db = Database(url)

        started = time.perf_counter()
        fill(db, args.events, args.clients)
        filled = time.perf_counter() - started
        local_server = make_url(url).host in ("127.0.0.1", "localhost", "::1")
        with db.transaction() as session, Cost(session, local_server) as sealing:
            sealed = seal(session, batch=20_000, keys=keys)
            session.commit()  # inside the measurement, as before
        with db.engine.begin() as connection:
            # What autovacuum would do after such a load; the planner needs real statistics.
            connection.execute(text("ANALYZE audit_event"))
        with db.transaction() as session:
            checkpoint(session, keys, "http://bench", force=True)

        with db.transaction() as session, Cost(session, local_server) as verifying:
            report = verify(session, keys, batch=20_000)
            session.commit()
        assert report.ok, report

        timings = []
        rng = random.Random(7)
        with db.transaction() as session:
            # The auditor's query code needs only the unit of work's session.
            unit = SimpleNamespace(session=session)
            queries = AuditQueries(unit, keys, "http://bench")  # type: ignore[arg-type]
            for _ in range(args.queries):
                client = rng.randrange(args.clients)
                organization = f"org-{client % ORGANIZATIONS}"
                begin = time.perf_counter_ns()
                page = queries.page(
                    Identity(organization=organization),
                    {"client_id": f"client-{client}", "limit": 100},
                )
                timings.append((time.perf_counter_ns() - begin) / 1e6)
                assert page["items"], "every synthetic client has events"
                session.expunge_all()
        timings.sort()
        p50 = statistics.median(timings)
        p99 = timings[int(len(timings) * 0.99) - 1]

        with db.engine.connect() as connection:
            postgres = str(connection.execute(text("SHOW server_version")).scalar()).split()[0]
        machine = (
            f"{platform.platform()}, {os.cpu_count()} cpus, CPython {platform.python_version()}"
        )
        figures = [
            (
                "events",
                f"{args.events:,} over {args.clients:,} clients (bulk insert {filled:.1f} s)",
            ),
            ("sealing", sealing.describe(sealed)),
            ("verification", verifying.describe(report.verified_through)),
            (
                "client query",
                f"{args.queries} queries (page of <= 100 of one client's events, "
                f"{args.events // args.clients} events per client): p50 {p50:.2f} ms, "
                f"p99 {p99:.2f} ms",
            ),
        ]
        print(f"audit log at scale, {dt.datetime.now(dt.UTC).isoformat(timespec='seconds')}")
        print(f"  {'machine':<13}: {machine}, PostgreSQL {postgres}")
        for label, value in figures:
            print(f"  {label:<13}: {value}")
        if args.results:
            write_results(args.results, figures, postgres, args.events)
        db.engine.dispose()
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
        scratch.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
