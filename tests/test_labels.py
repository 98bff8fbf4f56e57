"""Every value of every closed vocabulary has a label, and the service's details read in the
reader's language."""

from __future__ import annotations

import pytest
from flask_babel import force_locale

from consent import vocabulary
from consent.model import DECISIONS, GRANTOR_TYPES, METHODS, STATUSES
from exchange.labels import VOCABULARIES, choices, describe_detail, label
from exchange.policy import ACTIONS
from schemas.periods import STATUSES as PERIOD_STATUSES
from schemas.sections import ACTION_OWNERS, CONTACT_ROLES, SERVICES

# Each vocabulary and the domain's own list of its values: a value added there without a label
# fails here.
SOURCES = {
    "consent_status": STATUSES,
    "decision": DECISIONS,
    "method": METHODS,
    "grantor_type": GRANTOR_TYPES,
    "packet_status": vocabulary.PACKET_STATUSES,
    "packet_kind": vocabulary.PACKET_KINDS,
    "section": vocabulary.CATEGORIES,
    "contact_role": CONTACT_ROLES,
    "service": SERVICES,
    "action_owner": ACTION_OWNERS,
    "contact_mode": vocabulary.FIRST_CONTACT_MODES,
    "period_status": PERIOD_STATUSES,
    "period_outcome": vocabulary.PERIOD_OUTCOMES,
    "next_step": vocabulary.NEXT_STEPS,
    "role": vocabulary.ROLES,
    "audit_outcome": vocabulary.AUDIT_OUTCOMES,
}


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_every_value_of_the_domain_has_a_label(name):
    assert set(SOURCES[name]) <= set(VOCABULARIES[name])


@pytest.mark.parametrize("language", ["fi", "sv"])
def test_labels_are_translated(app, language):
    """No label is the raw code; in Finnish none is the English either (Swedish shares words
    with English, such as "Plan" and "Motivation"; the catalog test checks it has each)."""
    with app.test_request_context(), force_locale(language):
        for name, values in VOCABULARIES.items():
            for value in values:
                shown = label(name, value)
                assert shown != value, (name, value)
                with force_locale("en"):
                    english = label(name, value)
                assert language != "fi" or shown != english or value == "kykyviisari", value
        for action in ACTIONS:
            with force_locale("en"):
                english = label("audit_action", action)
            assert language != "fi" or label("audit_action", action) != english, action


def test_an_open_vocabularys_own_value_is_shown_readably(app):
    with app.test_request_context(), force_locale("fi"):
        assert label("score_domain", "competence") == "Osaaminen"
        assert label("score_domain", "manual_dexterity") == "manual dexterity"
        assert label("service", None) == "–"


def test_a_forms_choices_are_labelled_and_sorted(app):
    with app.test_request_context(), force_locale("sv"):
        found = dict(choices("audit_action"))
        assert found["consent.read"] == "Läsning av ett samtycke"
        assert set(found) >= set(ACTIONS)
        texts = [text for _, text in choices("audit_action")]
        assert texts == sorted(texts)


@pytest.mark.parametrize(
    ("detail", "finnish", "swedish"),
    [
        (None, "–", "–"),
        (
            "leads=1 packets=0 escorts=0 first_contacts=2 successor=unassigned",
            "asiakkaita: 1, luovutuksia: 0, saattajia: 0, ensikontakteja: 2, "
            "seuraaja: jakamattomien jono",
            "klienter: 1, överlämningar: 0, ledsagare: 0, första kontakter: 2, "
            "efterträdare: kön utan anställd",
        ),
        ("meeting on 2026-12-02", "tapaaminen 2.12.2026", "möte 2.12.2026"),
        (
            "phone on 2026-01-05 (late)",
            "puhelu 5.1.2026 (myöhässä)",
            "telefonsamtal 5.1.2026 (försenad)",
        ),
        ("studies", "Opiskelu", "Studier"),
        ("not_the_recipient", "Vain vastaanottaja voi tehdä tämän.", None),
        (
            '{"action": "consent.read", "outcome": "denied"}',
            "toiminto: Suostumuksen luku, tulos: estetty",
            "åtgärd: Läsning av ett samtycke, utfall: nekat",
        ),
        ("Asiakas muutti.", "Asiakas muutti.", "Asiakas muutti."),
    ],
)
def test_details_are_read_in_the_readers_language(app, detail, finnish, swedish):
    with app.test_request_context():
        for language, expected in (("fi", finnish), ("sv", swedish)):
            if expected is None:
                continue
            with force_locale(language):
                assert describe_detail(detail) == expected
