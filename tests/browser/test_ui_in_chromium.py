"""The web UI in a real browser: Debian's Chromium, headless, driven by Playwright.

The server is the demo (`exchange demo` + `exchange serve`) on a free loopback
port. Every page visited is checked with axe-core (no serious or critical
violations); the story's, the start pages' and the client page's are saved as
screenshots in `.cache/screenshots/` (ignored by git), or
in the folder `EXCHANGE_SCREENSHOTS` names: `make screenshots` then copies the fresh
ones over the committed ones in docs/screenshots/. `.ci/run` installs Chromium and
axe-core; without them these tests are skipped, saying so.
"""

from __future__ import annotations

import json
import os
import re
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

from tests.test_web_language import NOT_PAGES, kind_of

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
AXE = Path(os.environ.get("AXE_CORE_JS", ROOT / ".cache/npm/node_modules/axe-core/axe.min.js"))
# Test runs leave the committed screenshots alone (`make screenshots` copies them over).
SCREENSHOTS = Path(os.environ.get("EXCHANGE_SCREENSHOTS", ROOT / ".cache" / "screenshots"))

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
        "EXCHANGE_CHECKPOINT_INTERVAL": "1",
        "EXCHANGE_ARGON2_PROFILE": "cheapest",  # the demo's users, hashed in a blink
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
    log = (base / "serve.log").open("w")  # read it when a test here fails
    process = subprocess.Popen(
        [bin_dir / "exchange", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log,
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
        yield {"url": url, "passwords": passwords, "demo": base / "demo"}
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()


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


def check_accessibility(page: Any, name: str, screenshot: bool = True) -> None:
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    serious = [
        f"{v['id']}: {v['help']} ({len(v['nodes'])} nodes)"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert serious == [], f"{name}: {serious}"
    if screenshot:
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


# Each role's start page, and the client page reached through the client search: the demo's
# Aino Mallinen has a service period with lieto-kisalli ending soon with no next step.
ROLES = {
    "social-worker": ("liisa.sosiaaliohjaaja", "periods_ending"),
    "staff": ("kalle.valmentaja", "my_clients"),
    "auditor": ("aino.auditoija", "denials"),
}


@pytest.mark.parametrize(("lang", "locale"), [("fi", "fi-FI"), ("sv", "sv-FI")])
def test_each_roles_start_page_and_the_client_page(server, browser, lang, locale):
    for role, (username, section) in ROLES.items():
        page = _signed_in(browser, server, username, locale)
        assert page.locator(f"[data-count={section}]").count() == 1
        check_accessibility(page, f"start-{role}-{lang}")
        if role == "social-worker":
            assert int(page.locator("[data-count=periods_ending]").inner_text()) >= 1
            page.goto(server["url"] + "/ui/clients")
            page.fill("input[name=name]", "Aino Mallinen")
            page.locator("main form button[type=submit]").click()
            page.locator("[data-results] a").first.click()
            page.wait_for_url("**/ui/clients/*")
            assert page.locator("[data-client-name]").inner_text() == "Aino Mallinen"
            assert "-9**" in page.content()  # the identity code only masked
            check_accessibility(page, f"client-page-{lang}")
        page.context.close()


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


def _token(server: dict[str, Any], client_id: str) -> str:
    import uuid

    from joserfc import jwt
    from joserfc.jwk import import_key

    key = import_key(json.loads((server["demo"] / "keys" / f"{client_id}.jwk.json").read_text()))
    now = int(time.time())
    assertion = jwt.encode(
        {"alg": "ES256", "kid": key.kid},
        {
            "iss": client_id,
            "sub": client_id,
            "aud": server["url"] + "/oauth/token",
            "iat": now,
            "exp": now + 60,
            "jti": uuid.uuid4().hex,
        },
        key,
    )
    response = requests.post(
        server["url"] + "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_assertion": assertion,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        },
        timeout=10,
    )
    response.raise_for_status()
    return str(response.json()["access_token"])


def _send_transfer(server: dict[str, Any], hetu: str) -> str:
    """The provider's own system sends the transfer over the API, signed with its packet key."""
    import datetime as dt

    from joserfc import jws
    from joserfc.jwk import import_key

    key = import_key(
        json.loads((server["demo"] / "keys" / "lieto-kisalli.packets.jwk.json").read_text())
    )
    today = dt.date.today()
    payload = {
        "client": {"hetu": hetu},
        "from": {"organization": "lieto-kisalli", "worker": "kalle.valmentaja"},
        "to": {"organization": "te-vs"},
        "kind": "transfer",
        "purpose": "employment_services",
        "respond_by": (today + dt.timedelta(days=10)).isoformat(),
        "sections": [
            {
                "type": "assessment",
                "instrument": "kykyviisari",
                "date": today.isoformat(),
                "scores": {"health": 6, "competence": 7},
                "summary": "Motivoitunut, tarvitsee tukea aamuihin.",
            },
            {
                "type": "plan",
                "kind": "employment_plan",
                "goals": [
                    {"text": "Työkokeilu keittiössä", "target_date": "2027-03-01"},
                ],
                "next_step": "work trial",
                "actions": [
                    {
                        "id": "a1",
                        "text": "Sovi ensitapaaminen asiakkaan kanssa",
                        "owner": "receiver",
                        "due": (today + dt.timedelta(days=7)).isoformat(),
                    },
                    {
                        "id": "a2",
                        "text": "Lähetä työkokeilusopimus työnantajalle",
                        "owner": "sender",
                        "due": (today + dt.timedelta(days=5)).isoformat(),
                    },
                ],
            },
            {
                "type": "contact_persons",
                "persons": [
                    {"name": "Kalle Valmentaja", "role": "coach", "phone": "+358 40 123 4567"}
                ],
            },
        ],
        "first_contact_by": (today + dt.timedelta(days=20)).isoformat(),
    }
    token = jws.serialize_compact(
        {"alg": "Ed25519", "kid": key.kid, "typ": "handover+jws"},
        json.dumps(payload).encode(),
        key,
        algorithms=["Ed25519"],
    )
    response = requests.post(
        server["url"] + "/v1/packets",
        data=token,
        headers={
            "Authorization": f"Bearer {_token(server, 'lieto-kisalli-system')}",
            "Content-Type": "application/jose",
        },
        timeout=10,
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _signed_in(browser: Any, server: dict[str, Any], username: str, locale: str = "fi-FI") -> Any:
    context = browser.new_context(locale=locale)
    page = context.new_page()
    page.goto(server["url"] + "/ui/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", server["passwords"][username])
    page.locator("form[action$='/ui/login'] button[type=submit]").click()
    page.wait_for_url("**/ui/")
    return page


STORY = {
    # language: (the client, the browser locale, the approve button, the accept button)
    "fi": ("010190-900P", "fi-FI", "Hyväksy", "Hyväksy"),
    "sv": ("020290-9016", "sv-FI", "Godkänn", "Godkänn"),
}
RELEASE_2 = {
    # language: (the approval queue, the escort heading, the record-first-contact button,
    # the read-back heading)
    "fi": (
        "Hyväksyntää odottavat suostumukset",
        "Saattaen vaihto",
        "Kirjaa ensitapaaminen",
        "Vastaanottajan kuittaus",
    ),
    "sv": (
        "Samtycken som väntar på godkännande",
        "Överföring med följe",
        "Registrera den första kontakten",
        "Mottagarens kvittering",
    ),
}

# language: (the employment services, the coach's organization), as the demo registry names them
ORGANIZATION_NAMES = {
    "fi": ("Turun seudun työllisyyspalvelut", "Liedon kunta, Kisälli (työtoimintakeskus)"),
    "sv": ("Åbonejdens sysselsättningstjänster", "Lundo kommun, Kisälli (arbetsverksamhetscenter)"),
}


@pytest.mark.parametrize("lang", ["fi", "sv"])
def test_the_whole_story(server, browser, lang):
    """A coach records a consent naming the employment services to approve it, their social
    worker approves it from the approval queue, the provider sends a transfer with a plan of
    two actions, the employment services expert reads the plan back and accepts it, the coach
    stays on as the escort until the expert records the first contact, the coach sees the
    read-back and the first contact, and an auditor sees it in the log, exports it as CSV and
    opens an event's inclusion proof: all in Finnish, then all in Swedish."""
    import datetime as dt

    hetu, locale, approve, accept = STORY[lang]
    queue, escort_heading, record_contact, read_back_heading = RELEASE_2[lang]
    coach = _signed_in(browser, server, "kalle.valmentaja", locale)
    coach.goto(server["url"] + "/ui/consents/new")
    coach.fill("input[name=hetu]", hetu)
    coach.check("input[name=decision][value=permit]")
    coach.check("input[name=sources][value=lieto-kisalli]")
    coach.check("input[name=recipients][value=te-vs]")
    for category in ("assessment", "plan", "contact_persons"):
        coach.check(f"input[name=categories][value={category}]")
    coach.check("input[name=purposes][value=employment_services]")
    coach.fill("input[name=valid_until]", (dt.date.today() + dt.timedelta(days=180)).isoformat())
    coach.check("input[name=method][value=electronic_strong_auth]")
    coach.select_option("select[name=approver_organization]", "te-vs")  # they approve it
    coach.locator("button[name=preview]").click()
    # The consent's text is in the page's language, and so are the organizations' names.
    assert ORGANIZATION_NAMES[lang][0] in coach.locator("#preview-title + p + div").inner_text()
    check_accessibility(coach, f"story-1-consent-preview-{lang}")
    coach.locator("button[name=record]").click()
    coach.wait_for_url("**/ui/consents/*")
    assert hetu not in coach.content()
    coach.context.close()

    worker = _signed_in(browser, server, "tuomas.sosiaalityontekija", locale)
    # The start page counts the approval queue and links to it.
    assert int(worker.locator("[data-count=approvals]").inner_text()) >= 1
    check_accessibility(worker, f"story-2-start-social-worker-{lang}")
    worker.locator("[data-list=approvals] a").click()
    assert worker.get_by_role("heading", name=queue).count() == 1
    worker.locator("main table a[href*='/ui/consents/']").first.click()
    worker.get_by_role("button", name=approve).click()
    worker.wait_for_url("**/ui/consents/*")
    check_accessibility(worker, f"story-3-consent-approved-{lang}")
    worker.context.close()

    packet_id = _send_transfer(server, hetu)

    expert = _signed_in(browser, server, "terhi.asiantuntija", locale)
    expert.goto(server["url"] + "/ui/packets?box=inbox")  # staff find hand-overs in the inbox
    expert.locator(f"a[href$='/ui/packets/{packet_id}']").click()
    assert "tel:+358401234567" in expert.content().replace(" ", "")
    today = dt.date.today()
    assert f"{today.day}.{today.month}.{today.year}" in expert.content()  # Finnish date format
    check_accessibility(expert, f"story-4-packet-{lang}")
    # The read-back: one action left unticked is refused, and nothing moves.
    expert.check("#action-a1")
    expert.evaluate("document.querySelector('#action-a2').removeAttribute('required')")
    expert.get_by_role("button", name=accept).click()
    assert expert.locator("[role=alert], .notice.error").count() >= 1
    assert expert.get_by_role("heading", name=escort_heading).count() == 0
    check_accessibility(expert, f"story-5-read-back-refused-{lang}")
    expert.check("#action-a1")
    expert.check("#action-a2")
    expert.fill("#synthesis", "Työkokeilu tammikuusta; soitan asiakkaalle tällä viikolla.")
    expert.get_by_role("button", name=accept).click()
    expert.wait_for_url(f"**/ui/packets/{packet_id}*")
    # Accepted: the coach escorts until the expert records the first contact.
    assert expert.get_by_role("heading", name=escort_heading).count() == 1
    assert f"{ORGANIZATION_NAMES[lang][1]} (kalle.valmentaja)" in expert.content()
    check_accessibility(expert, f"story-6-packet-accepted-escorted-{lang}")
    expert.select_option("#first-contact-mode", "meeting")
    expert.get_by_role("button", name=record_contact).click()
    expert.wait_for_url(f"**/ui/packets/{packet_id}*")
    assert expert.locator("[data-first-contact=meeting]").count() == 1
    assert expert.get_by_role("button", name=record_contact).count() == 0
    check_accessibility(expert, f"story-7-first-contact-{lang}")
    expert.context.close()

    coach = _signed_in(browser, server, "kalle.valmentaja", locale)
    coach.goto(server["url"] + f"/ui/packets/{packet_id}")
    assert coach.get_by_role("heading", name=read_back_heading).count() == 1
    assert "soitan asiakkaalle" in coach.locator("[data-synthesis]").inner_text()
    assert coach.locator("[data-first-contact=meeting]").count() == 1
    check_accessibility(coach, f"story-8-sender-sees-read-back-{lang}")
    coach.context.close()

    auditor = _signed_in(browser, server, "anni.auditoija", locale)
    auditor.goto(server["url"] + "/ui/audit?action=packet.accept")
    assert "packet.accept" in auditor.content()
    assert "terhi.asiantuntija" in auditor.content()
    check_accessibility(auditor, f"story-9-audit-{lang}")
    with auditor.expect_download() as download:
        auditor.locator("a[href*='/ui/audit/export']").click()
    exported = Path(download.value.path()).read_bytes()
    assert exported.startswith(b"\xef\xbb\xbf")  # UTF-8 with a byte order mark, for Excel
    header, *rows = exported.decode("utf-8-sig").splitlines()
    assert header.startswith({"fi": "Nro;Aika (UTC);", "sv": "Nr;Tid (UTC);"}[lang])
    assert any(packet_id in row and "terhi.asiantuntija" in row for row in rows)
    # The sealer checkpoints every second here; the event is soon in a signed checkpoint.
    proof = auditor.locator("a[href*='/proof']").first
    deadline = time.monotonic() + 30
    while not proof.count() and time.monotonic() < deadline:
        time.sleep(1)
        auditor.reload()
    proof.click()
    auditor.wait_for_url("**/ui/audit/events/*/proof*")
    check_accessibility(auditor, f"story-10-inclusion-proof-{lang}")
    auditor.context.close()


@pytest.mark.parametrize(
    ("lang", "locale", "heading"),
    [("fi", "fi-FI", "Palvelujaksojen tulokset"), ("sv", "sv-FI", "Serviceperiodernas resultat")],
)
def test_the_outcome_report(server, browser, lang, locale, heading):
    """The demo's synthetic year of kuty outcomes, for every provider, as the reporter sees it."""
    reporter = _signed_in(browser, server, "riikka.raportoija", locale)
    reporter.goto(server["url"] + "/ui/reports/outcomes?group_by=none")
    assert reporter.locator("h1").inner_text() == heading
    table = reporter.locator("main table").first.inner_text()
    assert "<5" in table
    check_accessibility(reporter, f"outcomes-{lang}")
    reporter.context.close()


def _tab_to(page: Any, selector: str, limit: int = 120) -> None:
    """Press Tab until ``selector`` has the focus, as a keyboard user moves through a page;
    every stop on the way and the target must show a focus ring."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        focused = page.evaluate(
            """(selector) => {
                const element = document.activeElement;
                const style = getComputedStyle(element);
                return {
                    matches: element.matches(selector),
                    ring: style.outlineStyle !== "none" && parseFloat(style.outlineWidth) >= 2,
                    tag: element.outerHTML.slice(0, 80),
                };
            }""",
            selector,
        )
        assert focused["ring"], f"no visible focus on {focused['tag']}"
        if focused["matches"]:
            return
    raise AssertionError(f"the keyboard never reached {selector}")


def _keyboard_sign_in(browser: Any, server: dict[str, Any], username: str) -> Any:
    page = browser.new_context(locale="fi-FI").new_page()
    page.goto(server["url"] + "/ui/login")
    _tab_to(page, "input[name=username]")
    page.keyboard.type(username)
    _tab_to(page, "input[name=password]")
    page.keyboard.type(server["passwords"][username])
    page.keyboard.press("Enter")
    page.wait_for_url("**/ui/")
    return page


def test_the_consent_journey_by_keyboard_only(server, browser):
    """Recording a consent with its preview, and approving it from the approval queue, with
    the keyboard alone: every control is reached with Tab, operated with Space, the arrow keys
    and Enter, and shows where the focus is."""
    import datetime as dt

    until = dt.date.today() + dt.timedelta(days=150)
    coach = _keyboard_sign_in(browser, server, "kalle.valmentaja")
    _tab_to(coach, "a[href$='/ui/consents/new']")
    coach.keyboard.press("Enter")
    coach.wait_for_url("**/ui/consents/new")
    _tab_to(coach, "input[name=hetu]")
    coach.keyboard.type("150585-9122")  # the demo's synthetic Eero Testinen
    for choice in (
        "input[name=decision][value=permit]",
        "input[name=sources][value=lieto-kisalli]",
        "input[name=recipients][value=te-vs]",
        "input[name=categories][value=assessment]",
        "input[name=purposes][value=employment_services]",
    ):
        _tab_to(coach, choice)
        coach.keyboard.press("Space")
    _tab_to(coach, "input[name=valid_until]")
    coach.keyboard.type(f"{until.day}.{until.month}.{until.year}")
    _tab_to(coach, "input[name=method][value=electronic_strong_auth]")
    coach.keyboard.press("Space")
    _tab_to(coach, "select[name=approver_organization]")
    for _ in range(10):
        if coach.evaluate("() => document.activeElement.value") == "te-vs":
            break
        coach.keyboard.press("ArrowDown")
    _tab_to(coach, "button[name=preview]")
    coach.keyboard.press("Enter")
    coach.wait_for_selector("#preview-title")
    check_accessibility(coach, "keyboard-1-preview-fi")
    _tab_to(coach, "button[name=record]", limit=200)
    coach.keyboard.press("Enter")
    coach.wait_for_url("**/ui/consents/*-*")
    assert coach.locator("[data-status=pending]").count() == 1
    coach.context.close()

    worker = _keyboard_sign_in(browser, server, "tuomas.sosiaalityontekija")
    _tab_to(worker, "[data-list=approvals] a")
    worker.keyboard.press("Enter")
    worker.wait_for_url("**/ui/lists/approvals")
    _tab_to(worker, "main table a[href*='/ui/consents/']")
    worker.keyboard.press("Enter")
    worker.wait_for_url("**/ui/consents/*-*")
    _tab_to(worker, "form[action$='/approve'] button", limit=200)
    worker.keyboard.press("Enter")
    worker.wait_for_selector("[data-status=active]")
    check_accessibility(worker, "keyboard-2-approved-fi")
    worker.context.close()


# Who reads which pages: between them, every kind of page of the UI.
READERS = (
    "liisa.sosiaaliohjaaja",
    "tuomas.sosiaalityontekija",
    "kalle.valmentaja",
    "pekka.paakayttaja",
    "riikka.raportoija",
    "aino.auditoija",
    "ville.valvoja",
)


def _approved_consent(server: dict[str, Any], hetu: str) -> None:
    """Over the API: the provider records a consent for te-vs, te-vs's social worker
    approves it."""
    import datetime as dt

    def headers(client_id: str, user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {_token(server, client_id)}", "X-Acting-User": user}

    body = {
        "client": {"hetu": hetu},
        "decision": "permit",
        "sources": ["lieto-kisalli"],
        "recipients": ["te-vs"],
        "categories": ["assessment", "plan", "contact_persons"],
        "purposes": ["employment_services"],
        "valid_until": (dt.date.today() + dt.timedelta(days=200)).isoformat(),
        "method": "signed_paper",
        "evidence": {"reference": "Arkisto 2026/7"},
        "approver_organization": "te-vs",
    }
    recorded = requests.post(
        server["url"] + "/v1/consents",
        json=body,
        headers=headers("lieto-kisalli-system", "kalle.valmentaja"),
        timeout=10,
    )
    assert recorded.status_code == 201, recorded.text
    approved = requests.post(
        server["url"] + f"/v1/consents/{recorded.json()['id']}/approve",
        headers=headers("te-vs-system", "tuomas.sosiaalityontekija"),
        timeout=10,
    )
    assert approved.status_code == 200, approved.text


@pytest.mark.parametrize(("lang", "locale"), [("fi", "fi-FI"), ("sv", "sv-FI")])
def test_axe_finds_nothing_serious_on_any_page(server, browser, lang, locale):
    """Every kind of page the readers reach by following the UI's links from their start
    pages, checked once each, in Finnish and in Swedish: with a consent and a hand-over of
    a demo client, so that their pages are reached too."""

    hetu = {"fi": "311299-934B", "sv": "220877-9782"}[lang]
    _approved_consent(server, hetu)
    _send_transfer(server, hetu)

    checked: set[str] = set()
    for username in READERS:
        page = _signed_in(browser, server, username, locale)
        queue = [server["url"] + "/ui/"]
        # Each reader opens each kind of page once, to find its links; axe checks each kind
        # once in all (its runs are what takes the time).
        opened: set[str] = set()
        while queue:
            url = queue.pop(0)
            if kind_of(url) in opened:
                continue
            opened.add(kind_of(url))
            response = page.goto(url)
            assert response is not None
            assert response.status == 200, url
            if kind_of(url) not in checked:
                checked.add(kind_of(url))
                name = re.sub(r"\W+", "-", kind_of(url)).strip("-")
                check_accessibility(page, f"page-{name}-{lang}", screenshot=False)
            links = page.eval_on_selector_all(
                "a[href^='/ui/']", "els => els.map(e => e.getAttribute('href'))"
            )
            queue += [server["url"] + link for link in links if not NOT_PAGES.search(link)]
        page.context.close()
    assert len(checked) >= 15, sorted(checked)
