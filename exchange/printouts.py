"""What the client's printouts (the consent receipt, the access report) share: dates and
times in Finnish time, written the Finnish way in the page's language, and the line that
names the client.

A printout has its own language (the consent's, or the one asked for), not the signed-in
person's, so it is formatted here with that language's locale rather than by the UI's
filters, which follow the UI language.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from babel.dates import format_date, format_time

from consent.model import FINLAND

if TYPE_CHECKING:
    from exchange.clients.service import ClientRecord

# As the web UI's ``regional_locale``: the language as written in Finland.
REGIONAL = {"fi": "fi_FI", "sv": "sv_FI", "en": "en_FI"}

CLIENT_LABEL = {"fi": "Asiakas", "sv": "Klient", "en": "Client"}
CODE_LABEL = {"fi": "henkilötunnus", "sv": "personbeteckning", "en": "identity code"}


def local(moment: dt.datetime | str) -> dt.datetime:
    """A UTC moment (aware, or RFC 3339 text) in Finnish time."""
    if isinstance(moment, str):
        moment = dt.datetime.fromisoformat(moment.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(FINLAND)


def short_date(day: dt.date) -> str:
    """``5.3.2026``, as in Finland whatever the language."""
    return f"{day.day}.{day.month}.{day.year}"


def long_date(day: dt.date, lang: str) -> str:
    """``torstai 5. maaliskuuta 2026`` / ``torsdag 5 mars 2026``."""
    return str(format_date(day, "full", locale=REGIONAL[lang]))


def clock(moment: dt.datetime, lang: str) -> str:
    """The Finnish time of day of ``moment``: ``9.05``."""
    return str(format_time(local(moment), "short", locale=REGIONAL[lang]))


def client_line(person: ClientRecord | None, lang: str) -> str:
    """``Maija Meikäläinen, henkilötunnus 010190-9***`` (the code masked, never whole)."""
    if person is None:
        return ""
    code = f"{CODE_LABEL[lang]} {person.hetu_masked}"
    return f"{person.name}, {code}" if person.name else code
