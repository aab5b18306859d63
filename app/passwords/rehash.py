"""Hashes made with older argon2 parameters are replaced at the next successful sign-in.

The password is known only then: after it verified against the stored hash, a hash with today's
parameters (`app.auth`'s hasher) replaces it, in the hashing pool like every hash. Nothing else
changes: not `password_changed_at`, since the password is the same.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from app import auth, metrics
from app.offload import WorkerPool


async def upgrade(
    connection: AsyncConnection,
    hashing: WorkerPool,
    user_id: int,
    stored_hash: str | None,
    password: str,
) -> bool:
    """Store a new hash of `password` (just verified) when `stored_hash` is out of date; whether
    it did. Only if the stored hash is still the one verified (a concurrent change wins)."""
    if stored_hash is None or not auth.needs_rehash(stored_hash):
        return False
    new_hash = await auth.hash_password_in(hashing, password)
    result = await connection.execute(
        text("UPDATE app_user SET password_hash = :new WHERE id = :id AND password_hash = :old"),
        {"id": user_id, "new": new_hash, "old": stored_hash},
    )
    metrics.add("schoolgraph_password_rehashes_total")
    return bool(result.rowcount)
