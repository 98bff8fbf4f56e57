"""The pieces the HTTP benchmarks share: a scratch service stack, tokens, signed packets, wrk.

A *stack* is what an operator sets up: a scratch PostgreSQL database migrated with
``exchange db upgrade``, keys from ``exchange keys init``, a registry loaded with
``exchange registry load`` (a provider that sends and an employment-services office
that receives, each with an OAuth client and staff), the service under gunicorn in
production mode, and approved consents recorded through the API. Every person is
synthetic: identity codes with individual numbers 900-999.
"""

from __future__ import annotations

import contextlib
import ctypes
import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
import requests
from joserfc import jws, jwt
from joserfc.jwk import ECKey
from sqlalchemy import create_engine, make_url, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from consent.identifiers import hetu_check_char, parse_hetu  # after the path set-up above
from consent.model import local_date
from exchange.demo import business_id
from schemas.sections import add_months

PROJECT = Path(__file__).resolve().parent.parent
LUA = PROJECT / "bench" / "lua"
BIN = Path(sys.executable).parent
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
JOSE = "application/jose"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
CATEGORIES = ["assessment", "plan", "contact_persons", "service_period"]
PURPOSE = "employment_services"
# The settings every benchmarked server gets (besides where its data lives).
SERVER_SETTINGS = {
    "EXCHANGE_MODE": "production",
    "EXCHANGE_RATE_LIMIT": "1000000/minute",
    "EXCHANGE_ACCESS_TOKEN_LIFETIME": "900",
}
WORKERS = 2
STOP_SECONDS = 25


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def synthetic_hetu(index: int) -> str:
    """A valid identity code with an individual number 900-999 (synthetic, never a person)."""
    birth = dt.date(1970, 1, 1) + dt.timedelta(days=index * 367 % 12_000)
    digits = birth.strftime("%d%m%y")
    individual = f"{900 + index % 100}"
    sign = "-" if birth.year < 2000 else "A"
    hetu = f"{digits}{sign}{individual}{hetu_check_char(digits + individual)}"
    parsed = parse_hetu(hetu)
    assert parsed.is_temporary
    assert parsed.birth_date == birth
    return hetu


def today() -> dt.date:
    return local_date(dt.datetime.now(dt.UTC))


# --- processes ------------------------------------------------------------------------------


def run(argv: list[str], env: dict[str, str], timeout: float = 120) -> str:
    """Run a command to completion; its output, or an error naming it."""
    done = subprocess.run(  # noqa: S603  # our own commands with fixed arguments
        argv, env=env, cwd=PROJECT, capture_output=True, text=True, timeout=timeout, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"{' '.join(argv[:3])} failed ({done.returncode}): {done.stderr[-2000:]}"
        )
    return done.stdout


PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the benchmark dies, even by SIGKILL (Linux)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class Server:
    """A server process group we started, stopped on ``stop()`` whatever state it is in."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log: Path, port: int):
        self.name, self.port, self.log = name, port, log
        self.url = f"http://127.0.0.1:{port}"
        with log.open("ab") as handle:
            self.process = subprocess.Popen(  # noqa: S603  # our own server, fixed arguments
                argv,
                env=env,
                cwd=PROJECT,
                stdout=handle,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: gunicorn's workers stop with it
                preexec_fn=_die_with_parent,  # no threads run yet
            )

    def wait_ready(self, path: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited at start-up; see its log:\n{self.tail()}")
            with contextlib.suppress(requests.RequestException):
                if requests.get(self.url + path, timeout=2).status_code == 200:
                    return
            time.sleep(0.3)
        raise RuntimeError(f"{self.name} not ready after {timeout:.0f} s:\n{self.tail()}")

    def pids(self) -> list[int]:
        """The master and its workers."""
        return [self.process.pid, *children(self.process.pid)]

    def tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(STOP_SECONDS)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(5)


def terminate_on_sigterm() -> None:
    """Turn SIGTERM into SystemExit so that ``finally`` blocks stop servers and drop databases."""

    def handler(signum: int, _frame: Any) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)


TICKS = os.sysconf("SC_CLK_TCK")
# What CpuMeter.others() measures, for the reports.
OTHER_LOAD = (
    "CPU used during the measured seconds by processes other than the servers, their "
    "PostgreSQL backends, Redis and wrk, as a share of the whole machine: other users of this "
    "shared machine, and PostgreSQL's shared background processes (checkpointer, WAL writer, "
    "autovacuum), which the benchmark's own writes keep busy too. Where it is high, the run "
    "was slower than it would be alone."
)


class CpuMeter:
    """How much of the machine's CPU went to processes outside the benchmark while it ran:
    the machine is shared, and this says how far a figure may be off."""

    def __init__(self, ours: list[int]) -> None:
        self.ours = ours
        self.start_busy, self.start_ours = busy_ticks(), self.our_ticks()
        self.started = time.monotonic()

    def our_ticks(self) -> int:
        # This process and its finished children (wrk, the open-loop generator) ...
        times = os.times()
        own = int((times.user + times.system + times.children_user + times.children_system) * TICKS)
        # ... and the servers, their database backends and Redis.
        return own + sum(process_ticks(pid) for pid in self.ours)

    def others(self) -> float:
        """The share of all CPUs used by other processes since the start (0..1)."""
        elapsed = time.monotonic() - self.started
        busy = busy_ticks() - self.start_busy
        ours = self.our_ticks() - self.start_ours
        capacity = elapsed * TICKS * (os.cpu_count() or 1)
        return max(0.0, (busy - ours) / capacity) if capacity else 0.0


def busy_ticks() -> int:
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[:8])
    return user + nice + system + irq + softirq + steal


def process_ticks(pid: int) -> int:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0
    fields = stat.rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime, stime


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError):
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
    return found


def worker_ticks(server: Server) -> dict[int, int]:
    return {pid: process_ticks(pid) for pid in children(server.process.pid)}


def worker_shares(server: Server, before: dict[int, int]) -> list[float]:
    """Each worker's share of the CPU its server used since ``before``, largest first."""
    used = [process_ticks(pid) - ticks for pid, ticks in before.items()]
    total = sum(used)
    return sorted((u / total for u in used), reverse=True) if total else []


def split(shares: list[float]) -> str:
    """Worker shares as "52/48" (percent)."""
    return "/".join(f"{share * 100:.0f}" for share in shares) or "?"


# --- scratch stores -------------------------------------------------------------------------


