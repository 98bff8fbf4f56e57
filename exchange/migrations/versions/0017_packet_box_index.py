"""packets: index the inbox and the outbox in the order their pages are read

Revision ID: 0017
Revises: 0016

A box page is the newest packets of one organization, newest first, with the id breaking
ties (the keyset cursor). With the id in the index, a page is read straight from the index
(scanned backwards, which both databases do) instead of sorting every packet the
organization ever received.
"""

from __future__ import annotations

from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

BOXES = {"recipient": "recipient_org", "sender": "sender_org"}


def upgrade() -> None:
    for name, column in BOXES.items():
        op.drop_index(f"ix_packet_{column}_received_at", table_name="packet")
        op.create_index(
            f"ix_packet_{name}_box",
            "packet",
            [column, "received_at", "id"],
        )


def downgrade() -> None:
    for name, column in BOXES.items():
        op.drop_index(f"ix_packet_{name}_box", table_name="packet")
        op.create_index(f"ix_packet_{column}_received_at", "packet", [column, "received_at"])
