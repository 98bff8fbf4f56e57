"""The consent decision: may these categories go from S to R for purpose P at time T?

One pure function, :func:`decide`. Per category, in this order:

1. a statute rule for (recipient kind, purpose, category) allows it, even over a ban;
2. otherwise an in-force ``deny`` covering it refuses it (deny wins);
3. otherwise an in-force ``permit`` covering it allows it;
4. otherwise it is refused for want of consent.

Records of other clients are the caller's business: the function does not filter by
client. Expiry comes from ``valid_until`` through :meth:`ConsentRecord.in_force_at`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field

from consent.model import DENY, PERMIT, ConsentRecord
from consent.statutes import StatuteTable

__all__ = ["CategoryDecision", "Decision", "DisclosureRequest", "decide"]

BASIS_CONSENT = "consent"
BASIS_STATUTE = "statute"

REASON_STATUTE = "statute"
REASON_CONSENT = "consent"
REASON_BAN = "ban"
REASON_NO_CONSENT = "no_consent"

# Plain language (selkokieli): short sentences, no legal terms beyond the citation.
_CONSENT_REASON = {
    "fi": "Asiakas on antanut suostumuksen. Tieto saa siirtyä.",
    "sv": "Klienten har gett sitt samtycke. Uppgiften får lämnas ut.",
    "en": "The client has given consent. The information may be shared.",
}
_STATUTE_REASON = {
    "fi": "Laki antaa oikeuden tähän tietoon ({statute}). Suostumusta ei tarvita.",
    "sv": "Lagen ger rätt till den här uppgiften ({statute}). Samtycke behövs inte.",
    "en": "The law gives a right to this information ({statute}). Consent is not needed.",
}
_BAN_REASON = {
    "fi": "Asiakas on kieltänyt tämän tiedon luovuttamisen.",
    "sv": "Klienten har förbjudit att den här uppgiften lämnas ut.",
    "en": "The client has forbidden sharing this information.",
}
_NO_CONSENT_REASON = {
    "fi": "Asiakkaalla ei ole voimassa olevaa suostumusta tähän.",
    "sv": "Klienten har inget giltigt samtycke till det här.",
    "en": "The client has no valid consent for this.",
}


@dataclass(frozen=True)
class DisclosureRequest:
    """A disclosure asked about: ``categories`` from ``source`` to ``recipient`` at ``at``."""

    source: str
    source_kind: str
    recipient: str
    recipient_kind: str
    purpose: str
    categories: tuple[str, ...]
    at: dt.datetime  # timezone-aware


@dataclass(frozen=True)
class CategoryDecision:
    """The outcome for one category, with its legal basis and a plain-language reason."""

    category: str
    allowed: bool
    basis: str | None  # "consent" | "statute" | None
    consent_id: str | None
    statute: str | None
    reason_code: str  # "statute" | "consent" | "ban" | "no_consent"
    reason: dict[str, str] = field(hash=False)  # fi, sv, en

    def reason_in(self, language: str) -> str:
        """The reason in ``language``, or in Finnish when that language is missing."""
        return self.reason.get(language) or self.reason["fi"]


@dataclass(frozen=True)
class Decision:
    """The outcomes for every category asked about, in the order asked."""

    decisions: tuple[CategoryDecision, ...]

    @property
    def allowed(self) -> bool:
        """True only when at least one category was asked and every one is allowed."""
        return bool(self.decisions) and all(item.allowed for item in self.decisions)

    @property
    def refused(self) -> tuple[CategoryDecision, ...]:
        """The categories that may not be disclosed."""
        return tuple(item for item in self.decisions if not item.allowed)


def decide(
    records: Iterable[ConsentRecord], statutes: StatuteTable, request: DisclosureRequest
) -> Decision:
    """Decide each requested category; see the module docstring for the rules."""
    at = request.at
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("request.at must be timezone-aware")
    source, recipient, purpose = request.source, request.recipient, request.purpose

    # One pass: keep only records that speak about this source, recipient and purpose and
    # are in force now. The cheap set look-ups go first; in_force_at converts time zones.
    denies: list[ConsentRecord] = []
    permits: list[ConsentRecord] = []
    for record in records:
        if (
            source not in record.sources
            or recipient not in record.recipients
            or purpose not in record.purposes
        ):
            continue
        if record.decision == DENY:
            if record.in_force_at(at):
                denies.append(record)
        elif record.decision == PERMIT and record.in_force_at(at):
            permits.append(record)

    decisions: list[CategoryDecision] = []
    for category in dict.fromkeys(request.categories):
        rule = statutes.find(request.recipient_kind, purpose, category)
        if rule is not None:
            decisions.append(
                CategoryDecision(
                    category=category,
                    allowed=True,
                    basis=BASIS_STATUTE,
                    consent_id=None,
                    statute=rule.statute,
                    reason_code=REASON_STATUTE,
                    reason={
                        language: template.format(statute=rule.statute)
                        for language, template in _STATUTE_REASON.items()
                    },
                )
            )
            continue

        ban = _latest((r for r in denies if category in r.categories), by_validity=False)
        if ban is not None:
            decisions.append(_refusal(category, ban.id, REASON_BAN, _BAN_REASON))
            continue

        permit = _latest((r for r in permits if category in r.categories), by_validity=True)
        if permit is not None:
            decisions.append(
                CategoryDecision(
                    category=category,
                    allowed=True,
                    basis=BASIS_CONSENT,
                    consent_id=permit.id,
                    statute=None,
                    reason_code=REASON_CONSENT,
                    reason=dict(_CONSENT_REASON),
                )
            )
            continue

        decisions.append(_refusal(category, None, REASON_NO_CONSENT, _NO_CONSENT_REASON))
    return Decision(decisions=tuple(decisions))


def _refusal(
    category: str, consent_id: str | None, code: str, reason: dict[str, str]
) -> CategoryDecision:
    return CategoryDecision(
        category=category,
        allowed=False,
        basis=None,
        consent_id=consent_id,
        statute=None,
        reason_code=code,
        reason=dict(reason),
    )


def _latest(candidates: Iterable[ConsentRecord], *, by_validity: bool) -> ConsentRecord | None:
    """The record to cite, chosen independently of input order.

    A permit cites the one that lasts longest (then the newest, then the greatest id), so
    the cited consent is the one that keeps the disclosure lawful longest. A ban cites the
    newest (then the greatest id).
    """
    best: ConsentRecord | None = None
    for record in candidates:
        if best is None or _rank(record, by_validity) > _rank(best, by_validity):
            best = record
    return best


def _rank(record: ConsentRecord, by_validity: bool) -> tuple[dt.date, dt.datetime, str]:
    # For bans valid_until is not part of the order: a constant keeps the tuple shape.
    first = record.valid_until if by_validity else dt.date.min
    return (first, record.recorded_at, record.id)
