"""Registered persisted queries (app/persisted/store.py): the documents a deployment's clients may
send by hash, and in allow-list mode the only documents that run.

- `persisted_query`: one row per document and client — its SHA-256 (what clients send), its text,
  the client's name, when and by whom (operating-system user) it was registered. The application
  role may only read it (app/roles.py): documents are registered by the owner, from the command
  line, never over the API.

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "persisted_query",
        sa.Column("client_name", sa.Text(), nullable=False),
        sa.Column("sha256", sa.Text(), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("operation_names", sa.Text(), nullable=False, server_default=""),
        sa.Column(
            "registered_at",
            sa.DateTime(timezone=True),
            nullable=False,
            server_default=sa.func.now(),
        ),
        sa.Column("registered_by", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("client_name", "sha256", name="pk_persisted_query"),
        sa.CheckConstraint("sha256 ~ '^[0-9a-f]{64}$'", name="ck_persisted_query_sha256"),
    )
    op.create_index("ix_persisted_query_sha256", "persisted_query", ["sha256"])


def downgrade() -> None:
    op.drop_table("persisted_query")
