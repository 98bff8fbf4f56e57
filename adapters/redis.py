"""Redis: redis-py against a server in production, fakeredis in-process when embedded."""

from __future__ import annotations

import fakeredis
import redis

TIMEOUT_SECONDS = 0.5


def make_redis(url: str | None) -> redis.Redis:
    """A client for ``url``, or a private in-process stand-in when ``url`` is None."""
    if url is None:
        return fakeredis.FakeRedis(server=fakeredis.FakeServer())
    # A frozen server must not hold a request: answer 503 well within a second instead.
    return redis.Redis.from_url(
        url, socket_timeout=TIMEOUT_SECONDS, socket_connect_timeout=TIMEOUT_SECONDS
    )
