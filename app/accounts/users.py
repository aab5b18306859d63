"""The district's accounts: listed with filters, created, updated, deactivated, reactivated.

```python
rows = await users.list_users(connection, scope=scope, flt=UserFilter(locked=True), first=50)
user_id = await users.create_user(connection, actor, values={"username": "jdoe", ...})
await users.set_active(connection, actor, user_id=7, active=False)
```

Every change is audited; names, email and phone changed go through `audit_changes` (before and
after encrypted), never into the event's details. A deactivated account signs in no more, and
its tokens stop working at the next request: the viewer is loaded from the database on every
request, and an inactive account has none (app/relations.py).
"""

from __future__ import annotations

import datetime
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from app import writes
from app.accounts.scope import IN_SCOPE, AdminScope
from app.database import cached_text
from app.encryption import decrypt_rows, writing_keyring
from app.models import Role
from app.rights import validate
from app.rights.changes import audit_changes
from app.writes import Actor, WriteRefused

USERNAME = re.compile(r"^[a-z0-9][a-z0-9._@-]{1,62}[a-z0-9]$")
MAX_NAME = 100
# Fields of an account that hold personal values (audited through `audit_changes`).
PERSONAL = ("first_name", "last_name", "email", "phone")
EDITABLE = ("username", *PERSONAL)
# GraphQL names of the columns, as userErrors and the audit name them.
NAMES = {
    "username": "username",
    "first_name": "firstName",
    "last_name": "lastName",
    "email": "email",
    "phone": "phone",
}

# The account's last sign-in: the column, or the latest `login` activity event (every successful
# login appends one).
LAST_SIGN_IN = """greatest(u.last_sign_in_at, (
  SELECT max(ae.occurred_at) FROM activity_event ae
  WHERE ae.user_id = u.id AND ae.kind = 'login'))"""

_COLUMNS = f"""
  u.id, u.district_id, u.username, u.first_name, u.last_name, u.email, u.phone, u.is_active,
  u.locked_at, u.lock_until, {LAST_SIGN_IN} AS last_sign_in_at, u.reviewed_at, u.reviewed_by,
  u.created_at, u.totp_enabled_at, u.deidentified_at,
  (u.locked_at IS NOT NULL OR coalesce(u.lock_until > now(), false)) AS locked,
  coalesce((SELECT json_agg(json_build_object(
      'role', ra.role, 'school_id', ra.school_id, 'school_name', sc.name)
      ORDER BY ra.role, sc.name NULLS FIRST)
    FROM role_assignment ra LEFT JOIN school sc ON sc.id = ra.school_id
    WHERE ra.user_id = u.id), '[]'::json) AS roles
"""  # noqa: S608 (constants)


@dataclass(frozen=True)
class UserFilter:
    """Every filter narrows; None leaves it out."""

    role: str | None = None
    school_id: int | None = None
    # Signed in last before this time, or never.
    last_sign_in_before: datetime.datetime | None = None
    locked: bool | None = None
    inactive: bool | None = None
    # Part of the username, first or last name (case-insensitive).
    search: str | None = None


def _where(scope: AdminScope, flt: UserFilter) -> tuple[str, dict[str, Any]]:
    params = scope.params()
    conditions = ["u.district_id = :district_id", IN_SCOPE]
    if flt.role is not None:
        conditions.append(
            "(EXISTS (SELECT 1 FROM role_assignment r1 WHERE r1.user_id = u.id"
            " AND r1.role = :role) OR (:role = 'student' AND EXISTS"
            " (SELECT 1 FROM student s1 WHERE s1.user_id = u.id)))"
        )
        params["role"] = flt.role
    if flt.school_id is not None:
        conditions.append(
            "(EXISTS (SELECT 1 FROM role_assignment r2 WHERE r2.user_id = u.id"
            " AND r2.school_id = :school_id)"
            " OR EXISTS (SELECT 1 FROM student s2 WHERE s2.user_id = u.id"
            " AND s2.school_id = :school_id)"
            " OR EXISTS (SELECT 1 FROM guardian_link g2 JOIN student s3 ON s3.id = g2.student_id"
            " WHERE g2.guardian_user_id = u.id AND s3.school_id = :school_id))"
        )
        params["school_id"] = flt.school_id
    if flt.last_sign_in_before is not None:
        conditions.append(f"({LAST_SIGN_IN} IS NULL OR {LAST_SIGN_IN} < :signed_in_before)")
        params["signed_in_before"] = flt.last_sign_in_before
    if flt.locked is not None:
        locked = "(u.locked_at IS NOT NULL OR coalesce(u.lock_until > now(), false))"
        conditions.append(locked if flt.locked else f"NOT {locked}")
    if flt.inactive is not None:
        conditions.append("NOT u.is_active" if flt.inactive else "u.is_active")
    if flt.search:
        conditions.append(
            "(u.username ILIKE :search OR u.first_name ILIKE :search OR u.last_name ILIKE :search)"
        )
        escaped = flt.search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        params["search"] = f"%{escaped}%"
    return " AND ".join(conditions), params


