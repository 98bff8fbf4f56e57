"""Consent receipts: a signed machine-readable record and a printable page for the client.

Field names follow the Kantara Initiative consent receipt (and ISO/IEC TS
27560) where they fit; ``consentId``, ``decision``, ``status``, ``validFrom``,
``validUntil``, ``grantor`` and ``notice`` are this service's own.
"""

from __future__ import annotations

import json
from typing import Any

from joserfc import jws

from adapters.keys import SIGNING_ALG, KeyStore
from consent.model import local_date
from consent.texts import category_label, purpose_label
from exchange.clients.service import ClientRecord
from exchange.consents.models import Consent
from exchange.printouts import CLIENT_LABEL, client_line, short_date
from exchange.registry.cache import OrganizationEntry

RECEIPT_VERSION = "KI-CR-v1.1.0"
RECEIPT_TYP = "consent-receipt+jws"

WITHDRAWAL = {
    "fi": "Voit perua suostumuksen milloin tahansa. Kerro siitä sosiaalityöntekijällesi "
    "tai jollekin luetelluista organisaatioista. Peruminen tulee voimaan heti.",
    "sv": "Du kan återkalla samtycket när som helst. Säg det till din socialarbetare "
    "eller till någon av de nämnda organisationerna. Återkallelsen gäller genast.",
    "en": "You can withdraw this consent at any time. Tell your social worker or any of "
    "the organizations listed. The withdrawal takes effect at once.",
}


def build_receipt(
    row: Consent, status: str, organizations: dict[str, OrganizationEntry], issuer: str
) -> dict[str, Any]:
    """The receipt document of a consent as it stands now, in the consent's language (the
    organizations by their names in it too)."""
    lang = row.language

    def controller(org_id: str) -> dict[str, Any]:
        org = organizations.get(org_id)
        return {
            "organizationId": org_id,
            "piiController": org.display_name(lang) if org else org_id,
            "businessId": org.business_id if org else None,
        }

    return {
        "version": RECEIPT_VERSION,
        "jurisdiction": "FI",
        "consentReceiptID": f"{row.id}:{row.text_sha256[:16]}",
        "consentId": row.id,
        "consentTimestamp": int(row.recorded_at.timestamp()),
        "collectionMethod": row.method,
        "language": lang,
        "piiPrincipalId": row.client_id,
        "grantor": {"type": row.grantor_type, "name": row.grantor_name},
        "decision": row.decision,
        "status": status,
        "validFrom": row.valid_from.isoformat(),
        "validUntil": row.valid_until.isoformat(),
        "piiControllers": [controller(org_id) for org_id in row.sources],
        "services": [
            {
                "service": purpose,
                "purposes": [
                    {
                        "purpose": purpose_label(lang, purpose),
                        "purposeCategory": [purpose],
                        "consentType": "EXPLICIT",
                        "piiCategory": list(row.categories),
                        "primaryPurpose": True,
                        "termination": row.valid_until.isoformat(),
                        "thirdPartyDisclosure": row.decision == "permit",
                        "thirdPartyName": [
                            controller(org_id)["piiController"] for org_id in row.recipients
                        ],
                    }
                ],
            }
            for purpose in row.purposes
        ],
        "sensitive": "health" in row.categories,
        "spiCat": ["health"] if "health" in row.categories else [],
        "notice": {"version": row.text_version, "sha256": row.text_sha256, "language": lang},
        "withdrawal": WITHDRAWAL[lang],
        "issuer": issuer,
    }


