"""Completing a DELETE request: the student's identity removed, once, after a confirmation.

The admin reads `DataRequest.deletionPreview` (app/rights/deidentify.py `deletion_preview`),
then completes the request with `confirm: true`. Without it nothing changes. The audit event
(`deidentify_student`) carries row counts only: the record keeps no trace of the identity.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from app.rights.deidentify import deidentify_students, refuse_if_deidentified
from app.writes import Actor, WriteRefused, audit


async def complete_deletion(
    connection: AsyncConnection, actor: Actor, request: Row[Any], *, confirm: bool
) -> dict[str, int]:
    """De-identify the student of `request` (an open DELETE request); the row counts."""
    if not confirm:
        raise WriteRefused(
            "completing a deletion removes the student's identity for good: read the request's"
            " deletionPreview, then resolve again with confirm: true",
            "CONFIRMATION_REQUIRED",
            "confirm",
        )
    await refuse_if_deidentified(connection, request.student_id)
    done = await deidentify_students(
        connection, [request.student_id], district_id=request.district_id
    )
    counts = done.counts
    await audit(
        connection,
        actor,
        "deidentify_student",
        "Student",
        request.student_id,
        {"data_request": request.id, "rows": counts},
    )
    return counts