async def list_users(
    connection: AsyncConnection,
    *,
    scope: AdminScope,
    flt: UserFilter,
    first: int,
    after: str | None = None,
) -> list[Row[Any]]:
    """A page of accounts in username order (`first + 1` rows: the extra says there is more)."""
    where, params = _where(scope, flt)
    if after is not None:
        where += " AND u.username > :after"
        params["after"] = after
    sql = f"SELECT {_COLUMNS} FROM app_user u WHERE {where} ORDER BY u.username LIMIT :limit"  # noqa: S608
    rows = (await connection.execute(cached_text(sql), {**params, "limit": first + 1})).all()
    return await decrypt_rows(connection, "app_user", rows)


async def count_users(connection: AsyncConnection, *, scope: AdminScope, flt: UserFilter) -> int:
    where, params = _where(scope, flt)
    sql = f"SELECT count(*) FROM app_user u WHERE {where}"  # noqa: S608
    return int((await connection.execute(cached_text(sql), params)).scalar_one())


async def user(connection: AsyncConnection, *, user_id: int, district_id: int) -> Row[Any]:
    """One account with its roles, decrypted; NOT_FOUND when the district has none such."""
    sql = f"SELECT {_COLUMNS} FROM app_user u WHERE u.id = :id AND u.district_id = :district_id"  # noqa: S608
    row = (
        await connection.execute(cached_text(sql), {"id": user_id, "district_id": district_id})
    ).first()
    if row is None:
        raise WriteRefused("no such user", "NOT_FOUND", "userId")
    return (await decrypt_rows(connection, "app_user", [row]))[0]


# --- validation ----------------------------------------------------------------------------------


def _name(value: str, field: str) -> str:
    value = value.strip()
    if not value:
        raise WriteRefused(f"{field}: required", "REQUIRED", field)
    if any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in value):
        raise WriteRefused(f"{field}: control characters are not allowed", "INVALID", field)
    if len(value) > MAX_NAME:
        raise WriteRefused(f"{field}: at most {MAX_NAME} characters", "TOO_LONG", field)
    return value


def username(value: str) -> str:
    value = value.strip().lower()
    if not USERNAME.match(value):
        raise WriteRefused(
            "username: 3 to 64 characters, lower-case letters, digits and . _ @ -, starting and"
            " ending with a letter or digit",
            "INVALID",
            "username",
        )
    return value


def clean(values: Mapping[str, str | None]) -> dict[str, str | None]:
    """`values` (columns of EDITABLE) validated and normalised; the first refusal raised.
    Names and the username cannot be cleared; email and phone can (None or empty)."""
    cleaned: dict[str, str | None] = {}
    for column, value in values.items():
        if column not in EDITABLE:
            raise WriteRefused(f"{column}: not a field of an account", "INVALID", column)
        name = NAMES[column]
        if column in ("email", "phone") and (value is None or not value.strip()):
            cleaned[column] = None
        elif value is None:
            raise WriteRefused(f"{name}: cannot be cleared", "REQUIRED", name)
        elif column == "username":
            cleaned[column] = username(value)
        elif column == "email":
            cleaned[column] = validate.email(value).lower()
        elif column == "phone":
            cleaned[column] = validate.phone(value)
        else:
            cleaned[column] = _name(value, name)
    return cleaned


async def _username_free(connection: AsyncConnection, name: str, *, user_id: int = 0) -> None:
    taken = (
        await connection.execute(
            cached_text("SELECT 1 FROM app_user WHERE username = :name AND id <> :id"),
            {"name": name, "id": user_id},
        )
    ).first()
    if taken is not None:
        raise WriteRefused("username: already taken", "TAKEN", "username")


# --- writes --------------------------------------------------------------------------------------


