"""`createClass`, `updateClass`, `assignTeacher` and `unassignTeacher`.

Administrators create and change the classes of their scope and assign their teachers (policy
`Class`, `TeachingAssignment`); a teacher switches a class they teach between PRIVATE and PUBLIC
(`Class.visibility`, `teacher_of` the class) and changes nothing else of it.
"""

from __future__ import annotations

import datetime
from typing import Any

import strawberry
from sqlalchemy.ext.asyncio import AsyncConnection
from strawberry import UNSET

from app.admin.records import checks, classes, teaching
from app.models import ClassVisibility
from app.relations import Viewer
from schema.access.queries import user_pk
from schema.admin.frame import perform, require_school, writable_class
from schema.admin.types import TeachingAssignment
from schema.classes.types import Class
from schema.context import Context, Info
from schema.errors import UserError
from schema.relay import from_global_id


@strawberry.input(description="A new class (a section of a course in one term).")
class CreateClassInput:
    school_id: strawberry.ID
    term_id: strawberry.ID
    title: str
    code: str
    subject: str
    grade_levels: list[int] = strawberry.field(
        default_factory=list, description="-1 (pre-kindergarten) to 12."
    )
    visibility: ClassVisibility = ClassVisibility.PRIVATE


@strawberry.input(description="Only the fields given change. A teacher may give `visibility` only.")
class UpdateClassInput:
    id: strawberry.ID
    term_id: strawberry.ID | None = UNSET
    title: str | None = UNSET
    code: str | None = UNSET
    subject: str | None = UNSET
    grade_levels: list[int] | None = UNSET
    visibility: ClassVisibility | None = UNSET


@strawberry.type
class ClassPayload:
    klass: Class | None = strawberry.field(default=None, name="class")
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.input
class AssignTeacherInput:
    class_id: strawberry.ID
    teacher_id: strawberry.ID = strawberry.field(description="A StaffMember id.")
    starts_on: datetime.date | None = strawberry.field(default=None, description="Today if unset.")
    ends_on: datetime.date | None = strawberry.field(
        default=None, description="The last day; null: open."
    )
    is_primary: bool = True


@strawberry.input
class UnassignTeacherInput:
    class_id: strawberry.ID
    teacher_id: strawberry.ID
    ends_on: datetime.date | None = strawberry.field(
        default=None,
        description="The assignment's last day; unset, it ends at once (yesterday was its last "
        "day). An assignment that would not have begun by then is removed.",
    )


@strawberry.type
class TeachingAssignmentPayload:
    assignment: TeachingAssignment | None = strawberry.field(
        default=None, description="Null when an assignment not yet begun was removed."
    )
    klass: Class | None = strawberry.field(default=None, name="class")
    user_errors: list[UserError] = strawberry.field(default_factory=list)


def _class_values(input: Any, names: tuple[str, ...]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in names:
        value = getattr(input, name)
        if value is UNSET:
            continue
        key = {"school_id": "school", "term_id": "term", "grade_levels": "gradeLevels"}.get(
            name, name
        )
        if name in ("school_id", "term_id") and value is not None:
            value = from_global_id(value, "School" if name == "school_id" else "Term")[1]
        elif name == "visibility" and value is not None:
            value = value.value
        values[key] = value
    return values


@strawberry.type
class ClassRecordsMutation:
    @strawberry.mutation(
        description="An administrator creates a class at a school of their scope (audited)."
    )
    async def create_class(self, info: Info, input: CreateClassInput) -> ClassPayload:
        values = _class_values(
            input,
            ("school_id", "term_id", "title", "code", "subject", "grade_levels", "visibility"),
        )

        async def change(
            context: Context, viewer: Viewer, connection: AsyncConnection
        ) -> ClassPayload:
            require_school(context, "Class", values["school"])
            row = await classes.create(connection, context.actor(), values=values)
            return ClassPayload(klass=Class.from_row(row))

        return await perform(info, "Class", ClassPayload, change)

    @strawberry.mutation(
        description="An administrator changes a class; a teacher switches a class they teach "
        "between PRIVATE and PUBLIC (audited, with the values before and after)."
    )
    async def update_class(self, info: Info, input: UpdateClassInput) -> ClassPayload:
        _, pk = from_global_id(input.id, "Class")
        values = _class_values(
            input, ("term_id", "title", "code", "subject", "grade_levels", "visibility")
        )
        # Each field is decided by its own policy object: the visibility by `Class.visibility`,
        # the others by `Class`.
        objects = tuple(
            sorted({"Class.visibility" if n == classes.VISIBILITY else "Class" for n in values})
        ) or ("Class",)

        async def change(
            context: Context, viewer: Viewer, connection: AsyncConnection
        ) -> ClassPayload:
            await writable_class(context, viewer, connection, pk, objects, field="id")
            row = await classes.update(connection, context.actor(), class_id=pk, values=values)
            return ClassPayload(klass=Class.from_row(row))

        return await perform(info, "Class.visibility", ClassPayload, change)

    @strawberry.mutation(
        description="An administrator assigns a teacher of the class's school to the class, "
        "from a day (today by default) and optionally to a last day (audited)."
    )
    async def assign_teacher(
        self, info: Info, input: AssignTeacherInput
    ) -> TeachingAssignmentPayload:
        _, pk = from_global_id(input.class_id, "Class")
        teacher = user_pk(input.teacher_id)

        async def change(
            context: Context, viewer: Viewer, connection: AsyncConnection
        ) -> TeachingAssignmentPayload:
            await writable_class(context, viewer, connection, pk, ("TeachingAssignment",))
            row = await teaching.assign(
                connection,
                context.actor(),
                class_id=pk,
                teacher_id=teacher,
                starts_on=input.starts_on or checks.today(),
                ends_on=input.ends_on,
                is_primary=input.is_primary,
            )
            klass = await checks.class_section(
                connection, class_id=pk, district_id=viewer.district_id
            )
            return TeachingAssignmentPayload(
                assignment=TeachingAssignment.from_row(row), klass=Class.from_row(klass)
            )

        return await perform(info, "TeachingAssignment", TeachingAssignmentPayload, change)

    @strawberry.mutation(
        description="An administrator ends a teacher's assignment to a class (audited)."
    )
    async def unassign_teacher(
        self, info: Info, input: UnassignTeacherInput
    ) -> TeachingAssignmentPayload:
        _, pk = from_global_id(input.class_id, "Class")
        teacher = user_pk(input.teacher_id)

        async def change(
            context: Context, viewer: Viewer, connection: AsyncConnection
        ) -> TeachingAssignmentPayload:
            klass = await writable_class(context, viewer, connection, pk, ("TeachingAssignment",))
            row = await teaching.unassign(
                connection,
                context.actor(),
                class_id=pk,
                teacher_id=teacher,
                ends_on=input.ends_on or checks.ended_now(),
            )
            return TeachingAssignmentPayload(
                assignment=TeachingAssignment.from_row(row) if row else None,
                klass=Class.from_row(klass),
            )

        return await perform(info, "TeachingAssignment", TeachingAssignmentPayload, change)
