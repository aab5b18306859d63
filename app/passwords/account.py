"""The account a password is set for: its words (which the password may not contain), and
storing the new hash."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from app import auth, writes
from app.encryption import decrypt_row
from app.offload import WorkerPool
from app.passwords.rules import WEAK_PASSWORD, describe, password_problems

_LOAD = (
    "SELECT id, district_id, username, first_name, last_name, email, password_hash,"
    " external_subject, is_active AND deidentified_at IS NULL AS is_active"
    " FROM app_user WHERE id = :id"
)


@dataclass(frozen=True)
class Account:
    id: int
    district_id: int
    username: str
    password_hash: str | None
    external_subject: str | None
    is_active: bool
    personal: tuple[str | None, ...]  # username, names, email


async def load(
    connection: AsyncConnection, user_id: int, *, lock: bool = False, email: bool = True
) -> Account | None:
    """The account (its row locked with `lock`), or None; its email (decrypted) only when a
    password is to be checked against it (`email`)."""
    sql = _LOAD + " FOR UPDATE" if lock else _LOAD
    row = (await connection.execute(text(sql), {"id": user_id})).first()
    if row is None:
        return None
    address = None
    if email:
        address = (await decrypt_row(connection, "app_user", row)).email
    return Account(
        id=int(row.id),
        district_id=int(row.district_id),
        username=row.username,
        password_hash=row.password_hash,
        external_subject=row.external_subject,
        is_active=bool(row.is_active),
        personal=(row.username, row.first_name, row.last_name, address),
    )


async def problems(hashing: WorkerPool, account: Account, password: str) -> list[str]:
    """`password_problems` for this account, in the pool's threads: the estimate takes up to
    tens of milliseconds of CPU, which the event loop should not wait on whole."""
    return await hashing.run(password_problems, password, personal=account.personal)


async def check(
    hashing: WorkerPool, account: Account, password: str, *, field: str = "newPassword"
) -> None:
    """Refuse a password the rule does not accept for this account (`WEAK_PASSWORD`)."""
    found = await problems(hashing, account, password)
    if found:
        raise writes.WriteRefused(describe(found), WEAK_PASSWORD, field)


async def store(
    connection: AsyncConnection, hashing: WorkerPool, account: Account, password: str
) -> None:
    """Hash `password` in the pool and make it the account's; `password_changed_at` is now."""
    new_hash = await auth.hash_password_in(hashing, password)
    await connection.execute(
        text(
            "UPDATE app_user SET password_hash = :hash, password_changed_at = now() WHERE id = :id"
        ),
        {"id": account.id, "hash": new_hash},
    )