async def create_user(
    connection: AsyncConnection,
    actor: Actor,
    *,
    values: Mapping[str, str | None],
    roles: Sequence[tuple[str, int | None]] = (),
) -> int:
    """A new active account with no password (it signs in once given one: an invitation or a
    reset), and its roles (each audited as `assign_role`). Its id."""
    cleaned = clean(values)
    for required in ("username", "first_name", "last_name"):
        if not cleaned.get(required):
            raise WriteRefused(f"{NAMES[required]}: required", "REQUIRED", NAMES[required])
    name = str(cleaned["username"])
    await _username_free(connection, name)
    user_id = await writes._next_id(connection, "app_user")
    ring = await writing_keyring(connection)
    sealed = ring.encrypt_row(
        "app_user",
        user_id,
        {"email": cleaned.get("email"), "phone": cleaned.get("phone")},
    )
    await connection.execute(
        cached_text(
            "INSERT INTO app_user (id, district_id, username, first_name, last_name, email,"
            " phone, is_active) VALUES (:id, :district_id, :username, :first_name, :last_name,"
            " :email, :phone, true)"
        ),
        {
            "id": user_id,
            "district_id": actor.district_id,
            "username": name,
            "first_name": cleaned["first_name"],
            "last_name": cleaned["last_name"],
            **sealed,
        },
    )
    personal = {NAMES[c]: (None, cleaned[c]) for c in PERSONAL if cleaned.get(c) is not None}
    await audit_changes(
        connection,
        actor,
        "create_user",
        "User",
        user_id,
        personal,
        user_id=user_id,
        details={"username": name, "roles": [[r, s] for r, s in roles]},
    )
    for role, school_id in roles:
        await writes.assign_role(connection, actor, user_id=user_id, role=role, school_id=school_id)
    return user_id


async def update_user(
    connection: AsyncConnection,
    actor: Actor,
    *,
    user_id: int,
    values: Mapping[str, str | None],
) -> None:
    """Change the account's username, names, email or phone; only what differs is written and
    audited (the username in the event's details, personal values through `audit_changes`)."""
    cleaned = clean(values)
    before = await user(connection, user_id=user_id, district_id=actor.district_id)
    if before.deidentified_at is not None:
        raise WriteRefused("this account was de-identified", "DEIDENTIFIED", "userId")
    changed = {c: v for c, v in cleaned.items() if getattr(before, c) != v}
    if not changed:
        return
    if "username" in changed:
        await _username_free(connection, str(changed["username"]), user_id=user_id)
    ring = await writing_keyring(connection)
    sealed = ring.encrypt_row("app_user", user_id, changed)
    assignments = ", ".join(f"{column} = :{column}" for column in changed)
    await connection.execute(
        cached_text(f"UPDATE app_user SET {assignments} WHERE id = :id"),  # noqa: S608
        {**sealed, "id": user_id},
    )
    details: dict[str, Any] = {}
    if "username" in changed:
        details["username"] = {"before": before.username, "after": changed["username"]}
    await audit_changes(
        connection,
        actor,
        "update_user",
        "User",
        user_id,
        {NAMES[c]: (getattr(before, c), v) for c, v in changed.items() if c in PERSONAL},
        user_id=user_id,
        details=details,
    )


async def set_active(
    connection: AsyncConnection, actor: Actor, *, user_id: int, active: bool
) -> bool:
    """Deactivate or reactivate the account; False when it already was so (nothing written).

    Refused: deactivating oneself, or the district's last active district administrator;
    reactivating a de-identified account."""
    row = await user(connection, user_id=user_id, district_id=actor.district_id)
    if row.is_active == active:
        return False
    if not active:
        if user_id == actor.user_id:
            raise WriteRefused("you cannot deactivate your own account", "SELF", "userId")
        others = (
            await connection.execute(
                cached_text(
                    "SELECT count(DISTINCT u.id) FROM app_user u JOIN role_assignment ra"
                    " ON ra.user_id = u.id AND ra.role = :admin AND ra.school_id IS NULL"
                    " WHERE u.district_id = :district_id AND u.is_active AND u.id <> :id"
                ),
                {
                    "admin": Role.DISTRICT_ADMIN.value,
                    "district_id": actor.district_id,
                    "id": user_id,
                },
            )
        ).scalar_one()
        holds = any(
            r["role"] == Role.DISTRICT_ADMIN.value and r["school_id"] is None for r in row.roles
        )
        if holds and not others:
            raise WriteRefused(
                "this is the district's last active district administrator", "LAST_ADMIN", "userId"
            )
    elif row.deidentified_at is not None:
        raise WriteRefused(
            "this account was de-identified: it cannot be reactivated", "DEIDENTIFIED", "userId"
        )
    await connection.execute(
        cached_text("UPDATE app_user SET is_active = :active WHERE id = :id"),
        {"active": active, "id": user_id},
    )
    await writes.audit(
        connection,
        actor,
        "reactivate_user" if active else "deactivate_user",
        "User",
        user_id,
        {"username": row.username},
    )
    return True
