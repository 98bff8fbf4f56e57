"""``exchange serve`` in production mode: gunicorn started from code."""

from __future__ import annotations

import gc
from typing import Any

from gunicorn.app.base import BaseApplication


def freeze_startup_objects(_worker: Any) -> None:
    """gunicorn's ``post_worker_init``: the application's objects, built once, leave the
    cyclic garbage collector's view, so its passes during requests scan only what requests
    create (shorter pauses, a lower tail latency)."""
    gc.freeze()


class ExchangeServer(BaseApplication):  # type: ignore[misc]  # gunicorn is untyped
    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from exchange import create_app

        return create_app()


def settings(host: str, port: int, workers: int) -> dict[str, Any]:
    """gunicorn's settings for ``exchange serve`` (``deploy/gunicorn.conf.py`` matches them)."""
    return {
        "bind": f"{host}:{port}",
        "workers": workers,
        "worker_class": "gthread",
        "threads": 4,
        "timeout": 30,
        "graceful_timeout": 20,
        "accesslog": None,
        "post_worker_init": freeze_startup_objects,
    }


def run(host: str, port: int, workers: int) -> None:
    """Serve with gunicorn until stopped."""
    ExchangeServer(settings(host, port, workers)).run()
