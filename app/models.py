"""The SchoolGraph data model (SPEC §3), one SQLModel table per entity.

Every tenant table carries `district_id`: no query crosses districts, and a large deployment can
shard by it. Enumerations are stored as text guarded by CHECK constraints, so a new value is a
one-line migration rather than an `ALTER TYPE`. Timestamps are `timestamptz`.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg
from sqlmodel import Field, SQLModel


class Role(enum.StrEnum):
    STUDENT = "student"
    GUARDIAN = "guardian"
    TEACHER = "teacher"
    COORDINATOR = "coordinator"
    DESIGNEE = "designee"
    SCHOOL_ADMIN = "school_admin"
    DISTRICT_ADMIN = "district_admin"
    REPORTING = "reporting"
    SUPPORT = "support"


class Visibility(enum.StrEnum):
    """Who besides the student and guardians sees a portfolio item."""

    PRIVATE = "PRIVATE"
    TEACHERS = "TEACHERS"
    COORDINATOR = "COORDINATOR"


class ClassVisibility(enum.StrEnum):
    PRIVATE = "PRIVATE"
    PUBLIC = "PUBLIC"


class GrantScope(enum.StrEnum):
    STUDENT = "student"
    CLASS = "class"
    SCHOOL = "school"


class ConsentKind(enum.StrEnum):
    COPPA_COLLECTION = "coppa_collection"
    THIRD_PARTY_DISCLOSURE = "third_party_disclosure"
    DIRECTORY_INFORMATION = "directory_information"
    # An eligible (18+) student's consent that their guardians keep access.
    GUARDIAN_ACCESS = "guardian_access"


class DataRequestKind(enum.StrEnum):
    INSPECT = "inspect"
    AMEND = "amend"
    DELETE = "delete"
    DIRECTORY_OPT_OUT = "directory_opt_out"


def _check(column: str, values: type[enum.StrEnum], name: str) -> sa.CheckConstraint:
    allowed = ", ".join(f"'{v.value}'" for v in values)
    return sa.CheckConstraint(f"{column} IN ({allowed})", name=name)


def _tstz(*, nullable: bool = False, default_now: bool = False) -> Any:
    return Field(
        default=None,
        sa_type=sa.DateTime(timezone=True),
        sa_column_kwargs={
            "nullable": nullable,
            **({"server_default": sa.func.now()} if default_now else {}),
        },
    )


def _fk(target: str, *, nullable: bool = False, index: bool = False) -> Any:
    return Field(
        default=None,
        sa_type=sa.BigInteger,
        foreign_key=target,
        nullable=nullable,
        index=index,
    )


def _sealed(*, nullable: bool = True) -> Any:
    """A column encrypted at rest (app/encryption.py): AES-256-GCM bytes, never plain text."""
    return Field(default=None, sa_type=sa.LargeBinary, nullable=nullable)


def _pk() -> Any:
    return Field(default=None, sa_type=sa.BigInteger, primary_key=True)


class District(SQLModel, table=True):
    __tablename__ = "district"
    id: int | None = _pk()
    name: str
    # Smallest cell a de-identified report may publish (SPEC §8).
    min_cell_size: int = Field(default=10, sa_column_kwargs={"server_default": "10"})
    # Days a data request has (FERPA: 45 at most; a district may promise fewer).
    data_request_days: int = Field(default=45, sa_column_kwargs={"server_default": "45"})
    # Retention de-identifies the district's data six months after either ends.
    contract_ends_on: date | None = None
    subscription_ends_on: date | None = None
    # Notice before content collected without COPPA consent is erased.
    consent_notice_days: int = Field(default=30, sa_column_kwargs={"server_default": "30"})
    # Staff holding an administrator or coordinator role must use a second factor.
    require_mfa: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})
    # The OneRoster sourcedId of an imported row (app.roster); null otherwise.
    sourced_id: str | None = None


class School(SQLModel, table=True):
    __tablename__ = "school"
    id: int | None = _pk()
    district_id: int = _fk("district.id", index=True)
    name: str
    code: str
    level: str  # elementary, middle, high
    # The OneRoster sourcedId of an imported row (app.roster); null otherwise.
    sourced_id: str | None = None


class Term(SQLModel, table=True):
    __tablename__ = "term"
    id: int | None = _pk()
    district_id: int = _fk("district.id", index=True)
    name: str
    starts_on: date
    ends_on: date
    # The OneRoster sourcedId of an imported row (app.roster); null otherwise.
    sourced_id: str | None = None


class User(SQLModel, table=True):
    """A login identity: a student, a guardian or a staff member."""

    __tablename__ = "app_user"
    __table_args__ = (sa.UniqueConstraint("username", name="uq_user_username"),)
    id: int | None = _pk()
    district_id: int = _fk("district.id", index=True)
    username: str
    email: bytes | None = _sealed()
    first_name: str
    last_name: str
    phone: bytes | None = _sealed()
    password_hash: str | None = None
    external_subject: str | None = Field(default=None, unique=True)
    failed_logins: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    locked_at: datetime | None = _tstz(nullable=True)
    is_active: bool = Field(default=True, sa_column_kwargs={"server_default": sa.true()})
    created_at: datetime | None = _tstz(default_now=True)
    # The OneRoster sourcedId of an imported row (app.roster); null otherwise.
    sourced_id: str | None = None
    # Set, for good, when the account's identity was removed (app/rights/deidentify.py).
    deidentified_at: datetime | None = _tstz(nullable=True)
    last_sign_in_at: datetime | None = _tstz(nullable=True)
    # The termly access review: when the account was last confirmed, and by whom.
    reviewed_at: datetime | None = _tstz(nullable=True)
    reviewed_by: int | None = _fk("app_user.id", nullable=True)
    password_changed_at: datetime | None = _tstz(nullable=True)
    # A temporary lock, and how many in a row (each lasts longer than the one before).
    lock_until: datetime | None = _tstz(nullable=True)
    lockouts: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    # The second factor: a TOTP secret (encrypted), when it was confirmed, the last step used.
    totp_secret: bytes | None = _sealed()
    totp_enabled_at: datetime | None = _tstz(nullable=True)
    totp_last_step: int | None = Field(default=None, sa_type=sa.BigInteger)


class UserSession(SQLModel, table=True):
    """One sign-in: the token it issued names it (`sid`); revoking it ends the token."""

    __tablename__ = "user_session"
    id: str = Field(primary_key=True)
    district_id: int = _fk("district.id")
    user_id: int = _fk("app_user.id", index=True)
    started_at: datetime | None = _tstz(default_now=True)
    last_seen_at: datetime | None = _tstz(default_now=True)
    expires_at: datetime | None = _tstz()
    address: str | None = None
    user_agent: str | None = None
    revoked_at: datetime | None = _tstz(nullable=True)
    revoked_by: int | None = _fk("app_user.id", nullable=True)


class PasswordToken(SQLModel, table=True):
    """A one-time password reset or invitation; only the token's SHA-256 is kept."""

    __tablename__ = "password_token"
    id: int | None = _pk()
    district_id: int = _fk("district.id")
    user_id: int = _fk("app_user.id", index=True)
    token_hash: str = Field(unique=True)
    purpose: str  # reset, invitation
    created_by: int | None = _fk("app_user.id", nullable=True)
    created_at: datetime | None = _tstz(default_now=True)
    expires_at: datetime | None = _tstz()
    used_at: datetime | None = _tstz(nullable=True)


