"""How a packet's metadata is shown (API lists, a packet, escalations): one shape everywhere."""

from __future__ import annotations

from typing import Any

from exchange.packets.models import Packet


def meta(row: Packet, status: str) -> dict[str, Any]:
    return {
        "id": row.id,
        "client_id": row.client_id,
        "kind": row.kind,
        "purpose": row.purpose,
        "status": status,
        "from_": {"organization": row.sender_org, "worker": row.sender_user},
        "to": {"organization": row.recipient_org, "worker": row.recipient_user},
        "respond_by": row.respond_by,
        "case_reference": row.case_reference,
        "categories": row.categories,
        "received_at": row.received_at,
        "delivered_at": row.delivered_at,
        "warnings": row.warnings,
    }
