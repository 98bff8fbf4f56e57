"""An open-loop load generator: requests start on a fixed schedule, whatever the answers do.

    .venv/bin/python bench/open_loop.py --url http://127.0.0.1:5080 --path /v1/packets \
        --data packets.txt --rate 50 --seconds 10 --content-type application/jose \
        --header "Authorization: Bearer ..."

Request *i* is due at ``start + i / rate``; its latency runs from that moment (not from
when a thread got round to sending it) to the end of the answer, so a slow server shows up
as latency instead of as fewer requests (no coordinated omission). Each line of ``--data``
is one request body and is sent once. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit


def percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(fraction * len(sorted_values)) - 1))
    return sorted_values[index]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="http://host:port")
    parser.add_argument("--path", required=True)
    parser.add_argument("--data", required=True, type=Path, help="one request body per line")
    parser.add_argument("--rate", required=True, type=float, help="requests per second")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--warm-up", type=float, default=1, help="seconds left out of the figures")
    parser.add_argument("--threads", type=int, default=32, help="most requests in flight")
    parser.add_argument("--content-type", default="application/json")
    parser.add_argument("--header", action="append", default=[], help="'Name: value'")
    args = parser.parse_args()

    bodies = [line for line in args.data.read_text().splitlines() if line]
    total = int(args.rate * (args.seconds + args.warm_up))
    if total > len(bodies):
        parser.error(f"{total} requests planned but only {len(bodies)} lines in {args.data}")
    target = urlsplit(args.url)
    headers = {"Content-Type": args.content_type}
    for header in args.header:
        name, _, value = header.partition(":")
        headers[name.strip()] = value.strip()

    start = time.perf_counter() + 0.5
    counter = itertools.count()
    results: list[tuple[float, float, int]] = []  # (due, latency, status); append is atomic
    failures: list[str] = []

    def connect() -> http.client.HTTPConnection:
        return http.client.HTTPConnection(target.hostname, target.port, timeout=30)

    def send(connection: http.client.HTTPConnection, body: bytes) -> int:
        connection.request("POST", args.path, body, headers)
        answer = connection.getresponse()
        answer.read()
        return answer.status

    def worker() -> None:
        connection, used = connect(), False
        while (index := next(counter)) < total:
            due = start + index / args.rate
            pause = due - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            body = bodies[index].encode()
            try:
                try:
                    status = send(connection, body)
                except (ConnectionError, http.client.RemoteDisconnected):
                    if not used:
                        raise
                    # gunicorn closes a connection idle for 2 s (keepalive); as any HTTP
                    # client does, send again on a new one. The latency still counts from due.
                    connection.close()
                    connection = connect()
                    status = send(connection, body)
                used = True
            except (OSError, http.client.HTTPException) as exc:
                failures.append(type(exc).__name__)
                connection.close()
                connection, used, status = connect(), False, 0
            results.append((due - start, time.perf_counter() - due, status))
        connection.close()

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(args.threads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(args.seconds + args.warm_up + 60)
    elapsed = time.perf_counter() - start

    measured = [(lat, status) for due, lat, status in results if due >= args.warm_up]
    latencies = sorted(lat * 1000 for lat, _ in measured)
    print(
        json.dumps(
            {
                "rate": args.rate,
                "planned": total,
                "completed": len(results),
                "measured": len(measured),
                "achieved_rate": len(results) / elapsed if elapsed > 0 else 0,
                "p50_ms": percentile(latencies, 0.50),
                "p90_ms": percentile(latencies, 0.90),
                "p99_ms": percentile(latencies, 0.99),
                "max_ms": latencies[-1] if latencies else float("nan"),
                "statuses": dict(Counter(str(status) for _, status in measured)),
                "failures": dict(Counter(failures)),
                "unfinished": sum(thread.is_alive() for thread in threads),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