class LoginFailure(SQLModel, table=True):
    """A failed sign-in from a client address (the per-address side of the lockout)."""

    __tablename__ = "login_failure"
    id: int | None = _pk()
    address: str
    at: datetime | None = _tstz(default_now=True)


class RoleAssignment(SQLModel, table=True):
    """A role at a school (`school_id` set) or across the district (`school_id` null)."""

    __tablename__ = "role_assignment"
    __table_args__ = (
        _check("role", Role, "ck_role_assignment_role"),
        sa.UniqueConstraint("user_id", "role", "school_id", name="uq_role_assignment"),
    )
    id: int | None = _pk()
    district_id: int = _fk("district.id")
    user_id: int = _fk("app_user.id", index=True)
    role: str
    school_id: int | None = _fk("school.id", nullable=True)
    granted_by: int | None = _fk("app_user.id", nullable=True)
    created_at: datetime | None = _tstz(default_now=True)
    # The OneRoster sourcedId of an imported row (app.roster); null otherwise.
    sourced_id: str | None = None


class Student(SQLModel, table=True):
    __tablename__ = "student"
    __table_args__ = (
        sa.UniqueConstraint("district_id", "student_number", name="uq_student_number"),
        # Default list order and keyset pagination.
        sa.Index("ix_student_order", "district_id", "last_name", "first_name", "id"),
        sa.Index("ix_student_school", "school_id"),
    )
    id: int | None = _pk()
    district_id: int = _fk("district.id")
    school_id: int = _fk("school.id")
    user_id: int | None = Field(
        default=None,
        sa_type=sa.BigInteger,
        foreign_key="app_user.id",
        unique=True,
    )
    student_number: str
    first_name: str
    last_name: str
    preferred_name: str | None = None
    # Null when an import carried no grade or no demographics (unknown, treated as a minor).
    grade_level: int | None = None  # 0 is kindergarten, -1 pre-kindergarten
    date_of_birth: date | None = None
    gender: str
    ethnicity: str
    email: bytes | None = _sealed()
    phone: bytes | None = _sealed()
    enrollment_status: str = "active"
    directory_opt_out: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})
    coppa_consent: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})
    # The OneRoster sourcedId of an imported row (app.roster); null otherwise.
    sourced_id: str | None = None
    # Set, for good, when the student's identity was removed (app/rights/deidentify.py).
    deidentified_at: datetime | None = _tstz(nullable=True)


