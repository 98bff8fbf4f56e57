"""Streamed responses that end cleanly: once the status line has gone out, a failure can no
longer become a problem+json answer, so the stream ends with a final error record instead of
a cut connection (or gunicorn's HTML page) without a request id."""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Iterator

from flask import g

log = logging.getLogger(__name__)
DETAIL = "The export stopped before its end; what came before this line is incomplete."


def guarded(body: Iterator[str], mimetype: str, delimiter: str = ",") -> Iterator[str]:
    """``body``'s chunks, then, if producing them fails, one last record saying so (a CSV
    row separated by ``delimiter``, as the rows before it)."""
    try:
        yield from body
    except Exception:  # the response has started: the only honest answer is in the stream
        log.exception("a streamed export failed")
        request_id = g.get("request_id")
        if mimetype == "application/x-ndjson":
            error = {"code": "export_failed", "detail": DETAIL, "request_id": request_id}
            yield json.dumps({"error": error}) + "\n"
        else:
            buffer = io.StringIO()
            writer = csv.writer(buffer, delimiter=delimiter)
            writer.writerow(["#error", "export_failed", DETAIL, request_id or ""])
            yield buffer.getvalue()
