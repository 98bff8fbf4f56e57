"""The consent record and its lifecycle, as plain data: no Flask, no SQL.

A consent says that a client (or their guardian or legal representative)
*permits* or *denies* disclosure of some data categories, from some source
organizations to some recipient organizations, for some purposes, between two
dates. Records are immutable once recorded: only their status moves.

Lifecycle::

    permit:  pending --approve--> active --withdraw--> withdrawn
                     \\--reject--> rejected   \\--(valid_until passes)--> expired
    deny:    active at once (blocking is always safe) --withdraw--> withdrawn

Only a person of the consent's approver organization approves or rejects it, and the
person who recorded it never approves it (four eyes): :func:`decision_refusal`.

``expired`` is never stored: it is computed from ``valid_until`` at the moment
asked about, so no scheduled job is needed for a consent to stop counting.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from zoneinfo import ZoneInfo

from consent.errors import RuleViolation, TransitionNotAllowed

FINLAND = ZoneInfo("Europe/Helsinki")

PERMIT = "permit"
DENY = "deny"
DECISIONS = (PERMIT, DENY)

PENDING = "pending"
ACTIVE = "active"
REJECTED = "rejected"
WITHDRAWN = "withdrawn"
EXPIRED = "expired"
STATUSES = (PENDING, ACTIVE, REJECTED, WITHDRAWN, EXPIRED)
# The stored statuses of a consent that has been in force at some point: ``expired`` is never
# stored (an active one past ``valid_until``) and a superseded one is stored ``withdrawn``;
# ``pending`` and ``rejected`` ones never were (a ban is stored ``active`` at once).
ONCE_IN_FORCE = (ACTIVE, WITHDRAWN)

GRANTOR_TYPES = ("self", "guardian", "legal_representative")
METHODS = ("electronic_strong_auth", "signed_paper", "verbal_witnessed")
LANGUAGES = ("fi", "sv", "en")


def local_date(moment: dt.datetime) -> dt.date:
    """The calendar date in Finland at ``moment``: consent dates are Finnish dates."""
    if moment.tzinfo is None:
        raise ValueError("moment must be timezone-aware")
    return moment.astimezone(FINLAND).date()


@dataclass(frozen=True)
class ConsentRecord:
    """One recorded consent, as the decision function sees it."""

    id: str
    client_id: str
    decision: str
    status: str
    sources: frozenset[str]
    recipients: frozenset[str]
    categories: frozenset[str]
    purposes: frozenset[str]
    valid_from: dt.date
    valid_until: dt.date
    recorded_at: dt.datetime
    recorded_by_user: str | None = None
    grantor_type: str = "self"
    approved_by_user: str | None = None
    withdrawn_at: dt.datetime | None = None  # withdrawn, or superseded by a new consent
    approved_at: dt.datetime | None = None
    rejected_at: dt.datetime | None = None
    # Whose social worker decides a pending permit; None only in records made without one.
    approver_organization: str | None = None
    extra: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    def status_at(self, moment: dt.datetime) -> str:
        """The status in force at ``moment``, past or present, rebuilt from the times of its
        transitions; ``active`` turns ``expired`` after ``valid_until``. Without a transition's
        time (records made before times were kept) the stored status answers."""
        status = self._decided_status_at(moment)
        if status == ACTIVE and local_date(moment) > self.valid_until:
            return EXPIRED
        return status

    def _decided_status_at(self, moment: dt.datetime) -> str:
        if self.withdrawn_at is not None and moment >= self.withdrawn_at:
            return WITHDRAWN
        if self.status == REJECTED:
            before = self.rejected_at is not None and moment < self.rejected_at
            return PENDING if before else REJECTED
        if self.status in (ACTIVE, WITHDRAWN):
            if self.status == WITHDRAWN and self.withdrawn_at is None:
                return WITHDRAWN  # withdrawn at a time not kept
            # A ban is in force from its recording, a permit from its approval.
            start = self.recorded_at if self.decision == DENY else self.approved_at
            return PENDING if start is not None and moment < start else ACTIVE
        return self.status

    def in_force_at(self, moment: dt.datetime) -> bool:
        """Active, not withdrawn, and ``moment`` falls within its validity dates (inclusive)."""
        return (
            self.status_at(moment) == ACTIVE
            and self.valid_from <= local_date(moment) <= self.valid_until
        )

    def covers(self, source: str, recipient: str, purpose: str, category: str) -> bool:
        """Whether this record speaks about exactly this disclosure."""
        return (
            source in self.sources
            and recipient in self.recipients
            and purpose in self.purposes
            and category in self.categories
        )


def initial_status(decision: str) -> str:
    """A permit waits for a social worker's approval; a ban applies at once."""
    return ACTIVE if decision == DENY else PENDING


