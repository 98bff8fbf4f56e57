"""Organizations by name in the reader's language: the registry's Swedish and English names,
the Finnish one where there is none."""

from __future__ import annotations

import pytest

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
