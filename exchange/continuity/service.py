"""Leads, staff changes, the unassigned queue and escalations.

Every client has at most one lead (organization + worker). The lead moves
between organizations only when a ``transfer`` packet is accepted; when a
worker leaves, their clients and the packets addressed to them move to a
named successor or to the organization's unassigned queue, in one transaction.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, SQLColumnExpression, and_, exists, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from adapters.db import utcnow
from adapters.keys import KeyStore
from consent.model import ONCE_IN_FORCE, local_date
from consent.vocabulary import TRANSFER
from exchange import audit, policy
from exchange.clients.models import Client
from exchange.clients.service import ClientService, first_client
from exchange.consents.models import NAMED_APPROVER, RECORDER, Consent, ConsentParty
from exchange.continuity.escort import EscortService
from exchange.continuity.models import Lead, LeadHistory
from exchange.errors import Conflict, Denial, FieldError, Invalid, NotFound
from exchange.packets import lifecycle
from exchange.packets.models import Packet, PacketEvent
from exchange.periods.models import ServicePeriod
from exchange.policy import Identity
from exchange.registry.models import User
from exchange.unit import UnitOfWork
from exchange.webhooks.outbox import notify

DUE_SOON_DAYS = 3


def is_involved(session: Session, client_id: str, organization: str) -> bool:
    """Whether ``organization`` is involved with the client (``involvement``)."""
    return bool(session.execute(select(involvement(client_id, organization))).scalar())


def involvement(
    client_id: str | SQLColumnExpression[str], organization: str
) -> ColumnElement[bool]:
    """The condition that ``organization`` is involved with the client ``client_id`` (an id, or
    a column such as ``Client.id`` to put it in a client's own query).

    SPEC: holds or held the lead or the escort, is named in one of the client's consents
    once it is active, recorded or approved one, or sent or received one of the client's packets (an
    escort is always the sender of an accepted transfer, so the packet check covers it); also:
    provides or owns the next step of one of the client's service periods.

    A consent that nobody has approved yet (pending) or that was rejected opens nothing beyond
    itself: only its recorder is involved through it. Sources, recipients and the approving
    organization count once the consent has been in force (active, expired, withdrawn or
    superseded); the organization that rejected one does not, nor does the one named to
    approve it (``approver_organization``) unless it has approved it: a ban, active at once,
    names an approver organization that never approved anything."""
    checks = [
        exists().where(
            LeadHistory.client_id == client_id, LeadHistory.organization_id == organization
        ),
        exists().where(Lead.client_id == client_id, Lead.organization_id == organization),
        exists().where(
            Consent.client_id == client_id,
            ConsentParty.consent_id == Consent.id,
            ConsentParty.organization_id == organization,
            or_(
                ConsentParty.role == RECORDER,
                # Named to approve is not having approved: only the APPROVER role counts.
                and_(ConsentParty.role != NAMED_APPROVER, Consent.status.in_(ONCE_IN_FORCE)),
            ),
        ),
        exists().where(
            Packet.client_id == client_id,
            or_(Packet.sender_org == organization, Packet.recipient_org == organization),
        ),
        exists().where(
            ServicePeriod.client_id == client_id,
            or_(
                ServicePeriod.organization_id == organization,
                ServicePeriod.next_step_owner == organization,
            ),
        ),
    ]
    return or_(*checks)


def named_client(
    uow: UnitOfWork,
    keys: KeyStore,
    identity: Identity,
    ref: dict[str, str],
    *,
    with_consents: bool = False,
) -> Client:
    """The client a request names: by HETU (registered on first use), or by id if the
    caller's organization is involved with them; otherwise 422 on ``client.id``, as for no
    such id. With ``with_consents``, ``client.consents`` is loaded in the same statement."""
    if "hetu" in ref:
        clients = ClientService(uow, keys)
        return clients.lookup(identity, ref["hetu"], with_consents=with_consents)[0]
    client = involved_client(uow.session, ref["id"], identity.organization, with_consents)
    if client is None:
        raise Invalid("Unknown client.", errors=[FieldError("client.id", "No such client.")])
    return client


def involved_client(
    session: Session, client_id: str, organization: str, with_consents: bool = False
) -> Client | None:
    """The client, if ``organization`` is involved with them (one statement, with the consent
    records when ``with_consents``); None for an unknown id and for another's client alike."""
    query = select(Client).where(Client.id == client_id, involvement(Client.id, organization))
    return first_client(session, query, with_consents)


