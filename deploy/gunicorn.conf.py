"""gunicorn settings for production.

    gunicorn -c deploy/gunicorn.conf.py 'exchange:create_app()'

Worker class, threads and timeouts are those of ``exchange serve`` in production
mode (``exchange/gunicorn_app.py``); bind address, worker count and the trusted
proxy addresses come from the environment.
"""

import os

# Listen on all interfaces inside the container; the reverse proxy is the only
# way in from outside.
bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")

# 2 x cores + 1, at most 8: every worker keeps its own database pool, so more
# workers mean more PostgreSQL connections, not more throughput on a small host.
workers = int(os.environ.get("GUNICORN_WORKERS", min(2 * (os.cpu_count() or 1) + 1, 8)))
worker_class = "gthread"
threads = 4
timeout = 30
graceful_timeout = 20

# Longer than the proxy's idle time for upstream connections (nginx: 60 s), so
# that gunicorn never closes a connection nginx is about to reuse.
keepalive = 65

# Request-line and header limits, a little above nginx's (large_client_header_buffers 4 8k),
# so that nginx refuses an oversized request first, with problem+json, and gunicorn's own
# plain-text 400 is never what a client sees behind the proxy.
limit_request_line = 8200
limit_request_fields = 100
limit_request_field_size = 8200

# Restart each worker after a few thousand requests, staggered, to bound the
# effect of any slow leak.
max_requests = 5000
max_requests_jitter = 500

# The heartbeat file lives in memory: no disk writes, and it works with a
# read-only root file system.
worker_tmp_dir = "/dev/shm"  # noqa: S108  # tmpfs by design, not a shared temp file

# No control socket (gunicorn 25.1+): nothing in a container uses gunicornc, and
# its default place ($HOME/.gunicorn) is not writable on a read-only root.
control_socket_disable = True


# The application's objects, built once per worker, leave the cyclic garbage collector's view
# (shorter collection pauses during requests); as ``exchange serve`` does.
def post_worker_init(_worker):
    import gc

    gc.freeze()


# Addresses (or networks) of the reverse proxy. Only requests from these may set
# X-Forwarded-Proto (https) and the other secure-scheme headers.
forwarded_allow_ips = os.environ.get("GUNICORN_FORWARDED_ALLOW_IPS", "127.0.0.1,::1")

# No access log: the application writes one JSON line per request, with its
# request id and without the query string.
accesslog = None
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")

# gunicorn's own messages (start-up, worker timeouts) as JSON lines too, like the
# application's. Because any logging configuration switches gunicorn's access
# log on, the access logger is given a handler that drops everything.
_JSON = {
    "()": "pythonjsonlogger.json.JsonFormatter",
    "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s",
    "rename_fields": {"levelname": "level"},
}
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": _JSON},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "stream": "ext://sys.stderr",
        },
        "error_console": {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "stream": "ext://sys.stderr",
        },
        "discard": {"class": "logging.NullHandler"},
    },
    "root": {"level": "INFO", "handlers": ["console"]},
    "loggers": {
        # No level here: GUNICORN_LOG_LEVEL (loglevel above) sets it.
        "gunicorn.error": {"handlers": ["error_console"], "propagate": False},
        "gunicorn.access": {"handlers": ["discard"], "propagate": False},
    },
}
