"""Several instances behave as one: two gunicorn instances (production mode) and two
workers on one PostgreSQL and one Redis, called over loopback, optionally through nginx.

Runs in the PostgreSQL + Redis pass of `.ci/run` (EXCHANGE_TEST_DATABASE_URL and
EXCHANGE_TEST_REDIS_URL set); the embedded pass has neither a shared database server
nor a shared Redis to show it with.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
from joserfc import jws

from consent.model import local_date
from exchange import create_app
from tests.conftest import ISSUER, Org, grant_consent, org_factory, runtime_of, sign_packet

pytestmark = pytest.mark.skipif(
    not (
        os.environ.get("EXCHANGE_TEST_DATABASE_URL") and os.environ.get("EXCHANGE_TEST_REDIS_URL")
    ),
    reason="needs PostgreSQL and Redis servers (the second pass of .ci/run)",
)

HETU = "010190-900P"
JOSE = "application/jose"
BIN = Path(sys.executable).parent
DEADLINE = 60


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def today() -> dt.date:
    return local_date(dt.datetime.now(dt.UTC))


@dataclass
class Receiver:
    received: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""

    def ids(self) -> set[str]:
        with self.lock:
            return set(self.received)


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    """A webhook receiver that records every notification's event id (and accepts it)."""
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            event = json.loads(jws.extract_compact(body).payload)["id"]
            with state.lock:
                state.received.append(event)
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_port}/hooks"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield state
    server.shutdown()
    server.server_close()


@dataclass
class Cluster:
    instances: list[str]
    proxy: str | None
    sender: Org
    recipient: Org
    consent_id: str
    logs: list[Path]
    database_url: str
    masters: list[int] = field(default_factory=list)  # each instance's gunicorn master


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"{url} exited: {log.read_text()[-2000:]}")
        try:
            if requests.get(url + "/readyz", timeout=1).status_code == 200:
                return
        except requests.RequestException:  # still starting
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} not ready: {log.read_text()[-2000:]}")