class GuardianLink(SQLModel, table=True):
    __tablename__ = "guardian_link"
    id: int | None = _pk()
    district_id: int = _fk("district.id")
    guardian_user_id: int = _fk("app_user.id", index=True)
    student_id: int = _fk("student.id", index=True)
    relationship: str  # parent, guardian, relative
    legal_guardian: bool = True
    # False records a custody restriction: the link exists but discloses nothing.
    data_access: bool = True
    starts_on: date
    ends_on: date | None = None
    # The OneRoster sourcedId of an imported row (app.roster); null otherwise.
    sourced_id: str | None = None


class Class(SQLModel, table=True):
    """A section of a course in one term."""

    __tablename__ = "class_section"
    __table_args__ = (_check("visibility", ClassVisibility, "ck_class_visibility"),)
    id: int | None = _pk()
    district_id: int = _fk("district.id")
    school_id: int = _fk("school.id", index=True)
    term_id: int = _fk("term.id")
    title: str
    code: str
    subject: str
    grade_levels: list[int] = Field(
        default_factory=list,
        sa_type=pg.ARRAY(sa.SmallInteger),
    )
    visibility: str = ClassVisibility.PRIVATE.value
    class_type: str | None = None  # OneRoster classType: homeroom, scheduled
    periods: list[str] | None = Field(default=None, sa_type=pg.ARRAY(sa.Text))
    sourced_id: str | None = None


class TeachingAssignment(SQLModel, table=True):
    __tablename__ = "teaching_assignment"
    id: int | None = _pk()
    district_id: int = _fk("district.id")
    class_id: int = _fk("class_section.id", index=True)
    staff_user_id: int = _fk("app_user.id", index=True)
    starts_on: date
    ends_on: date | None = None
    is_primary: bool = Field(default=True, sa_column_kwargs={"server_default": sa.true()})
    sourced_id: str | None = None


class Enrollment(SQLModel, table=True):
    __tablename__ = "enrollment"
    id: int | None = _pk()
    district_id: int = _fk("district.id")
    class_id: int = _fk("class_section.id", index=True)
    student_id: int = _fk("student.id", index=True)
    begins_on: date
    ends_on: date | None = None
    # The OneRoster sourcedId of an imported row (app.roster); null otherwise.
    sourced_id: str | None = None


