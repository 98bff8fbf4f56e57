"""The client's printouts, the consent receipt and the access report, as the client reads them:
named, grouped, in Finnish time, in plain words, without technical ids."""

from __future__ import annotations

import datetime as dt
import re
from html.parser import HTMLParser

import pytest

from consent.vocabulary import CATEGORIES, PURPOSES
from exchange.registry.models import Organization
from tests.conftest import grant_consent, sign_packet
from tests.webtools import give_passwords, sign_in

HETU = "010190-900P"
MASKED = "010190-9***"
NAME = "Maija Meikäläinen"
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)
RAW_CODES = (
    "packet.send",
    "packet.read",
    "packet.accept",
    "consent.read",
    "electronic_strong_auth",
    "kisalli",
    "te-vs",
)
PHRASES = {
    "fi": {
        "read": "luki siirtotiedot",
        "received": "sai siirtotiedot",
        "looked": "katsoi suostumuksen tiedot",
        "times": "3 kertaa",
        "code": "henkilötunnus",
        "day5": "torstai 5. maaliskuuta 2026",
        "day6": "perjantai 6. maaliskuuta 2026",
        "day7": "lauantai 7. maaliskuuta 2026",
    },
    "sv": {
        "read": "läste överföringsuppgifterna",
        "received": "fick överföringsuppgifterna",
        "looked": "tittade på samtyckets uppgifter",
        "times": "3 gånger",
        "code": "personbeteckning",
        "day5": "torsdag 5 mars 2026",
        "day6": "fredag 6 mars 2026",
        "day7": "lördag 7 mars 2026",
    },
}