def _nginx(ports: list[int], workdir: Path) -> tuple[subprocess.Popen[bytes], str] | None:
    """nginx (Debian's) in front of both instances, round robin; None where it is absent."""
    binary = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    if binary is None:
        return None
    port = free_port()
    upstream = "\n".join(f"    server 127.0.0.1:{p};" for p in ports)
    (workdir / "nginx.conf").write_text(
        f"""daemon off;
worker_processes 1;
pid {workdir}/nginx.pid;
error_log {workdir}/nginx-error.log;
events {{ worker_connections 256; }}
http {{
  access_log off;
  client_body_temp_path {workdir}/body;
  proxy_temp_path {workdir}/proxy;
  fastcgi_temp_path {workdir}/fastcgi;
  uwsgi_temp_path {workdir}/uwsgi;
  scgi_temp_path {workdir}/scgi;
  client_max_body_size 1m;
  upstream exchange {{
{upstream}
  }}
  server {{
    listen 127.0.0.1:{port};
    location / {{
      proxy_pass http://exchange;
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
    }}
  }}
}}
"""
    )
    process = subprocess.Popen(
        [binary, "-p", str(workdir), "-c", str(workdir / "nginx.conf")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return process, f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def cluster(
    tmp_path_factory: pytest.TempPathFactory, keys_dir: Path, receiver: Receiver
) -> Iterator[Cluster]:
    from sqlalchemy import create_engine, make_url, text

    from exchange.migrate import upgrade
    from exchange.registry.models import Organization

    server = os.environ["EXCHANGE_TEST_DATABASE_URL"]
    name = f"exchange_cluster_{os.getpid()}"
    admin = create_engine(make_url(server).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(server).set(database=name).render_as_string(hide_password=False)
    redis_url = os.environ["EXCHANGE_TEST_REDIS_URL"]
    upgrade(url)

    # The registry and the consent, arranged in-process on the shared database.
    config = {
        "MODE": "embedded",
        "DATABASE_URL": url,
        "REDIS_URL": redis_url,
        "KEYS_DIR": str(keys_dir),
        "ISSUER": ISSUER,
        "RATE_LIMIT": "100000/minute",
    }
    local = create_app(config)
    rt = runtime_of(local)
    rt.redis.flushdb()
    http = local.test_client()
    make_org = org_factory(rt, http)
    sender = make_org("kisalli", kind="provider", users=[("kalle.valmentaja", ["staff"])])
    recipient = make_org(
        "te-vs",
        kind="employment_services",
        users=[("tuomas.sw", ["social_worker"]), ("terhi.asiantuntija", ["staff"])],
    )
    with rt.db.transaction() as session:
        session.get(Organization, "te-vs").webhook_url = receiver.url
    recorded = grant_consent(http, sender, "kalle.valmentaja", recipient, "tuomas.sw", hetu=HETU)
    rt.db.engine.dispose()

    workdir = Path(tempfile.mkdtemp(prefix="cluster-", dir=tmp_path_factory.getbasetemp()))
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXCHANGE_")} | {
        "EXCHANGE_MODE": "production",
        "EXCHANGE_DATABASE_URL": url,
        "EXCHANGE_REDIS_URL": redis_url,
        "EXCHANGE_KEYS_DIR": str(keys_dir),
        "EXCHANGE_ISSUER": ISSUER,
        "EXCHANGE_RATE_LIMIT": "100000/minute",
        "EXCHANGE_WEBHOOK_ALLOW_LOOPBACK": "1",
        "EXCHANGE_LOG_JSON": "1",
    }
    processes: list[subprocess.Popen[bytes]] = []
    logs: list[Path] = []
    handles = []
    try:
        ports = [free_port(), free_port()]
        for index, port in enumerate(ports):
            log = workdir / f"instance-{index}.log"
            handle = log.open("wb")
            handles.append(handle)
            logs.append(log)
            processes.append(
                subprocess.Popen(
                    [BIN / "exchange", "serve", "--host", "127.0.0.1", "--port", str(port)],
                    env=env,
                    stdout=handle,
                    stderr=subprocess.STDOUT,
                )
            )
        for index in range(2):
            log = workdir / f"worker-{index}.log"
            handle = log.open("wb")
            handles.append(handle)
            processes.append(
                subprocess.Popen(
                    [BIN / "exchange", "worker", "--interval", "1"],
                    env=env,
                    stdout=handle,
                    stderr=subprocess.STDOUT,
                )
            )
        instances = [f"http://127.0.0.1:{port}" for port in ports]
        for index, instance in enumerate(instances):
            _wait_ready(instance, processes[index], logs[index])
        proxy = None
        started = _nginx(ports, workdir)
        if started is not None:
            nginx, proxy = started
            processes.append(nginx)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                try:
                    requests.get(proxy + "/healthz", timeout=1)
                    break
                except requests.RequestException:
                    time.sleep(0.2)
        masters = [process.pid for process in processes[: len(instances)]]
        yield Cluster(instances, proxy, sender, recipient, recorded["id"], logs, url, masters)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        for handle in handles:
            handle.close()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def token_from(instance: str, org: Org) -> str:
    """An access token from ``instance``'s token endpoint, over HTTP."""
    response = requests.post(
        instance + "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": org.client.assertion(),
        },
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def packet(cluster: Cluster, summary: str) -> str:
    return sign_packet(
        cluster.sender.packet_key,
        {
            "client": {"hetu": HETU},
            "from": {"organization": "kisalli", "worker": "kalle.valmentaja"},
            "to": {"organization": "te-vs"},
            "kind": "information",
            "purpose": "employment_services",
            "sections": [
                {
                    "type": "assessment",
                    "instrument": "vat",
                    "date": today().isoformat(),
                    "summary": summary,
                }
            ],
        },
    )


def submit(instance: str, token: str, body: str, key: str | None = None) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": JOSE}
    if key:
        headers["Idempotency-Key"] = key
    return requests.post(instance + "/v1/packets", data=body, headers=headers, timeout=10)


def test_an_assertion_replayed_to_the_other_instance_is_refused(cluster):
    first, second = cluster.instances
    assertion = cluster.sender.client.assertion()
    form = {
        "grant_type": "client_credentials",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": assertion,
    }
    assert requests.post(first + "/oauth/token", data=form, timeout=10).status_code == 200
    replayed = requests.post(second + "/oauth/token", data=form, timeout=10)
    assert replayed.status_code == 401
    assert replayed.json()["error"] == "invalid_client"


def test_an_idempotent_retry_on_the_other_instance_returns_the_same_packet(cluster):
    first, second = cluster.instances
    body = packet(cluster, "Idempotent retry across instances.")
    created = submit(first, token_from(first, cluster.sender), body, key="cluster-retry-1")
    assert created.status_code == 201, created.text
    retried = submit(second, token_from(second, cluster.sender), body, key="cluster-retry-1")
    assert retried.status_code in (200, 201), retried.text
    assert retried.json()["id"] == created.json()["id"]
    assert retried.json()["receipt"] == created.json()["receipt"]


def test_two_workers_deliver_every_notification(cluster, receiver):
    """Every packet.received of this module reaches the receiver: each event id at least
    once, and in practice once."""
    from sqlalchemy import create_engine, text

    for index in range(10):
        instance = cluster.instances[index % 2]
        sent = submit(instance, token_from(instance, cluster.sender), packet(cluster, f"n{index}"))
        assert sent.status_code == 201, sent.text
    engine = create_engine(cluster.database_url)  # the shared database, read directly
    try:
        deadline = time.monotonic() + DEADLINE
        while time.monotonic() < deadline:
            with engine.connect() as connection:
                rows = connection.execute(
                    text("SELECT id, status FROM webhook_delivery WHERE event_type = :t"),
                    {"t": "packet.received"},
                ).all()
            if rows and all(status == "delivered" for _, status in rows):
                break
            time.sleep(0.5)
    finally:
        engine.dispose()
    expected = {row_id for row_id, _ in rows}
    assert len(expected) >= 10
    assert {status for _, status in rows} == {"delivered"}
    assert receiver.ids() >= expected
    with receiver.lock:
        repeats = len(receiver.received) - len(set(receiver.received))
    assert repeats == 0  # the lease makes a second delivery of one event a failure case only


# Last but one: it withdraws the module's consent.
def test_a_withdrawal_through_one_instance_is_enforced_at_once_through_the_other(cluster):
    first, second = cluster.instances
    sender_token = token_from(first, cluster.sender)
    sent = submit(first, sender_token, packet(cluster, "Read before and after withdrawal."))
    assert sent.status_code == 201, sent.text
    reader = {
        "Authorization": f"Bearer {token_from(second, cluster.recipient)}",
        "X-Acting-User": "terhi.asiantuntija",
    }
    url = f"{second}/v1/packets/{sent.json()['id']}"
    assert requests.get(url, headers=reader, timeout=10).status_code == 200
    withdrawn = requests.post(
        f"{first}/v1/consents/{cluster.consent_id}/withdraw",
        json={"reason": "asiakkaan pyyntö"},
        headers={"Authorization": f"Bearer {sender_token}", "X-Acting-User": "kalle.valmentaja"},
        timeout=10,
    )
    assert withdrawn.status_code == 200, withdrawn.text
    refused = requests.get(url, headers=reader, timeout=10)  # no delay, no cache to expire
    assert refused.status_code == 403
    assert refused.json()["code"] == "consent_withdrawn"


def test_nginx_spreads_requests_over_both_instances(cluster):
    if cluster.proxy is None:
        pytest.skip("nginx is not installed (.ci/run installs it)")
    for _ in range(20):
        assert requests.get(cluster.proxy + "/v1/escalations", timeout=10).status_code == 401
    served = [log.read_text().count('"/v1/escalations"') for log in cluster.logs]
    assert all(count > 0 for count in served), served


# --- faults: a worker killed mid-request, database connections cut under load -----------------


def fresh_consent(cluster: Cluster) -> None:
    """A new permit for the packets below (an earlier test withdraws the module's one)."""
    instance = cluster.instances[0]
    body = {
        "client": {"hetu": HETU},
        "grantor": {"type": "self"},
        "decision": "permit",
        "sources": ["kisalli"],
        "recipients": ["te-vs"],
        "categories": ["assessment"],
        "purposes": ["employment_services"],
        "valid_until": (today() + dt.timedelta(days=60)).isoformat(),
        "method": "electronic_strong_auth",
        "language": "fi",
        "approver_organization": "te-vs",
    }
    recorded = requests.post(
        instance + "/v1/consents",
        json=body,
        headers={
            "Authorization": f"Bearer {token_from(instance, cluster.sender)}",
            "X-Acting-User": "kalle.valmentaja",
        },
        timeout=10,
    )
    assert recorded.status_code == 201, recorded.text
    approved = requests.post(
        f"{instance}/v1/consents/{recorded.json()['id']}/approve",
        headers={
            "Authorization": f"Bearer {token_from(instance, cluster.recipient)}",
            "X-Acting-User": "tuomas.sw",
        },
        timeout=10,
    )
    assert approved.status_code == 200, approved.text


def submit_until_answered(
    instance: str, token: str, body: str, key: str, seen: list[int], deadline: float
) -> str | None:
    """What a careful sender does: retry with the same key until the packet has an answer."""
    while time.monotonic() < deadline:
        try:
            response = submit(instance, token, body, key)
        except requests.RequestException:
            seen.append(0)  # the connection died with its worker: send the same again
            time.sleep(0.1)
            continue
        seen.append(response.status_code)
        if response.status_code == 201:
            return str(response.json()["id"])
        if response.status_code in (409, 503):  # still in flight, or a dependency: try again
            time.sleep(0.2)
            continue
        raise AssertionError(f"{key}: {response.status_code} {response.text}")
    return None


def stored_packets(cluster: Cluster, keys: list[str]) -> dict[str, list[str]]:
    from sqlalchemy import create_engine, text

    engine = create_engine(cluster.database_url)
    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT key, response FROM idempotency_record WHERE key = ANY(:keys)"),
            {"keys": keys},
        ).all()
        packets = set(connection.execute(text("SELECT id FROM packet")).scalars())
    engine.dispose()
    found: dict[str, list[str]] = {key: [] for key in keys}
    for key, response in rows:
        body = response if isinstance(response, dict) else json.loads(response)
        assert body["id"] in packets, "an answered packet is stored"
        found[key].append(body["id"])
    return found


def gunicorn_workers(master: int) -> list[int]:
    children = Path(f"/proc/{master}/task/{master}/children")
    return [int(pid) for pid in children.read_text().split()] if children.exists() else []


def submit_through_a_fault(
    cluster: Cluster, instance: str, label: str, fault: Callable[[], None]
) -> list[int]:
    """40 idempotent submissions by 16 careful senders while ``fault`` strikes; then each key
    has exactly one stored packet and every answered packet is stored. The statuses seen."""
    import uuid
    from concurrent.futures import ThreadPoolExecutor

    fresh_consent(cluster)
    token = token_from(instance, cluster.sender)
    keys = [f"{label}-{uuid.uuid4()}" for _ in range(40)]
    bodies = {key: packet(cluster, f"Sent while {label} ({key}).") for key in keys}
    seen: list[int] = []
    deadline = time.monotonic() + 45
    with ThreadPoolExecutor(max_workers=16) as pool:
        futures = {
            key: pool.submit(
                submit_until_answered, instance, token, bodies[key], key, seen, deadline
            )
            for key in keys
        }
        fault()
        answered = {key: future.result() for key, future in futures.items()}
    assert all(answered.values()), {k: v for k, v in answered.items() if not v}
    stored = stored_packets(cluster, keys)
    assert all(len(ids) == 1 for ids in stored.values()), "each key made exactly one packet"
    assert {key: ids[0] for key, ids in stored.items()} == answered
    return seen


@pytest.mark.faults
def test_a_worker_killed_mid_submission_loses_nothing_and_doubles_nothing(cluster):
    import signal

    def kill_a_worker() -> None:
        time.sleep(0.3)
        victims = gunicorn_workers(cluster.masters[0])
        assert victims, "the instance has gunicorn workers to kill"
        os.kill(victims[0], signal.SIGKILL)

    seen = submit_through_a_fault(cluster, cluster.instances[0], "kill", kill_a_worker)
    assert 500 not in seen


@pytest.mark.faults
def test_database_connections_cut_under_load_answer_503_never_500_and_lose_nothing(cluster):
    from sqlalchemy import create_engine, make_url, text

    name = make_url(cluster.database_url).database
    killer = create_engine(cluster.database_url)
    cut = []

    def cut_every_connection() -> None:
        with killer.connect() as connection:
            for _ in range(6):
                time.sleep(0.1)
                terminated = connection.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = :name AND pid <> pg_backend_pid()"
                    ),
                    {"name": name},
                ).all()
                cut.extend(terminated)
                connection.commit()

    try:
        seen = submit_through_a_fault(cluster, cluster.instances[1], "cut", cut_every_connection)
    finally:
        killer.dispose()
    assert cut, "connections were cut while the requests ran"
    assert 500 not in seen, sorted(set(seen))
