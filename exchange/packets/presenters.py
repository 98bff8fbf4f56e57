"""How a packet's metadata is shown (API lists, a packet, escalations): one shape everywhere."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import inspect

from exchange.packets.models import Packet, PacketEvent

if TYPE_CHECKING:
    from exchange.packets.service import ReadBack


# The columns ``meta`` shows: all a list of packets loads (no content, no receipt).
META_COLUMNS = (
    Packet.id,
    Packet.client_id,
    Packet.kind,
    Packet.purpose,
    Packet.status,
    Packet.sender_org,
    Packet.sender_user,
    Packet.recipient_org,
    Packet.recipient_user,
    Packet.respond_by,
    Packet.case_reference,
    Packet.categories,
    Packet.received_at,
    Packet.delivered_at,
    Packet.warnings,
    Packet.first_contact_by,
    Packet.first_contact_on,
    Packet.first_contact_mode,
    Packet.first_contact_recorded_by,
)


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
        "first_contact_by": row.first_contact_by,
        "first_contact": first_contact(row),
    }


def first_contact(row: Packet) -> dict[str, Any] | None:
    """The receiver's recorded first contact after a transfer; None before (or never)."""
    if row.first_contact_on is None:
        return None
    return {
        "date": row.first_contact_on,
        "mode": row.first_contact_mode,
        "recorded_by": row.first_contact_recorded_by,
    }


def escalation(row: Packet, status: str) -> dict[str, Any]:
    """A transfer whose first contact is missing: its metadata with who escorts whom."""
    return {
        **meta(row, status),
        "escort": {"organization": row.sender_org, "worker": row.escort_worker},
        "first_contact_worker": row.first_contact_worker,
        "escalated_at": row.first_contact_missing_at,
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
