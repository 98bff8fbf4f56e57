"""consent approver organization: whose social worker decides a pending permit

Revision ID: 0012
Revises: 0011

Consents recorded before this revision were decided by their recorder's organization, so
that is their approver organization. Each consent also names its approver organization
among its parties (role ``named_approver``), the join the visibility rule reads.

SQLite cannot make an existing column NOT NULL without rebuilding the table, and
``consent`` cannot be rebuilt inside the migration's transaction while the tables that
reference it keep foreign keys on. There the column is added NOT NULL with an empty
default, which the update below replaces in every row; PostgreSQL adds it nullable, fills
it and then requires it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    op.add_column(
        "consent",
        sa.Column(
            "approver_organization",
            sa.String(length=64),
            nullable=not sqlite,
            server_default="" if sqlite else None,
        ),
    )
    op.execute("UPDATE consent SET approver_organization = recorded_by_org")
    op.execute(
        "INSERT INTO consent_party (consent_id, organization_id, role) "
        "SELECT id, recorded_by_org, 'named_approver' FROM consent"
    )
    if not sqlite:
        op.alter_column(
            "consent", "approver_organization", existing_type=sa.String(length=64), nullable=False
        )
    op.create_index(
        "ix_consent_approver_organization_status",
        "consent",
        ["approver_organization", "status"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_consent_approver_organization_status", table_name="consent")
    op.execute("DELETE FROM consent_party WHERE role = 'named_approver'")
    # A plain ALTER TABLE: SQLite (3.35 on) drops a column that nothing indexes or references.
    op.drop_column("consent", "approver_organization")