class Printout(HTMLParser):
    """Headings, table captions and rows in page order, as text."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.items: list[tuple[str, object]] = []
        self._tag: str | None = None
        self._text: list[str] = []
        self._cells: list[str] | None = None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        if tag in ("h2", "caption", "td", "th"):
            self._tag, self._text = tag, []
        if tag == "tr":
            self._cells = []

    def handle_data(self, data):
        if self._tag:
            self._text.append(data)

    def handle_endtag(self, tag):
        if tag == self._tag:
            text = " ".join("".join(self._text).split())
            if tag in ("td", "th") and self._cells is not None:
                self._cells.append(text)
            else:
                self.items.append((tag, text))
            self._tag = None
        if tag == "tr" and self._cells is not None:
            if self._cells and self._tag is None:
                self.items.append(("tr", tuple(self._cells)))
            self._cells = None

    def grouped(self) -> list[tuple[str, list[tuple[str, list[tuple[str, ...]]]]]]:
        """``[(organization, [(day, [row cells, ...]), ...]), ...]`` (header rows left out)."""
        groups: list[tuple[str, list[tuple[str, list[tuple[str, ...]]]]]] = []
        for kind, value in self.items:
            if kind == "h2":
                groups.append((str(value), []))
            elif kind == "caption":
                groups[-1][1].append((str(value), []))
            elif kind == "tr" and groups and groups[-1][1] and isinstance(value, tuple):
                groups[-1][1][-1][1].append(value)
        for _org, days in groups:
            for _day, rows in days:
                del rows[0]  # the column headings
        return groups


def utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


@pytest.fixture
def world(make_org, http, session, rt):
    provider = make_org(
        "kisalli",
        kind="provider",
        users=[("kalle.valmentaja", ["staff"]), ("liisa.sw", ["social_worker"])],
    )
    te = make_org(
        "te-vs",
        kind="employment_services",
        users=[("terhi.asiantuntija", ["staff"]), ("tuomas.sw", ["social_worker"])],
    )
    give_passwords(session, rt, ("liisa.sw", "tuomas.sw"))
    return {
        "provider": provider,
        "te": te,
        "provider_name": session.get(Organization, "kisalli").name,
        "te_name": session.get(Organization, "te-vs").name,
    }


def name_client(http, world, name=NAME):
    response = http.post(
        "/v1/clients/lookup",
        json={"hetu": HETU, "name": name},
        headers=world["provider"].client.headers("liisa.sw"),
    )
    assert response.status_code in (200, 201), response.get_json()


def consent(http, world, language):
    return grant_consent(
        http,
        world["provider"],
        "kalle.valmentaja",
        world["te"],
        "tuomas.sw",
        hetu=HETU,
        categories=("assessment", "contact_persons"),
        language=language,
    )


def page(http, app, door, url, username, headers):
    """The printout through the API (``?format=html``) or the web UI (signed in)."""
    if door == "api":
        sep = "&" if "?" in url else "?"
        response = http.get(f"/v1{url}{sep}format=html", headers=headers)
    else:
        browser = app.test_client()
        assert sign_in(browser, username).status_code == 302
        response = browser.get(f"/ui{url}")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    return response.get_data(as_text=True)


def assert_nothing_technical(html):
    assert HETU not in html
    assert UUID.search(html) is None, UUID.search(html)
    assert "UTC" not in html
    for code in (*RAW_CODES, *CATEGORIES, *PURPOSES):
        assert re.search(rf"(?<![\w.-]){re.escape(code)}(?![\w-])", html) is None, code


# --- the receipt ---------------------------------------------------------------------------------


@pytest.mark.parametrize("door", ["api", "ui"])
@pytest.mark.parametrize("language", ["fi", "sv"])
def test_receipt_names_the_client_without_technical_ids(app, http, world, language, door):
    name_client(http, world)
    given = consent(http, world, language)
    html = page(
        http,
        app,
        door,
        f"/consents/{given['id']}/receipt",
        "tuomas.sw",
        world["te"].client.headers("tuomas.sw"),
    )
    assert f'<html lang="{language}">' in html
    assert f"{NAME}, {PHRASES[language]['code']} {MASKED}" in html
    assert given["id"] not in html
    assert given["client_id"] not in html
    assert_nothing_technical(html)
    # What the client can refer to instead: the day it was given and the organizations.
    assert world["provider_name"] in html
    assert world["te_name"] in html


def test_receipt_of_a_client_without_a_name_shows_the_masked_code(http, world):
    given = consent(http, world, "fi")
    html = http.get(
        f"/v1/consents/{given['id']}/receipt?format=html",
        headers=world["provider"].client.headers(),
    ).get_data(as_text=True)
    assert f"Asiakas</th><td>henkilötunnus {MASKED}</td>" in html
    assert HETU not in html


def test_signed_receipt_document_keeps_its_ids(http, world):
    given = consent(http, world, "fi")
    body = http.get(
        f"/v1/consents/{given['id']}/receipt", headers=world["provider"].client.headers()
    ).get_json()
    assert body["receipt"]["consentId"] == given["id"]
    assert body["receipt"]["piiPrincipalId"] == given["client_id"]


# --- the access report ---------------------------------------------------------------------------


@pytest.fixture
def history(http, world, monkeypatch):
    """A packet sent and read, and a receipt looked at, at known UTC times (winter: UTC+2)."""
    name_client(http, world)
    given = consent(http, world, "fi")
    clock = {"now": utc("2026-03-05T10:00:00")}
    monkeypatch.setattr("exchange.audit.service.utcnow", lambda: clock["now"])
    payload = {
        "client": {"hetu": HETU},
        "from": {"organization": "kisalli", "worker": "kalle.valmentaja"},
        "to": {"organization": "te-vs", "worker": "terhi.asiantuntija"},
        "kind": "information",
        "purpose": "employment_services",
        "sections": [
            {"type": "contact_persons", "persons": [{"name": "Kalle Valmentaja", "role": "coach"}]}
        ],
    }
    provider, te = world["provider"], world["te"]
    sent = http.post(
        "/v1/packets",
        data=sign_packet(provider.packet_key, payload),
        headers={**provider.client.headers(), "Content-Type": "application/jose"},
    )
    assert sent.status_code == 201, sent.get_json()
    # 22.00 on the 5th in Helsinki; then 0.30, 0.40 and 10.00 on the 6th (22.30 UTC is
    # already the next day there).
    for moment in ("2026-03-05T20:00:00", "2026-03-05T22:30:00", "2026-03-05T22:40:00"):
        clock["now"] = utc(moment)
        read = http.get(f"/v1/packets/{sent.get_json()['id']}", headers=te.client.headers())
        assert read.status_code == 200
    clock["now"] = utc("2026-03-06T08:00:00")
    http.get(f"/v1/packets/{sent.get_json()['id']}", headers=te.client.headers())
    clock["now"] = utc("2026-03-07T12:15:00")
    http.get(f"/v1/consents/{given['id']}/receipt", headers=provider.client.headers())
    monkeypatch.undo()
    return {"client_id": given["client_id"], "packet_id": sent.get_json()["id"]}


@pytest.mark.parametrize("door", ["api", "ui"])
@pytest.mark.parametrize("language", ["fi", "sv"])
def test_access_report_grouped_by_organization_and_day_in_finnish_time(
    app, http, world, history, language, door
):
    words = PHRASES[language]
    html = page(
        http,
        app,
        door,
        f"/clients/{history['client_id']}/access-report?lang={language}",
        "liisa.sw",
        world["provider"].client.headers("liisa.sw"),
    )
    assert f'<html lang="{language}">' in html
    assert f"{NAME}, {words['code']} {MASKED}" in html
    assert history["packet_id"] not in html
    assert history["client_id"] not in html
    assert_nothing_technical(html)
    groups = Printout(html).grouped()
    assert [org for org, _days in groups] == [world["te_name"], world["provider_name"]]
    te_days = dict(groups[0][1])
    assert list(te_days) == [words["day5"], words["day6"]]
    # 10.00 and 20.00 UTC on the 5th are 12.00 and 22.00 in Helsinki.
    assert [row[:2] for row in te_days[words["day5"]]] == [
        ("12.00", words["received"]),
        ("22.00", words["read"]),
    ]
    # Three reads on the 6th in Helsinki time are one row with their count.
    assert [row[:2] for row in te_days[words["day6"]]] == [
        (f"0.30–10.00 ({words['times']})", words["read"])
    ]
    provider_days = dict(groups[1][1])
    assert list(provider_days) == [words["day7"]]
    assert [row[:2] for row in provider_days[words["day7"]]] == [("14.15", words["looked"])]


def test_access_report_rows_that_differ_are_not_collapsed(http, world, history):
    html = http.get(
        f"/v1/clients/{history['client_id']}/access-report?format=html&lang=fi",
        headers=world["provider"].client.headers("liisa.sw"),
    ).get_data(as_text=True)
    rows = [row for _day, rows in Printout(html).grouped()[0][1] for row in rows]
    assert len(rows) == 3
    assert sum("kertaa" in row[0] for row in rows) == 1
