"""Escorted transfer (*saattaen vaihto*): acceptance is not the end of the sender's part.

When a transfer is accepted the sender stays on as the client's escort until the
receiver records the first contact with the client (a meeting, call, video call or
home visit actually held). If none is recorded by ``first_contact_by``, both
organizations see the escalation ``first_contact_missing`` and the worker tells the
sender, once, so that a client who never arrives is noticed by someone who knows them.

The escort lives on the transfer packet (see migration 0014): the escorting
organization is its sender, the receiving one its recipient.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, and_, func, or_, select, update

from adapters.db import utcnow
from consent.model import local_date
from consent.vocabulary import TRANSFER
from exchange import audit
from exchange.errors import Conflict, Denial, FieldError, Invalid
from exchange.packets import lifecycle
from exchange.packets.models import Packet, PacketEvent
from exchange.policy import Identity
from exchange.registry.models import User
from exchange.unit import UnitOfWork
from exchange.webhooks.outbox import notify

ACTION = "packet.first_contact"
MISSING = "packet.first_contact_missing"


def open_escort() -> ColumnElement[bool]:
    """An accepted transfer whose escort goes on: no first contact recorded yet."""
    return and_(
        Packet.kind == TRANSFER,
        Packet.status == lifecycle.ACCEPTED,
        Packet.first_contact_by.is_not(None),
        Packet.first_contact_on.is_(None),
    )


def is_open(row: Packet) -> bool:
    """Whether ``row`` is an accepted transfer still escorted (the Python side of
    :func:`open_escort`)."""
    return (
        row.kind == TRANSFER
        and row.status == lifecycle.ACCEPTED
        and row.first_contact_by is not None
        and row.first_contact_on is None
    )


def held_by(organization: str, username: str) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
    """The open escorts a worker holds as the sender and the first contacts they are to make
    as the receiver: what moves when they leave (counted before, moved on confirmation)."""
    return (
        and_(open_escort(), Packet.sender_org == organization, Packet.escort_worker == username),
        and_(
            open_escort(),
            Packet.recipient_org == organization,
            Packet.first_contact_worker == username,
        ),
    )


class EscortService:
    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow
        self.session = uow.session

    # --- the escort begins and ends -----------------------------------------------------

    def begin(self, identity: Identity, row: Packet, first_contact_days: int) -> None:
        """Accepting transfer ``row`` (after the lead moved): the sender escorts, the accepting
        person is to make the first contact, by the payload's date or ``first_contact_days``
        from today."""
        if row.first_contact_by is None:
            row.first_contact_by = local_date(utcnow()) + dt.timedelta(days=first_contact_days)
        row.escort_worker = self._sender_worker(row)
        row.first_contact_worker = identity.person

    def _sender_worker(self, row: Packet) -> str | None:
        # A sender who has left since sending escorts nobody: their organization's queue does.
        user = self.session.get(User, row.sender_user)
        if user is None or not user.active or user.organization_id != row.sender_org:
            return None
        return user.username

    def record_first_contact(
        self, identity: Identity, row: Packet, date: dt.date, mode: str
    ) -> Packet:
        """The receiver met the client on ``date``: the escort (and any escalation) ends.
        ``row`` is locked and the caller's organization is its recipient."""
        today = local_date(utcnow())
        if row.kind != TRANSFER:
            raise self._conflict(row, "Only a transfer has a first contact.", "not_a_transfer")
        status = lifecycle.status_at(row.status, row.respond_by, today)
        if status != lifecycle.ACCEPTED:
            raise self._conflict(
                row,
                f"The first contact follows acceptance; this transfer is {status}.",
                f"packet_{status}",
            )
        if row.first_contact_on is not None:
            raise self._conflict(
                row, "The first contact is recorded already.", "first_contact_recorded"
            )
        if date > today:
            raise Invalid(
                "The first contact cannot be in the future.",
                errors=[FieldError("date", "Must not be in the future.")],
            )
        if date < local_date(row.received_at):
            raise Invalid(
                "The first contact cannot precede the transfer.",
                errors=[FieldError("date", "Must not be before the transfer was sent.")],
            )
        late = row.first_contact_by is not None and date > row.first_contact_by
        row.first_contact_on, row.first_contact_mode = date, mode
        row.first_contact_recorded_by = identity.person
        note = f"{mode} on {date.isoformat()}" + (" (late)" if late else "")
        row.events.add(
            PacketEvent(
                at=utcnow(),
                action="first_contact",
                status=row.status,
                organization_id=identity.organization,
                username=identity.person,
                reason=note,
            )
        )
        audit.record(
            self.session,
            identity,
            ACTION,
            resource_type="packet",
            resource_id=row.id,
            client_ref=row.client_id,
            reason=note,
        )
        notify(self.session, [row.sender_org], ACTION, {"packet_id": row.id})
        return row

    def _conflict(self, row: Packet, message: str, code: str) -> Conflict:
        return self.uow.refuse(
            Conflict(message, code=code),
            Denial(ACTION, "packet", row.id, client_ref=row.client_id, reason=code),
        )

    # --- what the lead shows, what escalates ---------------------------------------------

    def of_client(self, client_id: str) -> Packet | None:
        """The open escort of the client's latest accepted transfer; None once its first
        contact is recorded (or when no transfer was accepted)."""
        latest = self.session.execute(
            select(Packet)
            .where(
                Packet.client_id == client_id,
                Packet.kind == TRANSFER,
                Packet.status == lifecycle.ACCEPTED,
            )
            .order_by(Packet.decided_at.desc(), Packet.id.desc())
            .limit(1)
        ).scalar_one_or_none()
        return latest if latest is not None and is_open(latest) else None

    def missing(self, organization: str, today: dt.date) -> list[Packet]:
        """Accepted transfers sent or received by ``organization`` without a first contact past
        their ``first_contact_by`` (whether or not the worker has raised them yet)."""
        return list(
            self.session.execute(
                select(Packet)
                .where(
                    or_(Packet.sender_org == organization, Packet.recipient_org == organization),
                    open_escort(),
                    Packet.first_contact_by < today,
                )
                .order_by(Packet.first_contact_by, Packet.id)
            ).scalars()
        )

    def due(self, organization: str, worker: str | None = None) -> list[Packet]:
        """Accepted transfers received by ``organization`` (and, with ``worker``, to be met by
        that worker) whose first contact is still to be recorded, the earliest due first."""
        query = select(Packet).where(open_escort(), Packet.recipient_org == organization)
        if worker is not None:
            query = query.where(Packet.first_contact_worker == worker)
        return list(
            self.session.execute(query.order_by(Packet.first_contact_by, Packet.id)).scalars()
        )

    def raise_missing(self, identity: Identity, now: dt.datetime | None = None) -> int:
        """The worker's job: the day after ``first_contact_by`` passes without a first contact,
        raise ``first_contact_missing`` and notify the sender, once per transfer. Each is
        claimed by a conditional update, so rounds and instances never raise one twice."""
        now = now or utcnow()
        today = local_date(now)
        due = self.session.execute(
            select(Packet.id).where(
                open_escort(),
                Packet.first_contact_by < today,
                Packet.first_contact_missing_at.is_(None),
            )
        ).scalars()
        raised = 0
        for packet_id in list(due):
            claimed = self.session.execute(
                update(Packet)
                .where(
                    Packet.id == packet_id,
                    open_escort(),
                    Packet.first_contact_missing_at.is_(None),
                )
                .values(first_contact_missing_at=now)
                .execution_options(synchronize_session=False)
            )
            if cast(CursorResult[Any], claimed).rowcount != 1:
                continue  # another instance raised it, or the first contact came meanwhile
            row = self.session.get_one(Packet, packet_id, populate_existing=True)
            note = f"first_contact_missing: first_contact_by {row.first_contact_by} passed"
            row.events.add(PacketEvent(at=now, action="escalated", status=row.status, reason=note))
            audit.record(
                self.session,
                identity,
                MISSING,
                resource_type="packet",
                resource_id=row.id,
                client_ref=row.client_id,
                reason=note,
            )
            notify(self.session, [row.sender_org], MISSING, {"packet_id": row.id})
            raised += 1
        return raised

    # --- staff changes -------------------------------------------------------------------

    def move(self, identity: Identity, username: str, successor: str | None) -> tuple[int, int]:
        """A worker of the caller's organization leaves: the escorts they hold (as the sender)
        and the first contacts they were to make (as the receiver) move to ``successor``, or to
        the organization's queue (None). The counts: escorts, first contacts."""
        organization = identity.organization
        now = utcnow()
        whither = successor or "unassigned"

        def locked(where: ColumnElement[bool]) -> list[Packet]:
            query = select(Packet).where(where).with_for_update()
            return list(self.session.execute(query).scalars())

        escorts_held, contacts_due = held_by(organization, username)
        escorts = locked(escorts_held)
        for row in escorts:
            row.escort_worker = successor
            row.events.add(
                self._moved(now, row, identity, f"escort: {username} left; now {whither}")
            )
        contacts = locked(contacts_due)
        for row in contacts:
            row.first_contact_worker = successor
            row.events.add(
                self._moved(now, row, identity, f"first contact: {username} left; now {whither}")
            )
        return len(escorts), len(contacts)

    def count(self, identity: Identity, username: str) -> tuple[int, int]:
        """What ``move`` would move, changing nothing: escorts, first contacts."""
        escorts_held, contacts_due = held_by(identity.organization, username)

        def counted(where: ColumnElement[bool]) -> int:
            return self.session.scalar(select(func.count()).select_from(Packet).where(where)) or 0

        return counted(escorts_held), counted(contacts_due)

    @staticmethod
    def _moved(now: dt.datetime, row: Packet, identity: Identity, reason: str) -> PacketEvent:
        return PacketEvent(
            at=now,
            action="reassigned",
            status=row.status,
            organization_id=identity.organization,
            username=identity.username,
            reason=reason,
        )
