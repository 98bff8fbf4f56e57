"""The baseline: a minimal Flask app that returns the JSON body it is sent, under gunicorn.

    .venv/bin/python bench/echo_app.py --port 5081 [--workers 2]

It is served through ``exchange.gunicorn_app.run`` itself, so it always gets exactly the
gunicorn settings of ``exchange serve`` in production mode (worker class, threads, timeouts);
only the application differs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any
from unittest import mock

from flask import Flask, Response, jsonify, request

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from exchange import gunicorn_app  # after the path set-up above

app = Flask(__name__)


@app.post("/echo")
def echo() -> Response:
    """Parse the JSON body and send it back."""
    return jsonify(request.get_json())


@app.get("/healthz")
def healthz() -> Response:
    return jsonify({"status": "ok"})


class EchoServer(gunicorn_app.ExchangeServer):
    def load(self) -> Any:
        return app


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5081)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    with mock.patch.object(gunicorn_app, "ExchangeServer", EchoServer):
        gunicorn_app.run(args.host, args.port, args.workers)
    return 0


if __name__ == "__main__":
    sys.exit(main())
