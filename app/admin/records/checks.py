"""Checks shared by the records: look-ups in the actor's district, dates and short texts.

school = await checks.school(connection, school_id=3, district_id=1)
checks.period(starts_on, ends_on, start_field="beginsOn", end_field="endsOn")
"""

from __future__ import annotations

import datetime
import unicodedata
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from app.writes import WriteRefused

# A record's dates (an enrollment, an assignment, a link) lie within this many years of today:
# a typo in the year is refused, not stored.
YEARS_AWAY = 5
MAX_TEXT = 200
# Grade levels: -1 is pre-kindergarten, 0 kindergarten, 12 the last year of high school.
GRADES = range(-1, 13)
_CLASS = "SELECT * FROM class_section WHERE id = :id AND district_id = :district_id"
_CLASS_FOR_UPDATE = _CLASS + " FOR UPDATE"


def today() -> datetime.date:
    return datetime.datetime.now(datetime.UTC).date()


def ended_now() -> datetime.date:
    """The last day of an enrollment or assignment ended without a date: yesterday, so that it
    stops at once (an end date is the last day included); one that began today is removed."""
    return today() - datetime.timedelta(days=1)


async def _one(connection: AsyncConnection, sql: str, **params: Any) -> Row[Any] | None:
    return (await connection.execute(text(sql), params)).first()


async def school(connection: AsyncConnection, *, school_id: int, district_id: int) -> Row[Any]:
    row = await _one(
        connection,
        "SELECT id, name FROM school WHERE id = :id AND district_id = :district_id",
        id=school_id,
        district_id=district_id,
    )
    if row is None:
        raise WriteRefused("no such school", "NOT_FOUND", "schoolId")
    return row


async def term(connection: AsyncConnection, *, term_id: int, district_id: int) -> Row[Any]:
    row = await _one(
        connection,
        "SELECT id, starts_on, ends_on FROM term WHERE id = :id AND district_id = :district_id",
        id=term_id,
        district_id=district_id,
    )
    if row is None:
        raise WriteRefused("no such term", "NOT_FOUND", "termId")
    return row


async def class_section(
    connection: AsyncConnection, *, class_id: int, district_id: int, lock: bool = False
) -> Row[Any]:
    row = await _one(
        connection,
        _CLASS_FOR_UPDATE if lock else _CLASS,
        id=class_id,
        district_id=district_id,
    )
    if row is None:
        raise WriteRefused("no such class", "NOT_FOUND", "classId")
    return row


async def student(connection: AsyncConnection, *, student_id: int, district_id: int) -> Row[Any]:
    """A student of the district whose identity is still on record (a de-identified record
    is kept for statistics only: nothing is enrolled in, linked to or changed on it)."""
    row = await _one(
        connection,
        "SELECT id, school_id, deidentified_at FROM student"
        " WHERE id = :id AND district_id = :district_id",
        id=student_id,
        district_id=district_id,
    )
    if row is None:
        raise WriteRefused("no such student", "NOT_FOUND", "studentId")
    if row.deidentified_at is not None:
        raise WriteRefused(
            "the student's record was de-identified and cannot change", "DEIDENTIFIED", "studentId"
        )
    return row


async def user(
    connection: AsyncConnection, *, user_id: int, district_id: int, field: str
) -> Row[Any]:
    """An active account of the district, with its roles and whether it is a student's."""
    row = await _one(
        connection,
        "SELECT u.id, u.is_active, u.deidentified_at,"
        " ARRAY(SELECT ra.role || ':' || coalesce(ra.school_id::text, '')"
        "       FROM role_assignment ra WHERE ra.user_id = u.id) AS roles,"
        " EXISTS (SELECT 1 FROM student s WHERE s.user_id = u.id) AS is_student"
        " FROM app_user u WHERE u.id = :id AND u.district_id = :district_id",
        id=user_id,
        district_id=district_id,
    )
    if row is None or row.deidentified_at is not None:
        raise WriteRefused("no such user", "NOT_FOUND", field)
    if not row.is_active:
        raise WriteRefused("the account is deactivated", "INACTIVE_USER", field)
    return row


def holds_role(user_row: Row[Any], role: str, school_id: int) -> bool:
    """Does the account hold `role` at the school or district-wide?"""
    return any(value in (f"{role}:{school_id}", f"{role}:") for value in user_row.roles)


def day(value: datetime.date, field: str) -> datetime.date:
    """A date of a record, refused when it is implausibly far from today."""
    now = today()
    if abs((value - now).days) > YEARS_AWAY * 366:
        raise WriteRefused(
            f"{field}: a date within {YEARS_AWAY} years of today", "IMPLAUSIBLE_DATE", field
        )
    return value


def period(
    starts: datetime.date, ends: datetime.date | None, *, start_field: str, end_field: str
) -> tuple[datetime.date, datetime.date | None]:
    day(starts, start_field)
    if ends is not None:
        day(ends, end_field)
        if ends < starts:
            raise WriteRefused(
                f"{end_field}: cannot be before {start_field}", "INVALID_PERIOD", end_field
            )
    return starts, ends


def label(value: str, field: str, *, limit: int = MAX_TEXT) -> str:
    """A short required text (a title, a code): trimmed, one line, at most `limit` characters."""
    value = " ".join(value.split())
    if not value:
        raise WriteRefused(f"{field}: cannot be empty", "REQUIRED", field)
    if any(unicodedata.category(c) in ("Cc", "Cf") for c in value):
        raise WriteRefused(
            f"{field}: control characters are not allowed", "INVALID_CHARACTERS", field
        )
    if len(value) > limit:
        raise WriteRefused(f"{field}: at most {limit} characters", "TOO_LONG", field)
    return value


def grade(value: int, field: str = "gradeLevel") -> int:
    if value not in GRADES:
        raise WriteRefused(
            f"{field}: a grade level is -1 (pre-kindergarten) to 12", "OUT_OF_RANGE", field
        )
    return value


async def end_period(
    connection: AsyncConnection,
    table: str,
    current: Row[Any],
    begun: datetime.date,
    ends_on: datetime.date,
    details: dict[str, Any],
) -> Row[Any] | None:
    """End `current` (an enrollment or teaching assignment; `table` from the code) on `ends_on`,
    its last day: the row as it now reads, or None when it was removed because it would not
    have begun by then (`details` then says so)."""
    if ends_on < begun:
        await connection.execute(
            text(f"DELETE FROM {table} WHERE id = :id"),  # noqa: S608
            {"id": current.id},
        )
        details["removed"] = True
        return None
    return (
        await connection.execute(
            text(f"UPDATE {table} SET ends_on = :ends_on WHERE id = :id RETURNING *"),  # noqa: S608
            {"ends_on": ends_on, "id": current.id},
        )
    ).one()


async def update_changed(
    connection: AsyncConnection, table: str, current: Row[Any], values: dict[str, Any]
) -> tuple[Row[Any], dict[str, tuple[Any, Any]]]:
    """Write those of `values` (column -> new value) that differ from `current` (a row of
    `table`, from the code): the row as it now reads, and column -> (before, after)."""
    changed = {
        column: (getattr(current, column), value)
        for column, value in values.items()
        if getattr(current, column) != value
    }
    if not changed:
        return current, changed
    assignments = ", ".join(f"{column} = :{column}" for column in changed)
    row = (
        await connection.execute(
            text(f"UPDATE {table} SET {assignments} WHERE id = :id RETURNING *"),  # noqa: S608
            {**{c: after for c, (_, after) in changed.items()}, "id": current.id},
        )
    ).one()
    return row, changed