@contextlib.contextmanager
def scratch_database(server: str, prefix: str) -> Iterator[str]:
    """A new empty database on ``server``, dropped afterwards whatever happened."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def redis_pid(url: str) -> int:
    client = redis.Redis.from_url(url)
    try:
        return int(client.info("server")["process_id"])
    finally:
        client.close()


@contextlib.contextmanager
def scratch_redis(url: str) -> Iterator[str]:
    """A Redis database (a number of our own) emptied before and after."""
    client = redis.Redis.from_url(url)
    client.flushdb()
    try:
        yield url
    finally:
        with contextlib.suppress(redis.RedisError):
            client.flushdb()
        client.close()


# --- the registry ---------------------------------------------------------------------------


@dataclass
class Party:
    """An organization with its OAuth client and packet-signing key (private halves)."""

    organization: str
    kind: str
    name: str
    business_id: str
    users: list[tuple[str, str, list[str]]]
    client_key: Any = field(default=None)
    packet_key: Any = field(default=None)

    @property
    def client_id(self) -> str:
        return f"{self.organization}-system"

    def keys(self) -> None:
        self.client_key = ECKey.generate_key("P-256", parameters={"alg": "ES256"}, auto_kid=True)
        self.packet_key = ECKey.generate_key("P-256", parameters={"alg": "ES256"}, auto_kid=True)


SENDER_WORKER = "kalle.valmentaja"
RECIPIENT_SOCIAL_WORKER = "tuomas.sosiaalityontekija"
RECIPIENT_STAFF = "terhi.asiantuntija"


def parties() -> tuple[Party, Party]:
    sender = Party(
        "lieto-kisalli",
        "provider",
        "Liedon kunta, Kisälli (työtoimintakeskus)",
        business_id("0204819"),
        [(SENDER_WORKER, "Kalle Valmentaja", ["staff"])],
    )
    recipient = Party(
        "te-vs",
        "employment_services",
        "Turun seudun työllisyyspalvelut",
        business_id("3207911"),
        [
            (RECIPIENT_SOCIAL_WORKER, "Tuomas Sosiaalityöntekijä", ["social_worker"]),
            (RECIPIENT_STAFF, "Terhi Työllisyysasiantuntija", ["staff"]),
        ],
    )
    sender.keys()
    recipient.keys()
    return sender, recipient


def registry_document(*members: Party) -> dict[str, Any]:
    """The registry file (SPEC section 5): public keys only."""
    scopes = {
        "provider": [
            "consents:read",
            "consents:write",
            "packets:send",
            "packets:receive",
            "clients:manage",
        ],
        "employment_services": [
            "consents:read",
            "consents:write",
            "consents:approve",
            "packets:send",
            "packets:receive",
            "clients:manage",
        ],
    }
    return {
        "organizations": [
            {
                "id": party.organization,
                "name": party.name,
                "kind": party.kind,
                "business_id": party.business_id,
                "jwks": {"keys": [dict(party.packet_key.as_dict(private=False))]},
                "webhook_url": None,
            }
            for party in members
        ],
        "oauth_clients": [
            {
                "client_id": party.client_id,
                "organization": party.organization,
                "scopes": scopes[party.kind],
                "jwks": {"keys": [dict(party.client_key.as_dict(private=False))]},
            }
            for party in members
        ],
        "users": [
            {"username": username, "organization": party.organization, "name": name, "roles": roles}
            for party in members
            for username, name, roles in party.users
        ],
    }


# --- tokens and packets ---------------------------------------------------------------------


def access_token(base_url: str, party: Party) -> str:
    """A client_credentials token through a private_key_jwt assertion (two minutes, with kid)."""
    now = int(time.time())
    claims = {
        "iss": party.client_id,
        "sub": party.client_id,
        "aud": base_url + "/oauth/token",
        "iat": now,
        "exp": now + 120,
        "jti": uuid.uuid4().hex,
    }
    header = {"alg": "ES256", "kid": party.client_key.kid}
    assertion = jwt.encode(header, claims, party.client_key, algorithms=["ES256"])
    answer = requests.post(
        base_url + "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion,
        },
        timeout=10,
    )
    answer.raise_for_status()
    return str(answer.json()["access_token"])


SENTENCES = [
    "Asiakas on osallistunut kuntouttavaan työtoimintaan säännöllisesti kolmena päivänä viikossa.",
    "Työtehtävinä ovat olleet puutyöt, kokoonpano ja pakkaaminen.",
    "Vuorokausirytmi on vakiintunut, ja poissaoloja on ollut vähän.",
    "Asiakas toivoo pääsevänsä työkokeiluun kevään aikana.",
    "Keskittyminen onnistuu noin tunnin jaksoissa; lyhyet tauot auttavat jaksamaan.",
    "Yhteistyö ohjaajien ja muiden osallistujien kanssa sujuu hyvin.",
    "Uusissa tilanteissa ja viranomaisasioinnissa asiakas tarvitsee vielä tukea.",
    "Terveydentila ei rajoita kevyttä fyysistä työtä.",
    "Digitaidot ovat perustasolla, ja verkkoasiointi onnistuu ohjattuna.",
    "Asiakas on suorittanut hygieniapassin ja työturvallisuuskortin.",
]


def prose(length: int, offset: int) -> str:
    """Plausible Finnish case text of about ``length`` characters."""
    words: list[str] = []
    index = offset
    while sum(len(part) + 1 for part in words) < length:
        words.append(SENTENCES[index % len(SENTENCES)])
        index += 1
    return " ".join(words)[:length].rstrip()


def packet_payload(number: int, hetu: str, sender: Party, recipient: Party) -> dict[str, Any]:
    """A transfer with an assessment, a plan, contact persons and a kuty period (~7 KB)."""
    day = today()
    start = day + dt.timedelta(days=90)
    return {
        "client": {"hetu": hetu},
        "from": {"organization": sender.organization, "worker": SENDER_WORKER},
        "to": {"organization": recipient.organization},
        "kind": "transfer",
        "purpose": PURPOSE,
        "respond_by": (day + dt.timedelta(days=14)).isoformat(),
        "case_reference": f"KIS-{day.year}-{number:06d}",
        "sections": [
            {
                "type": "assessment",
                "instrument": "kykyviisari",
                "date": (day - dt.timedelta(days=3)).isoformat(),
                "assessor": {
                    "name": "Kalle Valmentaja",
                    "organization": sender.name,
                    "role": "työvalmentaja",
                },
                "scores": {
                    "health": 6,
                    "competence": 7,
                    "work_ability": 6,
                    "motivation": 8,
                    "social_skills": 7,
                    "daily_routines": 6,
                },
                "summary": f"Arvio {number}. " + prose(2450, number),
                "strengths": [prose(90, number + k) for k in range(4)],
                "support_needs": [prose(90, number + k + 4) for k in range(4)],
            },
            {
                "type": "plan",
                "kind": "activation_plan",
                "goals": [
                    {
                        "text": prose(200, number + k),
                        "target_date": add_months(day, 3 + k).isoformat(),
                        "status": "in_progress" if k == 0 else "open",
                    }
                    for k in range(5)
                ],
                "services": [
                    {
                        "service": "työkokeilu",
                        "provider": recipient.organization,
                        "start": add_months(day, 4).isoformat(),
                        "end": add_months(day, 7).isoformat(),
                    },
                    {"service": "kuntouttava työtoiminta", "provider": sender.organization},
                ],
                "follow_up_date": add_months(day, 2).isoformat(),
                "next_step": prose(300, number + 3),
            },
            {
                "type": "contact_persons",
                "persons": [
                    {
                        "name": name,
                        "role": role,
                        "organization": org,
                        "phone": f"+358 40 {100 + k:03d} {4500 + k:04d}",
                        "email": f"{name.lower().replace(' ', '.')}@example.fi",
                        "language": "fi",
                        "valid_from": (day - dt.timedelta(days=200)).isoformat(),
                    }
                    for k, (name, role, org) in enumerate(
                        [
                            ("Kalle Valmentaja", "coach", sender.name),
                            ("Terhi Asiantuntija", "te_expert", recipient.name),
                            ("Sari Sosiaalityontekija", "social_worker", "Varha"),
                            ("Kaisa Kelalainen", "kela_contact", "Kela"),
                            ("Outi Omatyontekija", "responsible_worker", "Varha"),
                            ("Tiina Tukihenkilo", "support_person", "Yhdistys"),
                        ]
                    )
                ],
            },
            {
                "type": "service_period",
                "service": "kuntouttava_tyotoiminta",
                "start": start.isoformat(),
                "end": (add_months(start, 6) - dt.timedelta(days=1)).isoformat(),
                "days_per_week": 3,
                "hours_per_day": 6,
                "guidance_hours_per_month": 3,
                "total_months_in_service": 12,
            },
        ],
    }


def sign(payload: dict[str, Any], key: Any) -> str:
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    protected = {"alg": "ES256", "kid": key.kid, "typ": "handover+jws"}
    return str(jws.serialize_compact(protected, body, key, algorithms=["ES256"]))


# --- the stack ------------------------------------------------------------------------------


@dataclass
class Person:
    hetu: str
    client_id: str
    consent_id: str


@dataclass
class Stack:
    """One scratch deployment of the service and the parties and persons it knows."""

    workdir: Path
    database_url: str
    redis_url: str
    persons: int = 32
    label: str = "exchange"
    port: int = field(default_factory=free_port)
    sender: Party = field(init=False)
    recipient: Party = field(init=False)
    people: list[Person] = field(default_factory=list)
    server: Server | None = None
    packets_made: int = 0

    def __post_init__(self) -> None:
        self.sender, self.recipient = parties()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            **SERVER_SETTINGS,
            "EXCHANGE_DATABASE_URL": self.database_url,
            "EXCHANGE_REDIS_URL": self.redis_url,
            "EXCHANGE_ISSUER": self.url,
            "EXCHANGE_KEYS_DIR": str(self.workdir / "keys"),
        }

    def exchange(self, *args: str, timeout: float = 300) -> str:
        return run([str(BIN / "exchange"), *args], self.env(), timeout)

    def prepare(self) -> None:
        """Migrations, keys and the registry, as an operator does it."""
        self.exchange("db", "upgrade")
        self.exchange("keys", "init")
        registry = self.workdir / "registry.json"
        registry.write_text(json.dumps(registry_document(self.sender, self.recipient), indent=1))
        self.exchange("registry", "load", str(registry))

    def start(self) -> Server:
        argv = [str(BIN / "exchange"), "serve", "--host", "127.0.0.1", "--port", str(self.port)]
        argv += ["--workers", str(WORKERS)]
        self.server = Server("exchange", argv, self.env(), self.workdir / "exchange.log", self.port)
        self.server.wait_ready("/readyz")
        return self.server

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()

    def token(self, party: Party) -> str:
        return access_token(self.url, party)

    def record_consents(self) -> None:
        """A permit for every person, recorded by the sender's worker and approved by the
        recipient's social worker (four eyes), through the API."""
        sender = {
            "Authorization": f"Bearer {self.token(self.sender)}",
            "X-Acting-User": SENDER_WORKER,
        }
        approver = {
            "Authorization": f"Bearer {self.token(self.recipient)}",
            "X-Acting-User": RECIPIENT_SOCIAL_WORKER,
        }
        with requests.Session() as http:
            for index in range(self.persons):
                hetu = synthetic_hetu(index)
                recorded = http.post(
                    self.url + "/v1/consents",
                    json={
                        "client": {"hetu": hetu},
                        "grantor": {"type": "self"},
                        "decision": "permit",
                        "sources": [self.sender.organization],
                        "recipients": [self.recipient.organization],
                        "categories": CATEGORIES,
                        "purposes": [PURPOSE],
                        "valid_until": (today() + dt.timedelta(days=300)).isoformat(),
                        "method": "signed_paper",
                        "evidence": {"reference": f"paperilomake {today().year}/{index + 1}"},
                        "language": "fi",
                        "approver_organization": self.recipient.organization,
                    },
                    headers=sender,
                    timeout=30,
                )
                assert recorded.status_code == 201, recorded.text
                body = recorded.json()
                approved = http.post(
                    f"{self.url}/v1/consents/{body['id']}/approve", headers=approver, timeout=30
                )
                assert approved.status_code == 200, approved.text
                self.people.append(Person(hetu, body["client_id"], body["id"]))

    def packets(self, count: int) -> list[str]:
        """``count`` new, distinct signed packets, spread over the persons."""
        tokens = []
        for _ in range(count):
            number = self.packets_made
            self.packets_made += 1
            person = self.people[number % len(self.people)]
            payload = packet_payload(number, person.hetu, self.sender, self.recipient)
            tokens.append(sign(payload, self.sender.packet_key))
        return tokens

    def backends(self) -> list[int]:
        """The PostgreSQL server processes serving this stack's database."""
        name = make_url(self.database_url).database
        rows = self.query("SELECT pid FROM pg_stat_activity WHERE datname = :name", name=name)
        return [int(row[0]) for row in rows]

    def query(self, sql: str, **params: Any) -> list[Any]:
        engine = create_engine(self.database_url)
        try:
            with engine.connect() as connection:
                return list(connection.execute(text(sql), params))
        finally:
            engine.dispose()


