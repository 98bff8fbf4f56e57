"""A client's page: everything the caller's organization may see of one client, in one place.

Each part comes from the service that owns it, with the same visibility rule and the same
audit trail as the API's own endpoint for that part: the client's record (``client.read``),
the lead and escort (``lead.read``), the consents, the packets in and out and the service
periods the organization is a party to, and the organization's escalations that name the
client. The timeline is built from those records' own dates, newest first.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from adapters.db import utcnow
from exchange.clients.service import ClientRecord, ClientService
from exchange.consents.models import Consent
from exchange.consents.service import ConsentService, to_record
from exchange.continuity.models import Lead
from exchange.continuity.service import ContinuityService
from exchange.packets.models import Packet
from exchange.packets.service import PacketService
from exchange.periods.models import ServicePeriod
from exchange.periods.service import PeriodService
from exchange.policy import Identity, permits

# At most this many of each kind of record on the page (the newest); the API pages on.
SHOWN = 50
ESCALATIONS = ("expired_transfers", "due_soon", "unassigned_clients", "first_contact_missing")


@dataclass(frozen=True)
class Moment:
    """One line of the timeline: when, what (a key the page words), and the record."""

    at: dt.datetime | dt.date
    what: str
    record: Any

    @property
    def order(self) -> dt.datetime:
        if isinstance(self.at, dt.datetime):
            return self.at
        # A date (a period's start or end) counts from the start of its day.
        return dt.datetime(self.at.year, self.at.month, self.at.day, tzinfo=dt.UTC)


@dataclass
class ClientOverview:
    client: ClientRecord
    lead: Lead | None
    escort: Packet | None
    consents: list[tuple[Consent, str]]  # with the status today
    packets_in: list[tuple[Packet, str]]
    packets_out: list[tuple[Packet, str]]
    periods: list[ServicePeriod]
    escalations: dict[str, list[Any]]
    timeline: list[Moment] = field(default_factory=list)


class ClientOverviewService:
    """Gathers a client's page from the services that own each part."""

    def __init__(
        self,
        clients: ClientService,
        continuity: ContinuityService,
        consents: ConsentService,
        packets: PacketService,
        periods: PeriodService,
    ) -> None:
        self.clients = clients
        self.continuity = continuity
        self.consents = consents
        self.packets = packets
        self.periods = periods

    def overview(self, identity: Identity, client_id: str) -> ClientOverview:
        """The client's page; 404 (with a denial in the audit log) for a client the caller's
        organization is not involved with, before anything else is read."""
        client = self.clients.read(identity, client_id)
        # Each part only when the policy lets the caller read it through its own action, as
        # the API's endpoint for that part would.
        lead = None
        if permits(identity, "lead.read"):
            lead = self.continuity.lead_of(identity, client_id)
        now = utcnow()
        args = {"client_id": client_id, "limit": SHOWN}
        consents = (
            [
                (row, to_record(row).status_at(now))
                for row in self.consents.list_visible(identity, args).items
            ]
            if permits(identity, "consent.list")
            else []
        )
        boxes = {
            box: [
                (row, self.packets.status_of(row))
                for row in self.packets.list_box(identity, {**args, "box": box}).items
            ]
            if permits(identity, "packet.list")
            else []
            for box in ("inbox", "outbox")
        }
        periods = (
            list(self.periods.list_visible(identity, args).items)
            if permits(identity, "period.list")
            else []
        )
        overview = ClientOverview(
            client=client,
            lead=lead,
            escort=self.continuity.escort_of(client_id),
            consents=consents,
            packets_in=boxes["inbox"],
            packets_out=boxes["outbox"],
            periods=periods,
            escalations=self._escalations(identity, client_id),
        )
        overview.timeline = timeline(overview)
        return overview

    def _escalations(self, identity: Identity, client_id: str) -> dict[str, list[Any]]:
        """The organization's escalations (the same as on the start page) that name this client."""
        if not permits(identity, "escalation.list"):
            return {name: [] for name in ESCALATIONS}
        found = self.continuity.escalations(identity)
        return {
            name: [row for row in rows if getattr(row, "client_id", None) == client_id]
            for name, rows in found.items()
        }


def timeline(overview: ClientOverview) -> list[Moment]:
    """What happened to the client, as the page's records date it, newest first."""
    moments: list[Moment] = []
    for consent, _status in overview.consents:
        moments.append(Moment(consent.recorded_at, "consent_recorded", consent))
    for box, rows in (("in", overview.packets_in), ("out", overview.packets_out)):
        for packet, _status in rows:
            moments.append(Moment(packet.received_at, f"packet_{box}", packet))
            # Metadata only (the list's columns): the first contact, not the decision time.
            if packet.first_contact_on is not None:
                moments.append(Moment(packet.first_contact_on, "first_contact", packet))
    for period in overview.periods:
        moments.append(Moment(period.start, "period_started", period))
        if period.ended_on is not None:
            moments.append(Moment(period.ended_on, "period_ended", period))
    if overview.lead is not None:
        moments.append(Moment(overview.lead.since, "lead_since", overview.lead))
    return sorted(moments, key=lambda moment: moment.order, reverse=True)
