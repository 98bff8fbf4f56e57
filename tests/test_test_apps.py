"""The suite's own promise: a test that reuses an app finds it as create_app built it, whatever
an earlier test changed in it (tests/conftest.py, ``Pristine``)."""

from __future__ import annotations

from limits import parse

from tests.conftest import config_key


def test_a_reused_app_is_put_back_as_built(app, rt, http, app_config, built_apps):
    built_db, built_redis = rt.db, rt.redis
    limit = parse("1/minute")
    assert http.get("/healthz").status_code == 200
    assert rt.metrics.requests.collect()[0].samples
    # What tests do to their app: change settings, add a listener, leave keys and counters,
    # swap a dependency for a broken one.
    app.config["FIRST_CONTACT_DAYS"] = 3
    rt.config["WEBHOOK_RETRY_HOURS"] = 0
    del rt.config["RATE_LIMIT"]
    rt.withdrawal_listeners.append(lambda *_: None)
    rt.redis.set("left-behind", "1")
    assert rt.rate_limiter.hit(limit, "caller")
    assert not rt.rate_limiter.hit(limit, "caller")
    rt.db, rt.redis = None, None

    built_apps[config_key(app_config)][1].restore(app)

    assert app.config["FIRST_CONTACT_DAYS"] == 14
    assert rt.config["WEBHOOK_RETRY_HOURS"] == 24
    assert rt.config["RATE_LIMIT"] == app_config["RATE_LIMIT"]
    assert len(rt.withdrawal_listeners) == 1
    assert (rt.db, rt.redis) == (built_db, built_redis)
    assert rt.redis.get("left-behind") is None
    assert rt.rate_limiter.hit(limit, "caller")
    assert all(not metric.samples for metric in rt.metrics.registry.collect())
