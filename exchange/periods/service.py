"""Recording, reading and closing service periods; the signals that keep clients moving."""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from typing import Any

from sqlalchemy import or_, select

from adapters.db import utcnow
from adapters.keys import KeyStore
from adapters.pagination import Page, newest_first
from consent.model import local_date
from exchange import audit
from exchange.clients.models import Client
from exchange.continuity.service import named_client
from exchange.errors import Conflict, Denial, FieldError, Invalid, NotFound
from exchange.periods.models import CLOSED, OPEN, ServicePeriod
from exchange.policy import Identity
from exchange.registry.models import Organization
from exchange.registry.service import supervisor_errors
from exchange.unit import UnitOfWork

ENDING_SOON_DAYS = 30
REVIEW_AFTER = 3  # periods in a row ending "continued_same_service"
SAME_SERVICE = "continued_same_service"


class PeriodService:
    def __init__(self, uow: UnitOfWork, keys: KeyStore) -> None:
        self.uow = uow
        self.session = uow.session
        self.keys = keys

    # --- writing ------------------------------------------------------------------------

    def record(self, identity: Identity, body: dict[str, Any]) -> ServicePeriod:
        """A period the caller's organization provides, recorded by the acting person; the
        client is found or registered by HETU."""
        client = self._client(identity, body["client"])
        row = ServicePeriod(
            id=str(uuid.uuid4()),
            client_id=client.id,
            organization_id=identity.organization,
            service=body["service"],
            start=body["start"],
            planned_end=body["planned_end"],
            days_per_week=body["days_per_week"],
            hours_per_day=body["hours_per_day"],
            guidance_hours_per_month=body.get("guidance_hours_per_month"),
            status=OPEN,
            recorded_by_user=identity.person,
            recorded_at=utcnow(),
        )
        if body.get("next_step"):
            self._set_next_step(row, body["next_step"])
        self.session.add(row)
        self.session.flush()
        self._audit(identity, "period.record", row)
        return row

    def set_next_step(
        self, identity: Identity, period_id: str, step: dict[str, str]
    ) -> ServicePeriod:
        row = self._own(identity, period_id, "period.next_step")
        self._set_next_step(row, step)
        self._audit(identity, "period.next_step", row)
        return row

    def close(self, identity: Identity, period_id: str, body: dict[str, Any]) -> ServicePeriod:
        """``open → closed`` with the outcome (where the client went) and the last day."""
        row = self._own(identity, period_id, "period.close")
        if row.status != OPEN:
            raise self.uow.refuse(
                Conflict("The period is closed already.", code="period_closed"),
                Denial("period.close", "service_period", row.id, client_ref=row.client_id),
            )
        ended: dt.date = body["ended_on"]
        errors = []
        if ended < row.start:
            errors.append(FieldError("ended_on", "Must be on or after the period's start."))
        if ended > local_date(utcnow()):
            errors.append(FieldError("ended_on", "Must not be in the future."))
        if errors:
            raise Invalid("The period cannot be closed so.", errors=errors)
        if body.get("next_step"):
            self._set_next_step(row, body["next_step"])
        row.status, row.outcome, row.ended_on = CLOSED, body["outcome"], ended
        row.closed_by_user, row.closed_at = identity.person, utcnow()
        self._audit(identity, "period.close", row, reason=row.outcome)
        return row

    # --- reading ------------------------------------------------------------------------

    def read(self, identity: Identity, period_id: str) -> ServicePeriod:
        row = self._visible(identity, period_id, "period.read")
        self._audit(identity, "period.read", row)
        return row

    def list_visible(self, identity: Identity, args: dict[str, Any]) -> Page[ServicePeriod]:
        """Periods the caller's organization provides or owns the next step of, newest first."""
        query = select(ServicePeriod).where(self._sees(identity.organization))
        if "client_id" in args:
            query = query.where(ServicePeriod.client_id == args["client_id"])
        if "status" in args:
            query = query.where(ServicePeriod.status == args["status"])
        page = newest_first(
            self.session,
            query,
            ServicePeriod.recorded_at,
            ServicePeriod.id,
            args["limit"],
            args.get("cursor"),
        )
        for row in page.items:
            self._audit(identity, "period.read", row)
        return page

    # --- signals ------------------------------------------------------------------------

    def ending_without_next_step(
        self, identity: Identity, today: dt.date | None = None
    ) -> list[ServicePeriod]:
        """Open periods of the caller's organization ending within 30 days with no next step:
        the client would otherwise "just wait for the next period"."""
        organization = identity.organization
        today = today or local_date(utcnow())
        return list(
            self.session.execute(
                select(ServicePeriod)
                .where(
                    ServicePeriod.organization_id == organization,
                    ServicePeriod.status == OPEN,
                    ServicePeriod.next_step.is_(None),
                    ServicePeriod.planned_end <= today + dt.timedelta(days=ENDING_SOON_DAYS),
                )
                .order_by(ServicePeriod.planned_end, ServicePeriod.id)
            ).scalars()
        )

    def review_needed(self, identity: Identity) -> list[dict[str, Any]]:
        """Clients of the caller's organization whose last three closed periods (any provider)
        each ended "continued_same_service": due for a multi-professional review."""
        mine = select(ServicePeriod.client_id).where(
            ServicePeriod.organization_id == identity.organization
        )
        rows = self.session.execute(
            select(ServicePeriod.client_id, ServicePeriod.outcome, ServicePeriod.ended_on)
            .where(ServicePeriod.status == CLOSED, ServicePeriod.client_id.in_(mine))
            .order_by(ServicePeriod.client_id, ServicePeriod.ended_on.desc())
        ).all()
        latest: dict[str, list[tuple[str | None, dt.date | None]]] = defaultdict(list)
        for client_id, outcome, ended in rows:
            if len(latest[client_id]) < REVIEW_AFTER:
                latest[client_id].append((outcome, ended))
        return [
            {"client_id": client_id, "periods": REVIEW_AFTER, "last_ended_on": ends[0][1]}
            for client_id, ends in sorted(latest.items())
            if len(ends) == REVIEW_AFTER and all(outcome == SAME_SERVICE for outcome, _ in ends)
        ]

    # --- helpers ------------------------------------------------------------------------

    @staticmethod
    def _sees(organization: str) -> Any:
        return or_(
            ServicePeriod.organization_id == organization,
            ServicePeriod.next_step_owner == organization,
        )

    def _visible(
        self, identity: Identity, period_id: str, action: str, lock: bool = False
    ) -> ServicePeriod:
        query = select(ServicePeriod).where(
            ServicePeriod.id == period_id[:40], self._sees(identity.organization)
        )
        if lock:
            query = query.with_for_update()
        row = self.session.execute(query).scalar_one_or_none()
        if row is None:
            raise self.uow.refuse(
                NotFound("No such service period.", code="period_not_found"),
                Denial(action, "service_period", period_id[:128]),
            )
        return row

    def _own(self, identity: Identity, period_id: str, action: str) -> ServicePeriod:
        """Only the providing organization changes a period; others get the same 404."""
        row = self._visible(identity, period_id, action, lock=True)
        if row.organization_id != identity.organization:
            raise self.uow.refuse(
                NotFound("No such service period.", code="period_not_found"),
                Denial(action, "service_period", period_id[:128], reason="not_provider"),
            )
        return row

    def _set_next_step(self, row: ServicePeriod, step: dict[str, str]) -> None:
        owner = self.session.get(Organization, step["owner"])
        if owner is None:
            raise Invalid(
                "The next step's owner is not a registered organization.",
                errors=[FieldError("next_step.owner", "No such organization.")],
            )
        supervisors = supervisor_errors([("next_step.owner", owner)])
        if supervisors:
            raise Invalid(
                "A supervisor organization owns no client's next step.", errors=supervisors
            )
        row.next_step, row.next_step_owner = step["path"], step["owner"]

    def _client(self, identity: Identity, ref: dict[str, str]) -> Client:
        return named_client(self.uow, self.keys, identity, ref)

    def _audit(
        self, identity: Identity, action: str, row: ServicePeriod, reason: str | None = None
    ) -> None:
        audit.record(
            self.session,
            identity,
            action,
            resource_type="service_period",
            resource_id=row.id,
            client_ref=row.client_id,
            reason=reason,
        )
