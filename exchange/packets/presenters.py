"""How a packet's metadata is shown (API lists, a packet, escalations): one shape everywhere."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import inspect

from exchange.packets.models import Packet, PacketEvent

if TYPE_CHECKING:
    from exchange.packets.service import ReadBack


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


def history(events: list[PacketEvent], read_back: ReadBack | None) -> list[dict[str, Any]]:
    """A packet's status history; the ``accepted`` event carries the read-back."""
    columns = [attribute.key for attribute in inspect(PacketEvent).column_attrs]
    items = []
    for event in events:
        item = {name: getattr(event, name) for name in columns}
        if event.action == "accepted" and read_back is not None:
            item["acknowledged_actions"] = list(read_back.acknowledged_actions)
            item["synthesis"] = read_back.synthesis
        items.append(item)
    return items
