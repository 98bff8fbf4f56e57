"""audit head guard: the sealer's head only moves forward, to a sealed event's chain hash

Revision ID: 0008
Revises: 0007

Without it the application's database role could rewrite ``audit_head`` and so
break every later seal (or hide a cut-off tail). Now the head may be created
only at the genesis, never removed, and each update either changes nothing or
advances ``seq`` to an event whose stored chain hash it copies.
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

GENESIS = "0" * 64

SQLITE_TRIGGERS = [
    f"""CREATE TRIGGER audit_head_genesis_only BEFORE INSERT ON audit_head
       WHEN NEW.seq <> 0 OR NEW.hash <> '{GENESIS}'
       BEGIN SELECT RAISE(ABORT, 'the audit head is append-only'); END""",
    """CREATE TRIGGER audit_head_no_delete BEFORE DELETE ON audit_head
       BEGIN SELECT RAISE(ABORT, 'the audit head is append-only'); END""",
    """CREATE TRIGGER audit_head_forward_only BEFORE UPDATE ON audit_head
       WHEN NEW.id IS NOT OLD.id OR NEW.seq < OLD.seq
         OR (NEW.seq = OLD.seq
             AND (NEW.hash IS NOT OLD.hash OR NEW.frontier IS NOT OLD.frontier))
         OR (NEW.seq > OLD.seq
             AND NEW.hash IS NOT (SELECT hash FROM audit_event WHERE seq = NEW.seq))
       BEGIN SELECT RAISE(ABORT, 'the audit head is append-only'); END""",
]

POSTGRES_TRIGGERS = [
    f"""CREATE FUNCTION audit_head_forward_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP IN ('DELETE', 'TRUNCATE') THEN
        RAISE EXCEPTION 'the audit head is append-only' USING ERRCODE = 'insufficient_privilege';
      END IF;
      IF TG_OP = 'INSERT' THEN
        IF NEW.seq <> 0 OR NEW.hash <> '{GENESIS}' THEN
          RAISE EXCEPTION 'the audit head is append-only'
            USING ERRCODE = 'insufficient_privilege';
        END IF;
        RETURN NEW;
      END IF;
      IF NEW.id IS DISTINCT FROM OLD.id OR NEW.seq < OLD.seq
         OR (NEW.seq = OLD.seq AND (NEW.hash IS DISTINCT FROM OLD.hash
                                    OR NEW.frontier::text IS DISTINCT FROM OLD.frontier::text))
         OR (NEW.seq > OLD.seq AND NEW.hash IS DISTINCT FROM
             (SELECT hash FROM audit_event WHERE seq = NEW.seq)) THEN
        RAISE EXCEPTION 'the audit head is append-only' USING ERRCODE = 'insufficient_privilege';
      END IF;
      RETURN NEW;
    END $$""",  # noqa: S608  # the only value formatted in is the GENESIS constant
    """CREATE TRIGGER audit_head_forward_only BEFORE INSERT OR UPDATE OR DELETE ON audit_head
       FOR EACH ROW EXECUTE FUNCTION audit_head_forward_only()""",
    """CREATE TRIGGER audit_head_no_truncate BEFORE TRUNCATE ON audit_head
       FOR EACH STATEMENT EXECUTE FUNCTION audit_head_forward_only()""",
]


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    for statement in SQLITE_TRIGGERS if dialect == "sqlite" else POSTGRES_TRIGGERS:
        op.execute(statement)


def downgrade() -> None:
    raise NotImplementedError("the audit log is append-only; restore a backup to go back")
