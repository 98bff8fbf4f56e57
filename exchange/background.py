"""Background work: one round of sealing, checkpoints, deadlines and retention.

``exchange worker`` runs rounds in a loop (production); the embedded server runs
them in a daemon thread, so a single process keeps the log sealed as well.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from flask import Flask

from exchange import audit
from exchange.runtime import EXTENSION, Runtime
from exchange.unit import WORKER, unit_of_work
from exchange.webhooks import delivery as webhooks

log = logging.getLogger(__name__)
CONSUMER = webhooks.consumer_name()  # this process in the notification senders' group


def run_round(rt: Runtime) -> dict[str, Any]:
    """Seal pending audit events, sign a checkpoint when due, expire overdue packets,
    crypto-shred content past retention, relay and deliver notifications. Each step is a unit
    of work of its own, done as the worker."""
    from exchange.services import Services

    config = rt.config
    with unit_of_work(rt.db.sessions, WORKER, "audit.checkpoint") as uow:
        sealed = audit.seal(uow.session, keys=rt.keys)
    with unit_of_work(rt.db.sessions, WORKER, "audit.checkpoint") as uow:
        made = audit.checkpoint(
            uow.session, rt.keys, config["ISSUER"], min_interval=config["CHECKPOINT_INTERVAL"]
        )
    with unit_of_work(rt.db.sessions, WORKER, "packet.expire") as uow:
        packets = Services(rt, uow).packets
        expired = packets.expire_overdue(uow.identity)
        shredded = packets.shred_expired(uow.identity, config["RETENTION_DAYS"])
    notifications = webhooks.run_once(
        rt.db, rt.redis, rt.keys, webhooks.Policy.from_config(config), CONSUMER
    )
    return {
        "sealed": sealed,
        "checkpoint": made.tree_size if made is not None else None,
        "expired": expired,
        "shredded": shredded,
        "notifications_relayed": notifications["relayed"],
        "notifications_handled": notifications["handled"],
    }


def start_sealer_thread(app: Flask, interval: float) -> threading.Thread:
    """Run rounds every ``interval`` seconds in a daemon thread (embedded mode)."""
    rt: Runtime = app.extensions[EXTENSION]

    def loop() -> None:
        while True:
            try:
                with app.app_context():
                    run_round(rt)
            except Exception:  # keep sealing after a transient failure; it is logged
                log.exception("background round failed")
            time.sleep(interval)

    thread = threading.Thread(target=loop, name="exchange-sealer", daemon=True)
    thread.start()
    return thread
