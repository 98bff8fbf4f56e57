"""The plain-language consent texts: complete in every language, deterministic, versioned."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

import pytest

from consent.model import LANGUAGES
from consent.texts import (
    CATEGORY_LABELS,
    PURPOSE_LABELS,
    TEMPLATE_VERSION,
    category_label,
    purpose_label,
    render_consent_text,
)
from consent.vocabulary import CATEGORIES, PURPOSES

BASE: dict[str, Any] = {
    "decision": "permit",
    "grantor_type": "self",
    "grantor_name": None,
    "sources": ["Liedon kunta, Kisälli"],
    "recipients": ["Varsinais-Suomen työllisyyspalvelut", "Kela"],
    "categories": ["assessment", "plan"],
    "purposes": ["employment_services"],
    "valid_from": dt.date(2026, 12, 1),
    "valid_until": dt.date(2027, 11, 30),
}

END_DATE = {"fi": "30.11.2027", "sv": "30.11.2027", "en": "30 November 2027"}
WITHDRAWAL = {"fi": "perua", "sv": "återkalla", "en": "withdraw"}
AT_ONCE = {"fi": "heti", "sv": "genast", "en": "at once"}
VOLUNTARY = {"fi": "vapaaehtoinen", "sv": "frivilligt", "en": "voluntary"}


def render(language: str, **changes: Any) -> str:
    return render_consent_text(language, **{**BASE, **changes}).text


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_language_says_who_what_why_until_when_and_how_to_withdraw(language: str) -> None:
    rendered = render_consent_text(language, **BASE)
    text = rendered.text
    assert rendered.language == language
    assert rendered.version == TEMPLATE_VERSION
    assert TEMPLATE_VERSION in text
    for name in BASE["sources"] + BASE["recipients"]:
        assert name in text
    for code in BASE["categories"]:
        assert category_label(language, code) in text
    assert purpose_label(language, "employment_services") in text
    assert END_DATE[language] in text
    assert WITHDRAWAL[language] in text
    assert AT_ONCE[language] in text
    assert VOLUNTARY[language] in text
    assert category_label(language, "health") not in text


@pytest.mark.parametrize("language", LANGUAGES)
def test_deny_wording_differs_and_says_it_forbids(language: str) -> None:
    permit = render(language)
    deny = render(language, decision="deny")
    assert deny != permit
    forbids = {"fi": "kielto", "sv": "förbud", "en": "ban"}[language]
    assert forbids in deny.lower()
    assert forbids not in permit.lower()
    assert END_DATE[language] in deny
    assert WITHDRAWAL[language] in deny


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("grantor_type", ["guardian", "legal_representative"])
@pytest.mark.parametrize("decision", ["permit", "deny"])
def test_representative_is_named_as_acting_for_the_client(
    language: str, grantor_type: str, decision: str
) -> None:
    text = render(
        language, decision=decision, grantor_type=grantor_type, grantor_name="Maija Esimerkki"
    )
    behalf = {"fi": "asiakkaan puolesta", "sv": "för klientens räkning", "en": "on behalf of"}
    assert "Maija Esimerkki" in text
    assert behalf[language] in text
    assert text != render(language, decision=decision)


@pytest.mark.parametrize("grantor_type", ["guardian", "legal_representative"])
def test_representative_without_a_name_is_refused(grantor_type: str) -> None:
    with pytest.raises(ValueError, match="must be named"):
        render("fi", grantor_type=grantor_type, grantor_name="  ")


def test_finnish_dates_use_finnish_format() -> None:
    text = render("fi", valid_from=dt.date(2026, 3, 5), valid_until=dt.date(2026, 9, 9))
    assert "5.3.2026" in text
    assert "9.9.2026" in text
    assert "2026-09-09" not in text


def test_same_inputs_same_text_and_hash_whatever_the_order() -> None:
    first = render_consent_text("fi", **BASE)
    shuffled = {
        **BASE,
        "recipients": list(reversed(BASE["recipients"])),
        "categories": ["plan", "assessment", "plan"],
    }
    second = render_consent_text("fi", **shuffled)
    assert second == first
    assert first.sha256 == hashlib.sha256(first.text.encode("utf-8")).hexdigest()


@pytest.mark.parametrize(
    "change",
    [
        {"valid_until": dt.date(2027, 11, 29)},
        {"recipients": ["Kela"]},
        {"categories": ["assessment"]},
        {"purposes": ["rehabilitation"]},
        {"decision": "deny"},
    ],
)
def test_different_inputs_give_a_different_hash(change: dict[str, Any]) -> None:
    assert (
        render_consent_text("fi", **{**BASE, **change}).sha256
        != render_consent_text("fi", **BASE).sha256
    )


def test_languages_give_different_hashes() -> None:
    hashes = {render_consent_text(language, **BASE).sha256 for language in LANGUAGES}
    assert len(hashes) == len(LANGUAGES)


@pytest.mark.parametrize("language", LANGUAGES)
def test_labels_exist_for_every_vocabulary_code(language: str) -> None:
    assert set(CATEGORY_LABELS[language]) == set(CATEGORIES)
    assert set(PURPOSE_LABELS[language]) == set(PURPOSES)
    for code in CATEGORIES:
        assert category_label(language, code).strip()
    for code in PURPOSES:
        assert purpose_label(language, code).strip()
    assert len(set(CATEGORY_LABELS[language].values())) == len(CATEGORIES)


def test_unknown_language_raises() -> None:
    with pytest.raises(ValueError, match="unknown language 'de'"):
        render_consent_text("de", **BASE)
    with pytest.raises(ValueError, match="unknown language"):
        category_label("de", "plan")
    with pytest.raises(ValueError, match="unknown language"):
        purpose_label("se", "rehabilitation")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"categories": ["finances"]}, "unknown code 'finances'"),
        ({"purposes": []}, "purposes must not be empty"),
        ({"recipients": [" "]}, "recipients must not be empty"),
        ({"decision": "maybe"}, "unknown decision"),
        ({"grantor_type": "friend"}, "unknown grantor type"),
        ({"valid_until": dt.date(2026, 11, 30)}, "before valid_from"),
    ],
)
def test_invalid_input_raises(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        render_consent_text("en", **{**BASE, **change})
