"""The record of disclosures is append-only.

UPDATE, DELETE and TRUNCATE of `disclosure` raise, whoever runs them; the hash chain
(`schoolgraph audit verify`) catches anything done around the triggers by a superuser.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE FUNCTION disclosure_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          RAISE EXCEPTION 'the record of disclosures is append-only (% refused)', TG_OP
            USING ERRCODE = 'insufficient_privilege';
        END $$;
        """
    )
    op.execute(
        "CREATE TRIGGER disclosure_no_update_delete BEFORE UPDATE OR DELETE ON disclosure"
        " FOR EACH ROW EXECUTE FUNCTION disclosure_append_only()"
    )
    op.execute(
        "CREATE TRIGGER disclosure_no_truncate BEFORE TRUNCATE ON disclosure"
        " FOR EACH STATEMENT EXECUTE FUNCTION disclosure_append_only()"
    )
    op.execute("REVOKE UPDATE, DELETE, TRUNCATE ON disclosure FROM PUBLIC")


def downgrade() -> None:
    op.execute("DROP TRIGGER disclosure_no_truncate ON disclosure")
    op.execute("DROP TRIGGER disclosure_no_update_delete ON disclosure")
    op.execute("DROP FUNCTION disclosure_append_only()")
