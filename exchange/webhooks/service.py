"""An organization's own notifications: the list, and a manual retry."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from adapters.pagination import Page, newest_first
from exchange import audit
from exchange.errors import Conflict, Denial, NotFound
from exchange.policy import Identity
from exchange.unit import UnitOfWork
from exchange.webhooks.delivery import reschedule
from exchange.webhooks.models import DEAD, PENDING, WebhookDelivery


class WebhookService:
    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow
        self.session = uow.session

    def deliveries(self, identity: Identity, args: dict[str, Any]) -> Page[WebhookDelivery]:
        """The caller's organization's notifications, newest first, by status and type."""
        query = select(WebhookDelivery).where(
            WebhookDelivery.organization_id == identity.organization
        )
        if "status" in args:
            query = query.where(WebhookDelivery.status == args["status"])
        if "event_type" in args:
            query = query.where(WebhookDelivery.event_type == args["event_type"])
        return newest_first(
            self.session,
            query,
            WebhookDelivery.created_at,
            WebhookDelivery.id,
            args["limit"],
            args.get("cursor"),
        )

    def retry(self, identity: Identity, delivery_id: str) -> WebhookDelivery:
        """Due again now, with a fresh retry window; a delivered one is a conflict."""
        row = self.session.get(WebhookDelivery, delivery_id[:40], with_for_update=True)
        if row is None or row.organization_id != identity.organization:
            raise self.uow.refuse(
                NotFound("No such delivery.", code="delivery_not_found"),
                Denial("webhook.retry", "webhook_delivery", delivery_id[:128]),
            )
        if row.status not in (DEAD, PENDING):
            raise self.uow.refuse(
                Conflict("This notification was delivered already.", code="already_delivered"),
                Denial("webhook.retry", "webhook_delivery", row.id, reason="already_delivered"),
            )
        reschedule(row)
        audit.record(
            self.session,
            identity,
            "webhook.retry",
            resource_type="webhook_delivery",
            resource_id=row.id,
        )
        return row
