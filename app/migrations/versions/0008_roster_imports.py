"""Roster imports over HTTP: each run is recorded.

`roster_import` keeps who ran an upload, when, whether it was a dry run, its counts per entity,
its error and warning totals with the first messages (capped), and how it ended (`applied`,
`validated` for a clean dry run, `failed` when errors stopped it).

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "roster_import",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column(
            "district_id", sa.BigInteger(), sa.ForeignKey("district.id"), nullable=False
        ),
        sa.Column("user_id", sa.BigInteger(), sa.ForeignKey("app_user.id"), nullable=True),
        sa.Column(
            "started_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("dry_run", sa.Boolean(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("version", sa.Text(), nullable=True),
        sa.Column("counts", pg.JSONB(), nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column("errors_total", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("warnings_total", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("errors", pg.ARRAY(sa.Text()), nullable=False, server_default="{}"),
        sa.Column("warnings", pg.ARRAY(sa.Text()), nullable=False, server_default="{}"),
        sa.CheckConstraint(
            "status IN ('applied', 'validated', 'failed')", name="ck_roster_import_status"
        ),
    )
    op.create_index("ix_roster_import_district", "roster_import", ["district_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_roster_import_district", table_name="roster_import")
    op.drop_table("roster_import")
