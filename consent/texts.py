"""Versioned plain-language (selkokieli) consent texts in Finnish, Swedish and English.

The text a client saw is stored by ``TEMPLATE_VERSION`` and the SHA-256 of the rendered
text, so any change to the wording below must bump ``TEMPLATE_VERSION``.

Rendering is canonical: categories and purposes appear in vocabulary order and
organization names sorted, each once, so the same consent always gives the same text and
hash however the caller happens to order its sets.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from consent.model import DECISIONS, DENY, GRANTOR_TYPES, LANGUAGES
from consent.vocabulary import CATEGORIES, PURPOSES

__all__ = [
    "CATEGORY_LABELS",
    "PURPOSE_LABELS",
    "TEMPLATE_VERSION",
    "RenderedText",
    "category_label",
    "purpose_label",
    "render_consent_text",
]

TEMPLATE_VERSION = "2026-11.1"

CATEGORY_LABELS: dict[str, dict[str, str]] = {
    "fi": {
        "assessment": "arvio työ- ja toimintakyvystä",
        "plan": "suunnitelmat, esimerkiksi asiakassuunnitelma",
        "contact_persons": "yhteyshenkilöiden tiedot",
        "service_period": "palvelujaksot, esimerkiksi kuntouttava työtoiminta",
        "benefits": "tiedot etuuksista, esimerkiksi Kelan tuista",
        "health": "terveystiedot",
    },
    "sv": {
        "assessment": "bedömning av arbets- och funktionsförmåga",
        "plan": "planer, till exempel klientplan",
        "contact_persons": "uppgifter om kontaktpersoner",
        "service_period": "serviceperioder, till exempel arbetsverksamhet i rehabiliteringssyfte",
        "benefits": "uppgifter om förmåner, till exempel stöd från FPA",
        "health": "hälsouppgifter",
    },
    "en": {
        "assessment": "assessment of ability to work and function",
        "plan": "plans, for example the client plan",
        "contact_persons": "contact people",
        "service_period": "service periods, for example rehabilitative work activity",
        "benefits": "information about benefits, for example Kela benefits",
        "health": "health information",
    },
}

PURPOSE_LABELS: dict[str, dict[str, str]] = {
    "fi": {
        "service_planning": "palvelujen suunnittelu",
        "employment_services": "työllisyyspalvelut",
        "rehabilitation": "kuntoutus",
        "benefit_processing": "etuuksien käsittely",
        "service_provision": "palvelujen antaminen",
    },
    "sv": {
        "service_planning": "planering av service",
        "employment_services": "sysselsättningstjänster",
        "rehabilitation": "rehabilitering",
        "benefit_processing": "handläggning av förmåner",
        "service_provision": "att ge service",
    },
    "en": {
        "service_planning": "planning services",
        "employment_services": "employment services",
        "rehabilitation": "rehabilitation",
        "benefit_processing": "deciding on benefits",
        "service_provision": "providing services",
    },
}

_EN_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)

# Keys: "title", "intro", "grantor.<type>", "sources", "recipients", "categories",
# "purposes", "from", "until", "voluntary", "services", then the shared ones below.
_PERMIT: dict[str, dict[str, str]] = {
    "fi": {
        "title": "Suostumus tietojen siirtämiseen",
        "intro": "Tällä suostumuksella asiakkaan tietoja saa siirtää organisaatiolta toiselle.",
        "grantor.self": "Asiakas antaa tämän suostumuksen itse.",
        "grantor.guardian": "Huoltaja {name} antaa tämän suostumuksen asiakkaan puolesta.",
        "grantor.legal_representative": (
            "Laillinen edustaja {name} antaa tämän suostumuksen asiakkaan puolesta."
        ),
        "sources": "Nämä organisaatiot saavat antaa tietoja:",
        "recipients": "Nämä organisaatiot saavat ottaa tiedot vastaan:",
        "categories": "Vain näitä tietoja saa siirtää:",
        "purposes": "Tietoja saa käyttää vain tähän:",
        "from": "Suostumus on voimassa {date} alkaen.",
        "until": (
            "Suostumus on voimassa {date} asti. Sen jälkeen tietoja ei saa siirtää "
            "tällä suostumuksella."
        ),
        "voluntary": "Suostumus on vapaaehtoinen.",
        "services": "Asiakas saa palvelut myös ilman tätä suostumusta.",
        "withdraw": "Suostumuksen voi perua milloin tahansa.",
    },
    "sv": {
        "title": "Samtycke till att lämna ut uppgifter",
        "intro": (
            "Med det här samtycket får klientens uppgifter lämnas från en organisation "
            "till en annan."
        ),
        "grantor.self": "Klienten ger själv det här samtycket.",
        "grantor.guardian": "Vårdnadshavaren {name} ger det här samtycket för klientens räkning.",
        "grantor.legal_representative": (
            "Den lagliga företrädaren {name} ger det här samtycket för klientens räkning."
        ),
        "sources": "De här organisationerna får lämna ut uppgifter:",
        "recipients": "De här organisationerna får ta emot uppgifterna:",
        "categories": "Bara de här uppgifterna får lämnas ut:",
        "purposes": "Uppgifterna får bara användas till det här:",
        "from": "Samtycket gäller från och med {date}.",
        "until": (
            "Samtycket gäller till och med {date}. Efter det får uppgifterna inte lämnas ut "
            "med det här samtycket."
        ),
        "voluntary": "Samtycket är frivilligt.",
        "services": "Klienten får service även utan det här samtycket.",
        "withdraw": "Samtycket kan återkallas när som helst.",
    },
    "en": {
        "title": "Consent to share information",
        "intro": "With this consent, the client's information may be shared between organizations.",
        "grantor.self": "The client gives this consent themselves.",
        "grantor.guardian": (
            "{name}, the client's guardian, gives this consent on behalf of the client."
        ),
        "grantor.legal_representative": (
            "{name}, the client's legal representative, gives this consent on behalf of the client."
        ),
        "sources": "These organizations may give the information:",
        "recipients": "These organizations may receive the information:",
        "categories": "Only this information may be shared:",
        "purposes": "The information may only be used for this:",
        "from": "The consent is valid from {date}.",
        "until": (
            "The consent is valid up to and including {date}. After that, the information "
            "may not be shared with this consent."
        ),
        "voluntary": "Giving consent is voluntary.",
        "services": "The client will get services even without this consent.",
        "withdraw": "The consent can be withdrawn at any time.",
    },
}

_DENY: dict[str, dict[str, str]] = {
    "fi": {
        "title": "Kielto luovuttaa tietoja",
        "intro": "Tämä on kielto. Asiakkaan tietoja ei saa siirtää alla kerrotulla tavalla.",
        "grantor.self": "Asiakas kieltää tämän itse.",
        "grantor.guardian": "Huoltaja {name} antaa tämän kiellon asiakkaan puolesta.",
        "grantor.legal_representative": (
            "Laillinen edustaja {name} antaa tämän kiellon asiakkaan puolesta."
        ),
        "sources": "Nämä organisaatiot eivät saa antaa tietoja:",
        "recipients": "Tietoja ei saa antaa näille organisaatioille:",
        "categories": "Kielto koskee näitä tietoja:",
        "purposes": "Kielto koskee tätä käyttöä:",
        "from": "Kielto on voimassa {date} alkaen.",
        "until": "Kielto on voimassa {date} asti.",
        "statute": (
            "Joskus laki antaa viranomaiselle oikeuden saada tietoja ilman suostumusta. "
            "Kielto ei estä sitä."
        ),
        "services": "Kielto ei vie asiakkaalta palveluja.",
        "withdraw": "Kiellon voi perua milloin tahansa.",
    },
    "sv": {
        "title": "Förbud mot att lämna ut uppgifter",
        "intro": (
            "Det här är ett förbud. Klientens uppgifter får inte lämnas ut på det sätt "
            "som beskrivs nedan."
        ),
        "grantor.self": "Klienten förbjuder det här själv.",
        "grantor.guardian": "Vårdnadshavaren {name} ger det här förbudet för klientens räkning.",
        "grantor.legal_representative": (
            "Den lagliga företrädaren {name} ger det här förbudet för klientens räkning."
        ),
        "sources": "De här organisationerna får inte lämna ut uppgifter:",
        "recipients": "Uppgifterna får inte lämnas till de här organisationerna:",
        "categories": "Förbudet gäller de här uppgifterna:",
        "purposes": "Förbudet gäller den här användningen:",
        "from": "Förbudet gäller från och med {date}.",
        "until": "Förbudet gäller till och med {date}.",
        "statute": (
            "Ibland ger lagen en myndighet rätt att få uppgifter utan samtycke. "
            "Förbudet hindrar inte det."
        ),
        "services": "Förbudet tar inte bort klientens service.",
        "withdraw": "Förbudet kan återkallas när som helst.",
    },
    "en": {
        "title": "Ban on sharing information",
        "intro": "This is a ban. The client's information must not be shared as described below.",
        "grantor.self": "The client forbids this themselves.",
        "grantor.guardian": "{name}, the client's guardian, sets this ban on behalf of the client.",
        "grantor.legal_representative": (
            "{name}, the client's legal representative, sets this ban on behalf of the client."
        ),
        "sources": "These organizations must not give the information:",
        "recipients": "The information must not be given to these organizations:",
        "categories": "The ban covers this information:",
        "purposes": "The ban covers this use:",
        "from": "The ban is valid from {date}.",
        "until": "The ban is valid up to and including {date}.",
        "statute": (
            "Sometimes the law gives an authority the right to get information without "
            "consent. The ban does not stop that."
        ),
        "services": "The ban does not take away the client's services.",
        "withdraw": "The ban can be withdrawn at any time.",
    },
}

_HOW_TO_WITHDRAW = {
    "fi": (
        "Kerro siitä jollekin yllä mainitulle organisaatiolle tai asiakkaan sosiaalityöntekijälle. "
        "Peruminen tulee voimaan heti."
    ),
    "sv": (
        "Berätta det för någon av organisationerna ovan eller för klientens socialarbetare. "
        "Återkallelsen gäller genast."
    ),
    "en": (
        "Tell any of the organizations listed above or the client's social worker. "
        "The withdrawal takes effect at once."
    ),
}

_VERSION_LINE = {
    "fi": "Tekstin versio: {version}",
    "sv": "Textens version: {version}",
    "en": "Text version: {version}",
}


@dataclass(frozen=True)
class RenderedText:
    """A rendered consent text and what identifies it: template version and SHA-256."""

    version: str
    language: str
    text: str
    sha256: str


def category_label(language: str, code: str) -> str:
    """The plain-language name of a data category."""
    return _label(CATEGORY_LABELS, "category", language, code)


def purpose_label(language: str, code: str) -> str:
    """The plain-language name of a purpose."""
    return _label(PURPOSE_LABELS, "purpose", language, code)


def render_consent_text(
    language: str,
    *,
    decision: str,
    grantor_type: str,
    grantor_name: str | None,
    sources: Sequence[str],
    recipients: Sequence[str],
    categories: Sequence[str],
    purposes: Sequence[str],
    valid_from: dt.date,
    valid_until: dt.date,
) -> RenderedText:
    """Render the consent (or ban) text the client sees, with its version and hash.

    ``sources`` and ``recipients`` are organization display names. ``grantor_name`` is
    required for a guardian or legal representative and not used for ``self``.
    """
    _check_language(language)
    if decision not in DECISIONS:
        raise ValueError(f"unknown decision {decision!r}")
    if grantor_type not in GRANTOR_TYPES:
        raise ValueError(f"unknown grantor type {grantor_type!r}")
    name = (grantor_name or "").strip()
    if grantor_type != "self" and not name:
        raise ValueError(f"a {grantor_type} must be named")
    if valid_until < valid_from:
        raise ValueError("valid_until is before valid_from")

    source_names = _names(sources, "sources")
    recipient_names = _names(recipients, "recipients")
    category_lines = [category_label(language, code) for code in _codes(categories, CATEGORIES)]
    purpose_lines = [purpose_label(language, code) for code in _codes(purposes, PURPOSES)]
    if not category_lines:
        raise ValueError("categories must not be empty")
    if not purpose_lines:
        raise ValueError("purposes must not be empty")

    templates = (_DENY if decision == DENY else _PERMIT)[language]
    # Selkokieli puts each sentence on a line of its own. Done on the templates, before
    # names and dates go in, so that a name containing ". " is left alone.
    words = {key: value.replace(". ", ".\n") for key, value in templates.items()}
    paragraphs = [
        words["title"],
        words["intro"] + "\n" + words[f"grantor.{grantor_type}"].format(name=name),
        _list(words["sources"], source_names),
        _list(words["recipients"], recipient_names),
        _list(words["categories"], category_lines),
        _list(words["purposes"], purpose_lines),
        words["from"].format(date=_format_date(language, valid_from))
        + "\n"
        + words["until"].format(date=_format_date(language, valid_until)),
    ]
    if decision == DENY:
        paragraphs.append(words["statute"])
        paragraphs.append(words["services"])
    else:
        paragraphs.append(words["voluntary"] + "\n" + words["services"])
    paragraphs.append(words["withdraw"] + "\n" + _HOW_TO_WITHDRAW[language].replace(". ", ".\n"))
    paragraphs.append(_VERSION_LINE[language].format(version=TEMPLATE_VERSION))

    text = "\n\n".join(paragraphs) + "\n"
    return RenderedText(
        version=TEMPLATE_VERSION,
        language=language,
        text=text,
        sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
    )


def _check_language(language: str) -> None:
    if language not in LANGUAGES:
        raise ValueError(f"unknown language {language!r}; expected one of {', '.join(LANGUAGES)}")


def _label(table: dict[str, dict[str, str]], noun: str, language: str, code: str) -> str:
    _check_language(language)
    try:
        return table[language][code]
    except KeyError:
        raise ValueError(f"unknown {noun} {code!r}") from None


def _codes(given: Sequence[str], vocabulary: tuple[str, ...]) -> list[str]:
    wanted = set(given)
    unknown = sorted(wanted - set(vocabulary))
    if unknown:
        raise ValueError(f"unknown code {unknown[0]!r}")
    return [code for code in vocabulary if code in wanted]


def _names(given: Sequence[str], what: str) -> list[str]:
    # Plain code-point order: locale-aware collation differs between machines, which
    # would change the hash.
    names = sorted({name.strip() for name in given if name.strip()})
    if not names:
        raise ValueError(f"{what} must not be empty")
    return names


def _list(heading: str, items: list[str]) -> str:
    return heading + "\n" + "\n".join(f"- {item}" for item in items)


def _format_date(language: str, day: dt.date) -> str:
    if language == "en":
        return f"{day.day} {_EN_MONTHS[day.month - 1]} {day.year}"
    return f"{day.day}.{day.month}.{day.year}"
