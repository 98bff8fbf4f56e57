"""Organizations by name in the reader's language: the registry's Swedish and English names,
the Finnish one where there is none."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from html.parser import HTMLParser

import pytest
from flask import g

from adapters.db import utcnow
from consent.identifiers import hetu_check_char
from consent.model import local_date
from exchange.clients.service import ClientService
from exchange.demo import build_registry
from exchange.periods.models import CLOSED, ServicePeriod
from exchange.policy import Identity
from exchange.registry.models import Organization, User, name_in
from exchange.registry.service import RegistryService
from exchange.unit import UnitOfWork
from exchange.web import organization_name
from schemas.registry import RegistryFile
from tests.conftest import sign_packet
from tests.webtools import csrf, give_passwords, signed_in

FINNISH = "Turun seudun työllisyyspalvelut"
SWEDISH = "Åbonejdens sysselsättningstjänster"
ENGLISH = "Turku region employment services"


# --- which name --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "name_sv", "name_en", "expected"),
    [
        ("fi", SWEDISH, ENGLISH, FINNISH),
        ("sv", SWEDISH, ENGLISH, SWEDISH),
        ("en", SWEDISH, ENGLISH, ENGLISH),
        ("sv", None, ENGLISH, FINNISH),  # no Swedish name: the Finnish one, not the English
        ("en", SWEDISH, None, FINNISH),
        ("de", SWEDISH, ENGLISH, FINNISH),  # a language the registry has no names in
    ],
)
def test_the_name_in_a_language_falls_back_to_the_finnish_one(language, name_sv, name_en, expected):
    assert name_in(language, FINNISH, name_sv, name_en) == expected


def test_every_demo_organization_has_a_swedish_and_an_english_name(tmp_path):
    document, _passwords = build_registry(tmp_path)
    loaded = RegistryFile().load(document)  # valid as the loader sees it

    for organization in loaded["organizations"]:
        names = (organization["name"], organization["name_sv"], organization["name_en"])
        assert all(names), organization["id"]
        assert len(set(names)) >= 2, organization["id"]  # translated, not copied


@pytest.fixture
def employment(make_org):
    return make_org("te-names", name=FINNISH, name_sv=SWEDISH, name_en=ENGLISH)


@pytest.fixture
def unnamed(make_org):
    """An organization registered with its Finnish name only."""
    return make_org("kela-names", name="Kela, Turun palvelupiste")


def test_the_row_and_the_cached_entry_name_alike(rt, session, employment, unnamed):
    for org_id in (employment.id, unnamed.id):
        row = session.get(Organization, org_id)
        cached = rt.registry.view(session).organization(org_id)
        assert cached is not None
        for language in ("fi", "sv", "en"):
            assert cached.display_name(language) == row.display_name(language)
    cached = rt.registry.view(session).organization(employment.id)
    assert (cached.name, cached.name_sv, cached.name_en) == (FINNISH, SWEDISH, ENGLISH)


def test_names_are_in_the_language_asked_for(session, employment, unnamed):
    registry = RegistryService(UnitOfWork(lambda: session))
    ids = [employment.id, unnamed.id, "no-such-organization"]

    assert registry.names(ids) == {employment.id: FINNISH, unnamed.id: "Kela, Turun palvelupiste"}
    assert registry.names(ids, "sv") == {
        employment.id: SWEDISH,
        unnamed.id: "Kela, Turun palvelupiste",
    }
    assert registry.names(ids, "en")[employment.id] == ENGLISH


# --- the client's texts and printouts: in their own language ----------------------------

PROVIDER = {
    "name": "Liedon kunta, Kisälli (työtoimintakeskus)",
    "name_sv": "Lundo kommun, Kisälli (arbetsverksamhetscenter)",
    "name_en": "Municipality of Lieto, Kisälli (work activity centre)",
}
EMPLOYMENT = "Turun seudun TE-palvelut, vain suomeksi"  # registered without other names
HETU = "010190-900P"


@pytest.fixture
def world(make_org):
    """A provider with names in three languages records; employment services, with its
    Finnish name only, receives and approves."""
    provider = make_org(
        "kisalli-names",
        users=[("kalle.valmentaja", ["staff"]), ("liisa.sw", ["social_worker"])],
        **PROVIDER,
    )
    te = make_org(
        "te-names",
        kind="employment_services",
        users=[("tuomas.sw", ["social_worker"])],
        name=EMPLOYMENT,
    )
    return {"provider": provider, "te": te}


def record(http, world, language):
    """A consent in ``language``, recorded by the provider, from it to employment services."""
    body = {
        "client": {"hetu": HETU},
        "grantor": {"type": "self"},
        "decision": "permit",
        "sources": [world["provider"].id],
        "recipients": [world["te"].id],
        "categories": ["assessment", "plan"],
        "purposes": ["employment_services"],
        "valid_until": (local_date(utcnow()) + dt.timedelta(days=200)).isoformat(),
        "method": "signed_paper",
        "evidence": {"reference": "paper form 2026/7"},
        "language": language,
        "approver_organization": world["te"].id,
    }
    response = http.post(
        "/v1/consents", json=body, headers=world["provider"].client.headers("kalle.valmentaja")
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()


@pytest.mark.parametrize("language", ["fi", "sv", "en"])
def test_the_consent_text_names_the_organizations_in_its_language(http, world, language):
    text = record(http, world, language)["consent_text"]["text"]

    assert PROVIDER[{"fi": "name", "sv": "name_sv", "en": "name_en"}[language]] in text
    assert EMPLOYMENT in text  # no Swedish or English name: the Finnish one
    if language != "fi":
        assert PROVIDER["name"] not in text


def test_the_receipt_of_a_swedish_consent_names_the_organizations_in_swedish(http, world):
    consent = record(http, world, "sv")
    url = f"/v1/consents/{consent['id']}/receipt"
    headers = world["provider"].client.headers()

    receipt = http.get(url, headers=headers).get_json()["receipt"]
    page = http.get(f"{url}?format=html", headers=headers).get_data(as_text=True)

    assert receipt["piiControllers"][0]["piiController"] == PROVIDER["name_sv"]
    assert receipt["piiControllers"][0]["organizationId"] == world["provider"].id
    assert receipt["services"][0]["purposes"][0]["thirdPartyName"] == [EMPLOYMENT]
    assert '<html lang="sv">' in page
    assert PROVIDER["name_sv"] in page
    assert EMPLOYMENT in page
    assert PROVIDER["name"] not in page


def test_the_access_report_names_the_organizations_in_its_language(http, world):
    consent = record(http, world, "fi")
    provider = world["provider"]
    # Reading the receipt reads the consent: the report lists it.
    read = http.get(f"/v1/consents/{consent['id']}/receipt", headers=provider.client.headers())
    assert read.status_code == 200
    url = f"/v1/clients/{consent['client_id']}/access-report"
    headers = provider.client.headers("liisa.sw")

    def named(query: str) -> set[str]:
        entries = http.get(f"{url}{query}", headers=headers).get_json()["entries"]
        return {entry["organization_name"] for entry in entries}

    assert named("") == {PROVIDER["name"]}
    assert named("?lang=sv") == {PROVIDER["name_sv"]}
    page = http.get(f"{url}?format=html&lang=sv", headers=headers).get_data(as_text=True)
    assert PROVIDER["name_sv"] in page
    assert PROVIDER["name"] not in page
    page = http.get(f"{url}?format=html&lang=en", headers=headers).get_data(as_text=True)
    assert PROVIDER["name_en"] in page


# --- the web pages: in the page's language ------------------------------------------------


class _Text(HTMLParser):
    """What a reader sees of a page: its text, not its tags, attributes nor scripts."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skipping = False

    def handle_starttag(self, tag: str, _attrs: object) -> None:
        self._skipping = tag in ("script", "style")

    def handle_endtag(self, _tag: str) -> None:
        self._skipping = False

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def visible(page: str) -> str:
    parser = _Text()
    parser.feed(page)
    return " ".join(" ".join(parser.parts).split())


