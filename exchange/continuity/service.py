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

from sqlalchemy import exists, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from adapters.db import utcnow
from adapters.keys import KeyStore
from consent.model import ONCE_IN_FORCE, local_date
from consent.vocabulary import TRANSFER
from exchange import audit, policy
from exchange.audit import Actor
from exchange.clients.models import Client
from exchange.clients.service import ClientService
from exchange.consents.models import RECORDER, Consent, ConsentParty
from exchange.continuity.models import Lead, LeadHistory
from exchange.errors import Conflict, Denial, FieldError, Invalid, NotFound
from exchange.packets import lifecycle
from exchange.packets.models import Packet, PacketEvent
from exchange.periods.models import ServicePeriod
from exchange.registry.models import User
from exchange.webhooks.outbox import notify

DUE_SOON_DAYS = 3


def is_involved(session: Session, client_id: str, organization: str) -> bool:
    """SPEC: holds or held the lead, is named in one of the client's consents once it is
    active, recorded or approved one, or sent or received one of the client's packets; also:
    provides or owns the next step of one of the client's service periods.

    A consent that nobody has approved yet (pending) or that was rejected opens nothing beyond
    itself: only its recorder is involved through it. Sources, recipients and the approving
    organization count once the consent has been in force (active, expired, withdrawn or
    superseded); the organization that rejected one does not."""
    checks = [
        exists().where(
            LeadHistory.client_id == client_id, LeadHistory.organization_id == organization
        ),
        exists().where(Lead.client_id == client_id, Lead.organization_id == organization),
        exists().where(
            Consent.client_id == client_id,
            ConsentParty.consent_id == Consent.id,
            ConsentParty.organization_id == organization,
            or_(ConsentParty.role == RECORDER, Consent.status.in_(ONCE_IN_FORCE)),
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
    return bool(session.execute(select(or_(*checks))).scalar())


def named_client(
    session: Session, keys: KeyStore, ref: dict[str, str], organization: str, actor: Actor
) -> Client:
    """The client a request names: by HETU (registered on first use), or by id if the
    organization is involved with them; otherwise 422 on ``client.id``, as for no such id."""
    if "hetu" in ref:
        return ClientService(session, keys).lookup(ref["hetu"], actor)[0]
    client = session.get(Client, ref["id"])
    if client is None or not is_involved(session, client.id, organization):
        raise Invalid("Unknown client.", errors=[FieldError("client.id", "No such client.")])
    return client


def client_not_found(client_id: str, action: str) -> NotFound:
    return NotFound(
        "No such client.",
        code="client_not_found",
        audit=Denial(action, resource_type="client", resource_id=client_id[:128]),
    )


@dataclass(frozen=True)
class DeactivationReport:
    leads_moved: int
    packets_moved: int
    successor: str | None


class ContinuityService:
    def __init__(self, session: Session) -> None:
        self.session = session

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

    def lead_of(self, client_id: str, organization: str, actor: Actor) -> Lead | None:
        """The client's lead, for involved organizations only."""
        if self.session.get(Client, client_id) is None or not is_involved(
            self.session, client_id, organization
        ):
            raise client_not_found(client_id, "lead.read")
        audit.record(
            self.session,
            actor,
            "client.read",
            resource_type="lead",
            resource_id=client_id,
            client_ref=client_id,
        )
        return self.session.get(Lead, client_id)

    def _claim(
        self, client_id: str, organization: str, worker: str, reason: str, actor: Actor
    ) -> Lead:
        """Take the lead of a client who has none; when a concurrent request took it first,
        return theirs (the caller then decides)."""
        try:
            with self.session.begin_nested():
                return self._set(client_id, organization, worker, reason, actor)
        except IntegrityError:
            # Two first hand-overs of one client at once: the database kept exactly one lead.
            lead = self.session.get(Lead, client_id, populate_existing=True)
            if lead is None:
                raise
            return lead

    def _set(
        self,
        client_id: str,
        organization: str,
        worker: str | None,
        reason: str,
        actor: Actor,
        packet_id: str | None = None,
    ) -> Lead:
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
            actor,
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
            return client_not_found(client_id, action)
        return Conflict(
            "Another organization is the lead; "
            "responsibility moves only with an accepted transfer.",
            code="lead_elsewhere",
            audit=Denial(
                action, "client", client_id, client_ref=client_id, reason="lead_elsewhere"
            ),
        )

    def assign(self, client_id: str, organization: str, worker: str, actor: Actor) -> Lead:
        """Set the lead to a worker of the caller's organization (no lead yet, or already ours)."""
        if self.session.get(Client, client_id) is None:
            raise client_not_found(client_id, "lead.change")
        current = self._locked_lead(client_id)
        if current is not None and current.organization_id != organization:
            raise self._lead_elsewhere(client_id, organization, "lead.change")
        self._active_user(worker, organization, "worker")
        if current is None:
            current = self._claim(client_id, organization, worker, "assigned", actor)
            if current.organization_id != organization:
                raise self._lead_elsewhere(client_id, organization, "lead.change")
            if current.worker == worker:
                return current
        return self._set(client_id, organization, worker, "assigned", actor)

    def hold_for_transfer(
        self, client_id: str, organization: str, worker: str, actor: Actor
    ) -> None:
        """Before a transfer is sent: the sender must hold the lead (taking it if nobody does)."""
        current = self._locked_lead(client_id)
        if current is None:
            current = self._claim(client_id, organization, worker, "transfer_sent", actor)
        if current.organization_id != organization:
            raise Conflict(
                "Only the organization holding the lead can transfer the client.",
                code="lead_elsewhere",
                audit=Denial(
                    "packet.send",
                    "client",
                    client_id,
                    client_ref=client_id,
                    reason="lead_elsewhere",
                ),
            )

    def take_over(
        self, client_id: str, from_org: str, to_org: str, worker: str, packet_id: str, actor: Actor
    ) -> Lead:
        """Accepting a transfer: the lead moves from sender to receiver in this transaction."""
        current = self._locked_lead(client_id)
        if current is not None and current.organization_id != from_org:
            raise Conflict(
                "The sender no longer holds the lead; this transfer cannot be accepted.",
                code="lead_elsewhere",
                audit=Denial(
                    "packet.accept",
                    "packet",
                    packet_id,
                    client_ref=client_id,
                    reason="lead_elsewhere",
                ),
            )
        return self._set(client_id, to_org, worker, "transfer_accepted", actor, packet_id)

    # --- staff changes ---------------------------------------------------------------

    def deactivate(
        self, username: str, organization: str, successor: str | None, actor: Actor
    ) -> DeactivationReport:
        """The worker leaves: their leads and open packets move; nobody falls through."""
        leaver = self.session.get(User, username, with_for_update=True)
        if leaver is None or leaver.organization_id != organization:
            raise NotFound(
                "No such worker.",
                code="worker_not_found",
                audit=Denial("worker.deactivate", "user", username[:128]),
            )
        if successor is not None:
            if successor == username:
                raise Invalid(
                    "A worker cannot succeed themselves.",
                    errors=[FieldError("successor", "Name another worker.")],
                )
            self._active_user(successor, organization, "successor")
        leaver.active = False
        leads = list(
            self.session.execute(
                select(Lead)
                .where(Lead.organization_id == organization, Lead.worker == username)
                .with_for_update()
            ).scalars()
        )
        for lead in leads:
            self._set(lead.client_id, organization, successor, "staff_change", actor)
        packets = list(
            self.session.execute(
                select(Packet)
                .where(
                    Packet.recipient_org == organization,
                    Packet.recipient_user == username,
                    Packet.status.in_(lifecycle.OPEN),
                )
                .with_for_update()
            ).scalars()
        )
        now = utcnow()
        for packet in packets:
            packet.recipient_user = successor
            packet.events.append(
                PacketEvent(
                    at=now,
                    action="reassigned",
                    status=packet.status,
                    organization_id=organization,
                    username=actor.username,
                    reason=f"{username} left; now {successor or 'unassigned'}",
                )
            )
        audit.record(
            self.session,
            actor,
            "worker.deactivate",
            resource_type="user",
            resource_id=username,
            reason=f"leads={len(leads)} packets={len(packets)} "
            f"successor={successor or 'unassigned'}",
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
            },
        )
        self.session.flush()
        return DeactivationReport(len(leads), len(packets), successor)

    # --- queues and escalations ---------------------------------------------------------

    def unassigned(self, organization: str) -> list[Lead]:
        """Clients led by the organization with no active worker."""
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

    def escalations(self, organization: str, now: dt.datetime | None = None) -> dict[str, Any]:
        """Expired transfers, transfers due within three days, and unassigned clients."""
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
            "unassigned_clients": self.unassigned(organization),
        }
