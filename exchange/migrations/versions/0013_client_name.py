"""client name: an optional name, envelope-encrypted like packet content

Revision ID: 0013
Revises: 0012

Three nullable columns: clients registered before this revision (and those looked up without
a name) have none.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("client", sa.Column("name_ciphertext", sa.LargeBinary(), nullable=True))
    op.add_column("client", sa.Column("name_wrapped_key", sa.LargeBinary(), nullable=True))
    op.add_column("client", sa.Column("name_kek_version", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("client") as batch:
        batch.drop_column("name_kek_version")
        batch.drop_column("name_wrapped_key")
        batch.drop_column("name_ciphertext")