def sign_receipt(receipt: dict[str, Any], keys: KeyStore) -> str:
    """Compact JWS over the receipt, verifiable with the service's published JWKS."""
    key = keys.signing_key
    payload = json.dumps(receipt, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    header = {"alg": SIGNING_ALG, "kid": key.kid, "typ": RECEIPT_TYP}
    return jws.serialize_compact(header, payload.encode(), key, algorithms=[SIGNING_ALG])


PAGE_TEXT = {
    "fi": {
        "title": "Kuitti suostumuksesta",
        "ban_title": "Kuitti kiellosta antaa tietojasi",
        "what": "Mitä tietoja",
        "from": "Keneltä",
        "to": "Kenelle",
        "why": "Mihin tarkoitukseen",
        "valid": "Voimassa",
        "status": "Tila",
        "given": "Annettu",
        "how": "Miten annettu",
        "withdraw": "Näin perut suostumuksen",
        "text": "Teksti, jonka näit",
        "ask": "Kysyttävää? Kerro, että kyse on suostumuksesta, joka on annettu {date}. "
        "Voit kysyä näistä organisaatioista: {organizations}.",
        "verify": "Tästä kuitista on myös sähköinen versio. Sen aitouden voi tarkistaa.",
    },
    "sv": {
        "title": "Kvitto på samtycke",
        "ban_title": "Kvitto på förbud att lämna ut dina uppgifter",
        "what": "Vilka uppgifter",
        "from": "Från vem",
        "to": "Till vem",
        "why": "För vilket ändamål",
        "valid": "Gäller",
        "status": "Status",
        "given": "Givet",
        "how": "Hur det gavs",
        "withdraw": "Så här återkallar du samtycket",
        "text": "Texten du såg",
        "ask": "Har du frågor? Säg att det gäller samtycket som gavs {date}. "
        "Du kan fråga de här organisationerna: {organizations}.",
        "verify": "Det finns också en elektronisk version av kvittot. "
        "Man kan kontrollera att den är äkta.",
    },
    "en": {
        "title": "Consent receipt",
        "ban_title": "Receipt for a ban on sharing your information",
        "what": "Which information",
        "from": "From",
        "to": "To",
        "why": "For what purpose",
        "valid": "Valid",
        "status": "Status",
        "given": "Given",
        "how": "How it was given",
        "withdraw": "How to withdraw",
        "text": "The text you saw",
        "ask": "Questions? Say it is about the consent given on {date}. "
        "You can ask these organizations: {organizations}.",
        "verify": "There is also an electronic version of this receipt. It can be checked.",
    },
}

STATUS_TEXT = {
    "fi": {
        "pending": "odottaa hyväksyntää",
        "active": "voimassa",
        "rejected": "hylätty",
        "withdrawn": "peruttu",
        "expired": "päättynyt",
    },
    "sv": {
        "pending": "väntar på godkännande",
        "active": "gäller",
        "rejected": "avslaget",
        "withdrawn": "återkallat",
        "expired": "har gått ut",
    },
    "en": {
        "pending": "waiting for approval",
        "active": "in force",
        "rejected": "rejected",
        "withdrawn": "withdrawn",
        "expired": "expired",
    },
}

METHOD_TEXT = {
    "fi": {
        "electronic_strong_auth": "sähköisesti vahvalla tunnistautumisella",
        "signed_paper": "allekirjoitetulla paperilomakkeella",
        "verbal_witnessed": "suullisesti todistajan läsnä ollessa",
    },
    "sv": {
        "electronic_strong_auth": "elektroniskt med stark autentisering",
        "signed_paper": "på en undertecknad pappersblankett",
        "verbal_witnessed": "muntligt i närvaro av ett vittne",
    },
    "en": {
        "electronic_strong_auth": "electronically, with strong identification",
        "signed_paper": "on a signed paper form",
        "verbal_witnessed": "orally, with a witness present",
    },
}


def page_context(
    row: Consent,
    receipt: dict[str, Any],
    organizations: dict[str, OrganizationEntry],
    person: ClientRecord | None = None,
) -> dict[str, Any]:
    """What the printable page shows, in the consent's language: the client named by name and
    masked identity code, organizations by name, dates in Finnish time; no technical ids (the
    signed document carries those)."""
    lang = row.language

    def names(ids: list[str]) -> list[str]:
        # An organization no longer registered is left out rather than shown by its id.
        return [organizations[i].display_name(lang) for i in ids if i in organizations]

    given = short_date(local_date(row.recorded_at))
    parties = names(list(dict.fromkeys([*row.sources, *row.recipients])))
    text = PAGE_TEXT[lang]
    return {
        "lang": lang,
        "t": text,
        "client_label": CLIENT_LABEL[lang],
        "client": client_line(person, lang),
        "ask": text["ask"].format(date=given, organizations=", ".join(parties)),
        "is_ban": row.decision == "deny",
        "categories": [category_label(lang, c) for c in row.categories],
        "purposes": [purpose_label(lang, p) for p in row.purposes],
        "sources": names(row.sources),
        "recipients": names(row.recipients),
        "valid_from": short_date(row.valid_from),
        "valid_until": short_date(row.valid_until),
        "status": STATUS_TEXT[lang][receipt["status"]],
        "given": given,
        "method": METHOD_TEXT[lang][row.method],
        "withdrawal": WITHDRAWAL[lang],
        "text": row.text,
    }
