"""Indexes for breach investigation: the record of disclosures by reader, by student and by
time, and the write audit by actor and by target (docs/breach-investigation.md has the plans).

Each list pages newest first by id, so an index on a filter ends in `id`: PostgreSQL walks it
backwards and stops after one page, however long the reader's record is. A student's record is
served by the existing `ix_disclosure_student_id` (a few hundred rows, sorted in memory), and
the time range by `(district_id, disclosed_at)`. Every index here is paid for on each recorded
read, so there is none the plans did not use.

Revision ID: 0006
Revises: 0002
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_INDEXES = (
    ("ix_disclosure_viewer_id", "disclosure", ["viewer_user_id", "id"]),
    ("ix_disclosure_district_time", "disclosure", ["district_id", "disclosed_at"]),
    ("ix_audit_actor_id", "audit_event", ["actor_user_id", "id"]),
    ("ix_audit_target_id", "audit_event", ["target_type", "target_id", "id"]),
    ("ix_audit_district_action_id", "audit_event", ["district_id", "action", "id"]),
)


def upgrade() -> None:
    for name, table, columns in _INDEXES:
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, table, _ in reversed(_INDEXES):
        op.drop_index(name, table_name=table)
