"""The services of one unit of work, built from the runtime on first use.

Every door gets its services here: the API views and the web pages through
``services()`` (one container per request, on the request's unit of work), the
worker and the command line by building a ``Services`` on their own unit of work.
No door builds a service itself, so the dependencies each service needs (keys,
statutes, limits, listeners) are wired in one place.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from flask import g
from sqlalchemy.orm import Session

from exchange.audit.query import AuditQueries
from exchange.audit.report import access_report
from exchange.clients.overview import ClientOverviewService
from exchange.clients.service import ClientService
from exchange.consents.service import ConsentService
from exchange.continuity.escort import EscortService
from exchange.continuity.service import ContinuityService
from exchange.packets.service import PacketService
from exchange.periods.outcomes import outcome_report
from exchange.periods.report import Report
from exchange.periods.service import PeriodService
from exchange.policy import Identity
from exchange.registry.cache import RegistryView
from exchange.registry.service import RegistryService
from exchange.runtime import Runtime, runtime
from exchange.unit import UnitOfWork, current_unit
from exchange.webhooks.service import WebhookService
from exchange.worklists import Worklists


class Services:
    """Typed access to the services of one unit of work, with the runtime's dependencies."""

    def __init__(self, rt: Runtime, uow: UnitOfWork) -> None:
        self.runtime = rt
        self.uow = uow

    @property
    def session(self) -> Session:
        return self.uow.session

    @cached_property
    def consents(self) -> ConsentService:
        rt = self.runtime
        return ConsentService(
            self.uow,
            rt.keys,
            rt.statutes,
            rt.config["CONSENT_MAX_MONTHS"],
            rt.withdrawal_listeners,
            registry=self.registry_view,
        )

    @cached_property
    def packets(self) -> PacketService:
        rt = self.runtime
        return PacketService(
            self.uow,
            rt.keys,
            rt.statutes,
            first_contact_days=rt.config["FIRST_CONTACT_DAYS"],
            registry=self.registry_view,
        )

    @cached_property
    def continuity(self) -> ContinuityService:
        return ContinuityService(self.uow)

    @cached_property
    def escorts(self) -> EscortService:
        return EscortService(self.uow)

    @cached_property
    def periods(self) -> PeriodService:
        return PeriodService(self.uow, self.runtime.keys)

    @cached_property
    def clients(self) -> ClientService:
        return ClientService(self.uow, self.runtime.keys)

    @cached_property
    def client_overview(self) -> ClientOverviewService:
        """A client's page, gathered from the services that own each part."""
        return ClientOverviewService(
            self.clients, self.continuity, self.consents, self.packets, self.periods
        )

    @cached_property
    def audit(self) -> AuditQueries:
        """The auditor's queries: search, export, verification, checkpoints, proofs."""
        return AuditQueries(self.uow, self.runtime.keys, self.runtime.config["ISSUER"])

    @cached_property
    def worklists(self) -> Worklists:
        """The start page's lists, each from the service that owns its rule."""
        return Worklists(
            self.uow,
            clients=self.clients,
            consents=self.consents,
            packets=self.packets,
            continuity=self.continuity,
            escorts=self.escorts,
            periods=self.periods,
            audit_queries=self.audit,
        )

    @cached_property
    def registry(self) -> RegistryService:
        return RegistryService(self.uow)

    @cached_property
    def registry_view(self) -> RegistryView:
        """Organizations, OAuth clients and users as cached snapshots (one version read)."""
        return self.runtime.registry.view(self.uow.session)

    @cached_property
    def webhooks(self) -> WebhookService:
        return WebhookService(self.uow)

    def access_report(
        self, identity: Identity, client_id: str, language: str | None = None
    ) -> dict[str, Any]:
        """The client's "who has seen my data" report, organizations named in ``language``
        (audited)."""
        return access_report(self.uow, identity, client_id, language)

    def outcome_report(self, identity: Identity, args: dict[str, Any]) -> Report:
        """Where clients went after their service periods (audited; refused when unsafe)."""
        return outcome_report(self.uow, identity, args)


def services() -> Services:
    """The current request's services, on its unit of work (built on first use)."""
    found: Services | None = g.get("services")
    if found is None:
        found = Services(runtime(), current_unit())
        g.services = found
    return found
