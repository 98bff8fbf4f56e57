"""users deactivated through the service: when and by whom, so a registry load keeps them out

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "app_user", sa.Column("deactivated_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column("app_user", sa.Column("deactivated_by", sa.String(length=128), nullable=True))


def downgrade() -> None:
    op.drop_column("app_user", "deactivated_by")
    op.drop_column("app_user", "deactivated_at")
