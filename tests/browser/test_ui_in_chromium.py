"""The web UI in a real browser: Debian's Chromium, headless, driven by Playwright.

The server is the demo (`exchange demo` + `exchange serve`) on a free loopback
port. Every page visited is checked with axe-core (no serious or critical
violations) and saved as a screenshot under docs/screenshots/. `.ci/run`
installs Chromium and axe-core; without them these tests are skipped, saying so.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
AXE = Path(os.environ.get("AXE_CORE_JS", ROOT / ".cache/npm/node_modules/axe-core/axe.min.js"))
SCREENSHOTS = ROOT / "docs" / "screenshots"

pytestmark = pytest.mark.skipif(
    not (Path(CHROMIUM).exists() and AXE.exists()),
    reason="needs Debian's chromium and axe-core (.ci/run installs both)",
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    base = tmp_path_factory.mktemp("browser")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXCHANGE_")} | {
        "EXCHANGE_DATABASE_URL": f"sqlite:///{base}/demo.db",
        "EXCHANGE_KEYS_DIR": str(base / "keys"),
        "EXCHANGE_ISSUER": url,
    }
    bin_dir = Path(sys.executable).parent
    subprocess.run(
        [bin_dir / "exchange", "demo", "--dir", str(base / "demo")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    process = subprocess.Popen(
        [bin_dir / "exchange", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                time.sleep(0.2)
        passwords = json.loads((base / "demo" / "passwords.json").read_text())
        yield {"url": url, "passwords": passwords}
    finally:
        process.terminate()
        process.wait(timeout=20)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield chromium
        chromium.close()


def check_accessibility(page: Any, name: str) -> None:
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    serious = [
        f"{v['id']}: {v['help']} ({len(v['nodes'])} nodes)"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert serious == [], f"{name}: {serious}"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


@pytest.mark.parametrize(
    ("lang", "heading", "start_heading"),
    [
        ("fi", "Kirjaudu sisään", "Mitä sinulta odotetaan"),
        ("sv", "Logga in", "Vad som väntar på dig"),
    ],
)
def test_sign_in_and_start_page(server, browser, lang, heading, start_heading):
    context = browser.new_context(locale={"fi": "fi-FI", "sv": "sv-FI"}[lang])
    page = context.new_page()
    page.goto(server["url"] + "/ui/")
    assert page.locator("h1").inner_text() == heading
    check_accessibility(page, f"login-{lang}")
    page.get_by_label({"fi": "Käyttäjätunnus", "sv": "Användarnamn"}[lang]).fill(
        "tuomas.sosiaalityontekija"
    )
    page.get_by_label({"fi": "Salasana", "sv": "Lösenord"}[lang]).fill(
        server["passwords"]["tuomas.sosiaalityontekija"]
    )
    page.get_by_role("button", name=heading).click()
    page.wait_for_url("**/ui/")
    assert page.locator("h1").inner_text() == start_heading
    check_accessibility(page, f"start-{lang}")
    context.close()


def test_wrong_password_is_announced(server, browser):
    context = browser.new_context(locale="fi-FI")
    page = context.new_page()
    page.goto(server["url"] + "/ui/login")
    page.get_by_label("Käyttäjätunnus").fill("olli.ohjaaja")
    page.get_by_label("Salasana").fill("not the password")
    page.get_by_role("button", name="Kirjaudu sisään").click()
    alert = page.get_by_role("alert")
    assert "Väärä käyttäjätunnus tai salasana" in alert.inner_text()
    check_accessibility(page, "login-error-fi")
    context.close()
