"""service periods: a client's period in a service, its next step and outcome

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "service_period",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("client_id", sa.String(length=40), nullable=False),
        sa.Column("organization_id", sa.String(length=64), nullable=False),
        sa.Column("service", sa.String(length=64), nullable=False),
        sa.Column("start", sa.Date(), nullable=False),
        sa.Column("planned_end", sa.Date(), nullable=False),
        sa.Column("days_per_week", sa.Integer(), nullable=False),
        sa.Column("hours_per_day", sa.Numeric(4, 1), nullable=False),
        sa.Column("guidance_hours_per_month", sa.Numeric(5, 1), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("next_step", sa.String(length=40), nullable=True),
        sa.Column("next_step_owner", sa.String(length=64), nullable=True),
        sa.Column("ended_on", sa.Date(), nullable=True),
        sa.Column("outcome", sa.String(length=40), nullable=True),
        sa.Column("recorded_by_user", sa.String(length=128), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_by_user", sa.String(length=128), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["client_id"], ["client.id"], name=op.f("fk_service_period_client_id_client")
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organization.id"],
            name=op.f("fk_service_period_organization_id_organization"),
        ),
        sa.ForeignKeyConstraint(
            ["next_step_owner"],
            ["organization.id"],
            name=op.f("fk_service_period_next_step_owner_organization"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_period")),
    )
    op.create_index("ix_service_period_client_id_start", "service_period", ["client_id", "start"])
    op.create_index(
        "ix_service_period_organization_id_status", "service_period", ["organization_id", "status"]
    )
    op.create_index(
        "ix_service_period_status_planned_end", "service_period", ["status", "planned_end"]
    )
    op.create_index("ix_service_period_ended_on", "service_period", ["ended_on"])


def downgrade() -> None:
    op.drop_table("service_period")
