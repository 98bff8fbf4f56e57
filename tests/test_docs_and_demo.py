"""The README's promises: every setting documented, and the quick start's demo really serves."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from exchange.config import SETTINGS

ROOT = Path(__file__).resolve().parent.parent


def test_readme_documents_every_setting():
    readme = (ROOT / "README.md").read_text()
    missing = [f"EXCHANGE_{key}" for key in SETTINGS if f"`EXCHANGE_{key}`" not in readme]
    assert missing == []


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_demo_serves_and_the_token_script_works(tmp_path):
    """`exchange demo` and `exchange serve`, then deploy/get_token.py and one API call."""
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    env = {key: value for key, value in os.environ.items() if not key.startswith("EXCHANGE_")} | {
        "EXCHANGE_DATABASE_URL": f"sqlite:///{tmp_path}/demo.db",
        "EXCHANGE_KEYS_DIR": str(tmp_path / "keys"),
        "EXCHANGE_ISSUER": issuer,
        "EXCHANGE_ARGON2_PROFILE": "cheapest",  # the demo's users, hashed in a blink
    }
    bin_dir = Path(sys.executable).parent
    demo = subprocess.run(
        [bin_dir / "exchange", "demo", "--dir", str(tmp_path / "demo")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert "lieto-kisalli-system" in demo.stdout
    server = subprocess.Popen(
        [bin_dir / "exchange", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
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
        fetched = subprocess.run(
            [
                sys.executable,
                ROOT / "deploy" / "get_token.py",
                "--client-id",
                "lieto-kisalli-system",
                "--key",
                tmp_path / "demo" / "keys" / "lieto-kisalli-system.jwk.json",
                "--issuer",
                issuer,
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        token = json.loads(fetched.stdout)["access_token"]
        response = requests.post(
            f"{issuer}/v1/clients/lookup",
            json={"hetu": "010190-900P"},
            headers={"Authorization": f"Bearer {token}", "X-Acting-User": "kalle.valmentaja"},
            timeout=10,
        )
        assert response.status_code == 200
        assert set(response.json()) == {"id"}
        # The embedded server seals the audit log in the background within seconds.
        database = sqlite3.connect(tmp_path / "demo.db")
        try:
            for _ in range(50):
                unsealed = database.execute(
                    "SELECT count(*) FROM audit_event WHERE seq IS NULL"
                ).fetchone()[0]
                if unsealed == 0:
                    break
                time.sleep(0.2)
        finally:
            database.close()
        assert unsealed == 0, "every committed event is sealed within seconds"
        # The background thread's jobs, in the server's own metrics.
        jobs = ("seal", "checkpoint", "deadlines", "webhooks")
        for _ in range(50):
            metrics = requests.get(f"{issuer}/metrics", timeout=10).text
            reported = [
                job
                for job in jobs
                if f'exchange_worker_last_success_timestamp{{job="{job}"}}' in metrics
            ]
            if len(reported) == len(jobs):
                break
            time.sleep(0.2)
        assert reported == list(jobs)
        assert 'exchange_worker_job_failures_total{job="webhooks"} 0.0' in metrics
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=20)
    assert "NOT for production" in output
    assert "010190-900P" not in output, "identity codes never reach the log"
    assert token not in output


def test_a_test_run_saves_its_screenshots_where_git_ignores_them():
    import shutil

    from tests.browser.test_ui_in_chromium import ROOT, SCREENSHOTS

    git = shutil.which("git")
    if git is None or not (ROOT / ".git").exists():
        pytest.skip("needs the git checkout")
    probe = SCREENSHOTS / "probe.png"
    ignored = subprocess.run([git, "check-ignore", "-q", str(probe)], cwd=ROOT, check=False)
    assert ignored.returncode == 0, f"{SCREENSHOTS} is not ignored by git"
    assert not SCREENSHOTS.is_relative_to(ROOT / "docs")
