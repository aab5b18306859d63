"""Deleting a portfolio item: the student's own right over their work, and a parent's over what
was collected from a child under 13 (COPPA, 16 CFR 312.6).

The item is removed outright (title and body with it); the audit event says who deleted which item
of which student, of what kind and visibility, never its content.

```python
await delete_item(connection, actor, item_id=42, district_id=1)   # the deleted row
```
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from app import writes
from app.writes import Actor, WriteRefused


async def item(connection: AsyncConnection, *, item_id: int, district_id: int) -> Row[Any]:
    """The item (without its content) and its student's school."""
    row = (
        await connection.execute(
            text(
                "SELECT i.id, i.student_id, i.kind, i.visibility, s.school_id"
                " FROM portfolio_item i JOIN student s ON s.id = i.student_id"
                " WHERE i.id = :id AND i.district_id = :district_id"
            ),
            {"id": item_id, "district_id": district_id},
        )
    ).first()
    if row is None:
        raise WriteRefused("no such portfolio item", "NOT_FOUND", "id")
    return row


async def delete_item(
    connection: AsyncConnection, actor: Actor, *, item: Row[Any], on_behalf: str
) -> None:
    """Delete `item` (a row of `item()`); `on_behalf`: `self` or `guardian`, for the record."""
    deleted = (
        await connection.execute(
            text("DELETE FROM portfolio_item WHERE id = :id RETURNING id"), {"id": item.id}
        )
    ).first()
    if deleted is None:  # deleted meanwhile by another request
        raise WriteRefused("no such portfolio item", "NOT_FOUND", "id")
    await connection.execute(
        text(
            "INSERT INTO activity_event (district_id, user_id, student_id, school_id, kind)"
            " SELECT s.district_id, :actor, s.id, s.school_id, 'portfolio_item_deleted'"
            " FROM student s WHERE s.id = :student_id"
        ),
        {"actor": actor.user_id, "student_id": item.student_id},
    )
    await writes.audit(
        connection,
        actor,
        "delete_portfolio_item",
        "PortfolioItem",
        item.id,
        {
            "student": item.student_id,
            "kind": item.kind,
            "visibility": item.visibility,
            "by": on_behalf,
        },
    )
