"""audit: index events by resource, for an auditor's scope (its packets and consents)

Revision ID: 0016
Revises: 0015

An organization's auditor sees, besides its own people's and systems' events, every event
about the packets and consents its organization is party to; those are found by the
resource they name.
"""

from __future__ import annotations

from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_audit_event_resource_id_resource_type",
        "audit_event",
        ["resource_id", "resource_type"],
    )


def downgrade() -> None:
    op.drop_index("ix_audit_event_resource_id_resource_type", table_name="audit_event")
