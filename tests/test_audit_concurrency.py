"""Concurrent writers and a concurrent sealer give a gapless, verifiable log (real commits)."""

from __future__ import annotations

import threading

from sqlalchemy import func, select

from adapters.db import Database
from adapters.keys import KeyStore
from exchange.audit import Actor, checkpoint, record, seal, verify
from exchange.audit.models import AuditEvent

WRITERS = 4
EVENTS = 1000
TIMEOUT = 240


def test_four_writers_and_a_sealer(committed_database, keys_dir):
    db = Database(committed_database)
    keys = KeyStore.load(keys_dir)
    start = threading.Barrier(WRITERS + 1)
    done = threading.Event()
    errors: list[BaseException] = []

    def writer(number: int) -> None:
        try:
            start.wait(timeout=30)
            actor = Actor(organization=f"org-{number}", client_id=f"writer-{number}")
            for index in range(EVENTS):
                # Small transactions, as requests make them: one or two events each.
                with db.transaction() as session:
                    record(
                        session,
                        actor,
                        "consent.read",
                        resource_id=f"{number}-{index}",
                        client_ref=f"c{index % 50}",
                    )
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    def sealer() -> None:
        try:
            start.wait(timeout=30)
            while not done.is_set():
                with db.transaction() as session:
                    checkpoint(session, keys, "http://exchange.test", min_interval=0)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(WRITERS)]
    sealing = threading.Thread(target=sealer)
    for thread in [*threads, sealing]:
        thread.start()
    for thread in threads:
        thread.join(timeout=TIMEOUT)
    done.set()
    sealing.join(timeout=TIMEOUT)
    assert not errors, errors
    assert not any(thread.is_alive() for thread in [*threads, sealing])

    with db.transaction() as session:
        seal(session, keys)
    with db.transaction() as session:
        total = session.execute(select(func.count()).select_from(AuditEvent)).scalar()
        seqs = session.execute(select(AuditEvent.seq).order_by(AuditEvent.seq)).scalars().all()
        report = verify(session, keys)
        checkpoints = report.checkpoints
    db.engine.dispose()
    assert total == WRITERS * EVENTS
    assert seqs == list(range(1, total + 1)), "gapless and every event sealed"
    assert report.ok, report
    assert report.verified_through == total
    assert checkpoints >= 1
