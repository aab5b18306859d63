"""`Query.students` and `Query.student`."""

from __future__ import annotations

import enum
from typing import Annotated

import strawberry
from strawberry.utils.str_converters import to_camel_case

from app import reads
from schema import reveals
from schema.context import Context, Info
from schema.cursors import Cursors
from schema.relay import Connection, build_connection, from_global_id, page_size
from schema.students.types import Student


@strawberry.enum(
    description="An order of `students`; each needs the fields it sorts by to be readable for "
    "every student the viewer can list (docs/authorization.md)."
)
class StudentOrder(enum.Enum):
    NAME = strawberry.enum_value("NAME", description="Last name, first name.")
    GRADE_LEVEL = strawberry.enum_value("GRADE_LEVEL", description="Grade level, then name.")
    DATE_OF_BIRTH = strawberry.enum_value(
        "DATE_OF_BIRTH", description="Date of birth (unknown last), then name."
    )
    DISPLAY_NAME = strawberry.enum_value(
        "DISPLAY_NAME", description="Display name: preferred or first name, last initial."
    )
    ID = strawberry.enum_value("ID", description="The order records were created in.")


@strawberry.input(description="All given conditions must hold.")
class StudentFilter:
    school_id: strawberry.ID | None = None
    class_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="Students enrolled in this class today; refused unless the viewer may read "
        "the enrollments of every student they can list (a class they teach, for a teacher).",
    )
    grade_level: int | None = None
    name_starts_with: str | None = strawberry.field(
        default=None, description="Matches the start of the first or last name."
    )
    gender: str | None = None
    ethnicity: str | None = None


def _to_filter(context: Context, flt: StudentFilter | None) -> reads.StudentFilter:
    if flt is None:
        return reads.StudentFilter()
    class_id = from_global_id(flt.class_id, "Class")[1] if flt.class_id else None
    # Every condition given is checked against what it reveals (schema/reveals.py).
    for name, value in vars(flt).items():
        if value is not None:
            coordinate = f"StudentFilter.{to_camel_case(name)}"
            reveals.require_filter(context, coordinate, class_id=class_id)
    return reads.StudentFilter(
        school_id=from_global_id(flt.school_id, "School")[1] if flt.school_id else None,
        class_id=class_id,
        grade_level=flt.grade_level,
        name_prefix=flt.name_starts_with,
        gender=flt.gender,
        ethnicity=flt.ethnicity,
    )


@strawberry.type
class StudentQuery:
    @strawberry.field(description="Students the viewer is related to, by keyset pages.")
    async def students(
        self,
        info: Info,
        first: int | None = 50,
        after: str | None = None,
        filter: StudentFilter | None = None,
        order_by: Annotated[
            StudentOrder | None,
            strawberry.argument(
                description="Omitted: by name where the viewer may read the names of every "
                "student they can list, else by display name, else by id."
            ),
        ] = None,
    ) -> Connection[Student]:
        context = info.context
        viewer = await context.require_viewer()
        size = page_size(first, context.settings.max_page_size)
        order = reveals.default_order(context) if order_by is None else order_by.name
        keyset, _ = reads.STUDENT_ORDERS[order]
        cursors = Cursors.of(context, "students", order, viewer)
        key = cursors.open(after, len(keyset.columns))
        flt = _to_filter(context, filter)
        reveals.require_order(context, order)
        scope = context.scope(viewer)
        async with context.db() as connection:
            rows = await reads.list_students(
                connection=connection, scope=scope, flt=flt, order=order, first=size, after=key
            )

        async def count() -> int:
            async with context.db() as connection:
                return await reads.count_students(connection=connection, scope=scope, flt=flt)

        students = [Student.from_row(context, row) for row in rows]
        return build_connection(
            students,
            first=size,
            after=key,
            cursor=lambda s: cursors.seal(keyset.key(s.row)),
            count=count,
        )

    @strawberry.field(description="A student the viewer is related to; null otherwise.")
    async def student(self, info: Info, id: strawberry.ID) -> Student | None:
        _, pk = from_global_id(id, "Student")
        await info.context.require_viewer()
        row = await info.context.loaders.student.load(pk)
        return Student.from_row(info.context, row) if row else None
