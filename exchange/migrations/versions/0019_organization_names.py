"""organization names: optional Swedish and English names beside the Finnish one

Revision ID: 0019
Revises: 0018

Two nullable columns: an organization registered without them (and every one registered
before this revision) is shown by its Finnish name in every language.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("organization", sa.Column("name_sv", sa.String(length=200), nullable=True))
    op.add_column("organization", sa.Column("name_en", sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("organization") as batch:
        batch.drop_column("name_en")
        batch.drop_column("name_sv")