@pytest.fixture
def handed_over(http, world, session, rt):
    """A transfer from the provider to employment services on an approved consent: the
    packet's id and the client's."""
    give_passwords(session, rt, ("kalle.valmentaja", "liisa.sw", "tuomas.sw"))
    consent = record(http, world, "fi")
    approved = http.post(
        f"/v1/consents/{consent['id']}/approve",
        headers=world["te"].client.headers("tuomas.sw"),
    )
    assert approved.status_code == 200, approved.get_json()
    payload = {
        "client": {"hetu": HETU},
        "from": {"organization": world["provider"].id, "worker": "kalle.valmentaja"},
        "to": {"organization": world["te"].id},
        "kind": "transfer",
        "purpose": "employment_services",
        "respond_by": (local_date(utcnow()) + dt.timedelta(days=14)).isoformat(),
        "sections": [
            {
                "type": "assessment",
                "instrument": "kykyviisari",
                "date": local_date(utcnow()).isoformat(),
                "summary": "Motivated.",
            }
        ],
    }
    sent = http.post(
        "/v1/packets",
        data=sign_packet(world["provider"].packet_key, payload),
        headers={**world["provider"].client.headers(), "Content-Type": "application/jose"},
    )
    assert sent.status_code == 201, sent.get_json()
    return sent.get_json()["id"], consent["client_id"]


