"""audit log: sealed Merkle log, signed checkpoints, append-only; packet retention

Events are now written without a sequence number and sealed just after commit,
so writers never wait for each other. Events recorded before this revision are
kept and re-sealed in their original order by the sealer (their old chain
hashes are not carried over: there were no signed checkpoints to keep).

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
CONTENT = (
    "occurred_at",
    "request_id",
    "actor_organization",
    "actor_client",
    "actor_user",
    "action",
    "outcome",
    "resource_type",
    "resource_id",
    "client_ref",
    "basis_type",
    "basis_ref",
    "reason",
)

SQLITE_TRIGGERS = [
    """CREATE TRIGGER audit_event_no_delete BEFORE DELETE ON audit_event
       BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END""",
    f"""CREATE TRIGGER audit_event_seal_only BEFORE UPDATE ON audit_event
       WHEN OLD.seq IS NOT NULL OR NEW.id IS NOT OLD.id OR
            {" OR ".join(f"NEW.{c} IS NOT OLD.{c}" for c in CONTENT)}
       BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END""",
    """CREATE TRIGGER audit_checkpoint_no_update BEFORE UPDATE ON audit_checkpoint
       BEGIN SELECT RAISE(ABORT, 'audit checkpoints are append-only'); END""",
    """CREATE TRIGGER audit_checkpoint_no_delete BEFORE DELETE ON audit_checkpoint
       BEGIN SELECT RAISE(ABORT, 'audit checkpoints are append-only'); END""",
]

POSTGRES_TRIGGERS = [
    f"""CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP IN ('DELETE', 'TRUNCATE') OR TG_TABLE_NAME <> 'audit_event' THEN
        RAISE EXCEPTION 'audit records are append-only' USING ERRCODE = 'insufficient_privilege';
      END IF;
      -- The sealer may only fill in seq, leaf_hash and hash of an unsealed event.
      IF OLD.seq IS NOT NULL OR NEW.id IS DISTINCT FROM OLD.id OR
         ({", ".join(f"NEW.{c}" for c in CONTENT)}) IS DISTINCT FROM
         ({", ".join(f"OLD.{c}" for c in CONTENT)}) THEN
        RAISE EXCEPTION 'audit events are append-only' USING ERRCODE = 'insufficient_privilege';
      END IF;
      RETURN NEW;
    END $$""",
    """CREATE TRIGGER audit_event_append_only BEFORE UPDATE OR DELETE ON audit_event
       FOR EACH ROW EXECUTE FUNCTION audit_append_only()""",
    """CREATE TRIGGER audit_event_no_truncate BEFORE TRUNCATE ON audit_event
       FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only()""",
    """CREATE TRIGGER audit_checkpoint_append_only BEFORE UPDATE OR DELETE ON audit_checkpoint
       FOR EACH ROW EXECUTE FUNCTION audit_append_only()""",
    """CREATE TRIGGER audit_checkpoint_no_truncate BEFORE TRUNCATE ON audit_checkpoint
       FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only()""",
]


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_event_actor_organization_seq")
        batch_op.drop_index("ix_audit_event_client_ref_seq")
    op.rename_table("audit_event", "audit_event_v1")
    if dialect == "postgresql":
        # PostgreSQL names constraints per schema, not per table: free the name for the new table.
        op.execute(
            "ALTER TABLE audit_event_v1 RENAME CONSTRAINT pk_audit_event TO pk_audit_event_v1"
        )
    op.create_table(
        "audit_event",
        sa.Column("id", BIGINT, autoincrement=True, nullable=False),
        sa.Column("seq", BIGINT, nullable=True),
        *(
            sa.Column(
                name, sa.String(length), nullable=name not in ("occurred_at", "action", "outcome")
            )
            for name, length in zip(
                CONTENT, (27, 64, 64, 128, 128, 64, 16, 64, 128, 64, 16, 200, 500), strict=True
            )
        ),
        sa.Column("leaf_hash", sa.String(length=64), nullable=True),
        sa.Column("hash", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_event")),
        sa.UniqueConstraint("seq", name=op.f("uq_audit_event_seq")),
    )
    columns = ", ".join(CONTENT)
    copy = f"INSERT INTO audit_event (id, {columns}) SELECT seq, {columns} FROM audit_event_v1"  # noqa: S608  # column names are constants
    op.execute(copy + " ORDER BY seq")
    if dialect == "postgresql":
        op.execute(
            "SELECT setval(pg_get_serial_sequence('audit_event', 'id'), "
            "COALESCE((SELECT max(id) FROM audit_event), 0) + 1, false)"
        )
    op.drop_table("audit_event_v1")
    op.create_index("ix_audit_event_client_ref_seq", "audit_event", ["client_ref", "seq"])
    op.create_index(
        "ix_audit_event_actor_organization_seq", "audit_event", ["actor_organization", "seq"]
    )
    op.create_index(
        "ix_audit_event_unsealed",
        "audit_event",
        ["id"],
        postgresql_where=sa.text("seq IS NULL"),
        sqlite_where=sa.text("seq IS NULL"),
    )

    with op.batch_alter_table("audit_head", schema=None) as batch_op:
        batch_op.add_column(sa.Column("frontier", sa.JSON(), nullable=True))
    op.execute("UPDATE audit_head SET seq = 0, hash = '" + "0" * 64 + "', frontier = '[]'")
    with op.batch_alter_table("audit_head", schema=None) as batch_op:
        batch_op.alter_column("frontier", existing_type=sa.JSON(), nullable=False)

    op.create_table(
        "audit_checkpoint",
        sa.Column("tree_size", BIGINT, autoincrement=False, nullable=False),
        sa.Column("root_hash", sa.String(length=64), nullable=False),
        sa.Column("chain_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("jws", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("tree_size", name=op.f("pk_audit_checkpoint")),
    )
    with op.batch_alter_table("packet", schema=None) as batch_op:
        batch_op.add_column(sa.Column("shredded_at", sa.DateTime(timezone=True), nullable=True))

    for statement in SQLITE_TRIGGERS if dialect == "sqlite" else POSTGRES_TRIGGERS:
        op.execute(statement)


def downgrade() -> None:
    raise NotImplementedError("the audit log is append-only; restore a backup to go back")
