"""Sampling the gunicorn workers with py-spy and summing the samples into what dominates."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

# (label, function, file part, calling function or None) of the frames whose inclusive share
# is reported; a function matches the last part of its qualified name ("Schema.load": "load");
# "*" matches any frame whose file contains the part.
ITEMS = [
    ("the view, Packets.post", "post", "exchange/packets/views.py", None),
    ("authenticate: access token, client row, rate limit", "authenticate", "oauth.py", None),
    ("  of which the Redis rate limit", "_enforce_rate_limit", "exchange/oauth.py", None),
    ("PacketService.submit", "submit", "exchange/packets/service.py", None),
    ("  JWS verification (verify_packet)", "verify_packet", "packets/signing.py", None),
    ("  payload schema (PacketPayload.load)", "load", "marshmallow/schema.py", "_submit"),
    ("  sections: marshmallow + domain rules", "load_sections", "schemas/sections.py", None),
    ("  parties: worker and recipient rows", "_check_parties", "packets/service.py", None),
    ("  client look-up by HETU (HMAC, row, audit)", "_client", "packets/service.py", None),
    ("  consent records + decision (_decide)", "_decide", "packets/service.py", None),
    ("  lead for the transfer (row lock)", "hold_for_transfer", "continuity/service.py", None),
    ("  envelope encryption", "encrypt", "adapters/envelope.py", None),
    ("  receipt signature", "sign_receipt", "packets/signing.py", None),
    ("  audit events (_audit_with_basis)", "_audit_with_basis", "packets/service.py", None),
    ("  webhook outbox (notify)", "notify", "webhooks/outbox.py", None),
    ("Session.flush, wherever called (the INSERTs)", "flush", "sqlalchemy/orm/session.py", None),
    ("Session.commit (end of request)", "commit", "sqlalchemy/orm/session.py", None),
    ("request log line", "info", "logging/__init__.py", None),
    ("marshmallow, anywhere", "*", "/marshmallow/", None),
    ("SQLAlchemy + psycopg, anywhere", "*", "/sqlalchemy/", None),
    ("  of which psycopg (sending, waiting for PostgreSQL)", "*", "/psycopg/", None),
]
# Where the leaf frame's code lives: what the time is spent in.
PACKAGES = [
    ("psycopg (driver: sending queries, waiting for answers)", "/psycopg/"),
    ("SQLAlchemy", "/sqlalchemy/"),
    ("marshmallow", "/marshmallow/"),
    ("joserfc (JWS, JWT)", "/joserfc/"),
    ("cryptography", "/cryptography/"),
    ("authlib", "/authlib/"),
    ("redis client, limits", "/redis/"),
    ("redis client, limits", "/limits/"),
    ("Flask, Werkzeug, flask-smorest, webargs", "/flask/"),
    ("Flask, Werkzeug, flask-smorest, webargs", "/werkzeug/"),
    ("Flask, Werkzeug, flask-smorest, webargs", "/flask_smorest/"),
    ("Flask, Werkzeug, flask-smorest, webargs", "/webargs/"),
    ("gunicorn", "/gunicorn/"),
    ("logging, JSON log lines", "/logging/"),
    ("logging, JSON log lines", "/pythonjsonlogger/"),
    ("json, copy, uuid, ... (standard library)", "/python3."),
    ("project code", "/exchange/"),
    ("project code", "/schemas/"),
    ("project code", "/consent/"),
    ("project code", "/adapters/"),
]


def py_spy() -> str | None:
    """py-spy on the PATH or next to this Python (a virtualenv's bin is often not on the PATH)."""
    beside = Path(sys.executable).parent / "py-spy"
    return shutil.which("py-spy") or (str(beside) if beside.exists() else None)


def record(
    executable: str,
    pid: int,
    seconds: int,
    output: Path,
    load: Callable[[], Any],
    *,
    gil_only: bool,
) -> tuple[dict[str, Any], Any]:
    """Sample ``pid`` and its children for ``seconds`` while ``load()`` runs; returns the
    speedscope document and what ``load()`` returned."""
    argv = [executable, "record", "--pid", str(pid), "--subprocesses", "--rate", "100"]
    argv += ["--format", "speedscope", "--output", str(output), "--duration", str(seconds)]
    argv += ["--nonblocking"] + (["--gil"] if gil_only else [])
    sampler = subprocess.Popen(  # noqa: S603  # py-spy on our own server, fixed arguments
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        answer = load()
        log, _ = sampler.communicate(timeout=seconds + 60)
    finally:
        if sampler.poll() is None:
            sampler.kill()
            sampler.wait(5)
    if sampler.returncode != 0 or not output.exists():
        raise RuntimeError(f"py-spy exit {sampler.returncode}: {log[-500:]}")
    return json.loads(output.read_text()), answer


def summarize(document: dict[str, Any]) -> dict[str, Any]:
    """Inclusive shares of ``ITEMS`` and self time by package over the samples taken inside a
    request (a stack through Flask's ``wsgi_app``)."""
    frames = document["shared"]["frames"]
    samples = [
        (sample, weight)
        for profile in document["profiles"]
        for sample, weight in zip(profile["samples"], profile["weights"], strict=True)
    ]

    def matches(sample: list[int], name: str, part: str, caller: str | None) -> bool:
        for depth, index in enumerate(sample):
            frame = frames[index]
            file = frame.get("file", "")
            if name == "*":
                if part in file or (part == "/sqlalchemy/" and "/psycopg/" in file):
                    return True
                continue
            if frame["name"].rsplit(".", 1)[-1] != name or part not in file:
                continue
            above = frames[sample[depth - 1]]["name"].rsplit(".", 1)[-1] if depth else None
            if caller is None or above == caller:
                return True
        return False

    in_requests = [
        (sample, weight)
        for sample, weight in samples
        if any(frames[index]["name"].endswith("wsgi_app") for index in sample)
    ]
    total = sum(weight for _, weight in in_requests) or 1.0
    items = []
    for label, name, part, caller in ITEMS:
        share = sum(w for sample, w in in_requests if matches(sample, name, part, caller))
        if share:
            items.append((label, share / total))
    packages: Counter[str] = Counter()
    functions: Counter[str] = Counter()
    for sample, weight in in_requests:
        leaf = frames[sample[-1]]
        file = leaf.get("file", "")
        packages[next((label for label, part in PACKAGES if part in file), "other")] += weight
        functions[f"{leaf['name']} ({short_path(file)})"] += weight
    return {
        "samples": len(in_requests),
        "items": items,
        "packages": [(name, weight / total) for name, weight in packages.most_common(10)],
        "functions": [(name, weight / total) for name, weight in functions.most_common(12)],
    }


def short_path(file: str) -> str:
    for marker in ("site-packages/", "lib/python3.11/", "lib/python3.12/", "lib/python3.13/"):
        if marker in file:
            return file.split(marker, 1)[1]
    for top in ("exchange/", "schemas/", "consent/", "adapters/"):
        if f"/{top}" in file:
            return top + file.split(f"/{top}", 1)[1]
    return Path(file).name


def markdown(summary: dict[str, Any]) -> list[str]:
    lines = ["| inclusive share of samples in a request | % |", "|---|---:|"]
    lines += [f"| {label} | {share:.1%} |" for label, share in summary["items"]]
    lines += ["", "| self time by where the code lives | % |", "|---|---:|"]
    lines += [f"| {name} | {share:.1%} |" for name, share in summary["packages"]]
    lines += ["", "| hottest functions (self time) | % |", "|---|---:|"]
    lines += [f"| `{name}` | {share:.1%} |" for name, share in summary["functions"]]
    return lines
