"""Teaching assignments: an administrator assigns a teacher to a class and ends the assignment.

The teacher holds the `teacher` role at the class's school (or district-wide): the relation
`teacher_of` is a teacher's. One assignment of a teacher to a class at a time.

    row = await teaching.assign(connection, actor, class_id=12, teacher_id=5,
                                starts_on=date.today(), ends_on=None, is_primary=True)
    row = await teaching.unassign(connection, actor, class_id=12, teacher_id=5, ends_on=...)
"""

from __future__ import annotations

import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from app.admin.records import checks
from app.models import Role
from app.writes import Actor, WriteRefused, audit

# Two periods overlap unless one ends before the other begins (an open end never does).
_CLASH = (
    "SELECT starts_on FROM teaching_assignment"
    " WHERE class_id = :class_id AND staff_user_id = :teacher_id AND "
    "starts_on <= coalesce(CAST(:ends_on AS date), 'infinity'::date)"
    " AND coalesce(ends_on, 'infinity'::date) >= CAST(:starts_on AS date)"
)


async def assign(
    connection: AsyncConnection,
    actor: Actor,
    *,
    class_id: int,
    teacher_id: int,
    starts_on: datetime.date,
    ends_on: datetime.date | None,
    is_primary: bool,
) -> Row[Any]:
    checks.period(starts_on, ends_on, start_field="startsOn", end_field="endsOn")
    klass = await checks.class_section(
        connection, class_id=class_id, district_id=actor.district_id, lock=True
    )
    teacher = await checks.user(
        connection, user_id=teacher_id, district_id=actor.district_id, field="teacherId"
    )
    if not checks.holds_role(teacher, Role.TEACHER, klass.school_id):
        raise WriteRefused(
            "the user is not a teacher at the class's school (assign the role first)",
            "NOT_A_TEACHER",
            "teacherId",
        )
    params = {
        "class_id": class_id,
        "teacher_id": teacher_id,
        "starts_on": starts_on,
        "ends_on": ends_on,
    }
    clash = (
        await connection.execute(
            text(_CLASH),
            params,
        )
    ).first()
    if clash is not None:
        raise WriteRefused(
            f"the teacher is already assigned to this class from {clash.starts_on}",
            "ALREADY_ASSIGNED",
            "teacherId",
        )
    row = (
        await connection.execute(
            text(
                "INSERT INTO teaching_assignment"
                " (district_id, class_id, staff_user_id, starts_on, ends_on, is_primary)"
                " VALUES (:district_id, :class_id, :teacher_id, :starts_on, :ends_on, :is_primary)"
                " RETURNING *"
            ),
            {**params, "district_id": actor.district_id, "is_primary": is_primary},
        )
    ).one()
    await audit(
        connection,
        actor,
        "assign_teacher",
        "Class",
        class_id,
        {
            "teacher": teacher_id,
            "assignment": row.id,
            "starts_on": starts_on,
            "ends_on": ends_on,
            "primary": is_primary,
        },
    )
    return row


async def unassign(
    connection: AsyncConnection,
    actor: Actor,
    *,
    class_id: int,
    teacher_id: int,
    ends_on: datetime.date,
) -> Row[Any] | None:
    """End the teacher's current (or next) assignment to the class on `ends_on`, its last day;
    the assignment as it now reads, or None when it was removed (it would not have begun)."""
    checks.day(ends_on, "endsOn")
    current = (
        await connection.execute(
            text(
                "SELECT * FROM teaching_assignment WHERE class_id = :class_id"
                " AND staff_user_id = :teacher_id AND district_id = :district_id"
                " AND coalesce(ends_on, 'infinity'::date) >= CURRENT_DATE"
                " ORDER BY starts_on LIMIT 1 FOR UPDATE"
            ),
            {"class_id": class_id, "teacher_id": teacher_id, "district_id": actor.district_id},
        )
    ).first()
    if current is None:
        raise WriteRefused("the teacher is not assigned to this class", "NOT_ASSIGNED", "teacherId")
    details: dict[str, Any] = {
        "teacher": teacher_id,
        "assignment": current.id,
        "ends_on": [current.ends_on, ends_on],
    }
    row = await checks.end_period(
        connection, "teaching_assignment", current, current.starts_on, ends_on, details
    )
    await audit(connection, actor, "unassign_teacher", "Class", class_id, details)
    return row