def test_a_swedish_page_names_the_organizations_in_swedish_never_by_id(app, world, handed_over):
    packet_id, client_id = handed_over
    client = signed_in(app, "tuomas.sw", "sv")

    for url in (f"/ui/packets/{packet_id}", "/ui/packets?box=inbox", f"/ui/clients/{client_id}"):
        page = client.get(url)
        assert page.status_code == 200, url
        html = page.get_data(as_text=True)
        assert '<html lang="sv">' in html
        text = visible(html)
        assert PROVIDER["name_sv"] in text, url
        assert PROVIDER["name"] not in text, url
        assert world["provider"].id not in text, url
        assert world["te"].id not in text, url
    # Employment services has no Swedish name: its Finnish one, in the header too.
    assert f"({EMPLOYMENT})" in text


def test_an_english_page_names_the_organizations_in_english(app, world, handed_over):
    packet_id, _client_id = handed_over
    page = signed_in(app, "tuomas.sw", "en").get(f"/ui/packets/{packet_id}").get_data(as_text=True)

    assert PROVIDER["name_en"] in visible(page)
    assert PROVIDER["name_sv"] not in page


def test_the_consent_pages_name_the_organizations_in_the_page_language(
    app, http, world, session, rt
):
    consent = record(http, world, "sv")
    give_passwords(session, rt, ("liisa.sw", "tuomas.sw"))
    pages = {
        "tuomas.sw": f"/ui/consents/{consent['id']}",  # the approver's page, with its history
        "liisa.sw": f"/ui/consents/{consent['id']}/actions",
    }

    for username, url in pages.items():
        page = signed_in(app, username, "sv").get(url)
        assert page.status_code == 200, url
        text = visible(page.get_data(as_text=True))
        assert PROVIDER["name_sv"] in text, url
        assert EMPLOYMENT in text, url
        assert PROVIDER["name"] not in text, url
        assert world["provider"].id not in text, url
        assert world["te"].id not in text, url


def test_the_list_of_hand_overs_to_answer_names_the_sender(app, handed_over):
    page = signed_in(app, "tuomas.sw", "sv").get("/ui/lists/waiting")

    assert page.status_code == 200
    text = visible(page.get_data(as_text=True))
    assert PROVIDER["name_sv"] in text
    assert "kisalli-names" not in text