class Mark(SQLModel, table=True):
    __tablename__ = "mark"
    __table_args__ = (sa.UniqueConstraint("student_id", "class_id", "term_id", name="uq_mark"),)
    id: int | None = _pk()
    district_id: int = _fk("district.id")
    student_id: int = _fk("student.id", index=True)
    class_id: int = _fk("class_section.id", index=True)
    term_id: int = _fk("term.id")
    score: Decimal | None = Field(default=None, max_digits=5, decimal_places=2)
    letter: str | None = None
    comment: bytes | None = _sealed()
    recorded_by: int | None = _fk("app_user.id", nullable=True)
    recorded_at: datetime | None = _tstz(default_now=True)


class Portfolio(SQLModel, table=True):
    __tablename__ = "portfolio"
    id: int | None = _pk()
    district_id: int = _fk("district.id")
    student_id: int = Field(
        default=None,
        sa_type=sa.BigInteger,
        foreign_key="student.id",
        unique=True,
    )
    headline: bytes | None = _sealed()
    created_at: datetime | None = _tstz(default_now=True)


class PortfolioItem(SQLModel, table=True):
    __tablename__ = "portfolio_item"
    __table_args__ = (_check("visibility", Visibility, "ck_portfolio_item_visibility"),)
    id: int | None = _pk()
    district_id: int = _fk("district.id")
    portfolio_id: int = _fk("portfolio.id")
    # Denormalised from the portfolio so row scopes join one table.
    student_id: int = _fk("student.id", index=True)
    kind: str  # interest, assessment, reflection, goal, artifact, certification
    title: bytes = _sealed(nullable=False)
    body: bytes | None = _sealed()
    visibility: str = Visibility.PRIVATE.value
    created_at: datetime | None = _tstz(default_now=True)
    updated_at: datetime | None = _tstz(default_now=True)
    # Set when the content was erased (title and body removed); the row stays for the counts.
    erased_at: datetime | None = _tstz(nullable=True)


class ReadinessIndicator(SQLModel, table=True):
    """A college, career or military readiness result (e.g. Texas CCMR)."""

    __tablename__ = "readiness_indicator"
    id: int | None = _pk()
    district_id: int = _fk("district.id")
    student_id: int = _fk("student.id", index=True)
    indicator: str  # tsi_reading, tsi_math, ap_ib, dual_credit, industry_certification, military
    category: str  # college, career, military
    met: bool
    value: str | None = None
    achieved_on: date | None = None
    source: str


class ActivityEvent(SQLModel, table=True):
    __tablename__ = "activity_event"
    __table_args__ = (
        sa.Index("ix_activity_district_time", "district_id", "occurred_at"),
        # An account's last sign-in (users, the access review).
        sa.Index(
            "ix_activity_login",
            "user_id",
            "occurred_at",
            postgresql_where=sa.text("kind = 'login'"),
        ),
    )
    id: int | None = _pk()
    district_id: int = _fk("district.id")
    user_id: int | None = _fk("app_user.id", nullable=True)
    student_id: int | None = _fk("student.id", nullable=True)
    school_id: int | None = _fk("school.id", nullable=True)
    kind: str  # login, portfolio_item_created, portfolio_item_updated
    occurred_at: datetime | None = _tstz(default_now=True)


class LegitimateInterestGrant(SQLModel, table=True):
    __tablename__ = "legitimate_interest_grant"
    __table_args__ = (
        _check("scope", GrantScope, "ck_grant_scope"),
        sa.CheckConstraint("length(trim(purpose)) > 0", name="ck_grant_purpose"),
        sa.CheckConstraint(
            "expires_at > starts_at AND expires_at <= starts_at + interval '1 year'",
            name="ck_grant_duration",
        ),
        sa.CheckConstraint(
            "(scope = 'student' AND student_id IS NOT NULL)"
            " OR (scope = 'class' AND class_id IS NOT NULL)"
            " OR (scope = 'school' AND school_id IS NOT NULL)",
            name="ck_grant_target",
        ),
    )
    id: int | None = _pk()
    district_id: int = _fk("district.id")
    grantee_user_id: int = _fk("app_user.id", index=True)
    scope: str
    student_id: int | None = _fk("student.id", nullable=True)
    class_id: int | None = _fk("class_section.id", nullable=True)
    school_id: int | None = _fk("school.id", nullable=True)
    purpose: str
    granted_by: int = _fk("app_user.id")
    starts_at: datetime | None = _tstz()
    expires_at: datetime | None = _tstz()
    revoked_at: datetime | None = _tstz(nullable=True)
    revoked_by: int | None = _fk("app_user.id", nullable=True)
    created_at: datetime | None = _tstz(default_now=True)
    # Set by retention once the grant has ended: kept for the record, out of everyday lists.
    archived_at: datetime | None = _tstz(nullable=True)


