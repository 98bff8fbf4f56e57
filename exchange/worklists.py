"""The lists behind the start page: what waits for whom, each item dated and naming the client.

Every list is built from the service that owns its rule (the approval queue, the hand-overs
waiting, the escorts, the periods, the unassigned queue, the audit log's scope): a count on
the start page and the list it links to come from the same call, so they always agree. The
client is named by their name, or by the identity code masked to its date part; each client
named on a list is an audited read (``client.read``), as every read of a client's record is.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import select

from adapters.db import utcnow
from consent.model import local_date
from exchange.audit.query import AuditQueries
from exchange.clients.models import Client
from exchange.clients.service import ClientService
from exchange.consents.service import ConsentService
from exchange.continuity.escort import EscortService
from exchange.continuity.models import Lead
from exchange.continuity.service import ContinuityService
from exchange.packets.service import PacketService
from exchange.periods.models import OPEN, ServicePeriod
from exchange.periods.service import ENDING_SOON_DAYS, PeriodService
from exchange.policy import Identity
from exchange.unit import UnitOfWork


@dataclass(frozen=True)
class Item:
    """One line of a list: whose it is, its date, and what it refers to (``ref``: the
    consent, packet, period or client id, for the page to link)."""

    client_id: str | None
    when: dt.date | dt.datetime | None
    ref: str
    detail: str = ""
    # A second date where a list shows two (a hand-over's answer date beside its arrival).
    also: dt.date | None = None
    kind: str = ""


@dataclass
class Listing:
    """A list as the page shows it: its items and the label of each client."""

    items: list[Item]
    clients: dict[str, str] = field(default_factory=dict)

    def client(self, item: Item) -> str:
        return self.clients.get(item.client_id or "", "–")


class Worklists:
    def __init__(
        self,
        uow: UnitOfWork,
        *,
        clients: ClientService,
        consents: ConsentService,
        packets: PacketService,
        continuity: ContinuityService,
        escorts: EscortService,
        periods: PeriodService,
        audit_queries: AuditQueries,
    ) -> None:
        self.uow = uow
        self.session = uow.session
        self.clients = clients
        self.consents = consents
        self.packets = packets
        self.continuity = continuity
        self.escorts = escorts
        self.periods = periods
        self.audit = audit_queries

    # --- the lists (the start page counts them) ------------------------------------------

    def approvals(self, identity: Identity) -> list[Item]:
        """Consents the organization is named to approve, oldest first: recorded when."""
        return [
            Item(row.client_id, row.recorded_at, row.id, row.recorded_by_user, row.valid_until)
            for row in self.consents.awaiting_approval(identity)
        ]

    def waiting(self, identity: Identity) -> list[Item]:
        """Hand-overs to answer, the most urgent first: received when, answer by when."""
        return [
            Item(row.client_id, row.received_at, row.id, row.sender_org, row.respond_by, row.kind)
            for row in self.packets.waiting(identity)
        ]

    def first_contacts(self, identity: Identity) -> list[Item]:
        """Accepted transfers whose first contact the organization is still to make."""
        return [
            Item(row.client_id, row.first_contact_by, row.id, row.first_contact_worker or "")
            for row in self.escorts.due(identity.organization)
        ]

    def periods_ending(self, identity: Identity) -> list[Item]:
        """Open periods ending within 30 days without a next step, the earliest end first."""
        return [
            Item(row.client_id, row.planned_end, row.id, row.service)
            for row in self.periods.ending_without_next_step(identity)
        ]

    def unassigned(self, identity: Identity) -> list[Item]:
        """Clients the organization leads without an active worker: without one since when."""
        return [
            Item(lead.client_id, lead.since, lead.client_id, lead.worker or "")
            for lead in self.continuity.unassigned(identity)
        ]

    def my_clients(self, identity: Identity, today: dt.date | None = None) -> list[Item]:
        """The clients the person leads, with what is due next for each: a first contact they
        are to make, or the end of an open period of their organization (``when``; None when
        nothing is due); the earliest due first, then those with nothing due."""
        today = today or local_date(utcnow())
        leads = self.session.execute(
            select(Lead).where(
                Lead.organization_id == identity.organization, Lead.worker == identity.person
            )
        ).scalars()
        held = {lead.client_id: lead for lead in leads}
        due: dict[str, tuple[dt.date, str, str]] = {}

        def note(client_id: str, day: dt.date | None, what: str, ref: str) -> None:
            if client_id not in held or day is None:
                return
            if client_id not in due or day < due[client_id][0]:
                due[client_id] = (day, what, ref)

        for packet in self.escorts.due(identity.organization, identity.person):
            note(packet.client_id, packet.first_contact_by, "first_contact", packet.id)
        ending = today + dt.timedelta(days=ENDING_SOON_DAYS)
        periods = self.session.execute(
            select(ServicePeriod).where(
                ServicePeriod.organization_id == identity.organization,
                ServicePeriod.status == OPEN,
                ServicePeriod.planned_end <= ending,
                ServicePeriod.client_id.in_(list(held)),
            )
        ).scalars()
        for period in periods:
            note(period.client_id, period.planned_end, "period_end", period.id)
        items = [
            Item(
                client_id,
                due[client_id][0] if client_id in due else None,
                due[client_id][2] if client_id in due else client_id,
                kind=due[client_id][1] if client_id in due else "",
                also=local_date(lead.since),
            )
            for client_id, lead in held.items()
        ]
        return sorted(items, key=lambda item: (item.when is None, item.when or today, item.ref))

    def due(self, identity: Identity) -> list[Item]:
        """Of the person's clients, those with something due within 30 days."""
        return [item for item in self.my_clients(identity) if item.when is not None]

    def denials(self, identity: Identity) -> list[Item]:
        """The refusals in the auditor's scope of the last week, newest first."""
        return [
            Item(
                row.client_ref,
                dt.datetime.fromisoformat(row.occurred_at.replace("Z", "+00:00")),
                str(row.seq),
                row.action,
                kind=row.actor_user or row.actor_client or "",
            )
            for row in self.audit.recent_denials(identity)
        ]

    # --- naming the clients -------------------------------------------------------------

    def named(self, identity: Identity, items: list[Item]) -> Listing:
        """``items`` with each client's label: the name, else the masked identity code. Each
        client named is recorded as a read of their record."""
        return Listing(items, self.labels(identity, (item.client_id for item in items)))

    def labels(self, identity: Identity, client_ids: Iterable[str | None]) -> dict[str, str]:
        wanted = sorted({client_id for client_id in client_ids if client_id})
        if not wanted:
            return {}
        rows = self.session.execute(select(Client).where(Client.id.in_(wanted))).scalars()
        labels: dict[str, str] = {}
        for client in rows:
            record = self.clients.record_of(client)
            labels[client.id] = record.name or record.hetu_masked
            self.clients.audit_access(identity, "client.read", client.id)
        return labels
