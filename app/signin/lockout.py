"""The lockout that no one can aim at an account (docs/login-protection.md).

- **Per account**: `lockout_threshold` failures in a row lock the account until `lock_until`,
  `lockout_base_seconds * 2^lockouts` from the lock (at most `lockout_max_seconds`); `lockouts`
  counts the locks in a row, and a success resets both counts. A locked account's attempts are
  refused, the right password included, and are not counted on the account (an attacker cannot
  make the lock longer by hammering it).
- **Per client address**: every refused attempt (unknown user, wrong password or code, locked or
  demo account) is a `login_failure` row of its address. An address with `address_failure_limit`
  failures within `address_failure_window_seconds` is refused before any account is looked at,
  so its further guesses neither cost a hash nor count towards any account's lock.

Every function here takes a connection of its own, committed as soon as it returns
(`engine.begin()`), never the request's: a failure is counted even if the request rolls back.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from app.config import Settings

# The doubling stops here whatever the count (2^20 minutes is past any sensible cap).
_MAX_DOUBLINGS = 20


async def address_wait(connection: AsyncConnection, address: str, settings: Settings) -> int:
    """Seconds before `address` may try again; 0 when it is under its failure limit."""
    row = (
        await connection.execute(
            text(
                "SELECT count(*) AS failures, min(at) AS oldest FROM ("
                " SELECT at FROM login_failure WHERE address = :address"
                " AND at > now() - make_interval(secs => :window)"
                " ORDER BY at DESC LIMIT :limit) recent"
            ),
            {
                "address": address,
                "window": settings.address_failure_window_seconds,
                "limit": settings.address_failure_limit,
            },
        )
    ).one()
    if row.failures < settings.address_failure_limit:
        return 0
    # The oldest of the last `limit` failures leaves the window first.
    ends = row.oldest.timestamp() + settings.address_failure_window_seconds
    return max(1, math.ceil(float(ends) - datetime.now(UTC).timestamp()))


async def account(connection: AsyncConnection, username: str) -> Row[Any] | None:
    """What the sign-in decides on, read fresh (no row lock: counts change atomically)."""
    return (
        await connection.execute(
            text(
                "SELECT id, district_id, username, password_hash, is_active, locked_at,"
                " lock_until IS NOT NULL AND lock_until > now() AS temporarily_locked,"
                " totp_enabled_at IS NOT NULL AS totp_enabled"
                " FROM app_user WHERE username = :username"
            ),
            {"username": username},
        )
    ).first()


def may_sign_in(row: Row[Any]) -> bool:
    """Active and not locked, for good (`locked_at`) or for now (`lock_until`)."""
    return bool(row.is_active) and row.locked_at is None and not row.temporarily_locked


async def record_failure(
    connection: AsyncConnection, address: str, user_id: int | None, settings: Settings
) -> None:
    """Count a refused attempt on its address and, when given, on an account that may sign in.

    One statement per count, so concurrent failures all count: the threshold-th failure in a
    row sets `lock_until`; the first failure after a lock has ended starts a new count.
    """
    await connection.execute(
        text("INSERT INTO login_failure (address) VALUES (:address)"), {"address": address}
    )
    # Rows that have left the window: nothing reads them again.
    await connection.execute(
        text(
            "DELETE FROM login_failure WHERE address = :address"
            " AND at < now() - make_interval(secs => :window)"
        ),
        {"address": address, "window": settings.address_failure_window_seconds},
    )
    if user_id is None:
        return
    count = "CASE WHEN lock_until IS NOT NULL THEN 1 ELSE failed_logins + 1 END"
    locks = f"({count}) >= :threshold"
    await connection.execute(
        text(
            f"UPDATE app_user SET failed_logins = {count},"  # noqa: S608 (constants)
            f" lock_until = CASE WHEN {locks} THEN now() + make_interval(secs => least("
            " :base * power(2, least(lockouts, :doublings)), :cap)) END,"
            f" lockouts = lockouts + CASE WHEN {locks} THEN 1 ELSE 0 END"
            " WHERE id = :id AND (lock_until IS NULL OR lock_until <= now())"
        ),
        {
            "id": user_id,
            "threshold": settings.lockout_threshold,
            "base": settings.lockout_base_seconds,
            "cap": settings.lockout_max_seconds,
            "doublings": _MAX_DOUBLINGS,
        },
    )


async def record_success(connection: AsyncConnection, user_id: int) -> None:
    """A sign-in succeeded: the counts start again, and the account was seen now."""
    await connection.execute(
        text(
            "UPDATE app_user SET failed_logins = 0, lockouts = 0, lock_until = NULL,"
            " last_sign_in_at = now() WHERE id = :id"
        ),
        {"id": user_id},
    )


async def unlock(connection: AsyncConnection, user_id: int) -> Row[Any]:
    """Clear every lock of an account, the temporary one and the legacy permanent one; the row
    before the change (what the audit records)."""
    before = (
        await connection.execute(
            text(
                "SELECT failed_logins, lockouts, lock_until, locked_at,"
                " coalesce(lock_until > now(), false) AS temporarily_locked FROM app_user"
                " WHERE id = :id FOR UPDATE"
            ),
            {"id": user_id},
        )
    ).one()
    await connection.execute(
        text(
            "UPDATE app_user SET failed_logins = 0, lockouts = 0, lock_until = NULL,"
            " locked_at = NULL WHERE id = :id"
        ),
        {"id": user_id},
    )
    return before
