"""Sessions in the database: start one at sign-in, list them, revoke one or all of a user's.

```python
session_id = await store.start(connection, user_id=7, expires_at=..., address="203.0.113.7",
                               user_agent="Mozilla/5.0 ...")
rows = await store.own(connection, user_id=7)            # live sessions, newest first
await store.revoke(connection, session_id, by=actor_id)   # True when it was live
```
"""

from __future__ import annotations

import datetime
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from app.database import cached_text
from app.keyset import Column, Keyset

# What a user agent keeps of the header: enough to tell devices apart.
MAX_USER_AGENT = 200
# Most live sessions `viewer.sessions` lists (a token lives hours: more means a script).
MAX_OWN = 100

ORDER = Keyset(Column("us.started_at", "started_at"), Column("us.id", "id"), descending=True)
_LIVE = "us.revoked_at IS NULL AND us.expires_at > now()"
_COLUMNS = (
    "us.id, us.user_id, us.started_at, us.last_seen_at, us.expires_at, us.address,"
    " us.user_agent, us.revoked_at, u.username, u.first_name, u.last_name"
)


def new_id() -> str:
    return secrets.token_urlsafe(32)


def clean_user_agent(value: str | None) -> str | None:
    """The header as kept: printable, at most `MAX_USER_AGENT` characters, None when empty."""
    if not value:
        return None
    kept = "".join(c for c in value if c.isprintable()).strip()[:MAX_USER_AGENT]
    return kept or None


async def start(
    connection: AsyncConnection,
    *,
    user_id: int,
    expires_at: datetime.datetime,
    address: str | None,
    user_agent: str | None,
) -> str:
    """A new session for a sign-in that succeeded (the sign-in itself is noted on the account
    by app/signin/lockout.py, on a connection of its own)."""
    session_id = new_id()
    await connection.execute(
        cached_text(
            "INSERT INTO user_session"
            " (id, district_id, user_id, started_at, last_seen_at, expires_at, address,"
            " user_agent)"
            " SELECT :id, u.district_id, u.id, now(), now(), :expires_at, :address, :user_agent"
            " FROM app_user u WHERE u.id = :user_id"
        ),
        {
            "id": session_id,
            "user_id": user_id,
            "expires_at": expires_at,
            "address": address,
            "user_agent": clean_user_agent(user_agent),
        },
    )
    return session_id


async def own(connection: AsyncConnection, *, user_id: int) -> list[Row[Any]]:
    """The user's live sessions, newest first."""
    sql = (
        f"SELECT {_COLUMNS} FROM user_session us JOIN app_user u ON u.id = us.user_id"
        f" WHERE us.user_id = :user_id AND {_LIVE} ORDER BY {ORDER.order_by} LIMIT :limit"
    )
    params = {"user_id": user_id, "limit": MAX_OWN}
    return list((await connection.execute(cached_text(sql), params)).all())


@dataclass(frozen=True)
class Scope:
    """Whose sessions an administrator lists: the district's, or the users of some schools
    (staff and vendors with a role there, students, guardians of its students) who hold no
    district-wide role."""

    district_id: int
    school_ids: frozenset[int] | None  # None: the whole district


# The schools a user belongs to, in SQL over `u` (app_user).
USER_SCHOOLS = """(
  SELECT ra.school_id FROM role_assignment ra
  WHERE ra.user_id = u.id AND ra.school_id IS NOT NULL
  UNION SELECT s.school_id FROM student s WHERE s.user_id = u.id
  UNION SELECT s.school_id FROM guardian_link gl JOIN student s ON s.id = gl.student_id
        WHERE gl.guardian_user_id = u.id
)"""
# Holds a role across the district (only a district-wide administrator answers for them).
DISTRICT_WIDE = (
    "EXISTS (SELECT 1 FROM role_assignment ra WHERE ra.user_id = u.id AND ra.school_id IS NULL)"
)


def _scope_where(scope: Scope, params: dict[str, Any]) -> str:
    params["district_id"] = scope.district_id
    where = "us.district_id = :district_id"
    if scope.school_ids is not None:
        params["school_ids"] = sorted(scope.school_ids)
        where += (
            f" AND NOT {DISTRICT_WIDE}"
            f" AND EXISTS (SELECT 1 FROM {USER_SCHOOLS} us_school (school_id)"
            " WHERE us_school.school_id = ANY(:school_ids))"
        )
    return where


