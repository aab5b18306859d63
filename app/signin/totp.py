"""The second factor: time-based one-time codes (TOTP, RFC 6238) with the `pyotp` library.

```python
enrollment = await begin(connection, actor_user_id, issuer="SchoolGraph")  # secret + otpauth URI
await confirm(connection, user_id, code)   # enables it; raises WrongCode
await check(connection, user_id, code)     # at sign-in; raises WrongCode (replays included)
```

The secret is stored encrypted (`app_user.totp_secret`, app/encryption.py); it is enabled only
once a code made from it has been accepted (`totp_enabled_at`). A code is accepted for its own
30-second step and the ones either side (clock drift), once: `totp_last_step` keeps the last step
used, and a code of that step or an earlier one is refused, so an overheard code cannot be
replayed.
"""

from __future__ import annotations

import hmac
import time
from dataclasses import dataclass
from typing import Any

import pyotp
from sqlalchemy import text
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from app import encryption
from app.models import Role

ISSUER = "SchoolGraph"
# Roles that must present a code when their district requires a second factor.
MFA_ROLES = (Role.SCHOOL_ADMIN.value, Role.DISTRICT_ADMIN.value, Role.COORDINATOR.value)
_DIGITS = 6
_DRIFT_STEPS = 1


class WrongCode(Exception):
    """The code is malformed, wrong, too old, or already used."""


@dataclass(frozen=True)
class Enrollment:
    secret: str
    otpauth_uri: str


async def _secret(connection: AsyncConnection, user_id: int) -> Row[Any]:
    row = (
        await connection.execute(
            text(
                "SELECT id, username, totp_secret, totp_enabled_at, totp_last_step FROM app_user"
                " WHERE id = :id FOR UPDATE"
            ),
            {"id": user_id},
        )
    ).one()
    return await encryption.decrypt_row(connection, "app_user", row)


async def begin(connection: AsyncConnection, user_id: int) -> Enrollment:
    """A new secret for the account, stored encrypted but not enabled until confirmed. A pending
    secret is replaced; an enabled one must be disabled first (`WrongCode` otherwise)."""
    row = await _secret(connection, user_id)
    if row.totp_enabled_at is not None:
        raise WrongCode("a second factor is already enabled: disable it first")
    secret = pyotp.random_base32()
    ring = await encryption.writing_keyring(connection)
    pending = ring.encrypt("app_user", "totp_secret", user_id, secret)
    await connection.execute(
        text("UPDATE app_user SET totp_secret = :secret, totp_last_step = NULL WHERE id = :id"),
        {"secret": pending, "id": user_id},
    )
    uri = pyotp.TOTP(secret).provisioning_uri(name=row.username, issuer_name=ISSUER)
    return Enrollment(secret=secret, otpauth_uri=uri)


def _step_of(secret: str, code: str, last_step: int | None) -> int:
    """The time step `code` belongs to, within the allowed drift and after `last_step`."""
    code = code.strip().replace(" ", "")
    if len(code) != _DIGITS or not code.isdigit():
        raise WrongCode("a code is six digits")
    totp = pyotp.TOTP(secret)
    now = int(time.time()) // totp.interval
    for step in range(now - _DRIFT_STEPS, now + _DRIFT_STEPS + 1):
        if hmac.compare_digest(totp.at(step * totp.interval), code):
            if last_step is not None and step <= last_step:
                raise WrongCode("this code was already used: wait for the next one")
            return step
    raise WrongCode("the code is wrong or expired")


async def _use(connection: AsyncConnection, user_id: int, code: str, *, enable: bool) -> None:
    row = await _secret(connection, user_id)
    if row.totp_secret is None:
        raise WrongCode("no second factor is being enrolled: begin the enrolment first")
    step = _step_of(row.totp_secret, code, row.totp_last_step)
    enabled = "coalesce(totp_enabled_at, now())" if enable else "totp_enabled_at"
    await connection.execute(
        text(
            f"UPDATE app_user SET totp_last_step = :step, totp_enabled_at = {enabled}"  # noqa: S608
            " WHERE id = :id"
        ),
        {"step": step, "id": user_id},
    )


async def confirm(connection: AsyncConnection, user_id: int, code: str) -> None:
    """Enable the pending secret with a code it made."""
    await _use(connection, user_id, code, enable=True)


async def check(connection: AsyncConnection, user_id: int, code: str) -> None:
    """Accept a sign-in code of the enabled secret once; raises `WrongCode`."""
    await _use(connection, user_id, code, enable=False)


async def disable(connection: AsyncConnection, user_id: int) -> bool:
    """Remove the secret, enabled or pending; whether there was one."""
    result = await connection.execute(
        text(
            "UPDATE app_user SET totp_secret = NULL, totp_enabled_at = NULL, totp_last_step = NULL"
            " WHERE id = :id AND totp_secret IS NOT NULL RETURNING id"
        ),
        {"id": user_id},
    )
    return result.first() is not None


async def required(connection: AsyncConnection, user_id: int) -> bool:
    """Whether the account's district requires a second factor of it (an administrator or a
    coordinator, at a school or district-wide)."""
    row = (
        await connection.execute(
            text(
                "SELECT d.require_mfa AND EXISTS (SELECT 1 FROM role_assignment ra"
                " WHERE ra.user_id = u.id AND ra.role = ANY(:roles)) AS required"
                " FROM app_user u JOIN district d ON d.id = u.district_id WHERE u.id = :id"
            ),
            {"id": user_id, "roles": list(MFA_ROLES)},
        )
    ).one()
    return bool(row.required)
