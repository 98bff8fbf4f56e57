"""The client's access report: who saw or received their data, when, on which basis.

Written for the client: one line per access, in plain language, printable.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select

from adapters.db import rfc3339, utcnow
from consent.texts import category_label
from exchange.audit import service as log
from exchange.audit.models import AuditEvent
from exchange.clients.models import Client
from exchange.clients.service import ClientRecord
from exchange.continuity.service import client_not_found, is_involved
from exchange.packets.models import Packet
from exchange.policy import Identity
from exchange.printouts import CLIENT_LABEL, client_line, clock, local, long_date
from exchange.registry.models import User
from exchange.registry.service import RegistryService
from exchange.unit import UnitOfWork

REPORTED = ("packet.send", "packet.read", "packet.accept", "consent.read")

WHAT = {
    "fi": {
        "packet.send": "sai siirtotiedot",
        "packet.read": "luki siirtotiedot",
        "packet.accept": "otti vastuun asiakkuudesta",
        "consent.read": "katsoi suostumuksen tiedot",
    },
    "sv": {
        "packet.send": "fick överföringsuppgifterna",
        "packet.read": "läste överföringsuppgifterna",
        "packet.accept": "tog över ansvaret för klientskapet",
        "consent.read": "tittade på samtyckets uppgifter",
    },
    "en": {
        "packet.send": "received the hand-over information",
        "packet.read": "read the hand-over information",
        "packet.accept": "took over responsibility for you",
        "consent.read": "looked at your consent",
    },
}

PAGE = {
    "fi": {
        "title": "Kuka on nähnyt tietojani",
        "when": "Milloin",
        "who": "Kuka",
        "what": "Mitä",
        "which": "Mitkä tiedot",
        "basis": "Peruste",
        "consent": "suostumuksesi",
        "statute": "laki",
        "none": "Kukaan ei ole vielä saanut eikä lukenut tietojasi tämän palvelun kautta.",
        "intro": "Tässä näet, kuka on nähnyt tai saanut tietojasi tämän palvelun kautta. "
        "Ajat ovat Suomen aikaa.",
        "unknown": "Organisaatio, jota ei enää ole rekisterissä",
        "other": "käsitteli tietojasi",
        "times": "{n} kertaa",
    },
    "sv": {
        "title": "Vem har sett mina uppgifter",
        "when": "När",
        "who": "Vem",
        "what": "Vad",
        "which": "Vilka uppgifter",
        "basis": "Grund",
        "consent": "ditt samtycke",
        "statute": "lag",
        "none": "Ingen har ännu fått eller läst dina uppgifter via den här tjänsten.",
        "intro": "Här ser du vem som har sett eller fått dina uppgifter via den här tjänsten. "
        "Tiderna är finsk tid.",
        "unknown": "En organisation som inte längre finns i registret",
        "other": "behandlade dina uppgifter",
        "times": "{n} gånger",
    },
    "en": {
        "title": "Who has seen my data",
        "when": "When",
        "who": "Who",
        "what": "What",
        "which": "Which information",
        "basis": "Basis",
        "consent": "your consent",
        "statute": "the law",
        "none": "Nobody has received or read your data through this service yet.",
        "intro": "Here you can see who has seen or received your data through this service. "
        "Times are Finnish time.",
        "unknown": "An organization no longer in the register",
        "other": "handled your data",
        "times": "{n} times",
    },
}


def access_report(
    uow: UnitOfWork, identity: Identity, client_id: str, language: str | None = None
) -> dict[str, Any]:
    """The report for an organization involved with the client (404 otherwise), naming the
    organizations in ``language`` when given (as registered otherwise); audited."""
    session = uow.session
    if session.get(Client, client_id) is None or not is_involved(
        session, client_id, identity.organization
    ):
        raise client_not_found(uow, client_id, "audit.read")
    rows = session.execute(
        select(AuditEvent)
        .where(
            AuditEvent.client_ref == client_id,
            AuditEvent.outcome == "allowed",
            AuditEvent.action.in_(REPORTED),
        )
        .order_by(AuditEvent.id)
    ).scalars()
    entries: dict[tuple[Any, ...], dict[str, Any]] = {}
    packets: dict[str, Packet | None] = {}
    for row in rows:
        organization_id, person = row.actor_organization, row.actor_user
        if row.action == "packet.send":
            packet = packets.setdefault(row.resource_id or "", session.get(Packet, row.resource_id))
            organization_id = packet.recipient_org if packet else None
            person = packet.recipient_user if packet else None
        key = (row.request_id, row.action, row.resource_id)
        entry = entries.setdefault(
            key,
            {
                "at": row.occurred_at,
                "organization": organization_id,
                "person": person,
                "what": row.action,
                "categories": [],
                "basis": row.basis_type,
                "basis_ref": row.basis_ref,
            },
        )
        if (
            row.action.startswith("packet.")
            and row.reason
            and row.reason not in entry["categories"]
        ):
            entry["categories"].append(row.reason)
    org_ids = {e["organization"] for e in entries.values() if e["organization"]}
    names = RegistryService(uow).names(org_ids, language)
    people = {e["person"] for e in entries.values() if e["person"]}
    roles = {
        u.username: ",".join(u.roles)
        for u in session.execute(select(User).where(User.username.in_(people))).scalars()
    }
    result = []
    for entry in entries.values():
        entry["organization_name"] = names.get(entry["organization"])
        entry["role"] = roles.get(entry["person"])
        result.append(entry)
    log.record(session, identity, "audit.read", resource_type="access_report", client_ref=client_id)
    return {"client_id": client_id, "generated_at": rfc3339(utcnow()), "entries": result}


def report_page(
    report: dict[str, Any], lang: str, person: ClientRecord | None = None
) -> dict[str, Any]:
    """What the printable page shows, in ``lang``: the client named, then by organization and
    by day (Finnish time), the same access on the same day once with its count."""
    text = PAGE[lang]
    groups: dict[str, dict[dt.date, dict[tuple[Any, ...], dict[str, Any]]]] = {}
    for entry in sorted(report["entries"], key=lambda e: str(e["at"])):
        at = local(entry["at"])
        who = entry["organization_name"] or text["unknown"]
        which = ", ".join(category_label(lang, c) for c in sorted(entry["categories"]))
        basis = text.get(entry["basis"] or "", "")
        what = WHAT[lang].get(entry["what"], text["other"])
        same = groups.setdefault(who, {}).setdefault(at.date(), {})
        row = same.setdefault(
            (what, which, basis),
            {"what": what, "which": which, "basis": basis, "first": at, "last": at, "count": 0},
        )
        row["last"], row["count"] = at, row["count"] + 1
    organizations = []
    for who, days in groups.items():
        organizations.append(
            {
                "name": who,
                "days": [
                    {
                        "day": long_date(day, lang),
                        "rows": [
                            {
                                "when": _span(row["first"], row["last"], lang),
                                "what": row["what"],
                                "which": row["which"],
                                "basis": row["basis"],
                                "count": text["times"].format(n=row["count"])
                                if row["count"] > 1
                                else "",
                            }
                            for row in rows.values()
                        ],
                    }
                    for day, rows in days.items()
                ],
            }
        )
    return {
        "lang": lang,
        "t": text,
        "client_label": CLIENT_LABEL[lang],
        "client": client_line(person, lang),
        "organizations": organizations,
    }


def _span(first: dt.datetime, last: dt.datetime, lang: str) -> str:
    """``9.05``, or ``9.05–14.10`` for the same access several times in a day."""
    start, end = clock(first, lang), clock(last, lang)
    return start if start == end else f"{start}–{end}"
