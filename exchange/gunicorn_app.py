"""``exchange serve`` in production mode: gunicorn started from code."""

from __future__ import annotations

from typing import Any

from gunicorn.app.base import BaseApplication


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


def run(host: str, port: int, workers: int) -> None:
    """Serve with gunicorn until stopped."""
    ExchangeServer(
        {
            "bind": f"{host}:{port}",
            "workers": workers,
            "worker_class": "gthread",
            "threads": 4,
            "timeout": 30,
            "graceful_timeout": 20,
            "accesslog": None,
        }
    ).run()
