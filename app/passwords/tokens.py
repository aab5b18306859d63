"""One-time password reset and invitation tokens, issued by an administrator.

The administrator hands the token over (in person, by the district's mail); it is shown once, in
the response that issued it, and only its SHA-256 is stored (`password_token.token_hash`), so
the database alone cannot be used to take over an account. A token:

- is `reset` (lives `SCHOOLGRAPH_RESET_TOKEN_HOURS`, 24) or `invitation` (for an account that
  has no password yet, such as an imported one; lives `SCHOOLGRAPH_INVITATION_DAYS`, 14);
- voids the account's earlier unused tokens when issued;
- is redeemed once, anonymously, with a new password that meets the rule; a refused password
  leaves it usable, a successful redemption uses it and voids any other.

Unknown, used and expired tokens are refused alike (`INVALID_TOKEN`).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from app import writes
from app.config import Settings
from app.offload import WorkerPool
from app.passwords import account as accounts

RESET = "reset"
INVITATION = "invitation"
PURPOSES = (RESET, INVITATION)
INVALID_TOKEN = "INVALID_TOKEN"  # noqa: S105 (an error code)
_INVALID_MESSAGE = (
    "this token is unknown, already used or expired: ask an administrator for a new one"
)
# Longer strings are not tokens we issued (token_urlsafe(32) is 43 characters).
_MAX_TOKEN_LENGTH = 128


def digest(token: str) -> str:
    """What is stored of a token: its SHA-256, hex."""
    return hashlib.sha256(token.encode()).hexdigest()


def lifetime(purpose: str, settings: Settings) -> timedelta:
    if purpose == INVITATION:
        return timedelta(days=settings.invitation_days)
    return timedelta(hours=settings.reset_token_hours)


@dataclass(frozen=True)
class Target:
    """Whom a token would be for: what deciding who may issue it needs."""

    account: accounts.Account
    roles: frozenset[tuple[str, int | None]]  # (role, school or None for the district)
    schools: frozenset[int]  # every school the account belongs to: roles, own record, children


async def target(connection: AsyncConnection, user_id: int, district_id: int) -> Target | None:
    """The account of the district, with its roles and schools; None when there is no such."""
    account = await accounts.load(connection, user_id, email=False)
    if account is None or account.district_id != district_id:
        return None
    row = (
        await connection.execute(
            text(
                "SELECT ARRAY(SELECT ra.role || ':' || coalesce(ra.school_id::text, '')"
                "  FROM role_assignment ra WHERE ra.user_id = :id) AS roles,"
                " ARRAY(SELECT s.school_id FROM student s WHERE s.user_id = :id"
                "  UNION SELECT s.school_id FROM guardian_link g"
                "  JOIN student s ON s.id = g.student_id WHERE g.guardian_user_id = :id"
                "  UNION SELECT ra.school_id FROM role_assignment ra"
                "  WHERE ra.user_id = :id AND ra.school_id IS NOT NULL) AS schools"
            ),
            {"id": user_id},
        )
    ).one()
    roles = set()
    for value in row.roles:
        role, _, school = value.partition(":")
        roles.add((role, int(school) if school else None))
    return Target(account, frozenset(roles), frozenset(int(s) for s in row.schools))


async def student_account(
    connection: AsyncConnection, student_id: int, district_id: int
) -> int | None:
    """The account of a student of the district (their own sign-in), if they have one."""
    found = await connection.execute(
        text("SELECT user_id FROM student WHERE id = :id AND district_id = :district_id"),
        {"id": student_id, "district_id": district_id},
    )
    user_id = found.scalar()
    return int(user_id) if user_id is not None else None


@dataclass(frozen=True)
class Issued:
    token: str
    expires_at: datetime


async def issue(
    connection: AsyncConnection,
    actor: writes.Actor,
    settings: Settings,
    *,
    account: accounts.Account,
    purpose: str,
) -> Issued:
    """A new token for the account (the caller decided that the actor may issue it)."""
    if purpose not in PURPOSES:
        raise writes.WriteRefused(f"unknown purpose {purpose!r}", "BAD_PURPOSE", "purpose")
    if not account.is_active:
        raise writes.WriteRefused(
            "the account is deactivated: reactivate it first", "INACTIVE", "userId"
        )
    if account.external_subject is not None:
        raise writes.WriteRefused(
            "the account signs in through the district's identity provider",
            "EXTERNAL_ACCOUNT",
            "userId",
        )
    voided = await _void(connection, account.id)
    token = secrets.token_urlsafe(32)
    expires_at = (
        await connection.execute(
            text(
                "INSERT INTO password_token"
                " (district_id, user_id, token_hash, purpose, created_by, expires_at)"
                " VALUES (:district_id, :user_id, :hash, :purpose, :by, now() + :lifetime)"
                " RETURNING expires_at"
            ),
            {
                "district_id": account.district_id,
                "user_id": account.id,
                "hash": digest(token),
                "purpose": purpose,
                "by": actor.user_id,
                "lifetime": lifetime(purpose, settings),
            },
        )
    ).scalar_one()
    await writes.audit(
        connection,
        actor,
        f"password.{purpose}.issue",
        "user",
        account.id,
        {"purpose": purpose, "expires_at": expires_at, "voided": voided},
    )
    return Issued(token=token, expires_at=expires_at)


async def _void(connection: AsyncConnection, user_id: int) -> int:
    """End the account's unused tokens now; how many there were."""
    result = await connection.execute(
        text(
            "UPDATE password_token SET expires_at = now()"
            " WHERE user_id = :id AND used_at IS NULL AND expires_at > now()"
        ),
        {"id": user_id},
    )
    return int(result.rowcount)


async def redeem(
    connection: AsyncConnection,
    hashing: WorkerPool,
    *,
    token: str,
    new_password: str,
    request_id: str,
) -> accounts.Account:
    """Set the password of the token's account; the account. Refuses an unknown, used or
    expired token (`INVALID_TOKEN`) and a password the rule does not accept (`WEAK_PASSWORD`,
    the token stays usable)."""
    if not token or len(token) > _MAX_TOKEN_LENGTH:
        raise writes.WriteRefused(_INVALID_MESSAGE, INVALID_TOKEN, "token")
    row = (
        await connection.execute(
            text(
                "SELECT id, user_id, purpose FROM password_token WHERE token_hash = :hash"
                " AND used_at IS NULL AND expires_at > now() FOR UPDATE"
            ),
            {"hash": digest(token)},
        )
    ).first()
    account = await accounts.load(connection, row.user_id, lock=True) if row else None
    if row is None or account is None or not account.is_active:
        raise writes.WriteRefused(_INVALID_MESSAGE, INVALID_TOKEN, "token")
    await accounts.check(hashing, account, new_password)
    await accounts.store(connection, hashing, account, new_password)
    await connection.execute(
        text("UPDATE password_token SET used_at = now() WHERE id = :id"), {"id": row.id}
    )
    await _void(connection, account.id)
    # The account's owner acts: they hold the token.
    actor = writes.Actor(account.id, account.district_id, request_id)
    await writes.audit(connection, actor, f"password.{row.purpose}.redeem", "user", account.id, {})
    return account
