"""``/v1/webhooks/deliveries``: an organization's own notifications, and a manual retry."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from exchange.acting import current_identity
from exchange.http import ApiBlueprint
from exchange.services import services
from exchange.webhooks.models import PENDING, WebhookDelivery
from schemas.webhooks import DeliveryListArgs, DeliveryOut, DeliveryPage

blp = ApiBlueprint("webhooks", __name__, url_prefix="/v1", description="Notifications")

# Notifications concern packets, consents and leads: a system with any of these may see them.
SCOPES = ("packets:send", "packets:receive", "consents:read", "clients:manage")


def present(row: WebhookDelivery) -> dict[str, Any]:
    return {
        "id": row.id,
        "event_type": row.event_type,
        "data": row.data,
        "created_at": row.created_at,
        "status": row.status,
        "attempts": row.attempts,
        "next_attempt_at": row.next_attempt_at if row.status == PENDING else None,
        "last_attempt_at": row.last_attempt_at,
        "last_status": row.last_status,
        "last_error": row.last_error,
        "delivered_at": row.delivered_at,
    }


@blp.route("/webhooks/deliveries")
class Deliveries(MethodView):
    @blp.action("webhook.list", errors=(422,))
    @blp.arguments(DeliveryListArgs, location="query")
    @blp.response(200, DeliveryPage)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """Your organization's notifications, newest first: delivered, pending (with the next
        attempt) and dead-lettered (``status=dead``)."""
        identity = current_identity()
        page = services().webhooks.deliveries(identity, args)
        return {"items": [present(row) for row in page.items], "next_cursor": page.next_cursor}


@blp.route("/webhooks/deliveries/<string:delivery_id>/retry")
class DeliveryRetry(MethodView):
    @blp.action("webhook.retry", errors=(404, 409))
    @blp.response(200, DeliveryOut)
    def post(self, delivery_id: str) -> dict[str, Any]:
        """Send a dead-lettered or still-failing notification again now, with a fresh retry
        window. A delivered one answers 409."""
        row = services().webhooks.retry(current_identity(), delivery_id)
        return present(row)
