"""`changePassword`: the signed-in user replaces their own password.

The current password is verified in the hashing pool (like a sign-in) before anything else; a
wrong one is refused with `WRONG_PASSWORD` and changes nothing. It is not counted towards the
account's lockout: the caller already holds a valid token, and a lock would shut the account's
owner out as well. Guessing through this mutation is bounded instead by the login rate limits
(per address and per username), which the resolver applies first.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from app import auth, writes
from app.offload import WorkerPool
from app.passwords import account as accounts
from app.passwords.rules import WEAK_PASSWORD, describe


async def change_password(
    connection: AsyncConnection,
    actor: writes.Actor,
    hashing: WorkerPool,
    *,
    current: str,
    new: str,
) -> None:
    """Verify `current`, check `new`, store it and audit the change (no password material)."""
    account = await accounts.load(connection, actor.user_id, lock=True)
    if account is None or not account.is_active:
        raise writes.WriteRefused("no such active account", "NOT_FOUND")
    if account.password_hash is None:
        raise writes.WriteRefused(
            "this account has no password: it signs in through the district's identity provider"
            " or waits for an invitation",
            "NO_PASSWORD",
        )
    if not await auth.verify_password_in(hashing, account.password_hash, current):
        raise writes.WriteRefused(
            "the current password is wrong", "WRONG_PASSWORD", "currentPassword"
        )
    problems = await accounts.problems(hashing, account, new)
    if new == current:
        problems.append("must differ from the current one")
    if problems:
        raise writes.WriteRefused(describe(problems), WEAK_PASSWORD, "newPassword")
    await accounts.store(connection, hashing, account, new)
    await writes.audit(connection, actor, "password.change", "user", account.id, {})