# --- wrk --------------------------------------------------------------------------------


@dataclass
class Load:
    """What one wrk run measured; ``problems`` is empty when every answer was what we wanted."""

    requests: int
    seconds: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    statuses: dict[str, int]
    errors: dict[str, int]
    sent: int
    distinct: int
    problems: list[str]

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def wrk_version() -> str:
    done = subprocess.run(
        ["wrk", "--version"],  # noqa: S607  # wrk from the PATH, as the benchmarks run it
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    words = (done.stdout + done.stderr).split()
    return " ".join(words[:2]) if words else "wrk"


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines))
    return path


@dataclass(frozen=True)
class Options:
    """What a wrk run sends: the script of ``bench/lua`` and its settings."""

    script: str
    connections: int
    token: str | None = None
    acting_user: str | None = None
    content_type: str = "application/json"
    path: str = "/"
    expect: int = 200
    must_be_distinct: bool = False


def start_wrk(url: str, data: Path, seconds: int, options: Options) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "BENCH_LUA_DIR": str(LUA),
        "BENCH_DATA": str(data),
        "BENCH_PATH": options.path,
        "BENCH_CONTENT_TYPE": options.content_type,
        "BENCH_TOKEN": options.token or "",
        "BENCH_ACTING_USER": options.acting_user or "",
    }
    # One thread: the servers get the rest of the CPU.
    argv = ["wrk", "-t1", f"-c{options.connections}", f"-d{seconds}s", "--timeout", "10s"]
    argv += ["-s", str(LUA / options.script), url]
    return subprocess.Popen(  # noqa: S603  # wrk with fixed arguments
        argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def finish_wrk(process: subprocess.Popen[str], seconds: int, options: Options) -> Load:
    """Wait for wrk (bounded) and read the JSON line ``bench/lua/common.lua`` prints."""
    try:
        stdout, stderr = process.communicate(timeout=seconds + 60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise
    lines = [line for line in stdout.splitlines() if line.startswith("BENCH_RESULT ")]
    if process.returncode != 0 or not lines:
        raise RuntimeError(f"wrk failed ({process.returncode}): {stderr[-1000:]}{stdout}")
    raw = json.loads(lines[-1].removeprefix("BENCH_RESULT "))
    statuses = {str(code): count for code, count in sorted(raw["statuses"].items())}
    errors = {name: count for name, count in raw["errors"].items() if count and name != "status"}
    problems = []
    unexpected = {code: count for code, count in statuses.items() if code != str(options.expect)}
    if unexpected:
        problems.append(f"answers other than {options.expect}: {unexpected}")
    if errors:
        problems.append(f"socket errors: {errors}")
    distinct = int(raw["lines"])
    if options.must_be_distinct and raw["sent"] > distinct:
        problems.append(f"{raw['sent'] - distinct} requests re-sent a packet already sent")
    return Load(
        requests=int(raw["requests"]),
        seconds=raw["duration_us"] / 1e6,
        p50_ms=raw["p50_us"] / 1000,
        p90_ms=raw["p90_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        statuses=statuses,
        errors=errors,
        sent=int(raw["sent"]),
        distinct=distinct,
        problems=problems,
    )


def wrk(url: str, data: Path, seconds: int, options: Options) -> Load:
    """One wrk run."""
    return finish_wrk(start_wrk(url, data, seconds, options), seconds, options)


# gthread workers each accept() from the shared socket and keep a kept-alive connection for
# good: when (nearly) all of wrk's connections land in one worker, one CPU does the work and
# the rate halves, and on this machine that happens to about every other run. A measured run
# is therefore restarted (new connections, new data) when one worker has done LOPSIDED of
# the work after PROBE seconds, up to TRIES times in all; the report counts the restarts.
LOPSIDED = 0.75
PROBE = 2.0
TRIES = 12


@dataclass
class Run:
    load: Load
    shares: list[float]  # each worker's share of the server's CPU over the run
    tries: int
    context: Any  # what ``before()`` returned for the run that counted


def wrk_balanced(
    server: Server,
    data: Callable[[], Path],
    seconds: int,
    options: Options,
    before: Callable[[], Any] = lambda: None,
) -> Run:
    """A wrk run whose connections are spread over the server's workers (see ``LOPSIDED``)."""
    for attempt in range(1, TRIES + 1):
        context = before()
        ticks = worker_ticks(server)
        process = start_wrk(server.url, data(), seconds, options)
        if attempt < TRIES:
            time.sleep(PROBE)
            early = worker_shares(server, ticks)
            if early and max(early) >= LOPSIDED:
                process.kill()  # our own wrk; its figures are of no use
                process.communicate()
                continue
        load = finish_wrk(process, seconds, options)
        return Run(load, worker_shares(server, ticks), attempt, context)
    raise AssertionError("unreachable: the last try always returns")
