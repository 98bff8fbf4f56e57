"""An integrator's first hour, against the real embedded server with the demo's keys: the
README's Python code as pasted, and deploy/send_packet.py."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from joserfc import jws
from joserfc.jwk import KeySet

ROOT = Path(__file__).resolve().parent.parent
README_BASE_URL = "http://127.0.0.1:5000"
SEND_PACKET = ROOT / "deploy" / "send_packet.py"


@dataclass(frozen=True)
class Server:
    issuer: str
    directory: Path  # the working directory: instance/demo/keys/... as in the README
    env: dict[str, str]

    def key(self, name: str) -> Path:
        return self.directory / "instance" / "demo" / "keys" / name


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`exchange demo` then `exchange serve` on a free loopback port; stopped at the end."""
    directory = tmp_path_factory.mktemp("integrator")
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    env = {key: value for key, value in os.environ.items() if not key.startswith("EXCHANGE_")} | {
        "EXCHANGE_DATABASE_URL": f"sqlite:///{directory}/demo.db",
        "EXCHANGE_KEYS_DIR": str(directory / "keys"),
        "EXCHANGE_ISSUER": issuer,
    }
    bin_dir = Path(sys.executable).parent
    subprocess.run(
        [bin_dir / "exchange", "demo", "--dir", "instance/demo"],
        cwd=directory,
        env=env,
        capture_output=True,
        timeout=120,
        check=True,
    )
    process = subprocess.Popen(
        [bin_dir / "exchange", "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=directory,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{issuer}/readyz", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                time.sleep(0.2)
        else:
            raise AssertionError("the server did not become ready in 30 s")
        yield Server(issuer, directory, env)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def python_blocks(markdown: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", markdown, flags=re.DOTALL | re.MULTILINE)


def run_python(code: str, server: Server) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=server.directory,
        env=server.env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_readme_python_runs_as_pasted(server):
    blocks = python_blocks((ROOT / "README.md").read_text())
    assert blocks, "the README shows Python"
    for block in blocks:
        assert README_BASE_URL in block  # the demo's address, replaced by this server's
        ran = run_python(block.replace(README_BASE_URL, server.issuer), server)
        assert ran.returncode == 0, ran.stderr
        # The quick-start snippet gets a token and makes one call with it.
        if "fetch_token" in block:
            assert re.fullmatch(r"200 \{'id': '[^']+'\}\n", ran.stdout), ran.stdout


def kela_payload() -> dict[str, object]:
    """An information packet Kela may receive without consent (the statute table)."""
    end = dt.date.today() - dt.timedelta(days=1)
    return {
        "client": {"hetu": "010190-900P"},
        "from": {"organization": "lieto-kisalli", "worker": "kalle.valmentaja"},
        "to": {"organization": "kela-turku"},
        "kind": "information",
        "purpose": "benefit_processing",
        "sections": [
            {
                "type": "service_period",
                "service": "kuntouttava_tyotoiminta",
                "start": (end - dt.timedelta(days=150)).isoformat(),
                "end": end.isoformat(),
                "days_per_week": 3,
                "hours_per_day": 6,
            }
        ],
    }


def send(server: Server, payload: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            SEND_PACKET,
            "--payload",
            payload,
            "--key",
            server.key("lieto-kisalli.packets.jwk.json"),
            "--issuer",
            server.issuer,
            *extra,
        ],
        cwd=server.directory,
        env=server.env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def client_credentials(server: Server) -> list[str]:
    return [
        "--client-id",
        "lieto-kisalli-system",
        "--client-key",
        str(server.key("lieto-kisalli-system.jwk.json")),
    ]


def test_send_packet_signs_sends_and_prints_the_receipt(server, tmp_path):
    payload = tmp_path / "packet.json"
    payload.write_text(json.dumps(kela_payload(), indent=2))
    sent = send(server, payload, *client_credentials(server), "--idempotency-key", "kisalli-1")
    assert sent.returncode == 0, sent.stdout + sent.stderr
    answer = json.loads(sent.stdout)
    assert answer["status"] == "sent"
    # The receipt is the service's, over exactly the bytes of the file.
    jwks = requests.get(f"{server.issuer}/.well-known/jwks.json", timeout=10).json()
    receipt = jws.deserialize_compact(answer["receipt"], KeySet.import_key_set(jwks))
    assert receipt.protected["typ"] == "handover-receipt+jws"
    document = json.loads(receipt.payload)
    assert document["packet_id"] == answer["id"]
    assert document["payload_sha256"] == hashlib.sha256(payload.read_bytes()).hexdigest()
    assert document["to"]["organization"] == "kela-turku"

    # The same Idempotency-Key: the stored answer, with a token given instead of a client.
    fetched = subprocess.run(
        [
            sys.executable,
            ROOT / "deploy" / "get_token.py",
            "--client-id",
            "lieto-kisalli-system",
            "--key",
            server.key("lieto-kisalli-system.jwk.json"),
            "--issuer",
            server.issuer,
        ],
        env=server.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    token = json.loads(fetched.stdout)["access_token"]
    again = send(server, payload, "--token", token, "--idempotency-key", "kisalli-1")
    assert again.returncode == 0, again.stdout + again.stderr
    assert json.loads(again.stdout)["id"] == answer["id"]

    # Without it, the same signed payload is a duplicate: the problem+json, exit status 1.
    duplicate = send(server, payload, "--token", token)
    assert duplicate.returncode == 1
    problem = json.loads(duplicate.stdout)
    assert problem["status"] == 409
    assert problem["code"] == "duplicate_packet"
    assert problem["existing_id"] == answer["id"]


def test_send_packet_prints_the_problem_of_a_refused_packet(server, tmp_path):
    payload = tmp_path / "packet.json"
    body = kela_payload() | {"purpose": "rehabilitation"}  # no statute, no consent
    payload.write_text(json.dumps(body))
    sent = send(server, payload, *client_credentials(server))
    assert sent.returncode == 1
    problem = json.loads(sent.stdout)
    assert problem["status"] == 403
    assert problem["code"] == "consent_missing"
    assert problem["missing"][0]["category"] == "service_period"


def test_send_packet_refuses_a_file_that_is_not_json(server, tmp_path):
    payload = tmp_path / "packet.json"
    payload.write_text("{not json")
    sent = send(server, payload, *client_credentials(server))
    assert sent.returncode == 2
    assert "is not JSON" in sent.stderr


def make_run(*arguments: str) -> list[str]:
    """The commands `make run` would run (the last two: the demo and the server)."""
    make = shutil.which("make")
    assert make is not None, "make is installed"
    planned = subprocess.run(
        [make, "--no-print-directory", "-n", "-C", str(ROOT), "run", *arguments],
        env={key: value for key, value in os.environ.items() if key != "EXCHANGE_ISSUER"},
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return planned.stdout.splitlines()[-2:]


def test_make_run_serves_the_demo_on_5000_by_default():
    demo, serve = make_run()
    assert demo.endswith("/exchange demo")
    assert serve.endswith("/exchange serve --host 127.0.0.1 --port 5000")
    assert 'EXCHANGE_ISSUER="${EXCHANGE_ISSUER:-http://127.0.0.1:5000}"' in serve


def test_make_run_takes_a_port_and_keeps_the_host():
    demo, serve = make_run("PORT=8123", "HOST=0.0.0.0")
    assert serve.endswith("/exchange serve --host 127.0.0.1 --port 8123")
    # The issuer (token audience, printed URLs) follows the port, for the demo too.
    for command in (demo, serve):
        assert command.startswith('EXCHANGE_ISSUER="${EXCHANGE_ISSUER:-http://127.0.0.1:8123}" ')


def test_the_demo_names_an_issuer_other_than_the_default(server):
    printed = subprocess.run(
        [Path(sys.executable).parent / "exchange", "demo", "--dir", "instance/demo"],
        cwd=server.directory,
        env=server.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    assert printed.rstrip().endswith(f"--issuer {server.issuer}")
    assert f"API docs:          {server.issuer}/docs" in printed
