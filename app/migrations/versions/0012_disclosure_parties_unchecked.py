"""The record of disclosures checks its district and viewer once per request, not once per row.

Every row a request appends carries the same district and viewer: the signed-in account, read in
the same transaction. As foreign keys they were checked row by row — two lookups per disclosed
student, each taking a key-share lock on the district's one row, which every request of the
district shares (a MultiXact as soon as two requests disclose at once) — and took about two thirds
of the INSERT of a teacher's 117 rows. The foreign keys go; what they protected stays:

- a district or account that the record names cannot be deleted, nor its id changed (a trigger
  refuses with the foreign-key SQLSTATE, 23503, as the constraint did);
- the rows name only accounts and districts that exist: they are written by `app.disclosures`
  alone, for the viewer the request signed in as.

The student (a different one on each row) and the grant keep their foreign keys.

Revision ID: 0012
Revises: 0011
"""

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

# table → the disclosure column that names its rows
_PARTIES = {"district": "district_id", "app_user": "viewer_user_id"}


def upgrade() -> None:
    op.drop_constraint("disclosure_district_id_fkey", "disclosure", type_="foreignkey")
    op.drop_constraint("disclosure_viewer_user_id_fkey", "disclosure", type_="foreignkey")
    # SECURITY DEFINER: whoever deletes an account need not be able to read the record.
    op.execute(
        """
        CREATE FUNCTION disclosure_keeps_its_parties() RETURNS trigger
          LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
        DECLARE
          named boolean;
        BEGIN
          IF TG_OP = 'UPDATE' AND NEW.id = OLD.id THEN
            RETURN NEW;
          END IF;
          EXECUTE format('SELECT EXISTS (SELECT 1 FROM disclosure WHERE %I = $1)', TG_ARGV[0])
            INTO named USING OLD.id;
          IF named THEN
            RAISE EXCEPTION 'the record of disclosures names % %', TG_TABLE_NAME, OLD.id
              USING ERRCODE = 'foreign_key_violation';
          END IF;
          RETURN CASE TG_OP WHEN 'DELETE' THEN OLD ELSE NEW END;
        END $$;
        """
    )
    op.execute("REVOKE ALL ON FUNCTION disclosure_keeps_its_parties() FROM PUBLIC")
    for table, column in _PARTIES.items():
        op.execute(
            f"CREATE TRIGGER {table}_named_by_disclosures BEFORE DELETE OR UPDATE OF id"
            f" ON {table} FOR EACH ROW EXECUTE FUNCTION disclosure_keeps_its_parties('{column}')"
        )


def downgrade() -> None:
    for table in _PARTIES:
        op.execute(f"DROP TRIGGER {table}_named_by_disclosures ON {table}")
    op.execute("DROP FUNCTION disclosure_keeps_its_parties()")
    op.create_foreign_key(
        "disclosure_district_id_fkey", "disclosure", "district", ["district_id"], ["id"]
    )
    op.create_foreign_key(
        "disclosure_viewer_user_id_fkey", "disclosure", "app_user", ["viewer_user_id"], ["id"]
    )
