"""OneRoster import: every imported row keeps its `sourcedId`.

A `sourced_id` column, unique per district where set, on each table the importer writes, so a
re-import finds the rows it wrote before (and a bulk import the rows a file no longer lists).
Rows made by hand or by the seed keep `sourced_id` NULL. Students imported without
demographics have no known date of birth or grade; classes keep OneRoster's `classType` and
periods; a teaching assignment says whether its teacher is the primary one.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

SOURCED = (
    "district",
    "school",
    "term",
    "app_user",
    "role_assignment",
    "student",
    "guardian_link",
    "class_section",
    "teaching_assignment",
    "enrollment",
)


def upgrade() -> None:
    for table in SOURCED:
        op.add_column(table, sa.Column("sourced_id", sa.Text(), nullable=True))
        if table == "district":
            op.create_index(
                "uq_district_sourced_id",
                table,
                ["sourced_id"],
                unique=True,
                postgresql_where=sa.text("sourced_id IS NOT NULL"),
            )
        else:
            op.create_index(
                f"uq_{table}_sourced_id",
                table,
                ["district_id", "sourced_id"],
                unique=True,
                postgresql_where=sa.text("sourced_id IS NOT NULL"),
            )
    op.alter_column("student", "date_of_birth", nullable=True)
    op.alter_column("student", "grade_level", nullable=True)
    op.add_column("class_section", sa.Column("class_type", sa.Text(), nullable=True))
    op.add_column("class_section", sa.Column("periods", pg.ARRAY(sa.Text()), nullable=True))
    op.add_column(
        "teaching_assignment",
        sa.Column("is_primary", sa.Boolean(), nullable=False, server_default=sa.true()),
    )


def downgrade() -> None:
    op.drop_column("teaching_assignment", "is_primary")
    op.drop_column("class_section", "periods")
    op.drop_column("class_section", "class_type")
    op.alter_column("student", "grade_level", nullable=False)
    op.alter_column("student", "date_of_birth", nullable=False)
    for table in reversed(SOURCED):
        op.drop_column(table, "sourced_id")
