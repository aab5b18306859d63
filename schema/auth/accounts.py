"""`unlockUser` and `resetTotp`: administrators help an account back in.

Who may is policy (`UserAccount.unlock` / `UserAccount.resetTotp, write`): a district
administrator for any account of the district, a school administrator for an account whose
every school is theirs (its roles' schools, a student's school, a guardian's children's
schools) and that holds no district-wide role.
"""

from __future__ import annotations

from typing import Any

import strawberry
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from app import writes
from app.relations import Viewer
from app.signin import lockout, totp
from schema.access.queries import user_pk
from schema.context import Context, Info
from schema.errors import Forbidden, UserError

_SCHOOLS = """
SELECT u.id,
  EXISTS (SELECT 1 FROM role_assignment ra WHERE ra.user_id = u.id AND ra.school_id IS NULL)
    AS district_wide,
  ARRAY(SELECT ra.school_id FROM role_assignment ra
        WHERE ra.user_id = u.id AND ra.school_id IS NOT NULL
        UNION SELECT s.school_id FROM student s WHERE s.user_id = u.id
        UNION SELECT s.school_id FROM guardian_link gl JOIN student s ON s.id = gl.student_id
        WHERE gl.guardian_user_id = u.id) AS schools
FROM app_user u WHERE u.id = :id AND u.district_id = :district_id
"""


@strawberry.input
class UserAccountInput:
    user_id: strawberry.ID = strawberry.field(description="A StaffMember or Guardian id.")


@strawberry.type
class UnlockUserPayload:
    user_id: strawberry.ID | None = None
    unlocked: bool | None = strawberry.field(
        default=None, description="Whether the account was locked (false: nothing to undo)."
    )
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class ResetTotpPayload:
    user_id: strawberry.ID | None = None
    totp_enabled: bool | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


async def _target(
    context: Context, connection: AsyncConnection, viewer: Viewer, obj: str, user_id: int
) -> dict[str, Any]:
    """Refuse unless the viewer may act on this account; NOT_FOUND for an account elsewhere."""
    row = (
        await connection.execute(text(_SCHOOLS), {"id": user_id, "district_id": viewer.district_id})
    ).first()
    if row is None:
        raise writes.WriteRefused("no such user", "NOT_FOUND", "userId")
    if context.district_hit(obj, act="write"):
        return {"schools": list(row.schools)}
    schools = list(row.schools)
    allowed = (
        not row.district_wide
        and bool(schools)
        and all(context.write_hit(obj, school_id=school) for school in schools)
    )
    if not allowed:
        raise Forbidden("you may not manage this account", reason="not its administrator")
    return {"schools": schools}


@strawberry.type
class AccountLockMutation:
    @strawberry.mutation(
        description="Unlock an account: its temporary lock, its failure counts and any "
        "permanent lock. Audited, with the counts before."
    )
    async def unlock_user(self, info: Info, input: UserAccountInput) -> UnlockUserPayload:
        context = info.context
        user_id = user_pk(input.user_id)
        viewer = await context.require_viewer()
        try:
            async with context.db() as connection:
                await _target(context, connection, viewer, "UserAccount.unlock", user_id)
                before = await lockout.unlock(connection, user_id)
                was_locked = before.locked_at is not None or before.temporarily_locked
                await writes.audit(
                    connection,
                    context.actor(),
                    "unlock_user",
                    "User",
                    user_id,
                    {
                        "failed_logins": before.failed_logins,
                        "lockouts": before.lockouts,
                        "lock_until": before.lock_until,
                        "locked_at": before.locked_at,
                    },
                )
        except writes.WriteRefused as refusal:
            return UnlockUserPayload(user_errors=[UserError.of(refusal)])
        return UnlockUserPayload(user_id=input.user_id, unlocked=was_locked)

    @strawberry.mutation(
        description="Remove an account's second factor (a lost phone): its next sign-in needs "
        "only the password, or enrols a new one where the district requires it. Audited."
    )
    async def reset_totp(self, info: Info, input: UserAccountInput) -> ResetTotpPayload:
        context = info.context
        user_id = user_pk(input.user_id)
        viewer = await context.require_viewer()
        try:
            async with context.db() as connection:
                await _target(context, connection, viewer, "UserAccount.resetTotp", user_id)
                removed = await totp.disable(connection, user_id)
                await writes.audit(
                    connection, context.actor(), "reset_totp", "User", user_id, {"had": removed}
                )
        except writes.WriteRefused as refusal:
            return ResetTotpPayload(user_errors=[UserError.of(refusal)])
        return ResetTotpPayload(user_id=input.user_id, totp_enabled=False)
