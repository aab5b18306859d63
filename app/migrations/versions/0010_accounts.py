"""The account lifecycle (docs/accounts.md): sign-ins and sessions, lockout with back-off,
passwords set and reset, a second factor, the termly access review.

- `app_user`: when the account last signed in, was last reviewed (and by whom), changed its
  password; a temporary lock (`lock_until`) and how many locks in a row (the back-off grows);
  a TOTP secret (encrypted at rest) and when it was confirmed, and the last time step used.
- `user_session`: one row per sign-in (device, address, started, last seen, revoked).
- `password_token`: one-time reset and invitation tokens (only their SHA-256 is kept).
- `login_failure`: failed sign-ins by client address, for a lockout no one can aim at an account.
- `district.require_mfa`: staff with an administrator or coordinator role need a second factor.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def _ts(name: str, *, now: bool = False) -> sa.Column:
    return sa.Column(
        name,
        sa.DateTime(timezone=True),
        nullable=not now,
        server_default=sa.func.now() if now else None,
    )


def _user_fk(name: str, *, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.BigInteger(), sa.ForeignKey("app_user.id"), nullable=nullable)


def _accounts() -> None:
    op.add_column("app_user", _ts("last_sign_in_at"))
    op.add_column("app_user", _ts("reviewed_at"))
    op.add_column("app_user", _user_fk("reviewed_by", nullable=True))
    # An account's last sign-in: every successful login appends a `login` activity event.
    op.create_index(
        "ix_activity_login",
        "activity_event",
        ["user_id", "occurred_at"],
        postgresql_where=sa.text("kind = 'login'"),
    )


def _passwords() -> None:
    op.add_column("app_user", _ts("password_changed_at"))
    op.create_table(
        "password_token",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("district_id", sa.BigInteger(), sa.ForeignKey("district.id"), nullable=False),
        _user_fk("user_id"),
        sa.Column("token_hash", sa.Text(), nullable=False, unique=True),
        sa.Column("purpose", sa.Text(), nullable=False),
        _user_fk("created_by", nullable=True),
        _ts("created_at", now=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        _ts("used_at"),
        sa.CheckConstraint("purpose IN ('reset', 'invitation')", name="ck_password_token_purpose"),
    )
    op.create_index("ix_password_token_user_id", "password_token", ["user_id"])


def _lockout() -> None:
    op.add_column("app_user", _ts("lock_until"))
    op.add_column(
        "app_user", sa.Column("lockouts", sa.Integer(), nullable=False, server_default="0")
    )
    op.create_table(
        "login_failure",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("address", sa.Text(), nullable=False),
        _ts("at", now=True),
    )
    op.create_index("ix_login_failure_address_at", "login_failure", ["address", "at"])


def _sessions() -> None:
    op.create_table(
        "user_session",
        sa.Column("id", sa.Text(), primary_key=True),
        sa.Column("district_id", sa.BigInteger(), sa.ForeignKey("district.id"), nullable=False),
        _user_fk("user_id"),
        _ts("started_at", now=True),
        _ts("last_seen_at", now=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("address", sa.Text(), nullable=True),
        sa.Column("user_agent", sa.Text(), nullable=True),
        _ts("revoked_at"),
        _user_fk("revoked_by", nullable=True),
    )
    op.create_index("ix_user_session_user_id", "user_session", ["user_id"])
    op.create_index(
        "ix_user_session_district_active", "user_session", ["district_id", "revoked_at"]
    )


def _second_factor() -> None:
    op.add_column("app_user", sa.Column("totp_secret", sa.LargeBinary(), nullable=True))
    op.add_column("app_user", _ts("totp_enabled_at"))
    op.add_column("app_user", sa.Column("totp_last_step", sa.BigInteger(), nullable=True))
    op.add_column(
        "district",
        sa.Column("require_mfa", sa.Boolean(), nullable=False, server_default=sa.false()),
    )


def upgrade() -> None:
    _accounts()
    _passwords()
    _lockout()
    _sessions()
    _second_factor()


def downgrade() -> None:
    op.drop_column("district", "require_mfa")
    for column in ("totp_last_step", "totp_enabled_at", "totp_secret"):
        op.drop_column("app_user", column)
    op.drop_table("user_session")
    op.drop_table("login_failure")
    for column in ("lockouts", "lock_until", "password_changed_at"):
        op.drop_column("app_user", column)
    op.drop_table("password_token")
    op.drop_index("ix_activity_login", table_name="activity_event")
    for column in ("reviewed_by", "reviewed_at", "last_sign_in_at"):
        op.drop_column("app_user", column)
