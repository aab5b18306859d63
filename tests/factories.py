"""Plain functions that arrange rows for a test, and undo them.

Tests share one seeded database per session, so an account a test locks or changes is one it
created here (in the second district, away from the demo district's counts) and deletes after.
"""

from __future__ import annotations

import uuid

import asyncpg

from app.auth import hash_password
from app.seed import DEMO_PASSWORD

# Meets `app.auth.password_problems`: long, with lower case, upper case, digits and a symbol.
STRONG_PASSWORD = "Correct-Horse-42-battery"


async def other_district_id(db: asyncpg.Connection) -> int:
    """The district the demo accounts do not belong to."""
    found = await db.fetchval(
        "SELECT id FROM district WHERE id <> (SELECT district_id FROM app_user"
        " WHERE username = 'admin') ORDER BY id LIMIT 1"
    )
    assert found is not None, "the seed makes a second district"
    return int(found)


async def create_user(
    db: asyncpg.Connection,
    *,
    password: str | None = STRONG_PASSWORD,
    external_subject: str | None = None,
    role: str | None = "support",
    locked: bool = False,
    active: bool = True,
) -> tuple[int, str]:
    """A new account in the second district: `(id, username)`. Delete it with `delete_user`."""
    district_id = await other_district_id(db)
    username = f"test-{uuid.uuid4().hex[:12]}"
    user_id = await db.fetchval(
        "INSERT INTO app_user (district_id, username, first_name, last_name, password_hash,"
        " external_subject, is_active, locked_at)"
        " VALUES ($1, $2, 'Test', 'Account', $3, $4, $5, CASE WHEN $6 THEN now() END)"
        " RETURNING id",
        district_id,
        username,
        hash_password(password) if password is not None else None,
        external_subject,
        active,
        locked,
    )
    if role is not None:
        await db.execute(
            "INSERT INTO role_assignment (district_id, user_id, role) VALUES ($1, $2, $3)",
            district_id,
            user_id,
            role,
        )
    return int(user_id), username


async def delete_user(db: asyncpg.Connection, user_id: int) -> None:
    """Remove an account made by `create_user` and what its logins recorded."""
    await db.execute("DELETE FROM activity_event WHERE user_id = $1", user_id)
    await db.execute("DELETE FROM role_assignment WHERE user_id = $1", user_id)
    await db.execute("DELETE FROM app_user WHERE id = $1", user_id)


async def login_state(db: asyncpg.Connection, user_id: int) -> tuple[int, bool]:
    """`(failed_logins, locked)` of an account, as stored."""
    row = await db.fetchrow("SELECT failed_logins, locked_at FROM app_user WHERE id = $1", user_id)
    assert row is not None
    return int(row["failed_logins"]), row["locked_at"] is not None


__all__ = [
    "DEMO_PASSWORD",
    "STRONG_PASSWORD",
    "create_user",
    "delete_user",
    "login_state",
    "other_district_id",
]
