"""Redis: redis-py against a server in production, fakeredis in-process when embedded."""

from __future__ import annotations

import fakeredis
import redis


def make_redis(url: str | None) -> redis.Redis:
    """A client for ``url``, or a private in-process stand-in when ``url`` is None."""
    if url is None:
        return fakeredis.FakeRedis(server=fakeredis.FakeServer())
    return redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
