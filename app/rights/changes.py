"""The personal values a write changed, audited without putting them in the record.

`audit_event` is part of the record (append-only for the application): its details name which
fields changed, never their values. The values before and after go to `audit_change`, encrypted
at rest and tied to the student or user they describe, so that removing a student's identity
(app/rights/deidentify.py) can erase them while the event itself stays.

    await audit_changes(connection, actor, "update_my_contact", "Student", 7,
                        {"phone": ("555-0100", "555-0199")}, student_id=7)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.encryption import writing_keyring
from app.writes import Actor, audit


def _plain(value: Any) -> str | None:
    return None if value is None else str(value)


async def audit_changes(
    connection: AsyncConnection,
    actor: Actor,
    action: str,
    target_type: str,
    target_id: int,
    changes: Mapping[str, tuple[Any, Any]],
    *,
    student_id: int | None = None,
    user_id: int | None = None,
    details: Mapping[str, Any] | None = None,
) -> int:
    """Audit `action` with `changes` (field -> (before, after)); the event's id."""
    event_id = await audit(
        connection,
        actor,
        action,
        target_type,
        target_id,
        {**(details or {}), "fields": sorted(changes)},
    )
    if not changes:
        return event_id
    ring = await writing_keyring(connection)
    ids = (
        await connection.execute(
            text(
                "SELECT nextval(pg_get_serial_sequence('audit_change', 'id'))"
                " FROM generate_series(1, :n)"
            ),
            {"n": len(changes)},
        )
    ).scalars()
    rows = [
        {
            "id": row_id,
            "district_id": actor.district_id,
            "event": event_id,
            "student_id": student_id,
            "user_id": user_id,
            "field": field,
            "before": ring.encrypt("audit_change", "before", row_id, _plain(before)),
            "after": ring.encrypt("audit_change", "after", row_id, _plain(after)),
        }
        for row_id, (field, (before, after)) in zip(ids, sorted(changes.items()), strict=True)
    ]
    await connection.execute(
        text(
            "INSERT INTO audit_change"
            " (id, district_id, audit_event_id, student_id, user_id, field, before, after)"
            " VALUES (:id, :district_id, :event, :student_id, :user_id, :field, :before, :after)"
        ),
        rows,
    )
    return event_id
