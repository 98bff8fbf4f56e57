"""Consent service: recording, approval, withdrawal, visibility, decisions.

The rules live in ``consent`` (pure); this module loads and stores rows,
applies the SPEC visibility rule and writes the audit events.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.orm import Session, lazyload, load_only

from adapters.db import utcnow
from adapters.keys import KeyStore
from adapters.pagination import Page, newest_first
from consent import model
from consent.decision import Decision, DisclosureRequest, decide
from consent.errors import TransitionNotAllowed
from consent.model import ConsentRecord, local_date
from consent.statutes import StatuteTable
from consent.texts import render_consent_text
from exchange import audit
from exchange.clients.models import Client
from exchange.clients.service import ClientService
from exchange.consents.models import (
    APPROVER,
    NAMED_APPROVER,
    RECIPIENT,
    RECORD_COLUMNS,
    RECORDER,
    SOURCE,
    Consent,
    ConsentEvent,
    ConsentParty,
)
from exchange.consents.receipts import build_receipt, sign_receipt
from exchange.continuity.service import involved_client
from exchange.errors import Conflict, Denial, FieldError, Forbidden, Invalid, NotFound
from exchange.policy import Identity
from exchange.registry.cache import OrganizationEntry, RegistryCache, RegistryView
from exchange.registry.service import supervisor_errors
from exchange.unit import UnitOfWork
from exchange.webhooks.outbox import notify

# Told of a consent withdrawn, in the withdrawing unit of work, with who withdrew it.
WithdrawalListener = Callable[[UnitOfWork, Identity, Consent], None]
AUDIT_ACTIONS = {
    "approved": "consent.approve",
    "rejected": "consent.reject",
    "withdrawn": "consent.withdraw",
}
# Refusals of a transition that concern who asks, not the consent's state: 403, not 409.
NOT_YOURS_TO_DECIDE = frozenset({"four_eyes_required", "not_the_approver"})


def consent_records(session: Session, client_id: str) -> list[ConsentRecord]:
    """The client's consents as a decision reads them: their own columns that it needs."""
    rows = session.execute(
        select(Consent)
        .where(Consent.client_id == client_id)
        .options(load_only(*RECORD_COLUMNS), lazyload("*"))
    ).scalars()
    return [to_record(row) for row in rows]


def to_record(row: Consent) -> ConsentRecord:
    """The pure-domain view of a stored consent."""
    return ConsentRecord(
        id=row.id,
        client_id=row.client_id,
        decision=row.decision,
        status=row.status,
        sources=frozenset(row.sources),
        recipients=frozenset(row.recipients),
        categories=frozenset(row.categories),
        purposes=frozenset(row.purposes),
        valid_from=row.valid_from,
        valid_until=row.valid_until,
        recorded_at=row.recorded_at,
        recorded_by_user=row.recorded_by_user,
        grantor_type=row.grantor_type,
        approved_by_user=row.decided_by_user if row.status != model.REJECTED else None,
        withdrawn_at=row.withdrawn_at,
        # decided_at is the approval of a permit that was active (and may since be withdrawn),
        # or the rejection of one that never was.
        approved_at=row.decided_at if row.status != model.REJECTED else None,
        rejected_at=row.decided_at if row.status == model.REJECTED else None,
        approver_organization=row.approver_organization,
    )


