"""escorted transfer: the sender escorts an accepted transfer until the first contact

Revision ID: 0014
Revises: 0013

The escort lives in columns of the transfer packet, not in a table of its own. A
transfer has at most one escort, it starts when that packet is accepted and ends when
that packet's receiver records the first contact; its parties are the packet's own
(the escorting organization is the sender, the receiving one the recipient). On the
packet row the escort shares the packet's row lock, so accepting, recording the first
contact, a staff change and the worker's escalation of one transfer queue up behind one
another, and the rule "every accepted transfer has a first contact, or an escort whose
``first_contact_by`` has not passed, or an open ``first_contact_missing`` escalation" is
one query over one table (``ix_packet_status_first_contact_by`` serves it)::

    SELECT id FROM packet
     WHERE kind = 'transfer' AND status = 'accepted' AND first_contact_by IS NOT NULL
       AND first_contact_on IS NULL AND first_contact_by < :today
       AND first_contact_missing_at IS NULL   -- a breach: nobody has been told yet

- ``first_contact_by``: from the transfer's payload, or set at acceptance (acceptance
  day + ``EXCHANGE_FIRST_CONTACT_DAYS``).
- ``escort_worker``: the sender's worker who escorts (NULL: the sender organization's
  unassigned queue); ``first_contact_worker``: the receiver's worker who is to make the
  contact (the accepting person). Staff changes move both, like leads.
- ``first_contact_on``, ``_mode``, ``_recorded_by``: the recorded first contact, which
  ends the escort.
- ``first_contact_missing_at``: when the worker raised the escalation and notified the
  sender (at most once per transfer).

Transfers accepted before this revision keep ``first_contact_by`` NULL: acceptance then
ended the sender's part, and escalating every old transfer at once would bury the
organizations' escalation lists under hand-overs that finished long ago.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

COLUMNS = (
    ("first_contact_by", sa.Date()),
    ("escort_worker", sa.String(length=128)),
    ("first_contact_worker", sa.String(length=128)),
    ("first_contact_on", sa.Date()),
    ("first_contact_mode", sa.String(length=16)),
    ("first_contact_recorded_by", sa.String(length=128)),
    ("first_contact_missing_at", sa.DateTime(timezone=True)),
)


def upgrade() -> None:
    for name, type_ in COLUMNS:
        op.add_column("packet", sa.Column(name, type_, nullable=True))
    op.create_index("ix_packet_status_first_contact_by", "packet", ["status", "first_contact_by"])


def downgrade() -> None:
    op.drop_index("ix_packet_status_first_contact_by", table_name="packet")
    for name, _type in reversed(COLUMNS):
        op.drop_column("packet", name)