class Consent(SQLModel, table=True):
    __tablename__ = "consent"
    __table_args__ = (_check("kind", ConsentKind, "ck_consent_kind"),)
    id: int | None = _pk()
    district_id: int = _fk("district.id")
    student_id: int = _fk("student.id", index=True)
    kind: str
    granted: bool
    given_by: int = _fk("app_user.id")
    recorded_at: datetime | None = _tstz(default_now=True)


class Disclosure(SQLModel, table=True):
    """The FERPA 34 CFR 99.32 record: who saw which field classes of a student, and why.

    Append-only (the application's database role may only insert). `mac` is the keyed MAC of
    the row's content; `txn` the writing transaction, by which `DisclosureSeal`s chain the rows
    (app/seals.py). `prev_hash`/`hash` are the unkeyed chain of rows written before revision 0004.
    """

    __tablename__ = "disclosure"
    __table_args__ = (sa.Index("ix_disclosure_district_id", "district_id", "id"),)
    id: int | None = _pk()
    # Not foreign keys checked row by row: a request names the viewer it signed in as and the
    # students it has just read; a trigger keeps what the record names from deletion (0012).
    district_id: int = Field(sa_type=sa.BigInteger, nullable=False)
    student_id: int = Field(sa_type=sa.BigInteger, nullable=False, index=True)
    viewer_user_id: int = Field(sa_type=sa.BigInteger, nullable=False)
    basis: str  # self, guardian, teacher_of_class, legitimate_interest, school_official, admin
    grant_id: int | None = _fk("legitimate_interest_grant.id", nullable=True)
    purpose: str | None = None
    field_classes: list[str] = Field(
        default_factory=list,
        sa_type=pg.ARRAY(sa.Text),
    )
    request_id: str
    disclosed_at: datetime | None = _tstz(default_now=True)
    prev_hash: str | None = None
    hash: str | None = None
    mac: str | None = None
    txn: int | None = Field(
        default=None,
        sa_column_kwargs={"server_default": sa.text("(pg_current_xact_id()::text::bigint)")},
        sa_type=sa.BigInteger,
    )


class DisclosureSeal(SQLModel, table=True):
    """One batch of the record, sealed: every row of the district written by a transaction
    with `txn` below `horizon` (and at or above the previous seal's), in (txn, id) order.
    `hash` is keyed and covers the previous seal's: the seals of a district are one chain."""

    __tablename__ = "disclosure_seal"
    __table_args__ = (sa.Index("ix_disclosure_seal_district_id", "district_id", "id"),)
    id: int | None = _pk()
    district_id: int = _fk("district.id")
    horizon: int = Field(sa_type=sa.BigInteger)
    row_count: int = Field(sa_type=sa.BigInteger)
    total_rows: int = Field(sa_type=sa.BigInteger)
    last_id: int | None = Field(default=None, sa_type=sa.BigInteger)
    rows_digest: str
    prev_hash: str | None = None
    hash: str
    sealed_at: datetime | None = _tstz(default_now=True)


