"""An organization's own notifications: the list, and a manual retry."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from adapters.pagination import Page, newest_first
from exchange import audit
from exchange.audit import Actor
from exchange.errors import Conflict, Denial, NotFound
from exchange.webhooks.delivery import reschedule
from exchange.webhooks.models import DEAD, PENDING, WebhookDelivery


class WebhookService:
    def __init__(self, session: Session) -> None:
        self.session = session

    def deliveries(self, organization: str, args: dict[str, Any]) -> Page[WebhookDelivery]:
        """The organization's notifications, newest first, filtered by status and type."""
        query = select(WebhookDelivery).where(WebhookDelivery.organization_id == organization)
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

    def retry(self, delivery_id: str, organization: str, actor: Actor) -> WebhookDelivery:
        """Due again now, with a fresh retry window; a delivered one is a conflict."""
        row = self.session.get(WebhookDelivery, delivery_id[:40], with_for_update=True)
        if row is None or row.organization_id != organization:
            raise NotFound(
                "No such delivery.",
                code="delivery_not_found",
                audit=Denial("webhook.retry", "webhook_delivery", delivery_id[:128]),
            )
        if row.status not in (DEAD, PENDING):
            raise Conflict(
                "This notification was delivered already.",
                code="already_delivered",
                audit=Denial(
                    "webhook.retry", "webhook_delivery", row.id, reason="already_delivered"
                ),
            )
        reschedule(row)
        audit.record(
            self.session,
            actor,
            "webhook.retry",
            resource_type="webhook_delivery",
            resource_id=row.id,
        )
        return row
