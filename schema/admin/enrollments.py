"""`enroll` and `unenroll`: administrators enroll the students of their scope in classes of their
scope (policy `Enrollment` for both the student and the class's school)."""

from __future__ import annotations

import datetime

import strawberry
from sqlalchemy.ext.asyncio import AsyncConnection

from app.admin.records import checks, enrollments, students
from app.relations import Viewer
from schema.admin.frame import perform, writable_class
from schema.classes.types import Enrollment
from schema.context import Context, Info
from schema.errors import UserError
from schema.relay import from_global_id
from schema.students.mutations import writable_student
from schema.students.types import Student


@strawberry.input
class EnrollInput:
    student_id: strawberry.ID
    class_id: strawberry.ID
    begins_on: datetime.date | None = strawberry.field(default=None, description="Today if unset.")
    ends_on: datetime.date | None = strawberry.field(
        default=None, description="The last day; null: open."
    )


@strawberry.input
class UnenrollInput:
    student_id: strawberry.ID
    class_id: strawberry.ID
    ends_on: datetime.date | None = strawberry.field(
        default=None,
        description="The enrollment's last day; unset, it ends at once (yesterday was its last "
        "day). An enrollment that would not have begun by then is removed.",
    )


@strawberry.type
class EnrollmentPayload:
    enrollment: Enrollment | None = strawberry.field(
        default=None, description="Null when an enrollment not yet begun was removed."
    )
    student: Student | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


async def _targets(
    context: Context, viewer: Viewer, connection: AsyncConnection, student: int, klass: int
) -> Student:
    await writable_student(context, viewer, connection, student, "Enrollment")
    await writable_class(context, viewer, connection, klass, ("Enrollment",))
    return Student.from_row(context, await students.record(connection, student))


@strawberry.type
class EnrollmentRecordsMutation:
    @strawberry.mutation(
        description="An administrator enrolls a student in a class, from a day (today by "
        "default) and optionally to a last day (audited). One enrollment in a class at a time."
    )
    async def enroll(self, info: Info, input: EnrollInput) -> EnrollmentPayload:
        _, student_pk = from_global_id(input.student_id, "Student")
        _, class_pk = from_global_id(input.class_id, "Class")

        async def change(
            context: Context, viewer: Viewer, connection: AsyncConnection
        ) -> EnrollmentPayload:
            student = await _targets(context, viewer, connection, student_pk, class_pk)
            row = await enrollments.enroll(
                connection,
                context.actor(),
                student_id=student_pk,
                class_id=class_pk,
                begins_on=input.begins_on or checks.today(),
                ends_on=input.ends_on,
            )
            return EnrollmentPayload(enrollment=Enrollment.from_row(row), student=student)

        return await perform(info, "Enrollment", EnrollmentPayload, change)

    @strawberry.mutation(
        description="An administrator ends a student's enrollment in a class (audited)."
    )
    async def unenroll(self, info: Info, input: UnenrollInput) -> EnrollmentPayload:
        _, student_pk = from_global_id(input.student_id, "Student")
        _, class_pk = from_global_id(input.class_id, "Class")

        async def change(
            context: Context, viewer: Viewer, connection: AsyncConnection
        ) -> EnrollmentPayload:
            student = await _targets(context, viewer, connection, student_pk, class_pk)
            row = await enrollments.unenroll(
                connection,
                context.actor(),
                student_id=student_pk,
                class_id=class_pk,
                ends_on=input.ends_on or checks.ended_now(),
            )
            return EnrollmentPayload(
                enrollment=Enrollment.from_row(row) if row else None, student=student
            )

        return await perform(info, "Enrollment", EnrollmentPayload, change)
