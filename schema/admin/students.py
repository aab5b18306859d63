"""`createStudent` and `updateStudent`: administrators keep the students' records of their scope.

Who may is policy (`Student, write`: a school administrator at their school, a district
administrator across the district); the values are checked by app/admin/records/students.py.
"""

from __future__ import annotations

import datetime
from typing import Any

import strawberry
from sqlalchemy.ext.asyncio import AsyncConnection
from strawberry import UNSET

from app.admin.records import students
from app.relations import Viewer
from schema.admin.frame import perform, require_school
from schema.context import Context, Info
from schema.errors import UserError
from schema.relay import from_global_id
from schema.students.mutations import writable_student
from schema.students.types import Student

_FIELDS = (
    "student_number",
    "first_name",
    "last_name",
    "preferred_name",
    "grade_level",
    "date_of_birth",
    "gender",
    "ethnicity",
    "email",
    "phone",
)


@strawberry.input(description="A new student's record.")
class CreateStudentInput:
    school_id: strawberry.ID
    student_number: str = strawberry.field(description="Unique in the district.")
    first_name: str
    last_name: str
    preferred_name: str | None = None
    grade_level: int | None = strawberry.field(
        default=None, description="-1 (pre-kindergarten) to 12."
    )
    date_of_birth: datetime.date | None = strawberry.field(
        default=None, description="A student is 2 to 30 years old."
    )
    gender: str | None = strawberry.field(
        default=None, description="female, male, nonbinary, other or unspecified (the default)."
    )
    ethnicity: str | None = strawberry.field(
        default=None, description="A federal race/ethnicity category; `Not reported` by default."
    )
    email: str | None = None
    phone: str | None = None


@strawberry.input(description="Only the fields given change; null clears an optional one.")
class UpdateStudentInput:
    id: strawberry.ID
    school_id: strawberry.ID | None = UNSET
    student_number: str | None = UNSET
    first_name: str | None = UNSET
    last_name: str | None = UNSET
    preferred_name: str | None = UNSET
    grade_level: int | None = UNSET
    date_of_birth: datetime.date | None = UNSET
    gender: str | None = UNSET
    ethnicity: str | None = UNSET
    email: str | None = UNSET
    phone: str | None = UNSET


@strawberry.type
class StudentPayload:
    student: Student | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _values(input: Any) -> dict[str, Any]:
    values = {
        _camel(name): getattr(input, name) for name in _FIELDS if getattr(input, name) is not UNSET
    }
    if input.school_id is not UNSET:
        values["school"] = (
            None if input.school_id is None else from_global_id(input.school_id, "School")[1]
        )
    return values


@strawberry.type
class StudentRecordsMutation:
    @strawberry.mutation(
        description="An administrator creates a student's record at a school of their scope "
        "(audited, with the values set)."
    )
    async def create_student(self, info: Info, input: CreateStudentInput) -> StudentPayload:
        values = _values(input)

        async def change(
            context: Context, viewer: Viewer, connection: AsyncConnection
        ) -> StudentPayload:
            require_school(context, "Student", values["school"])
            row = await students.create(connection, context.actor(), values=values)
            return StudentPayload(student=Student.from_row(context, row))

        return await perform(info, "Student", StudentPayload, change)

    @strawberry.mutation(
        description="An administrator corrects a student's record (audited, with the values "
        "before and after). A de-identified record cannot change."
    )
    async def update_student(self, info: Info, input: UpdateStudentInput) -> StudentPayload:
        _, pk = from_global_id(input.id, "Student")
        values = _values(input)

        async def change(
            context: Context, viewer: Viewer, connection: AsyncConnection
        ) -> StudentPayload:
            await writable_student(context, viewer, connection, pk, "Student")
            if values.get("school") is not None:
                require_school(context, "Student", values["school"])
            row = await students.update(connection, context.actor(), student_id=pk, values=values)
            return StudentPayload(student=Student.from_row(context, row))

        return await perform(info, "Student", StudentPayload, change)
