"""read-back at acceptance: the acknowledged plan actions and the sealed synthesis

Revision ID: 0015
Revises: 0014

Both columns stay NULL for packets accepted before read-back existed.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("packet", sa.Column("acknowledged_actions", sa.JSON(), nullable=True))
    op.add_column("packet", sa.Column("synthesis_ciphertext", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("packet") as batch_op:
        batch_op.drop_column("synthesis_ciphertext")
        batch_op.drop_column("acknowledged_actions")