def test_the_consent_form_lists_names_in_the_page_language_and_the_text_in_its_own(
    app, world, session, rt
):
    give_passwords(session, rt, ("kalle.valmentaja",))
    client = signed_in(app, "kalle.valmentaja", "sv")
    page = client.get("/ui/consents/new").get_data(as_text=True)
    assert f'value="{world["provider"].id}"' in page  # the choice's value: the id
    assert PROVIDER["name_sv"] in visible(page)
    assert PROVIDER["name"] not in visible(page)

    preview = client.post(
        "/ui/consents/new",
        data={
            "csrf_token": csrf(page),
            "preview": "1",
            "hetu": HETU,
            "decision": "permit",
            "grantor_type": "self",
            "sources": [world["provider"].id],
            "recipients": [world["te"].id],
            "categories": ["assessment"],
            "purposes": ["employment_services"],
            "valid_until": (local_date(utcnow()) + dt.timedelta(days=60)).isoformat(),
            "method": "electronic_strong_auth",
            "language": "fi",
            "approver_organization": world["te"].id,
        },
    )

    assert preview.status_code == 200
    html = preview.get_data(as_text=True)
    text = re.search(r'<div class="notice" lang="fi"[^>]*>(.*?)</div>', html, re.DOTALL)
    assert text is not None
    assert PROVIDER["name"] in text.group(1)  # the client's text: Finnish, as the client reads
    assert PROVIDER["name_sv"] not in text.group(1)
    # The exchanges table: the page's language.
    assert f'<th scope="row">{PROVIDER["name_sv"]}</th>' in html


def test_organization_name_is_the_cached_name_in_the_page_language_or_the_id(app, rt, world):
    with app.test_request_context("/ui/", headers={"Accept-Language": "sv"}):
        g.unit = UnitOfWork(rt.db.sessions)
        try:
            assert organization_name(world["provider"].id) == PROVIDER["name_sv"]
            assert organization_name(world["te"].id) == EMPLOYMENT
            assert organization_name("no-such-organization") == "no-such-organization"
        finally:
            g.unit.close()


def test_the_audit_search_names_the_acting_organization(app, http, world, make_org, session, rt):
    make_org(
        "valvonta-names",
        kind="supervisor",
        scopes=["audit:read"],
        users=[("aino.auditoija", ["auditor"])],
    )
    give_passwords(session, rt, ("aino.auditoija",))
    record(http, world, "fi")

    page = signed_in(app, "aino.auditoija", "sv").get("/ui/audit?action=consent.record")

    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert f'data-organization="{world["provider"].id}">{PROVIDER["name_sv"]}</small>' in html
    assert f"<small>{world['provider'].id}</small>" not in html


def test_the_outcome_report_by_organization_names_each_group(app, world, session, rt):
    provider = world["provider"]
    with session.begin():
        session.get(User, "liisa.sw").roles = ["reporter"]
    give_passwords(session, rt, ("liisa.sw",))
    clients = ClientService(UnitOfWork(lambda: session), rt.keys)
    registrar = Identity(organization=provider.id)
    ended = local_date(utcnow()).replace(day=1) - dt.timedelta(days=1)  # last month
    for individual in range(900, 912):
        digits = f"010180{individual}"
        hetu = f"010180-{individual}{hetu_check_char(digits)}"
        session.add(
            ServicePeriod(
                id=str(uuid.uuid4()),
                client_id=clients.lookup(registrar, hetu)[0].id,
                organization_id=provider.id,
                service="kuntouttava_tyotoiminta",
                start=ended - dt.timedelta(days=120),
                planned_end=ended,
                days_per_week=3,
                hours_per_day=5,
                status=CLOSED,
                ended_on=ended,
                outcome="employed",
                recorded_by_user="kalle.valmentaja",
            )
        )
    session.commit()

    page = signed_in(app, "liisa.sw", "sv").get("/ui/reports/outcomes?group_by=organization")

    assert page.status_code == 200
    text = visible(page.get_data(as_text=True))
    assert f"{PROVIDER['name_sv']}:" in text  # the group's caption
    assert provider.id not in text