def approve(
    record: ConsentRecord, approver: str, moment: dt.datetime, organization: str | None = None
) -> ConsentRecord:
    """``pending → active`` by ``approver`` of ``organization``: a person of the approver
    organization who did not record it (four eyes)."""
    _require_approver_organization(record, organization)
    _require(record, PENDING, "approve", moment)
    # Fails closed: a record without a known recorder cannot pass the four-eyes check.
    if record.recorded_by_user is None or approver == record.recorded_by_user:
        raise TransitionNotAllowed(
            "The person who recorded a consent cannot also approve it.", code="four_eyes_required"
        )
    if local_date(moment) > record.valid_until:
        raise TransitionNotAllowed(
            "The consent's validity ended before it was approved; record a new one.",
            code="consent_lapsed",
        )
    return replace(record, status=ACTIVE, approved_by_user=approver, approved_at=moment)


def reject(
    record: ConsentRecord, moment: dt.datetime, organization: str | None = None
) -> ConsentRecord:
    """``pending → rejected`` by a person of the approver organization."""
    _require_approver_organization(record, organization)
    _require(record, PENDING, "reject", moment)
    return replace(record, status=REJECTED, rejected_at=moment)


def decision_refusal(
    record: ConsentRecord, organization: str, person: str, moment: dt.datetime, action: str
) -> TransitionNotAllowed | None:
    """Why ``person`` of ``organization`` may not ``action`` (``approve`` or ``reject``) the
    consent at ``moment``; None when they may. The one rule every door asks, the API and the
    web page alike, before offering or doing a decision."""
    try:
        if action == "approve":
            approve(record, person, moment, organization)
        elif action == "reject":
            reject(record, moment, organization)
        else:
            raise ValueError(f"not a decision: {action}")
    except TransitionNotAllowed as refused:
        return refused
    return None


def _require_approver_organization(record: ConsentRecord, organization: str | None) -> None:
    # Asked before the status, so that an organization that may never decide is told so
    # whatever the consent's state. A record naming no approver organization (the domain's
    # own tests) leaves the decision to whoever the caller allows.
    if record.approver_organization is not None and organization != record.approver_organization:
        raise TransitionNotAllowed(
            "Only a social worker of the consent's approver organization can approve or reject it.",
            code="not_the_approver",
        )


def withdraw(record: ConsentRecord, moment: dt.datetime) -> ConsentRecord:
    """``active → withdrawn``, effective at ``moment``."""
    _require(record, ACTIVE, "withdraw", moment)
    return replace(record, status=WITHDRAWN, withdrawn_at=moment)


def _require(record: ConsentRecord, wanted: str, action: str, moment: dt.datetime) -> None:
    current = record.status_at(moment)
    if current != wanted:
        raise TransitionNotAllowed(
            f"Cannot {action} a consent that is {current}; only a {wanted} consent can be.",
            code=f"consent_{current}",
        )


def months_after(start: dt.date, months: int) -> dt.date:
    """The same day ``months`` later (the month's last day when it has no such day)."""
    month_index = start.month - 1 + months
    year, month = start.year + month_index // 12, month_index % 12 + 1
    for day in (start.day, 30, 29, 28):
        try:
            return dt.date(year, month, day)
        except ValueError:
            continue
    raise AssertionError("unreachable: every month has a 28th")


@dataclass(frozen=True)
class Terms:
    """What a new consent says, as far as the domain rules care."""

    decision: str
    grantor_type: str
    method: str
    evidence: dict[str, str]
    valid_from: dt.date
    valid_until: dt.date


def term_violations(terms: Terms, today: dt.date, max_months: int) -> list[RuleViolation]:
    """Every domain rule a new consent breaks (empty when it may be recorded)."""
    problems: list[RuleViolation] = []
    if terms.valid_until < terms.valid_from:
        problems.append(RuleViolation("valid_until", "Must not be before valid_from."))
    if terms.valid_until < today:
        problems.append(RuleViolation("valid_until", "Must not be in the past."))
    if terms.valid_until > months_after(terms.valid_from, max_months):
        problems.append(
            RuleViolation("valid_until", f"A consent may last at most {max_months} months.")
        )
    if terms.valid_from > months_after(today, 12):
        problems.append(RuleViolation("valid_from", "May start at most 12 months from today."))
    if terms.decision == DENY and terms.grantor_type != "self":
        # Blocking is the client's own right; a representative may not silence the client's data.
        problems.append(
            RuleViolation(
                "grantor.type", "Only the client can set a disclosure ban, not a representative."
            )
        )
    if terms.method == "signed_paper" and not terms.evidence.get("reference"):
        problems.append(
            RuleViolation("evidence.reference", "A signed paper form needs its reference.")
        )
    if terms.method == "verbal_witnessed" and not terms.evidence.get("witness_name"):
        problems.append(
            RuleViolation("evidence.witness_name", "A verbal consent needs a named witness.")
        )
    return problems


def in_force(records: Iterable[ConsentRecord], moment: dt.datetime) -> list[ConsentRecord]:
    """The records that count at ``moment``."""
    return [record for record in records if record.in_force_at(moment)]
