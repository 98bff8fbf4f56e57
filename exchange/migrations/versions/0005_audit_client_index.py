"""audit: index for one client's events of one organization, in log order

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_audit_event_client_ref_actor_organization_seq",
        "audit_event",
        ["client_ref", "actor_organization", "seq"],
    )
    op.drop_index("ix_audit_event_client_ref_seq", table_name="audit_event")


def downgrade() -> None:
    op.create_index("ix_audit_event_client_ref_seq", "audit_event", ["client_ref", "seq"])
    op.drop_index("ix_audit_event_client_ref_actor_organization_seq", table_name="audit_event")
