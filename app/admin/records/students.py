"""Students: an administrator creates a student's record and corrects it.

The values are checked by the rules every personal value of a record follows
(app/rights/validate.py); the student number is unique in the district; a de-identified record
cannot change. Every value set or changed is audited with before and after (encrypted beside the
event, app/rights/changes.py), the event itself naming only the fields.

    row = await students.create(connection, actor, school_id=3, values={
        "studentNumber": "S-1001", "firstName": "Ana", "lastName": "Ruiz", "gradeLevel": 9})
    row = await students.update(connection, actor, student_id=row.id, values={"gradeLevel": 10})
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from app.admin.records import checks
from app.encryption import decrypt_row, writing_keyring
from app.reads import STUDENT_COLUMNS
from app.rights import validate
from app.rights.changes import audit_changes
from app.rights.validate import AmendableField
from app.writes import Actor, WriteRefused

MAX_STUDENT_NUMBER = 40
# The student's fields an administrator sets, by GraphQL name (as the audit names them), and
# their columns. `school` is the school's id.
COLUMNS: Mapping[str, str] = {
    "studentNumber": "student_number",
    "firstName": "first_name",
    "lastName": "last_name",
    "preferredName": "preferred_name",
    "gradeLevel": "grade_level",
    "dateOfBirth": "date_of_birth",
    "gender": "gender",
    "ethnicity": "ethnicity",
    "email": "email",
    "phone": "phone",
    "school": "school_id",
}
REQUIRED = ("studentNumber", "firstName", "lastName", "school")
# What a new record holds for a value not given.
DEFAULTS: Mapping[str, Any] = {"gender": "unspecified", "ethnicity": "Not reported"}
_SELECT = f"SELECT {STUDENT_COLUMNS}, s.deidentified_at FROM student s WHERE s.id = :id"  # noqa: S608


def clean(name: str, value: Any, *, today: datetime.date | None = None) -> Any:
    """The value to store for the field `name`, or WriteRefused."""
    match name:
        case "studentNumber":
            return None if value is None else checks.label(value, name, limit=MAX_STUDENT_NUMBER)
        case "gradeLevel":
            return None if value is None else checks.grade(int(value))
        case "school":
            return None if value is None else int(value)
        case "dateOfBirth":
            if value is None:
                return None
            return validate.date_of_birth(value.isoformat(), today or checks.today())
        case _:
            return validate.clean(AmendableField(name), value)


async def _number_free(
    connection: AsyncConnection, *, district_id: int, number: str, student_id: int | None
) -> None:
    taken = (
        await connection.execute(
            text(
                "SELECT 1 FROM student WHERE district_id = :district_id AND student_number = :n"
                " AND id IS DISTINCT FROM CAST(:id AS bigint)"
            ),
            {"district_id": district_id, "n": number, "id": student_id},
        )
    ).first()
    if taken is not None:
        raise _duplicate()


def _duplicate() -> WriteRefused:
    return WriteRefused(
        "another student of the district has this student number",
        "DUPLICATE_STUDENT_NUMBER",
        "studentNumber",
    )


async def record(connection: AsyncConnection, student_id: int, *, lock: bool = False) -> Row[Any]:
    """The student's record as the API reads it (the encrypted values readable)."""
    row = (
        await connection.execute(
            text(_SELECT + (" FOR UPDATE" if lock else "")), {"id": student_id}
        )
    ).one()
    return await decrypt_row(connection, "student", row)


async def create(
    connection: AsyncConnection, actor: Actor, *, values: Mapping[str, Any]
) -> Row[Any]:
    """A new student record at `values["school"]` (checked by the caller to be in scope)."""
    for name in REQUIRED:
        if values.get(name) is None:
            raise WriteRefused(f"{name}: cannot be empty", "REQUIRED", name)
    cleaned = {
        name: clean(name, values[name] if values.get(name) is not None else DEFAULTS.get(name))
        for name in COLUMNS
    }
    await checks.school(connection, school_id=cleaned["school"], district_id=actor.district_id)
    await _number_free(
        connection,
        district_id=actor.district_id,
        number=cleaned["studentNumber"],
        student_id=None,
    )
    student_id = int(
        (
            await connection.execute(
                text("SELECT nextval(pg_get_serial_sequence('student', 'id'))")
            )
        ).scalar_one()
    )
    ring = await writing_keyring(connection)
    stored = ring.encrypt_row(
        "student",
        student_id,
        {COLUMNS[name]: value for name, value in cleaned.items()},
    )
    columns = ", ".join(stored)
    # Two requests may pass the check above with the same number: the constraint decides.
    inserted = (
        await connection.execute(
            text(
                f"INSERT INTO student (id, district_id, enrollment_status, {columns})"  # noqa: S608
                f" VALUES (:id, :district_id, 'active', {', '.join(':' + c for c in stored)})"
                " ON CONFLICT ON CONSTRAINT uq_student_number DO NOTHING RETURNING id"
            ),
            {"id": student_id, "district_id": actor.district_id, **stored},
        )
    ).first()
    if inserted is None:
        raise _duplicate()
    await audit_changes(
        connection,
        actor,
        "create_student",
        "Student",
        student_id,
        {name: (None, validate.shown(v)) for name, v in cleaned.items() if v is not None},
        student_id=student_id,
    )
    return await record(connection, student_id)


async def update(
    connection: AsyncConnection, actor: Actor, *, student_id: int, values: Mapping[str, Any]
) -> Row[Any]:
    """Change the fields of `values` (None clears an optional one) of a student of the
    district; the record as it now reads."""
    if not values:
        raise WriteRefused("give at least one field to change", "NOTHING_TO_CHANGE")
    current = await record(connection, student_id, lock=True)
    if current.district_id != actor.district_id:
        raise WriteRefused("no such student", "NOT_FOUND", "id")
    if current.deidentified_at is not None:
        raise WriteRefused(
            "the student's record was de-identified and cannot change", "DEIDENTIFIED", "id"
        )
    cleaned = {name: clean(name, value) for name, value in values.items()}
    for name in REQUIRED:
        if name in cleaned and cleaned[name] is None:
            raise WriteRefused(f"{name}: cannot be empty", "REQUIRED", name)
    if "school" in cleaned:
        await checks.school(connection, school_id=cleaned["school"], district_id=actor.district_id)
    if "studentNumber" in cleaned:
        await _number_free(
            connection,
            district_id=actor.district_id,
            number=cleaned["studentNumber"],
            student_id=student_id,
        )
    changed = {
        name: (before, value)
        for name, value in cleaned.items()
        if (before := getattr(current, COLUMNS[name])) != value
    }
    if changed:
        ring = await writing_keyring(connection)
        stored = ring.encrypt_row(
            "student",
            student_id,
            {COLUMNS[name]: after for name, (_, after) in changed.items()},
        )
        assignments = ", ".join(f"{column} = :{column}" for column in stored)
        await connection.execute(
            text(f"UPDATE student SET {assignments} WHERE id = :id"),  # noqa: S608 (COLUMNS)
            {**stored, "id": student_id},
        )
    await audit_changes(
        connection,
        actor,
        "update_student",
        "Student",
        student_id,
        {
            name: (validate.shown(before), validate.shown(after))
            for name, (before, after) in changed.items()
        },
        student_id=student_id,
    )
    return await record(connection, student_id)
