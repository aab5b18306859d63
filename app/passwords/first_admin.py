"""`schoolgraph create-admin`: the first district administrator of a new deployment.

Production has no demo accounts, so someone must hold the first `district_admin` role; after
that, administrators manage accounts over the API. The command makes the district when no
district has the name (a new deployment starts empty), the account (username unique across the
deployment), and its district-wide role, then either stores a password typed at a terminal
(twice, checked by the rule) or issues an invitation token, printed once. A password is never
an argument: it would stay in the shell's history and the process list.

Audited like the other operator commands: no account acts, so the event names the
operating-system user who ran it (`details.by`).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from app import auth, writes
from app.config import Settings
from app.districts.settings import audit
from app.encryption import writing_keyring
from app.passwords import tokens
from app.passwords.rules import WEAK_PASSWORD, describe, password_problems


@dataclass(frozen=True)
class NewAdmin:
    user_id: int
    username: str
    district_id: int
    district_created: bool
    token: str | None = None
    expires_at: datetime | None = None


def check_password(password: str, *, personal: tuple[str | None, ...]) -> None:
    """Refuse a password the rule does not accept (before anything is written)."""
    problems = password_problems(password, personal=personal)
    if problems:
        raise writes.WriteRefused(describe(problems), WEAK_PASSWORD, "password")


async def _district(connection: AsyncConnection, name: str) -> tuple[int, bool]:
    """The district named (or numbered) `name`; made when no district has that name."""
    column = "id" if name.isdigit() else "name"
    found = (
        await connection.execute(
            text(f"SELECT id FROM district WHERE {column} = :key ORDER BY id LIMIT 1"),  # noqa: S608
            {"key": int(name) if name.isdigit() else name},
        )
    ).first()
    if found is not None:
        return int(found.id), False
    if name.isdigit():
        raise writes.WriteRefused(f"no district has id {name}", "NOT_FOUND", "district")
    made = await connection.execute(
        text("INSERT INTO district (name) VALUES (:name) RETURNING id"), {"name": name}
    )
    return int(made.scalar_one()), True


async def create_admin(
    connection: AsyncConnection,
    settings: Settings,
    *,
    district: str,
    username: str,
    first_name: str,
    last_name: str,
    email: str | None,
    password: str | None,
    by: str,
) -> NewAdmin:
    """Make the administrator (and the district if needed); with no `password`, an invitation."""
    username = username.strip()
    if not username or not district.strip():
        raise writes.WriteRefused("the username and the district may not be empty", "INVALID")
    if email is not None and ("@" not in email or email.strip() != email):
        raise writes.WriteRefused(f"{email!r} is not an email address", "INVALID", "email")
    taken = await connection.execute(
        text("SELECT 1 FROM app_user WHERE username = :username"), {"username": username}
    )
    if taken.first() is not None:
        raise writes.WriteRefused(f"the username {username!r} is taken", "TAKEN", "username")
    if password is not None:
        check_password(password, personal=(username, first_name, last_name, email))
    district_id, created = await _district(connection, district.strip())
    user_id = int(
        (
            await connection.execute(
                text("SELECT nextval(pg_get_serial_sequence('app_user', 'id'))")
            )
        ).scalar_one()
    )
    ring = await writing_keyring(connection)
    await connection.execute(
        text(
            "INSERT INTO app_user (id, district_id, username, first_name, last_name, email,"
            " password_hash, password_changed_at)"
            " OVERRIDING SYSTEM VALUE VALUES (:id, :district_id, :username, :first, :last,"
            " :email, :hash, CASE WHEN :has_password THEN now() END)"
        ),
        {
            "id": user_id,
            "district_id": district_id,
            "username": username,
            "first": first_name,
            "last": last_name,
            "email": ring.encrypt("app_user", "email", user_id, email),
            "hash": auth.hash_password(password) if password is not None else None,
            "has_password": password is not None,
        },
    )
    await connection.execute(
        text(
            "INSERT INTO role_assignment (district_id, user_id, role)"
            " VALUES (:district_id, :user_id, 'district_admin')"
        ),
        {"district_id": district_id, "user_id": user_id},
    )
    details: dict[str, object] = {
        "by": by,
        "username": username,
        "district_created": created,
        "password": "set" if password is not None else "invitation",
    }
    await audit(
        connection, None, "user.create_admin", ("user", user_id), details, district_id=district_id
    )
    if password is not None:
        return NewAdmin(user_id, username, district_id, created)
    issued = await _invite(connection, settings, user_id=user_id, by=by, district_id=district_id)
    return NewAdmin(user_id, username, district_id, created, *issued)


async def _invite(
    connection: AsyncConnection, settings: Settings, *, user_id: int, by: str, district_id: int
) -> tuple[str, datetime]:
    """An invitation token for the new account, issued by no account (audited with `by`)."""
    token = secrets.token_urlsafe(32)
    expires_at = (
        await connection.execute(
            text(
                "INSERT INTO password_token (district_id, user_id, token_hash, purpose,"
                " expires_at) VALUES (:district_id, :user_id, :hash, 'invitation',"
                " now() + :lifetime) RETURNING expires_at"
            ),
            {
                "district_id": district_id,
                "user_id": user_id,
                "hash": tokens.digest(token),
                "lifetime": tokens.lifetime(tokens.INVITATION, settings),
            },
        )
    ).scalar_one()
    await audit(
        connection,
        None,
        "password.invitation.issue",
        ("user", user_id),
        {"by": by, "purpose": tokens.INVITATION, "expires_at": expires_at, "voided": 0},
        district_id=district_id,
    )
    return token, expires_at
