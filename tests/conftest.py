"""Shared fixtures: the app (one per configuration, put back as built before each test) on one
rolled-back transaction, registry factories, tokens, a webhook receiver and a ``redis-server``
of the test's own on loopback.

The suite runs on the embedded default (SQLite file + fakeredis). Set
``EXCHANGE_TEST_DATABASE_URL`` (a scratch PostgreSQL database: its schema is
dropped and rebuilt) and ``EXCHANGE_TEST_REDIS_URL`` to run it against real
servers; ``.ci/run`` does both.

Under pytest-xdist (``-n``, the default in pyproject.toml) each worker has a database and a
Redis database number of its own, derived from those URLs (``pytest_configure``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis as redis_lib
from flask import Flask
from flask.testing import FlaskClient
from joserfc import jwt
from joserfc.jwk import ECKey, OKPKey, RSAKey
from prometheus_client.metrics import MetricWrapperBase
from sqlalchemy import create_engine, make_url, text

from adapters.db import make_engine, utcnow
from adapters.keys import init_keys
from consent.model import local_date
from exchange import create_app
from exchange.migrate import upgrade
from exchange.registry.service import load_registry
from exchange.runtime import EXTENSION, Runtime

ISSUER = "http://exchange.test"
REDIS_LAST_DB = 15  # a Redis server has databases 0..15 unless configured otherwise
TOKEN_URL = ISSUER + "/oauth/token"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ALL_SCOPES = [
    "consents:read",
    "consents:write",
    "consents:approve",
    "packets:send",
    "packets:receive",
    "clients:manage",
    "audit:read",
]


def pytest_configure(config: pytest.Config) -> None:
    """Give an xdist worker its own PostgreSQL database (``<database>_gw0``, created by
    ``database_url``) and Redis database (the given number plus the worker's index).

    The variables are rewritten once, here, so that every reader sees the worker's own: the
    fixtures, the test modules that read them, and the servers the tests start."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker:
        return
    database = os.environ.get("EXCHANGE_TEST_DATABASE_URL")
    if database:
        url = make_url(database)
        os.environ["EXCHANGE_TEST_DATABASE_URL"] = url.set(
            database=f"{url.database}_{worker}"
        ).render_as_string(hide_password=False)
    redis_url = os.environ.get("EXCHANGE_TEST_REDIS_URL")
    if redis_url:
        parts = urlsplit(redis_url)
        number = int(parts.path.strip("/") or 0) + int(worker.removeprefix("gw"))
        if number > REDIS_LAST_DB:
            raise pytest.UsageError(
                f"EXCHANGE_TEST_REDIS_URL: xdist worker {worker} would use Redis database "
                f"{number}; start from a lower number or run fewer workers (-n)"
            )
        os.environ["EXCHANGE_TEST_REDIS_URL"] = urlunsplit(parts._replace(path=f"/{number}"))


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated scratch database for the whole run (an xdist worker's own is created here
    and dropped at the end)."""
    url = os.environ.get("EXCHANGE_TEST_DATABASE_URL")
    if not url:
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'exchange.db'}"
        upgrade(url)
        yield url
        return
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        engine = make_engine(url)
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
        engine.dispose()
        upgrade(url)
        yield url
        return
    name = make_url(url).database
    with server_admin(url) as admin:
        admin.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        upgrade(url)
        yield url
    finally:
        with server_admin(url) as admin:
            admin.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@contextmanager
def server_admin(url: str) -> Iterator[Any]:
    """An autocommit connection to the ``postgres`` database of ``url``'s server."""
    engine = create_engine(make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            yield connection
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def keys_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("keys")
    init_keys(directory)
    return directory


@pytest.fixture
def redis_url() -> str | None:
    url = os.environ.get("EXCHANGE_TEST_REDIS_URL")
    if url:
        redis_lib.Redis.from_url(url).flushdb()
    return url


@pytest.fixture
def app_config(database_url: str, keys_dir: Path, redis_url: str | None) -> dict[str, Any]:
    """The configuration mapping of the test app; tests may change it before ``app`` is built."""
    return {
        "TESTING": True,
        "MODE": "embedded",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "KEYS_DIR": str(keys_dir),
        "ISSUER": ISSUER,
        "RATE_LIMIT": "10000/minute",
        # Production's Argon2id costs a quarter second a hash; tests sign in hundreds of times.
        "ARGON2_PROFILE": "cheapest",
    }


@contextmanager
def rolled_back(application: Flask) -> Iterator[Any]:
    """Bind ``application`` to one connection whose transaction is rolled back at the end."""
    rt = runtime_of(application)
    connection = rt.db.engine.connect()
    transaction = connection.begin()
    rt.db.bind_to(connection)
    try:
        yield connection
    finally:
        transaction.rollback()
        connection.close()
        rt.db.engine.dispose()


# What becomes of each Runtime field when a test reuses an app. Kept: the object holds no state
# of a test's, or ``Pristine.restore`` empties it. Restored: its contents are put back. Fresh:
# made anew by the field's default factory (a per-application cache, such as the registry
# cache). A field named nowhere stops the suite, saying so.
KEPT_FIELDS = frozenset(
    {
        "db",  # bound to the test's own rolled-back connection by ``rolled_back``
        "redis",  # emptied
        "keys",
        "rate_storage",  # emptied
        "rate_limiter",
        "statutes",
        "authorization_server",
        "token_validator",
        "metrics",  # cleared
        "passwords",
    }
)
RESTORED_FIELDS = frozenset({"config", "withdrawal_listeners"})
FRESH_FIELDS = frozenset({"registry"})


@dataclass
class Pristine:
    """A test app as ``create_app`` left it, put back before each test that reuses it."""

    flask_config: dict[str, Any]
    fields: dict[str, Any]
    config: dict[str, Any]
    listeners: list[Any]
    fresh: dict[str, Callable[[], Any]]

    @classmethod
    def of(cls, application: Flask) -> Pristine:
        rt = runtime_of(application)
        fresh = {}
        for spec in dataclasses.fields(rt):
            if spec.name in KEPT_FIELDS | RESTORED_FIELDS:
                continue
            if spec.name not in FRESH_FIELDS or spec.default_factory is dataclasses.MISSING:
                raise RuntimeError(
                    f"Runtime.{spec.name} is new to tests/conftest.py: say in KEPT_FIELDS, "
                    "RESTORED_FIELDS or FRESH_FIELDS how a test that reuses an app gets it"
                )
            fresh[spec.name] = spec.default_factory
        return cls(
            flask_config=dict(application.config),
            fields={name: getattr(rt, name) for name in KEPT_FIELDS},
            config=dict(rt.config),
            listeners=list(rt.withdrawal_listeners),
            fresh=fresh,
        )

    def restore(self, application: Flask) -> None:
        """Undo whatever an earlier test changed; in place, for closures that hold the objects."""
        application.config.clear()
        application.config.update(self.flask_config)
        rt = runtime_of(application)
        rt.config.clear()
        rt.config.update(self.config)
        rt.withdrawal_listeners[:] = self.listeners
        for name, value in self.fields.items():
            setattr(rt, name, value)
        for name, factory in self.fresh.items():
            setattr(rt, name, factory())
        rt.redis.flushdb()
        rt.rate_storage.reset()
        for metric in vars(rt.metrics).values():
            if isinstance(metric, MetricWrapperBase):
                metric.clear()


def config_key(config: dict[str, Any]) -> str:
    """The key of a test app's configuration in ``built_apps``."""
    return repr(sorted(config.items()))


@pytest.fixture(scope="session")
def built_apps() -> dict[str, tuple[Flask, Pristine]]:
    """This worker's test apps by configuration. Building one (its URL map and OpenAPI
    document) costs more than most tests, so a test reuses the one of its configuration."""
    return {}


@pytest.fixture
def app(
    app_config: dict[str, Any], built_apps: dict[str, tuple[Flask, Pristine]]
) -> Iterator[Flask]:
    """The application as just built, every session on one connection whose transaction is
    rolled back."""
    key = config_key(app_config)
    if key not in built_apps:
        application = create_app(app_config)
        built_apps[key] = application, Pristine.of(application)
    application, pristine = built_apps[key]
    pristine.restore(application)
    with rolled_back(application):
        yield application


@pytest.fixture
def rt(app: Flask) -> Runtime:
    return runtime_of(app)


def runtime_of(app: Flask) -> Runtime:
    value: Runtime = app.extensions[EXTENSION]
    return value


@pytest.fixture
def http(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def session(rt: Runtime) -> Iterator[Any]:
    """A session in the test's transaction, for arranging and inspecting rows."""
    s = rt.db.sessions()
    yield s
    s.close()


def new_signing_key(kty: str = "EC") -> Any:
    if kty == "OKP":
        return OKPKey.generate_key("Ed25519", auto_kid=True)
    if kty == "RSA":
        return RSAKey.generate_key(2048, auto_kid=True)
    return ECKey.generate_key("P-256", auto_kid=True)


def public_jwks(*keys: Any) -> dict[str, Any]:
    return {"keys": [dict(key.as_dict(private=False)) for key in keys]}


def business_id(seed: int) -> str:
    from exchange.demo import business_id as make

    return make(f"{seed % 10_000_000:07d}")


@dataclass
class MachineClient:
    """A registered OAuth client of the test registry, holding its private key."""

    client_id: str
    organization: str
    key: Any
    alg: str
    scopes: list[str]
    http: FlaskClient
    _tokens: dict[str, str] = field(default_factory=dict)

    def assertion(
        self, header: dict[str, Any] | None = None, key: Any = None, **claims: Any
    ) -> str:
        now = int(time.time())
        body = {
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": TOKEN_URL,
            "iat": now,
            "exp": now + 120,
            "jti": uuid.uuid4().hex,
        }
        body.update(claims)
        body = {name: value for name, value in body.items() if value is not None}
        head = {"alg": self.alg, "kid": self.key.kid}
        head.update(header or {})
        signer = key or self.key
        import warnings

        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="EdDSA is deprecated")
            return jwt.encode(head, body, signer, algorithms=[head["alg"]])

    def token_response(self, assertion: str | None = None, **form: str) -> Any:
        data = {
            "grant_type": "client_credentials",
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion or self.assertion(),
        }
        data.update(form)
        return self.http.post("/oauth/token", data=data)

    def token(self, scope: str | None = None) -> str:
        cache_key = scope or ""
        if cache_key not in self._tokens:
            response = self.token_response(**({"scope": scope} if scope else {}))
            assert response.status_code == 200, response.get_json()
            self._tokens[cache_key] = response.get_json()["access_token"]
        return self._tokens[cache_key]

    def headers(self, user: str | None = None, scope: str | None = None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.token(scope)}"}
        if user:
            headers["X-Acting-User"] = user
        return headers


@dataclass
class Org:
    id: str
    kind: str
    packet_key: Any
    client: MachineClient


@pytest.fixture
def make_org(rt: Runtime, http: FlaskClient) -> Callable[..., Org]:
    """Register an organization with one OAuth client (and any users); returns it."""
    return org_factory(rt, http)


def org_factory(rt: Runtime, http: FlaskClient) -> Callable[..., Org]:
    """``make_org`` for an application built inside a test."""
    counter = iter(range(1, 10_000))

    def factory(
        org_id: str | None = None,
        kind: str = "provider",
        scopes: list[str] | None = None,
        users: list[tuple[str, list[str]]] | None = None,
        client_kty: str = "EC",
        packet_kty: str = "EC",
        name: str | None = None,
        name_sv: str | None = None,
        name_en: str | None = None,
    ) -> Org:
        n = next(counter)
        org_id = org_id or f"org-{n}-{uuid.uuid4().hex[:6]}"
        packet_key = new_signing_key(packet_kty)
        client_key = new_signing_key(client_kty)
        alg = {"EC": "ES256", "OKP": "Ed25519", "RSA": "PS256"}[client_kty]
        client_id = f"{org_id}-system"
        document = {
            "organizations": [
                {
                    "id": org_id,
                    "name": name or f"Test organization {n}",
                    "name_sv": name_sv,
                    "name_en": name_en,
                    "kind": kind,
                    "business_id": business_id(1_000_000 + n * 37),
                    "jwks": public_jwks(packet_key),
                }
            ],
            "oauth_clients": [
                {
                    "client_id": client_id,
                    "organization": org_id,
                    "scopes": scopes or ALL_SCOPES,
                    "jwks": public_jwks(client_key),
                }
            ],
            "users": [
                {
                    "username": username,
                    "organization": org_id,
                    "name": username.title(),
                    "roles": roles,
                }
                for username, roles in (users or [])
            ],
        }
        with rt.db.transaction() as s:
            load_registry(s, document, passwords=rt.passwords)
        client = MachineClient(client_id, org_id, client_key, alg, scopes or ALL_SCOPES, http)
        return Org(org_id, kind, packet_key, client)

    return factory


@pytest.fixture
def org(make_org: Callable[..., Org]) -> Org:
    """A provider with a staff member and a social worker."""
    return make_org(
        "kisalli-test", users=[("kalle.staff", ["staff"]), ("sanna.sw", ["social_worker"])]
    )


def audit_rows(rt: Runtime, **where: Any) -> list[Any]:
    """Audit events matching the given column values, oldest first."""
    from sqlalchemy import select

    from exchange.audit.models import AuditEvent

    with rt.db.sessions() as s:
        query = select(AuditEvent).order_by(AuditEvent.seq)
        for name, value in where.items():
            query = query.where(getattr(AuditEvent, name) == value)
        return list(s.execute(query).scalars())


def grant_consent(
    http: FlaskClient,
    source: Org,
    source_user: str,
    recipient: Org,
    approver: str,
    *,
    hetu: str = "010190-900P",
    categories: tuple[str, ...] = ("assessment",),
    purposes: tuple[str, ...] = ("employment_services",),
    days: int = 90,
    **fields: Any,
) -> dict[str, Any]:
    """A permit from ``source`` to ``recipient``, recorded by ``source_user`` and approved by
    ``approver`` (a social worker of the recipient, named as its approver organization); the
    approved consent. ``fields`` replace the body's defaults (method, evidence, language,
    grantor, ...)."""
    body = {
        "client": {"hetu": hetu},
        "decision": "permit",
        "sources": [source.id],
        "recipients": [recipient.id],
        "categories": list(categories),
        "purposes": list(purposes),
        "valid_until": (local_date(utcnow()) + dt.timedelta(days=days)).isoformat(),
        "method": "electronic_strong_auth",
        "language": "fi",
        "approver_organization": recipient.id,
    } | fields
    recorded = http.post("/v1/consents", json=body, headers=source.client.headers(source_user))
    assert recorded.status_code == 201, recorded.get_json()
    approved = http.post(
        f"/v1/consents/{recorded.get_json()['id']}/approve",
        headers=recipient.client.headers(approver),
    )
    assert approved.status_code == 200, approved.get_json()
    return dict(approved.get_json())


def sign_packet(key: Any, payload: Any, alg: str = "ES256", **header: Any) -> str:
    """A compact JWS over ``payload`` (a dict, or raw bytes) as a sender system makes it."""
    import json as json_module
    import warnings

    from joserfc import jws as jws_module

    protected = {"alg": alg, "kid": key.kid, "typ": "handover+jws", **header}
    protected = {name: value for name, value in protected.items() if value is not None}
    body = payload if isinstance(payload, bytes) else json_module.dumps(payload).encode()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="EdDSA is deprecated")
        return jws_module.serialize_compact(protected, body, key, algorithms=[alg])


@pytest.fixture
def committed_database(tmp_path: Path) -> Iterator[str]:
    """A freshly migrated database of its own, where transactions really commit (dropped
    afterwards on PostgreSQL): for tests of concurrent writers."""
    server = os.environ.get("EXCHANGE_TEST_DATABASE_URL")
    if not server:
        url = f"sqlite:///{tmp_path / 'committed.db'}"
        upgrade(url)
        yield url
        return
    name = f"exchange_commit_{uuid.uuid4().hex[:12]}"
    with server_admin(server) as admin:
        admin.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        url = make_url(server).set(database=name).render_as_string(hide_password=False)
        upgrade(url)
        yield url
    finally:
        with server_admin(server) as admin:
            admin.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


# --- loopback servers: a webhook receiver, a redis-server to stop and freeze ------------------


@dataclass
class Receiver:
    """An organization's webhook endpoint: answers with the next planned status."""

    url: str = ""
    planned: list[int] = field(default_factory=list)
    received: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, headers: dict[str, str], body: bytes) -> int:
        with self.lock:
            self.received.append({"headers": headers, "body": body.decode()})
            return self.planned.pop(0) if self.planned else 204


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A webhook receiver on loopback that records every notification."""
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            status = state.answer(dict(self.headers), body)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_port}/hooks"
    # shutdown() waits for the loop's next poll: half a second a test at the default.
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
    )
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


REDIS_SERVER = shutil.which("redis-server")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_redis(port: int) -> subprocess.Popen[bytes]:
    """A ``redis-server`` of the test's own on loopback ``port`` (no persistence), answering."""
    if REDIS_SERVER is None:
        pytest.skip("needs redis-server (installed by .ci/run)")
    server = subprocess.Popen(
        [
            REDIS_SERVER,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    return server


def stop_redis(server: subprocess.Popen[bytes]) -> None:
    """Stop ``server`` whether it runs, is frozen or has stopped already."""
    if server.poll() is None:
        os.kill(server.pid, signal.SIGCONT)
        server.terminate()
        server.wait(timeout=5)


@pytest.fixture
def redis_server() -> Iterator[subprocess.Popen[bytes]]:
    """A ``redis-server`` on a free loopback port (``.port``), so stopping it touches nothing
    else."""
    port = free_port()
    server = start_redis(port)
    server.port = port  # type: ignore[attr-defined]  # for the app fixtures
    yield server
    stop_redis(server)
