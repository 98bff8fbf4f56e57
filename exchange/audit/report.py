"""The client's access report: who saw or received their data, when, on which basis.

Written for the client: one line per access, in plain language, printable.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from adapters.db import rfc3339, utcnow
from consent.texts import category_label
from exchange.audit import service as log
from exchange.audit.models import AuditEvent
from exchange.clients.models import Client
from exchange.continuity.service import client_not_found, is_involved
from exchange.packets.models import Packet
from exchange.policy import Identity
from exchange.registry.models import Organization, User
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
        "none": "Tietojasi ei ole vielä luovutettu eikä luettu palvelun kautta.",
        "intro": "Tässä ovat kaikki kerrat, kun joku on nähnyt tai saanut tietojasi "
        "tämän palvelun kautta.",
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
        "none": "Dina uppgifter har ännu inte lämnats ut eller lästs via tjänsten.",
        "intro": "Här är alla gånger någon har sett eller fått dina uppgifter "
        "via den här tjänsten.",
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
        "none": "Your data has not yet been shared or read through this service.",
        "intro": "These are all the times someone saw or received your data through this service.",
    },
}


def access_report(uow: UnitOfWork, identity: Identity, client_id: str) -> dict[str, Any]:
    """The report for an organization involved with the client (404 otherwise); audited."""
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
    names = {
        o.id: o.name
        for o in session.execute(select(Organization).where(Organization.id.in_(org_ids))).scalars()
    }
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


def report_page(report: dict[str, Any], lang: str) -> dict[str, Any]:
    """What the printable page shows, in ``lang``."""
    text = PAGE[lang]
    rows = []
    for entry in report["entries"]:
        at = entry["at"]
        rows.append(
            {
                "when": f"{int(at[8:10])}.{int(at[5:7])}.{at[0:4]} {at[11:16]} UTC",
                "who": entry["organization_name"] or entry["organization"] or "",
                "what": WHAT[lang].get(entry["what"], entry["what"]),
                "which": ", ".join(category_label(lang, c) for c in entry["categories"]),
                "basis": text.get(entry["basis"] or "", ""),
            }
        )
    return {"lang": lang, "t": text, "rows": rows}
