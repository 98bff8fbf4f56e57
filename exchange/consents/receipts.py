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
from consent.texts import category_label, purpose_label
from exchange.consents.models import Consent
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
    """The receipt document of a consent as it stands now."""
    lang = row.language

    def controller(org_id: str) -> dict[str, Any]:
        org = organizations.get(org_id)
        return {
            "organizationId": org_id,
            "piiController": org.name if org else org_id,
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
        "ban_title": "Kuitti tietojen luovutuskiellosta",
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
        "id": "Kuitin tunniste",
        "verify": "Kuitti on allekirjoitettu sähköisesti. "
        "Allekirjoituksen voi tarkistaa palvelun julkisella avaimella.",
    },
    "sv": {
        "title": "Kvitto på samtycke",
        "ban_title": "Kvitto på förbud mot utlämnande",
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
        "id": "Kvittots identifierare",
        "verify": "Kvittot är elektroniskt undertecknat. "
        "Underskriften kan kontrolleras med tjänstens offentliga nyckel.",
    },
    "en": {
        "title": "Consent receipt",
        "ban_title": "Receipt for a disclosure ban",
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
        "id": "Receipt id",
        "verify": "This receipt is signed electronically. "
        "The signature can be checked with the service's public key.",
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
    row: Consent, receipt: dict[str, Any], organizations: dict[str, OrganizationEntry]
) -> dict[str, Any]:
    """What the printable page shows, in the consent's language."""
    lang = row.language

    def names(ids: list[str]) -> list[str]:
        return [organizations[i].name if i in organizations else i for i in ids]

    return {
        "lang": lang,
        "t": PAGE_TEXT[lang],
        "is_ban": row.decision == "deny",
        "categories": [category_label(lang, c) for c in row.categories],
        "purposes": [purpose_label(lang, p) for p in row.purposes],
        "sources": names(row.sources),
        "recipients": names(row.recipients),
        "valid_from": f"{row.valid_from.day}.{row.valid_from.month}.{row.valid_from.year}",
        "valid_until": f"{row.valid_until.day}.{row.valid_until.month}.{row.valid_until.year}",
        "status": STATUS_TEXT[lang][receipt["status"]],
        "given": f"{row.recorded_at.day}.{row.recorded_at.month}.{row.recorded_at.year}",
        "method": METHOD_TEXT[lang][row.method],
        "withdrawal": WITHDRAWAL[lang],
        "text": row.text,
        "receipt_id": receipt["consentReceiptID"],
    }
