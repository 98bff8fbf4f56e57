"""Nothing untranslated: every page of the web UI, rendered in Finnish and in Swedish for each
role, shows no raw vocabulary code, no organization id and no English sentence.

The pages are found as a person finds them: from each role's start page, following every link
of the UI (each kind of page a few times), so that a page added later is checked without
being named here. The scenario holds one of everything a page shows: consents pending and
approved (a signed paper one), a hand-over accepted with its first contact recorded, one
declined, one waiting, a period ending and one closed with an outcome, a client without a
worker, and denials in the audit log.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest

from consent import vocabulary
from consent.model import GRANTOR_TYPES, METHODS, STATUSES, local_date
from exchange.policy import ACTIONS
from schemas.sections import CONTACT_ROLES, SERVICES
from tests.conftest import sign_packet
from tests.webtools import give_passwords, sign_in, signed_in

JOSE = "application/jose"
# Synthetic identity codes (individual numbers 900-999).
TAKEN = "010190-900P"  # transferred, accepted, first contact made; a period ending soon
WAITING = "020285-901W"  # a transfer waiting for an answer
DECLINED = "150585-9122"  # a transfer declined
PENDING = "030377-902A"  # a paper consent waiting for approval
LEFT = "040466-903Y"  # led by a worker who left: unassigned
CLOSED = "311299-934B"  # a closed period with its outcome
ORGANIZATIONS = {
    "kisalli": ("Liedon kunta, Kisälli", "Lundo kommun, Kisälli"),
    "te-vs": ("Turun seudun työllisyyspalvelut", "Åbonejdens sysselsättningstjänster"),
    "valvonta": ("Palvelun valvontayksikkö", "Tjänstens tillsynsenhet"),
}
USERS = {
    "kisalli": [("kalle.valmentaja", ["staff"]), ("liisa.sosiaaliohjaaja", ["social_worker"])],
    "te-vs": [
        ("tuomas.sosiaalityontekija", ["social_worker"]),
        ("terhi.asiantuntija", ["staff"]),
        ("timo.lahtija", ["staff"]),
        ("aino.auditoija", ["auditor"]),
        ("pekka.paakayttaja", ["admin"]),
        ("riikka.raportoija", ["reporter"]),
    ],
    "valvonta": [("ville.valvoja", ["auditor"])],
}
READERS = (
    "tuomas.sosiaalityontekija",
    "terhi.asiantuntija",
    "aino.auditoija",
    "pekka.paakayttaja",
    "riikka.raportoija",
    "liisa.sosiaaliohjaaja",
    "kalle.valmentaja",
    "ville.valvoja",
)
# Links not to follow: files, signing out, and the actions behind buttons.
NOT_PAGES = re.compile(r"\.csv|/logout|/language|/login")
# The same kind of page (its path with ids and numbers left out) is read at most this often.
PER_KIND = 3

# Words that only an English sentence has: none is a Finnish or a Swedish word.
ENGLISH = re.compile(
    r"\b(the|and|you|your|is|are|was|were|not|this|that|with|for|of|cannot|has|have|been|"
    r"will|must|there|which|no such|to|from|yet|already|only|please)\b",
    re.IGNORECASE,
)


def raw_codes() -> set[str]:
    """Every value of the closed vocabularies a page could show, and the organization ids."""
    values: set[str] = set(ORGANIZATIONS)
    for name in dir(vocabulary):
        found = getattr(vocabulary, name)
        if name.isupper() and isinstance(found, tuple):
            values.update(value for value in found if isinstance(value, str))
    values.update(STATUSES, METHODS, GRANTOR_TYPES, SERVICES, CONTACT_ROLES, ACTIONS)
    return values


class VisibleText(HTMLParser):
    """The text a reader sees or hears: text nodes and the attributes read out."""

    SPOKEN = ("title", "aria-label", "placeholder", "alt")

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self.hidden = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self.hidden += 1
        for name, value in attrs:
            if name in self.SPOKEN and value:
                self.parts.append(value)
        if tag == "input" and ("type", "submit") in attrs:
            self.parts.extend(value for name, value in attrs if name == "value" and value)

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self.hidden -= 1

    def handle_data(self, data):
        if not self.hidden and data.strip():
            self.parts.append(data.strip())


def visible_text(page: str) -> list[str]:
    parser = VisibleText()
    parser.feed(page)
    return parser.parts


def leaks(page: str, codes: set[str]) -> list[str]:
    """What on ``page`` is a raw code or English."""
    found = []
    for text in visible_text(page):
        for token in re.findall(r"[A-Za-z][\w.-]*\w|[A-Za-z]", text):
            if token in codes:
                found.append(f"code {token!r} in {text!r}")
        if ENGLISH.search(text):
            found.append(f"English in {text!r}")
    return found


def today() -> dt.date:
    return local_date(dt.datetime.now(dt.UTC))


def day(offset: int) -> str:
    return (today() + dt.timedelta(days=offset)).isoformat()


@pytest.fixture
def people(make_org, session, rt):
    made = {
        org_id: make_org(
            org_id,
            kind={"kisalli": "provider", "te-vs": "employment_services"}.get(org_id, "supervisor"),
            scopes=["audit:read"] if org_id == "valvonta" else None,
            users=USERS[org_id],
            name=names[0],
            # name_sv=names[1],
        )
        for org_id, names in ORGANIZATIONS.items()
    }
    give_passwords(session, rt, [user for users in USERS.values() for user, _ in users])
    return made


def _ok(response, *statuses):
    assert response.status_code in (statuses or (200, 201)), response.get_json()
    return response.get_json()


def _consent(http, people, hetu, *, approve=True, method="electronic_strong_auth"):
    body = {
        "client": {"hetu": hetu},
        "decision": "permit",
        "sources": ["kisalli"],
        "recipients": ["te-vs"],
        "categories": ["assessment", "plan", "contact_persons"],
        "purposes": ["employment_services"],
        "valid_until": day(300),
        "method": method,
        "approver_organization": "te-vs",
    }
    if method == "signed_paper":
        body["evidence"] = {"reference": "Arkisto 2026/14"}
    kisalli, te = people["kisalli"].client, people["te-vs"].client
    consent_id = _ok(
        http.post("/v1/consents", json=body, headers=kisalli.headers("kalle.valmentaja"))
    )["id"]
    if approve:
        _ok(
            http.post(
                f"/v1/consents/{consent_id}/approve",
                headers=te.headers("tuomas.sosiaalityontekija"),
            )
        )
    return consent_id


def _transfer(http, people, hetu):
    _consent(http, people, hetu)
    body = {
        "client": {"hetu": hetu},
        "from": {"organization": "kisalli", "worker": "kalle.valmentaja"},
        "to": {"organization": "te-vs"},
        "kind": "transfer",
        "purpose": "employment_services",
        "respond_by": day(14),
        "sections": [
            {
                "type": "assessment",
                "instrument": "kykyviisari",
                "date": day(0),
                "scores": {"health": 6, "competence": 4},
                "summary": "Asiakas on motivoitunut ja käy pajalla säännöllisesti.",
            },
            {
                "type": "contact_persons",
                "persons": [
                    {"role": "coach", "name": "Kalle Valmentaja", "organization": "Kisälli"}
                ],
            },
        ],
    }
    return _ok(
        http.post(
            "/v1/packets",
            data=sign_packet(people["kisalli"].packet_key, body),
            headers={**people["kisalli"].client.headers(), "Content-Type": JOSE},
        )
    )["id"]


def _lookup(http, people, hetu, name):
    te = people["te-vs"].client
    return _ok(
        http.post(
            "/v1/clients/lookup",
            json={"hetu": hetu, "name": name},
            headers=te.headers("tuomas.sosiaalityontekija"),
        )
    )["id"]


def _period(http, people, client, start, end, org="te-vs", user="tuomas.sosiaalityontekija"):
    body = {
        "client": client,
        "service": "kuntouttava_tyotoiminta",
        "start": day(start),
        "planned_end": day(end),
        "days_per_week": 3,
        "hours_per_day": 5,
    }
    headers = people[org].client.headers(user)
    return _ok(http.post("/v1/service-periods", json=body, headers=headers))["id"]


@pytest.fixture
def scenario(http, people):
    te = people["te-vs"].client
    worker = te.headers("terhi.asiantuntija")
    taken = _lookup(http, people, TAKEN, "Aada Esimerkki")
    accepted = _transfer(http, people, TAKEN)
    _ok(http.post(f"/v1/packets/{accepted}/accept", headers=worker))
    _ok(
        http.post(
            f"/v1/packets/{accepted}/first-contact",
            json={"date": day(0), "mode": "meeting"},
            headers=worker,
        )
    )
    _period(http, people, {"id": taken}, -100, 10)
    _lookup(http, people, WAITING, "Eero Testinen")
    _transfer(http, people, WAITING)
    _lookup(http, people, DECLINED, "Helmi Mallinen")
    declined = _transfer(http, people, DECLINED)
    _ok(
        http.post(
            f"/v1/packets/{declined}/decline",
            json={"reason": "Asiakas muutti toiselle paikkakunnalle."},
            headers=worker,
        )
    )
    _lookup(http, people, PENDING, "Onni Kokeilija")
    _consent(http, people, PENDING, approve=False, method="signed_paper")
    _lookup(http, people, CLOSED, "Sanni Näytteinen")
    provider = ("kisalli", "kalle.valmentaja")
    period = _period(http, people, {"hetu": CLOSED}, -200, -20, *provider)
    _ok(
        http.post(
            f"/v1/service-periods/{period}/close",
            json={"outcome": "studies", "ended_on": day(-20)},
            headers=people["kisalli"].client.headers("kalle.valmentaja"),
        )
    )
    left = _lookup(http, people, LEFT, "Ilona Harjoitus")
    _ok(
        http.post(
            f"/v1/clients/{left}/lead",
            json={"worker": "timo.lahtija"},
            headers=te.headers("tuomas.sosiaalityontekija"),
        )
    )
    _ok(
        http.post(
            "/v1/workers/timo.lahtija/deactivate",
            json={"successor": None},
            headers=te.headers("tuomas.sosiaalityontekija"),
        )
    )
    # Denials for the auditors: another organization's packet and a consent it cannot read.
    _ok(http.get(f"/v1/packets/{accepted}", headers=people["valvonta"].client.headers()), 403, 404)
    return {"taken": taken}


def kind_of(url: str) -> str:
    """The page a URL opens, whatever its ids: ``/ui/packets/<id>``."""
    path = urlsplit(url).path
    return re.sub(r"[0-9a-f]{8}-[0-9a-f-]{27}|\d+", "<id>", path)


def crawl(app, username: str, language: str):
    """Every page ``username`` reaches from the start page, in ``language``: (url, page)."""
    client = app.test_client()
    assert sign_in(client, username).status_code == 302
    headers = {"Accept-Language": language}
    seen: set[str] = set()
    kinds: Counter[str] = Counter()
    queue = ["/ui/"]
    while queue:
        url = queue.pop(0)
        if url in seen or kinds[kind_of(url)] >= PER_KIND:
            continue
        seen.add(url)
        kinds[kind_of(url)] += 1
        response = client.get(url, headers=headers)
        assert response.status_code == 200, (username, url, response.status_code)
        page = response.get_data(as_text=True)
        yield url, page
        for link in re.findall(r'href="(/ui/[^"#]*)"', page):
            link = link.replace("&amp;", "&")
            if not NOT_PAGES.search(link):
                queue.append(link)


@pytest.mark.parametrize("language", ["fi", "sv"])
def test_every_page_speaks_the_language_of_the_reader(app, scenario, language):
    codes = raw_codes()
    problems = []
    visited = 0
    for username in READERS:
        for url, page in crawl(app, username, language):
            visited += 1
            # A printout is in its document's language (a receipt in the consent's); a page is
            # in the reader's.
            printout = url.endswith(("/receipt", "/access-report"))
            assert f'<html lang="{language}"' in page or printout, url
            problems += [f"{username} {url}: {leak}" for leak in leaks(page, codes)]
    assert visited > 40, "the crawl reached the pages"
    assert not problems, "\n".join(sorted(set(problems)))


def test_the_checker_finds_codes_and_english():
    codes = raw_codes()
    assert leaks("<p>Tila: pending</p>", codes) == ["code 'pending' in 'Tila: pending'"]
    assert leaks("<td>kuntouttava_tyotoiminta</td>", codes)
    assert leaks("<td>te-vs</td>", codes)
    assert leaks('<button aria-label="Show the code">Näytä</button>', codes)
    assert leaks("<p>A worker cannot succeed themselves.</p>", codes)
    assert leaks("<p>Odottaa hyväksyntää</p><script>var pending = 1</script>", codes) == []
    assert leaks('<a data-status="pending" href="/ui/x">Odottaa</a>', codes) == []


@pytest.mark.parametrize("language", ["fi", "sv", "en"])
def test_times_are_written_one_way_in_every_language(app, scenario, language):
    """The audit log's times with seconds, as Finland writes them in all three languages:
    1.12.2026 16.25.48, never a month's name (``1 dec. 2026``) or a slash."""
    client = signed_in(app, "aino.auditoija", language)
    page = client.get("/ui/audit").get_data(as_text=True)
    cells = re.findall(r"<td>([^<]*\d{4}[^<]*)</td>", page)
    assert cells, "the log lists events"
    for cell in cells:
        assert re.fullmatch(r"\d{1,2}\.\d{1,2}\.\d{4} \d{1,2}\.\d{2}\.\d{2}", cell.strip()), cell
