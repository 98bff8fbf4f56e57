"""audit seal MAC: each sealed event carries an HMAC of its chain hash

Revision ID: 0009
Revises: 0008

The sealer fills ``seal_mac`` with ``seq``, ``leaf_hash`` and ``hash`` (the append-only
triggers let it: the column is not event content, and a sealed row cannot change at all).
Events sealed before this revision have none; verification requires one on every event
after the first that has it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN on both databases: no table copy, so the triggers stay as they are.
    op.add_column("audit_event", sa.Column("seal_mac", sa.String(length=64), nullable=True))


def downgrade() -> None:
    raise NotImplementedError("the audit log is append-only; restore a backup to go back")