class DataRequest(SQLModel, table=True):
    __tablename__ = "data_request"
    __table_args__ = (_check("kind", DataRequestKind, "ck_data_request_kind"),)
    id: int | None = _pk()
    district_id: int = _fk("district.id")
    student_id: int = _fk("student.id", index=True)
    requester_user_id: int = _fk("app_user.id")
    kind: str
    status: str = "open"  # open, completed, denied
    details: bytes | None = _sealed()
    filed_at: datetime | None = _tstz(default_now=True)
    due_on: date
    resolved_at: datetime | None = _tstz(nullable=True)
    resolved_by: int | None = _fk("app_user.id", nullable=True)
    resolution: bytes | None = _sealed()
    # An amendment's proposed values: JSON `[{"field": ..., "value": ...}]`, encrypted.
    changes: bytes | None = _sealed()


class StudentStatement(SQLModel, table=True):
    """A requester's statement about contested fields of a denied amendment (FERPA 99.21):
    kept with the record and shown wherever those fields are disclosed."""

    __tablename__ = "student_statement"
    id: int | None = _pk()
    district_id: int = _fk("district.id")
    student_id: int = _fk("student.id", index=True)
    data_request_id: int | None = _fk("data_request.id", nullable=True)
    fields: list[str] = Field(default_factory=list, sa_type=pg.ARRAY(sa.Text))
    body: bytes = _sealed(nullable=False)
    author_user_id: int = _fk("app_user.id")
    created_at: datetime | None = _tstz(default_now=True)


class DataExport(SQLModel, table=True):
    """The bundle of a completed inspection request, downloaded through an expiring link."""

    __tablename__ = "data_export"
    id: int | None = _pk()
    district_id: int = _fk("district.id")
    data_request_id: int = _fk("data_request.id", index=True)
    student_id: int = _fk("student.id")
    token_hash: str = Field(unique=True)
    content: bytes | None = _sealed()
    size_bytes: int = Field(sa_type=sa.BigInteger)
    sha256: str
    built_at: datetime | None = _tstz(default_now=True)
    expires_at: datetime | None = _tstz()
    purged_at: datetime | None = _tstz(nullable=True)


class AuditChange(SQLModel, table=True):
    """The before and after of a personal value an audited write changed (encrypted). The
    `audit_event` row is the record; these values are erased with the student's identity."""

    __tablename__ = "audit_change"
    id: int | None = _pk()
    district_id: int = _fk("district.id")
    audit_event_id: int = _fk("audit_event.id", index=True)
    student_id: int | None = _fk("student.id", nullable=True, index=True)
    user_id: int | None = _fk("app_user.id", nullable=True, index=True)
    field: str
    before: bytes | None = _sealed()
    after: bytes | None = _sealed()


class AuditEvent(SQLModel, table=True):
    """Every write and every report run: who did what, when, in which request."""

    __tablename__ = "audit_event"
    __table_args__ = (sa.Index("ix_audit_district_time", "district_id", "at"),)
    id: int | None = _pk()
    district_id: int | None = _fk("district.id", nullable=True)
    actor_user_id: int | None = _fk("app_user.id", nullable=True)
    action: str
    target_type: str | None = None
    target_id: int | None = Field(default=None, sa_type=sa.BigInteger)
    details: dict[str, Any] = Field(
        default_factory=dict,
        sa_type=pg.JSONB,
    )
    request_id: str | None = None
    at: datetime | None = _tstz(default_now=True)


class SavedReport(SQLModel, table=True):
    """A report definition kept on the server, shared within the district."""

    __tablename__ = "saved_report"
    __table_args__ = (sa.UniqueConstraint("district_id", "name", name="uq_saved_report_name"),)
    id: int | None = _pk()
    district_id: int = _fk("district.id")
    name: str
    definition: dict[str, Any] = Field(
        default_factory=dict,
        sa_type=pg.JSONB,
    )
    created_by: int = _fk("app_user.id")
    created_at: datetime | None = _tstz(default_now=True)


class DataKey(SQLModel, table=True):
    """A data key of encryption at rest, wrapped by the master key (which is never stored)."""

    __tablename__ = "data_key"
    id: int | None = Field(default=None, primary_key=True)
    wrapped: bytes = Field(sa_type=sa.LargeBinary)
    master_fingerprint: str
    created_at: datetime | None = _tstz(default_now=True)
    retired_at: datetime | None = _tstz(nullable=True)
