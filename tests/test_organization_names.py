"""Organizations by name in the reader's language: the registry's Swedish and English names,
the Finnish one where there is none."""

from __future__ import annotations

import datetime as dt

import pytest

from adapters.db import utcnow
from consent.model import local_date
from exchange.registry.models import Organization, name_in
from exchange.registry.service import RegistryService
from exchange.unit import UnitOfWork

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
