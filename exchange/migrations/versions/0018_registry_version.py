"""registry version: one counter every write to organizations, OAuth clients and users raises

Revision ID: 0018
Revises: 0017

Each application process keeps the registry rows it reads in memory, good for one version
of this counter (``exchange.registry.cache``); a request reads the counter once instead of
the rows. Every registry write raises it in its own transaction, so a changed scope, key or
deactivation is seen by every process on its next request.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    table = op.create_table(
        "registry_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_registry_version_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registry_version")),
    )
    op.bulk_insert(table, [{"id": 1, "version": 1}])


def downgrade() -> None:
    op.drop_table("registry_version")
