"""Privacy rights carried out (docs/privacy.md): district settings, amendments and statements,
inspection bundles, de-identification, personal values of the write audit, archived grants.

- `district`: how many days a data request has (45 at most, FERPA; a district may promise
  fewer), when its contract and subscription end (retention de-identifies its data six months
  later), and the notice period before content collected without COPPA consent is erased.
- `student.deidentified_at`: set, for good, when a student's identity is removed;
  `app_user.deidentified_at` the same for an account; `portfolio_item.erased_at` when an item's
  content was erased (the row stays, so the district's counts do not change).
- `data_request.changes`: an amendment's proposed values (encrypted at rest).
- `student_statement`: a requester's statement about a contested field, kept with the record.
- `data_export`: an inspection bundle (encrypted at rest), downloaded through an expiring link.
- `audit_change`: the before and after of a personal value changed by a write (encrypted at
  rest). The audit event itself (who changed which field, when) is part of the record; these
  values are erased with the student's identity.
- `legitimate_interest_grant.archived_at`; a class-scoped grant outlives its class (a school's
  cancellation removes classes) once it is revoked.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def _id() -> sa.Column:
    return sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True)


def _fk(name: str, target: str, *, nullable: bool = False, cascade: bool = False) -> sa.Column:
    return sa.Column(
        name,
        sa.BigInteger(),
        sa.ForeignKey(target, ondelete="CASCADE" if cascade else None),
        nullable=nullable,
    )


def _now(name: str) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now())


def _district_settings() -> None:
    op.add_column(
        "district",
        sa.Column("data_request_days", sa.Integer(), nullable=False, server_default="45"),
    )
    op.create_check_constraint(
        "ck_district_data_request_days", "district", "data_request_days BETWEEN 1 AND 45"
    )
    op.add_column("district", sa.Column("contract_ends_on", sa.Date(), nullable=True))
    op.add_column("district", sa.Column("subscription_ends_on", sa.Date(), nullable=True))
    op.add_column(
        "district",
        sa.Column("consent_notice_days", sa.Integer(), nullable=False, server_default="30"),
    )
    op.create_check_constraint(
        "ck_district_consent_notice_days", "district", "consent_notice_days BETWEEN 0 AND 365"
    )


def _amendments() -> None:
    op.add_column("data_request", sa.Column("changes", sa.LargeBinary(), nullable=True))
    op.create_table(
        "student_statement",
        _id(),
        _fk("district_id", "district.id"),
        _fk("student_id", "student.id"),
        _fk("data_request_id", "data_request.id", nullable=True),
        sa.Column("fields", pg.ARRAY(sa.Text()), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        _fk("author_user_id", "app_user.id"),
        _now("created_at"),
    )
    op.create_index("ix_student_statement_student_id", "student_statement", ["student_id"])


def _exports() -> None:
    op.create_table(
        "data_export",
        _id(),
        _fk("district_id", "district.id"),
        _fk("data_request_id", "data_request.id"),
        _fk("student_id", "student.id"),
        sa.Column("token_hash", sa.Text(), nullable=False, unique=True),
        sa.Column("content", sa.LargeBinary(), nullable=True),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.Text(), nullable=False),
        _now("built_at"),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("purged_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_data_export_data_request_id", "data_export", ["data_request_id"])


def _deidentification() -> None:
    op.add_column(
        "student", sa.Column("deidentified_at", sa.DateTime(timezone=True), nullable=True)
    )
    # An account (staff, guardian) of a district whose data retention removed.
    op.add_column(
        "app_user", sa.Column("deidentified_at", sa.DateTime(timezone=True), nullable=True)
    )
    # A portfolio item whose content (title, body) was erased; the row stays for the counts.
    op.add_column(
        "portfolio_item", sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.create_table(
        "audit_change",
        _id(),
        _fk("district_id", "district.id"),
        _fk("audit_event_id", "audit_event.id"),
        _fk("student_id", "student.id", nullable=True),
        _fk("user_id", "app_user.id", nullable=True),
        sa.Column("field", sa.Text(), nullable=False),
        sa.Column("before", sa.LargeBinary(), nullable=True),
        sa.Column("after", sa.LargeBinary(), nullable=True),
    )
    op.create_index("ix_audit_change_audit_event_id", "audit_change", ["audit_event_id"])
    op.create_index("ix_audit_change_student_id", "audit_change", ["student_id"])
    op.create_index("ix_audit_change_user_id", "audit_change", ["user_id"])


def _grants() -> None:
    op.add_column(
        "legitimate_interest_grant",
        sa.Column("archived_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.drop_constraint(
        "legitimate_interest_grant_class_id_fkey", "legitimate_interest_grant", type_="foreignkey"
    )
    op.create_foreign_key(
        "legitimate_interest_grant_class_id_fkey",
        "legitimate_interest_grant",
        "class_section",
        ["class_id"],
        ["id"],
        ondelete="SET NULL",
    )
    op.drop_constraint("ck_grant_target", "legitimate_interest_grant", type_="check")
    op.create_check_constraint(
        "ck_grant_target",
        "legitimate_interest_grant",
        "(scope = 'student' AND student_id IS NOT NULL)"
        " OR (scope = 'class' AND (class_id IS NOT NULL OR revoked_at IS NOT NULL))"
        " OR (scope = 'school' AND school_id IS NOT NULL)",
    )


def upgrade() -> None:
    _district_settings()
    _amendments()
    _exports()
    _deidentification()
    _grants()


def downgrade() -> None:
    op.drop_constraint("ck_grant_target", "legitimate_interest_grant", type_="check")
    op.create_check_constraint(
        "ck_grant_target",
        "legitimate_interest_grant",
        "(scope = 'student' AND student_id IS NOT NULL)"
        " OR (scope = 'class' AND class_id IS NOT NULL)"
        " OR (scope = 'school' AND school_id IS NOT NULL)",
    )
    op.drop_constraint(
        "legitimate_interest_grant_class_id_fkey", "legitimate_interest_grant", type_="foreignkey"
    )
    op.create_foreign_key(
        "legitimate_interest_grant_class_id_fkey",
        "legitimate_interest_grant",
        "class_section",
        ["class_id"],
        ["id"],
    )
    op.drop_column("legitimate_interest_grant", "archived_at")
    op.drop_table("audit_change")
    op.drop_column("portfolio_item", "erased_at")
    op.drop_column("app_user", "deidentified_at")
    op.drop_column("student", "deidentified_at")
    op.drop_table("data_export")
    op.drop_table("student_statement")
    op.drop_column("data_request", "changes")
    for column in ("consent_notice_days", "subscription_ends_on", "contract_ends_on"):
        op.drop_column("district", column)
    op.drop_constraint("ck_district_data_request_days", "district", type_="check")
    op.drop_column("district", "data_request_days")