def client_not_found(uow: UnitOfWork, client_id: str, action: str) -> NotFound:
    """404 for a client the caller may not know of, its denial recorded on ``uow``."""
    return uow.refuse(
        NotFound("No such client.", code="client_not_found"),
        Denial(action, resource_type="client", resource_id=client_id[:128]),
    )


def _held_by(organization: str, username: str) -> tuple[Select[Lead], Select[Packet]]:
    """The clients a worker leads and the open packets addressed to them: what moves when they
    leave (counted before, moved on confirmation)."""
    return (
        select(Lead).where(Lead.organization_id == organization, Lead.worker == username),
        select(Packet).where(
            Packet.recipient_org == organization,
            Packet.recipient_user == username,
            Packet.status.in_(lifecycle.OPEN),
        ),
    )


@dataclass(frozen=True)
class DeactivationReport:
    leads_moved: int
    packets_moved: int
    successor: str | None
    escorts_moved: int = 0
    first_contacts_moved: int = 0


class ContinuityService:
    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow
        self.session = uow.session
        self.escorts = EscortService(uow)

    # --- leads ---------------------------------------------------------------------

    def _active_user(self, username: str, organization: str, field: str) -> User:
        user = self.session.get(User, username)
        if (
            user is None
            or not user.active
            or user.organization_id != organization
            or not policy.may_hold_lead(user.roles)
        ):
            raise Invalid(
                "Not an active worker of the organization.",
                errors=[
                    FieldError(field, f"{username!r} is not an active worker of {organization}.")
                ],
            )
        return user

    def escort_of(self, client_id: str) -> Packet | None:
        """The transfer whose sender escorts the client now (shown with the lead), or None."""
        return self.escorts.of_client(client_id)

    def lead_of(self, identity: Identity, client_id: str) -> Lead | None:
        """The client's lead, for involved organizations only."""
        if self.session.get(Client, client_id) is None or not is_involved(
            self.session, client_id, identity.organization
        ):
            raise client_not_found(self.uow, client_id, "lead.read")
        audit.record(
            self.session,
            identity,
            "client.read",
            resource_type="lead",
            resource_id=client_id,
            client_ref=client_id,
        )
        return self.session.get(Lead, client_id)

    def _claim(self, identity: Identity, client_id: str, worker: str, reason: str) -> Lead:
        """Take the lead of a client who has none for the caller's organization; when a
        concurrent request took it first, return theirs (the caller then decides)."""
        try:
            with self.session.begin_nested():
                return self._set(identity, client_id, worker, reason)
        except IntegrityError:
            # Two first hand-overs of one client at once: the database kept exactly one lead.
            lead = self.session.get(Lead, client_id, populate_existing=True)
            if lead is None:
                raise
            return lead

    def _set(
        self,
        identity: Identity,
        client_id: str,
        worker: str | None,
        reason: str,
        packet_id: str | None = None,
    ) -> Lead:
        """The lead moves to ``worker`` of the caller's organization (None: unassigned)."""
        organization = identity.organization
        now = utcnow()
        lead = self.session.get(Lead, client_id)
        if lead is None:
            lead = Lead(client_id=client_id, organization_id=organization, worker=worker, since=now)
            self.session.add(lead)
        else:
            lead.organization_id, lead.worker, lead.since = organization, worker, now
        self.session.add(
            LeadHistory(
                client_id=client_id,
                organization_id=organization,
                worker=worker,
                since=now,
                reason=reason,
                packet_id=packet_id,
            )
        )
        audit.record(
            self.session,
            identity,
            "lead.change",
            resource_type="lead",
            resource_id=f"{organization}/{worker or 'unassigned'}",
            client_ref=client_id,
            reason=reason,
        )
        return lead

    def _locked_lead(self, client_id: str) -> Lead | None:
        """The client's lead row, locked until commit: lead changes of one client queue up."""
        return self.session.get(Lead, client_id, with_for_update=True, populate_existing=True)

    def _lead_elsewhere(
        self, client_id: str, organization: str, action: str
    ) -> Conflict | NotFound:
        # Only an organization involved with the client learns that someone else leads it.
        if not is_involved(self.session, client_id, organization):
            return client_not_found(self.uow, client_id, action)
        return self.uow.refuse(
            Conflict(
                "Another organization is the lead; "
                "responsibility moves only with an accepted transfer.",
                code="lead_elsewhere",
            ),
            Denial(action, "client", client_id, client_ref=client_id, reason="lead_elsewhere"),
        )

    def assign(self, identity: Identity, client_id: str, worker: str) -> Lead:
        """Set the lead to a worker of the caller's organization (no lead yet, or already ours)."""
        organization = identity.organization
        if self.session.get(Client, client_id) is None:
            raise client_not_found(self.uow, client_id, "lead.change")
        current = self._locked_lead(client_id)
        if current is not None and current.organization_id != organization:
            raise self._lead_elsewhere(client_id, organization, "lead.change")
        self._active_user(worker, organization, "worker")
        if current is None:
            current = self._claim(identity, client_id, worker, "assigned")
            if current.organization_id != organization:
                raise self._lead_elsewhere(client_id, organization, "lead.change")
            if current.worker == worker:
                return current
        return self._set(identity, client_id, worker, "assigned")

    def hold_for_transfer(self, identity: Identity, client_id: str, worker: str) -> None:
        """Before a transfer is sent: the sender must hold the lead (taking it if nobody does)."""
        current = self._locked_lead(client_id)
        if current is None:
            current = self._claim(identity, client_id, worker, "transfer_sent")
        if current.organization_id != identity.organization:
            raise self.uow.refuse(
                Conflict(
                    "Only the organization holding the lead can transfer the client.",
                    code="lead_elsewhere",
                ),
                Denial(
                    "packet.send",
                    "client",
                    client_id,
                    client_ref=client_id,
                    reason="lead_elsewhere",
                ),
            )

    def take_over(self, identity: Identity, client_id: str, from_org: str, packet_id: str) -> Lead:
        """Accepting a transfer: the lead moves from the sender to the accepting person's
        organization, in this transaction."""
        current = self._locked_lead(client_id)
        if current is not None and current.organization_id != from_org:
            raise self.uow.refuse(
                Conflict(
                    "The sender no longer holds the lead; this transfer cannot be accepted.",
                    code="lead_elsewhere",
                ),
                Denial(
                    "packet.accept",
                    "packet",
                    packet_id,
                    client_ref=client_id,
                    reason="lead_elsewhere",
                ),
            )
        return self._set(identity, client_id, identity.person, "transfer_accepted", packet_id)

    # --- staff changes ---------------------------------------------------------------

    def _leaver(
        self, identity: Identity, username: str, successor: str | None, *, lock: bool
    ) -> User:
        """The worker who leaves, of the caller's organization, and a valid successor."""
        leaver = self.session.get(User, username, with_for_update=lock)
        if leaver is None or leaver.organization_id != identity.organization:
            raise self.uow.refuse(
                NotFound("No such worker.", code="worker_not_found"),
                Denial("worker.deactivate", "user", username[:128]),
            )
        if successor is not None:
            if successor == username:
                raise Invalid(
                    "A worker cannot succeed themselves.",
                    errors=[FieldError("successor", "Name another worker.")],
                )
            self._active_user(successor, identity.organization, "successor")
        return leaver

    def deactivation_preview(
        self, identity: Identity, username: str, successor: str | None
    ) -> DeactivationReport:
        """What ``deactivate`` would move, counted from the same selection; nothing changes."""
        self._leaver(identity, username, successor, lock=False)
        leads_held, packets_addressed = _held_by(identity.organization, username)
        escorts, first_contacts = self.escorts.count(identity, username)
        return DeactivationReport(
            self._count(leads_held),
            self._count(packets_addressed),
            successor,
            escorts,
            first_contacts,
        )

    def _count(self, query: Select[Any]) -> int:
        return self.session.scalar(select(func.count()).select_from(query.subquery())) or 0

    def deactivate(
        self, identity: Identity, username: str, successor: str | None
    ) -> DeactivationReport:
        """The worker leaves: their leads, open packets, escorts and pending first contacts
        move; nobody falls through."""
        organization = identity.organization
        leaver = self._leaver(identity, username, successor, lock=True)
        leaver.active = False
        leaver.deactivated_at, leaver.deactivated_by = utcnow(), identity.username
        leads_held, packets_addressed = _held_by(organization, username)
        leads = list(self.session.execute(leads_held.with_for_update()).scalars())
        for lead in leads:
            self._set(identity, lead.client_id, successor, "staff_change")
        packets = list(self.session.execute(packets_addressed.with_for_update()).scalars())
        now = utcnow()
        for packet in packets:
            packet.recipient_user = successor
            packet.events.add(
                PacketEvent(
                    at=now,
                    action="reassigned",
                    status=packet.status,
                    organization_id=organization,
                    username=identity.username,
                    reason=f"{username} left; now {successor or 'unassigned'}",
                )
            )
        escorts, first_contacts = self.escorts.move(identity, username, successor)
        audit.record(
            self.session,
            identity,
            "worker.deactivate",
            resource_type="user",
            resource_id=username,
            reason=f"leads={len(leads)} packets={len(packets)} escorts={escorts} "
            f"first_contacts={first_contacts} successor={successor or 'unassigned'}",
        )
        notify(
            self.session,
            [organization],
            "leads.moved",
            {
                "worker": username,
                "successor": successor,
                "leads": len(leads),
                "packets": len(packets),
                "escorts": escorts,
                "first_contacts": first_contacts,
            },
        )
        self.session.flush()
        return DeactivationReport(len(leads), len(packets), successor, escorts, first_contacts)

    def activate(self, identity: Identity, username: str) -> User:
        """Undo a deactivation: the person may sign in and act again (their clients stay where
        the staff change moved them)."""
        user = self.session.get(User, username, with_for_update=True)
        if user is None or user.organization_id != identity.organization:
            raise self.uow.refuse(
                NotFound("No such worker.", code="worker_not_found"),
                Denial("worker.activate", "user", username[:128]),
            )
        if user.active:
            raise self.uow.refuse(
                Conflict("The worker is active already.", code="already_active"),
                Denial("worker.activate", "user", username, reason="already_active"),
            )
        user.active, user.deactivated_at, user.deactivated_by = True, None, None
        user.updated_at = utcnow()
        audit.record(
            self.session, identity, "worker.activate", resource_type="user", resource_id=username
        )
        self.session.flush()
        return user

    # --- queues and escalations ---------------------------------------------------------

    def unassigned(self, identity: Identity, organization: str | None = None) -> list[Lead]:
        """Clients led by the caller's organization with no active worker; another
        organization's queue (``organization``) is 404, audited."""
        if organization is None:
            organization = identity.organization
        elif organization != identity.organization:
            raise self.uow.refuse(
                NotFound("No such organization.", code="organization_not_found"),
                Denial("lead.read", "organization", organization[:128]),
            )
        active_worker = exists().where(
            User.username == Lead.worker,
            User.active.is_(True),
            User.organization_id == organization,
        )
        query = (
            select(Lead)
            .where(Lead.organization_id == organization, or_(Lead.worker.is_(None), ~active_worker))
            .order_by(Lead.since, Lead.client_id)
        )
        return list(self.session.execute(query).scalars())

    def escalations(self, identity: Identity, now: dt.datetime | None = None) -> dict[str, Any]:
        """Expired transfers, transfers due within three days, unassigned clients, and accepted
        transfers without a first contact past ``first_contact_by``."""
        organization = identity.organization
        today = local_date(now or utcnow())
        mine = or_(Packet.sender_org == organization, Packet.recipient_org == organization)
        transfers = select(Packet).where(mine, Packet.kind == TRANSFER)
        expired = self.session.execute(
            transfers.where(
                or_(
                    Packet.status == lifecycle.EXPIRED,
                    Packet.status.in_(lifecycle.OPEN) & (Packet.respond_by < today),
                )
            ).order_by(Packet.respond_by, Packet.id)
        ).scalars()
        due = self.session.execute(
            transfers.where(
                Packet.status.in_(lifecycle.OPEN),
                Packet.respond_by >= today,
                Packet.respond_by <= today + dt.timedelta(days=DUE_SOON_DAYS),
            ).order_by(Packet.respond_by, Packet.id)
        ).scalars()
        return {
            "expired_transfers": list(expired),
            "due_soon": list(due),
            "unassigned_clients": self.unassigned(identity),
            "first_contact_missing": self.escorts.missing(organization, today),
        }
