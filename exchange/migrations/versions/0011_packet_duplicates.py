"""packet duplicates: the same signed payload from the same sender is stored once

Revision ID: 0011
Revises: 0010

A new column rather than a unique index on ``payload_sha256``: packets stored before
this revision may repeat a payload, and they keep it NULL here.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("packet", sa.Column("dedupe_sha256", sa.String(length=64), nullable=True))
    op.create_index(
        "uq_packet_sender_org_dedupe_sha256",
        "packet",
        ["sender_org", "dedupe_sha256"],
        unique=True,
    )


def downgrade() -> None:
    op.drop_index("uq_packet_sender_org_dedupe_sha256", table_name="packet")
    op.drop_column("packet", "dedupe_sha256")
