"""The record of disclosures no longer checks, row by row, that its district, viewer and student
exist.

The rows a request appends name the district and viewer it signed in as (read in the same
transaction) and the students whose rows it has just read. As foreign keys they were checked row by
row: three lookups per disclosed student, each taking a key-share lock — on the district's one
row, which every request of the district shares (a MultiXact as soon as two requests disclose at
once), and on every listed student's row (a WAL record each). That was about two thirds of the
INSERT of a teacher's 117 rows. The foreign keys go; what they protected stays:

- a district, account or student that the record names cannot be deleted, nor its id changed
  (a trigger refuses with the foreign-key SQLSTATE, 23503, as the constraint did);
- the rows name only what exists: they are written by `app.disclosures` alone, from the request's
  viewer and rows.

The grant (absent from most rows) keeps its foreign key.

Revision ID: 0012
Revises: 0011
"""

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

# table → the disclosure column that names its rows
_PARTIES = {"district": "district_id", "app_user": "viewer_user_id", "student": "student_id"}


def upgrade() -> None:
    for table, column in _PARTIES.items():
        op.drop_constraint(f"disclosure_{column}_fkey", "disclosure", type_="foreignkey")
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
    for table, column in _PARTIES.items():
        op.create_foreign_key(f"disclosure_{column}_fkey", "disclosure", table, [column], ["id"])
