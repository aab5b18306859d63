"""Enrollments: an administrator enrolls a student in a class and ends the enrollment.

A student has at most one enrollment in a class at a time: a new one may not overlap one already
on record. An enrollment that has not begun by the day it would end is removed instead.

    row = await enrollments.enroll(connection, actor, student_id=7, class_id=12,
                                   begins_on=date(2026, 9, 1), ends_on=None)
    row = await enrollments.unenroll(connection, actor, student_id=7, class_id=12,
                                     ends_on=date(2026, 12, 18))
"""

from __future__ import annotations

import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from app.admin.records import checks
from app.writes import Actor, WriteRefused, audit

# Two periods overlap unless one ends before the other begins (an open end never does).
_CLASH = (
    "SELECT begins_on, ends_on FROM enrollment"
    " WHERE student_id = :student_id AND class_id = :class_id AND "
    "begins_on <= coalesce(CAST(:ends_on AS date), 'infinity'::date)"
    " AND coalesce(ends_on, 'infinity'::date) >= CAST(:begins_on AS date)"
)


async def enroll(
    connection: AsyncConnection,
    actor: Actor,
    *,
    student_id: int,
    class_id: int,
    begins_on: datetime.date,
    ends_on: datetime.date | None,
) -> Row[Any]:
    checks.period(begins_on, ends_on, start_field="beginsOn", end_field="endsOn")
    await checks.student(connection, student_id=student_id, district_id=actor.district_id)
    await checks.class_section(
        connection, class_id=class_id, district_id=actor.district_id, lock=True
    )
    params = {
        "student_id": student_id,
        "class_id": class_id,
        "begins_on": begins_on,
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
            f"the student is already enrolled in this class from {clash.begins_on}"
            + (f" to {clash.ends_on}" if clash.ends_on else ""),
            "ALREADY_ENROLLED",
            "classId",
        )
    row = (
        await connection.execute(
            text(
                "INSERT INTO enrollment (district_id, class_id, student_id, begins_on, ends_on)"
                " VALUES (:district_id, :class_id, :student_id, :begins_on, :ends_on) RETURNING *"
            ),
            {**params, "district_id": actor.district_id},
        )
    ).one()
    await audit(
        connection,
        actor,
        "enroll",
        "Student",
        student_id,
        {"class": class_id, "enrollment": row.id, "begins_on": begins_on, "ends_on": ends_on},
    )
    return row


async def unenroll(
    connection: AsyncConnection,
    actor: Actor,
    *,
    student_id: int,
    class_id: int,
    ends_on: datetime.date,
) -> Row[Any] | None:
    """End the student's current (or next) enrollment in the class on `ends_on`, its last day;
    the enrollment as it now reads, or None when it was removed (it would not have begun)."""
    checks.day(ends_on, "endsOn")
    current = (
        await connection.execute(
            text(
                "SELECT * FROM enrollment WHERE student_id = :student_id AND class_id = :class_id"
                " AND district_id = :district_id"
                " AND coalesce(ends_on, 'infinity'::date) >= CURRENT_DATE"
                " ORDER BY begins_on LIMIT 1 FOR UPDATE"
            ),
            {"student_id": student_id, "class_id": class_id, "district_id": actor.district_id},
        )
    ).first()
    if current is None:
        raise WriteRefused("the student is not enrolled in this class", "NOT_ENROLLED", "classId")
    details: dict[str, Any] = {
        "class": class_id,
        "enrollment": current.id,
        "ends_on": [current.ends_on, ends_on],
    }
    row = await checks.end_period(
        connection, "enrollment", current, current.begins_on, ends_on, details
    )
    await audit(connection, actor, "unenroll", "Student", student_id, details)
    return row