def _filter(
    scope: Scope, params: dict[str, Any], *, school_id: int | None, user_id: int | None
) -> str:
    where = _scope_where(scope, params) + f" AND {_LIVE}"
    if school_id is not None:
        params["school_id"] = school_id
        where += (
            f" AND EXISTS (SELECT 1 FROM {USER_SCHOOLS} f_school (school_id)"
            " WHERE f_school.school_id = :school_id)"
        )
    if user_id is not None:
        params["user_id"] = user_id
        where += " AND us.user_id = :user_id"
    return where


async def active(
    connection: AsyncConnection,
    *,
    scope: Scope,
    school_id: int | None,
    user_id: int | None,
    first: int,
    after: tuple[Any, ...] | None,
) -> list[Row[Any]]:
    """Live sessions in `scope`, newest first, by keyset pages (`first + 1` rows)."""
    params: dict[str, Any] = {"limit": first + 1}
    where = _filter(scope, params, school_id=school_id, user_id=user_id)
    if after is not None:
        where += " AND " + ORDER.after(after, params)
    sql = (
        f"SELECT {_COLUMNS} FROM user_session us JOIN app_user u ON u.id = us.user_id"
        f" WHERE {where} ORDER BY {ORDER.order_by} LIMIT :limit"
    )
    return list((await connection.execute(cached_text(sql), params)).all())


async def count_active(
    connection: AsyncConnection, *, scope: Scope, school_id: int | None, user_id: int | None
) -> int:
    params: dict[str, Any] = {}
    where = _filter(scope, params, school_id=school_id, user_id=user_id)
    sql = f"SELECT count(*) FROM user_session us JOIN app_user u ON u.id = us.user_id WHERE {where}"
    return int((await connection.execute(cached_text(sql), params)).scalar_one())


@dataclass(frozen=True)
class Owner:
    """Whose a session is (or a user), and where they belong, to decide who may revoke it."""

    user_id: int
    district_id: int
    school_ids: frozenset[int]
    district_wide: bool


async def owner_of_session(connection: AsyncConnection, session_id: str) -> Owner | None:
    return await _owner(
        connection, "JOIN user_session us ON us.user_id = u.id WHERE us.id = :k", session_id
    )


async def owner(connection: AsyncConnection, user_id: int) -> Owner | None:
    return await _owner(connection, "WHERE u.id = :k", user_id)


async def _owner(connection: AsyncConnection, where: str, key: object) -> Owner | None:
    sql = (
        f"SELECT u.id, u.district_id, ARRAY(SELECT school_id FROM {USER_SCHOOLS} x (school_id))"
        f" AS school_ids, {DISTRICT_WIDE} AS district_wide FROM app_user u {where}"
    )
    row = (await connection.execute(cached_text(sql), {"k": key})).first()
    if row is None:
        return None
    return Owner(
        user_id=int(row.id),
        district_id=int(row.district_id),
        school_ids=frozenset(int(s) for s in row.school_ids if s is not None),
        district_wide=bool(row.district_wide),
    )


async def revoke(connection: AsyncConnection, session_id: str, *, by: int) -> Row[Any] | None:
    """End one live session; its row (None when it had already ended)."""
    sql = (
        "UPDATE user_session us SET revoked_at = now(), revoked_by = :by"
        f" WHERE us.id = :id AND {_LIVE} RETURNING us.id, us.user_id"
    )
    return (await connection.execute(cached_text(sql), {"id": session_id, "by": by})).first()


async def revoke_all(connection: AsyncConnection, user_id: int, *, by: int) -> list[str]:
    """End every live session of a user; the ids of those ended."""
    sql = (
        "UPDATE user_session us SET revoked_at = now(), revoked_by = :by"
        f" WHERE us.user_id = :user_id AND {_LIVE} RETURNING us.id"
    )
    rows = await connection.execute(cached_text(sql), {"user_id": user_id, "by": by})
    return sorted(str(r.id) for r in rows)


async def one(connection: AsyncConnection, session_id: str) -> Row[Any] | None:
    sql = (
        f"SELECT {_COLUMNS} FROM user_session us JOIN app_user u ON u.id = us.user_id"
        " WHERE us.id = :id"
    )
    return (await connection.execute(cached_text(sql), {"id": session_id})).first()