class ConsentService:
    def __init__(
        self,
        uow: UnitOfWork,
        keys: KeyStore,
        statutes: StatuteTable,
        max_months: int,
        listeners: Sequence[WithdrawalListener] = (),
        registry: RegistryView | None = None,
    ) -> None:
        self.uow = uow
        self.session = uow.session
        self.keys = keys
        self.statutes = statutes
        self.max_months = max_months
        self.listeners = listeners
        # Organizations as the process caches them (a private cache otherwise).
        self.registry = registry or RegistryCache().view(self.session)

    # --- look-ups ------------------------------------------------------------------

    def _client(
        self,
        identity: Identity,
        ref: dict[str, str],
        *,
        create: bool,
        with_consents: bool = False,
    ) -> Client | None:
        """The client named by identity code, or by an id the caller's organization may know:
        an id of a client it is not involved with is treated as unknown. With
        ``with_consents``, ``client.consents`` comes in the same statement."""
        if "hetu" in ref:
            clients = ClientService(self.uow, self.keys)
            if create:
                return clients.lookup(identity, ref["hetu"], with_consents=with_consents)[0]
            return clients.find(ref["hetu"], with_consents=with_consents)
        return involved_client(self.session, ref["id"], identity.organization, with_consents)

    def _organizations(self, ids: set[str]) -> dict[str, OrganizationEntry]:
        """The registered ones of ``ids``."""
        found = {org_id: self.registry.organization(org_id) for org_id in sorted(ids)}
        return {org_id: entry for org_id, entry in found.items() if entry is not None}

    def awaiting_approval(self, identity: Identity) -> list[Consent]:
        """The caller's organization's approval queue: the pending consents it is named to
        approve, oldest first."""
        query = (
            select(Consent)
            .where(
                Consent.approver_organization == identity.organization,
                Consent.status == model.PENDING,
            )
            .order_by(Consent.recorded_at, Consent.id)
        )
        return list(self.session.execute(query).scalars())

    def decision_refusal(
        self, identity: Identity, row: Consent, action: str = "approve"
    ) -> TransitionNotAllowed | None:
        """Why the acting person may not ``action`` (``approve`` or ``reject``) this consent
        they can see; None when they may (the rule is ``consent.model.decision_refusal``)."""
        return model.decision_refusal(
            to_record(row), identity.organization, identity.person, utcnow(), action
        )

    def visible(self, identity: Identity, consent_id: str, action: str = "consent.read") -> Consent:
        """The consent if the caller's organization may see it; otherwise 404 (audited)."""
        row = self.session.execute(
            select(Consent).where(
                Consent.id == consent_id,
                exists().where(
                    ConsentParty.consent_id == Consent.id,
                    ConsentParty.organization_id == identity.organization,
                ),
            )
        ).scalar_one_or_none()
        if row is None:
            raise self.uow.refuse(
                NotFound("No such consent.", code="consent_not_found"),
                Denial(action, resource_type="consent", resource_id=consent_id[:128]),
            )
        return row

    # --- recording -----------------------------------------------------------------

    def record(self, identity: Identity, body: dict[str, Any]) -> Consent:
        """Record a consent for the caller's organization, by the acting person: a permit as
        ``pending``, a ban ``active`` at once."""
        organization, username = identity.organization, identity.person
        now = utcnow()
        today = local_date(now)
        valid_from: dt.date = body.get("valid_from") or today
        self._check_terms(body, valid_from, today)
        approver = body.get("approver_organization") or organization
        orgs = self._organizations({*body["sources"], *body["recipients"], approver})
        unknown = [
            FieldError(f"{group}[{index}]", f"Unknown organization {org_id!r}.")
            for group in ("sources", "recipients")
            for index, org_id in enumerate(body[group])
            if org_id not in orgs
        ]
        if approver not in orgs:
            unknown.append(
                FieldError("approver_organization", f"Unknown organization {approver!r}.")
            )
        if unknown:
            raise Invalid("The consent names unknown organizations.", errors=unknown)
        supervisors = supervisor_errors(
            [
                *(
                    (f"{group}[{index}]", orgs[org_id])
                    for group in ("sources", "recipients")
                    for index, org_id in enumerate(body[group])
                ),
                ("approver_organization", orgs[approver]),
            ]
        )
        if supervisors:
            raise Invalid(
                "A supervisor organization cannot be named in a consent.", errors=supervisors
            )
        client = self._client(identity, body["client"], create=True)
        if client is None:
            raise Invalid("No such client.", errors=[FieldError("client.id", "Unknown client id.")])
        supersedes = None
        if body.get("supersedes"):
            old = self.visible(identity, body["supersedes"], "consent.record")
            if old.client_id != client.id:
                raise Invalid(
                    "A consent can only replace one of the same client.",
                    errors=[FieldError("supersedes", "Another client's consent.")],
                )
            supersedes = old.id

        grantor = body["grantor"]
        language = body["language"]
        # The client reads the organizations' names in the text's language, not the recorder's.
        text = render_consent_text(
            language,
            decision=body["decision"],
            grantor_type=grantor["type"],
            grantor_name=grantor.get("name"),
            sources=[orgs[o].display_name(language) for o in body["sources"]],
            recipients=[orgs[o].display_name(language) for o in body["recipients"]],
            categories=body["categories"],
            purposes=body["purposes"],
            valid_from=valid_from,
            valid_until=body["valid_until"],
        )
        row = Consent(
            id=str(uuid.uuid4()),
            client_id=client.id,
            decision=body["decision"],
            status=model.initial_status(body["decision"]),
            sources=list(body["sources"]),
            recipients=list(body["recipients"]),
            categories=list(body["categories"]),
            purposes=list(body["purposes"]),
            valid_from=valid_from,
            valid_until=body["valid_until"],
            grantor_type=grantor["type"],
            grantor_name=grantor.get("name"),
            method=body["method"],
            evidence=dict(body["evidence"]),
            language=language,
            text_version=text.version,
            text_sha256=text.sha256,
            text=text.text,
            supersedes=supersedes,
            recorded_at=now,
            recorded_by_org=organization,
            recorded_by_user=username,
            approver_organization=approver,
        )
        parties = {(organization, RECORDER), (approver, NAMED_APPROVER)}
        parties |= {(org_id, SOURCE) for org_id in body["sources"]}
        parties |= {(org_id, RECIPIENT) for org_id in body["recipients"]}
        row.parties = [ConsentParty(organization_id=o, role=r) for o, r in sorted(parties)]
        row.events = [
            ConsentEvent(
                at=now,
                action="recorded",
                status=row.status,
                organization_id=organization,
                username=username,
            )
        ]
        self.session.add(row)
        self.session.flush()
        audit.record(
            self.session,
            identity,
            "consent.record",
            resource_type="consent",
            resource_id=row.id,
            client_ref=client.id,
            basis_type="consent",
            basis_ref=row.id,
        )
        if row.status == model.ACTIVE:
            self._retire_superseded(identity, row, now)
        return row

    def _check_terms(self, body: dict[str, Any], valid_from: dt.date, today: dt.date) -> None:
        terms = model.Terms(
            decision=body["decision"],
            grantor_type=body["grantor"]["type"],
            method=body["method"],
            evidence=body["evidence"],
            valid_from=valid_from,
            valid_until=body["valid_until"],
        )
        problems = model.term_violations(terms, today, self.max_months)
        if problems:
            raise Invalid(
                "The consent breaks a rule.",
                errors=[FieldError(problem.field, problem.message) for problem in problems],
            )

    # --- transitions -----------------------------------------------------------------

    def _transition(
        self,
        identity: Identity,
        row: Consent,
        change: Callable[[ConsentRecord], ConsentRecord],
        action: str,
        reason: str | None,
    ) -> dt.datetime:
        now = utcnow()
        try:
            updated = change(to_record(row))
        except TransitionNotAllowed as exc:
            denial = Denial(
                AUDIT_ACTIONS[action], "consent", row.id, client_ref=row.client_id, reason=exc.code
            )
            if exc.code in NOT_YOURS_TO_DECIDE:
                raise self.uow.refuse(Forbidden(exc.message, code=exc.code), denial) from exc
            raise self.uow.refuse(Conflict(exc.message, code=exc.code), denial) from exc
        row.status = updated.status
        row.events.append(
            ConsentEvent(
                at=now,
                action=action,
                status=row.status,
                organization_id=identity.organization,
                username=identity.person,
                reason=reason,
            )
        )
        audit.record(
            self.session,
            identity,
            AUDIT_ACTIONS[action],
            resource_type="consent",
            resource_id=row.id,
            client_ref=row.client_id,
            basis_type="consent",
            basis_ref=row.id,
            reason=reason,
        )
        return now

    def approve(self, identity: Identity, consent_id: str) -> Consent:
        """``pending → active`` by a social worker of the approver organization who did not
        record it; another organization that sees the consent is refused (403)."""
        organization, username = identity.organization, identity.person
        row = self.visible(identity, consent_id, "consent.approve")
        now = self._transition(
            identity,
            row,
            lambda r: model.approve(r, username, utcnow(), organization),
            "approved",
            None,
        )
        row.decided_at, row.decided_by_org, row.decided_by_user = now, organization, username
        if (organization, APPROVER) not in {(p.organization_id, p.role) for p in row.parties}:
            row.parties.append(ConsentParty(organization_id=organization, role=APPROVER))
        self._retire_superseded(identity, row, now)
        return row

    def reject(self, identity: Identity, consent_id: str, reason: str) -> Consent:
        """``pending → rejected`` by a social worker of the approver organization, with the
        reason."""
        organization, username = identity.organization, identity.person
        row = self.visible(identity, consent_id, "consent.reject")
        now = self._transition(
            identity, row, lambda r: model.reject(r, utcnow(), organization), "rejected", reason
        )
        row.decided_at, row.decided_by_org, row.decided_by_user = now, organization, username
        row.decision_reason = reason
        if (organization, APPROVER) not in {(p.organization_id, p.role) for p in row.parties}:
            row.parties.append(ConsentParty(organization_id=organization, role=APPROVER))
        return row

    def withdraw(self, identity: Identity, consent_id: str, reason: str) -> Consent:
        """``active → withdrawn`` at once, the acting person having taken the client's request;
        listeners (packets, notifications) are told."""
        row = self.visible(identity, consent_id, "consent.withdraw")
        self._withdraw(identity, row, reason)
        return row

    def _withdraw(self, identity: Identity, row: Consent, reason: str) -> None:
        now = self._transition(
            identity, row, lambda r: model.withdraw(r, utcnow()), "withdrawn", reason
        )
        row.withdrawn_at, row.withdrawn_by_org, row.withdrawn_by_user = (
            now,
            identity.organization,
            identity.person,
        )
        row.withdrawal_reason = reason
        self.session.flush()
        for listener in self.listeners:
            listener(self.uow, identity, row)
        notify(
            self.session,
            [*row.sources, *row.recipients],
            "consent.withdrawn",
            {"consent_id": row.id},
        )

    def _retire_superseded(self, identity: Identity, row: Consent, now: dt.datetime) -> None:
        if row.supersedes is None:
            return
        old = self.session.get(Consent, row.supersedes)
        if old is not None and to_record(old).status_at(now) == model.ACTIVE:
            self._withdraw(identity, old, f"Replaced by consent {row.id}.")

    # --- reading -------------------------------------------------------------------

    def read(self, identity: Identity, consent_id: str) -> Consent:
        row = self.visible(identity, consent_id)
        audit.record(
            self.session,
            identity,
            "consent.read",
            resource_type="consent",
            resource_id=row.id,
            client_ref=row.client_id,
        )
        return row

    def list_visible(self, identity: Identity, args: dict[str, Any]) -> Page[Consent]:
        """The consents the caller's organization may see, newest first, with cursor
        pagination."""
        today = local_date(utcnow())
        query = select(Consent).where(
            exists().where(
                ConsentParty.consent_id == Consent.id,
                ConsentParty.organization_id == identity.organization,
            )
        )
        if "client_id" in args:
            query = query.where(Consent.client_id == args["client_id"])
        status = args.get("status")
        if status == model.EXPIRED:
            query = query.where(Consent.status == model.ACTIVE, Consent.valid_until < today)
        elif status == model.ACTIVE:
            query = query.where(Consent.status == model.ACTIVE, Consent.valid_until >= today)
        elif status:
            query = query.where(Consent.status == status)
        if "expiring_within" in args:
            query = query.where(
                Consent.status == model.ACTIVE,
                Consent.valid_until >= today,
                Consent.valid_until <= today + dt.timedelta(days=args["expiring_within"]),
            )
        page = newest_first(
            self.session, query, Consent.recorded_at, Consent.id, args["limit"], args.get("cursor")
        )
        audit.record(
            self.session,
            identity,
            "consent.read",
            resource_type="consent_list",
            resource_id=str(len(page.items)),
            client_ref=args.get("client_id"),
        )
        return page

    # --- decisions -----------------------------------------------------------------

    def client_records(self, client_id: str) -> list[ConsentRecord]:
        return consent_records(self.session, client_id)

    def check(self, identity: Identity, body: dict[str, Any]) -> Decision:
        """Decide a disclosure for each category; every decision is audited with its basis."""
        if identity.organization not in (body["source"], body["recipient"]):
            raise self.uow.refuse(
                Forbidden(
                    "You can check only disclosures your organization sends or receives.",
                    code="not_a_party",
                ),
                Denial("consent.check", reason="not_a_party"),
            )
        orgs = self._organizations({body["source"], body["recipient"]})
        unknown = [
            FieldError(name, f"Unknown organization {body[name]!r}.")
            for name in ("source", "recipient")
            if body[name] not in orgs
        ]
        if unknown:
            raise Invalid("The check names unknown organizations.", errors=unknown)
        supervisors = supervisor_errors(
            (name, orgs[body[name]]) for name in ("source", "recipient")
        )
        if supervisors:
            raise Invalid(
                "A supervisor organization takes no part in disclosures.", errors=supervisors
            )
        client = self._client(identity, body["client"], create=False, with_consents=True)
        if client is None and "id" in body["client"]:
            raise self.uow.refuse(
                NotFound("No such client.", code="client_not_found"),
                Denial("consent.check", "client", body["client"]["id"][:128]),
            )
        records = [to_record(row) for row in client.consents] if client is not None else []
        request = DisclosureRequest(
            source=body["source"],
            source_kind=orgs[body["source"]].kind,
            recipient=body["recipient"],
            recipient_kind=orgs[body["recipient"]].kind,
            purpose=body["purpose"],
            categories=tuple(body["categories"]),
            at=utcnow(),
        )
        decision = decide(records, self.statutes, request)
        for item in decision.decisions:
            audit.record(
                self.session,
                identity,
                "consent.check",
                "allowed" if item.allowed else "denied",
                resource_type="disclosure",
                resource_id=f"{body['source']}>{body['recipient']}:{body['purpose']}:{item.category}"[
                    :128
                ],
                client_ref=client.id if client is not None else None,
                basis_type=item.basis,
                basis_ref=item.statute if item.basis == "statute" else item.consent_id,
                reason=item.reason_code,
            )
        return decision

    # --- receipts ------------------------------------------------------------------

    def receipt(
        self, identity: Identity, consent_id: str, issuer: str
    ) -> tuple[Consent, dict[str, Any], str, dict[str, OrganizationEntry]]:
        """The consent, its receipt, the receipt's JWS, and the organizations it names."""
        row = self.visible(identity, consent_id)
        orgs = self._organizations({*row.sources, *row.recipients})
        document = build_receipt(row, to_record(row).status_at(utcnow()), orgs, issuer)
        audit.record(
            self.session,
            identity,
            "consent.read",
            resource_type="consent_receipt",
            resource_id=row.id,
            client_ref=row.client_id,
        )
        return row, document, sign_receipt(document, self.keys), orgs
