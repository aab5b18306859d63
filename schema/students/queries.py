"""`Query.students` and `Query.student`."""

from __future__ import annotations

import enum

import strawberry

from app import reads
from schema.context import Context, Info
from schema.cursors import Cursors
from schema.errors import Forbidden
from schema.relay import Connection, build_connection, from_global_id, page_size
from schema.students.types import Student


@strawberry.enum
class StudentOrder(enum.Enum):
    NAME = "NAME"
    GRADE_LEVEL = "GRADE_LEVEL"
    DATE_OF_BIRTH = "DATE_OF_BIRTH"


@strawberry.input(description="All given conditions must hold.")
class StudentFilter:
    school_id: strawberry.ID | None = None
    class_id: strawberry.ID | None = None
    grade_level: int | None = None
    name_starts_with: str | None = strawberry.field(
        default=None, description="Matches the start of the first or last name."
    )
    gender: str | None = None
    ethnicity: str | None = None


# The fields each filter condition compares: filtering on a field the viewer may not read for
# every student they can list would reveal it, so it is refused.
_FILTER_FIELDS = {
    "grade_level": ("gradeLevel",),
    "name_starts_with": ("firstName", "lastName"),
    "gender": ("gender",),
    "ethnicity": ("ethnicity",),
}


def _require_readable(context: Context, fields: tuple[str, ...], what: str) -> None:
    viewer = context._viewer
    if viewer is None or not context.authorization:
        return
    for name in fields:
        obj = f"Student.{name}"
        denied = viewer.possible_mask & ~context.decide(obj)
        if denied:
            raise Forbidden(
                f"cannot {what} by {name}: you may not read it for every student you can list",
                fieldClass=context.policy.field_class(obj),
                reason="filtering or ordering would reveal the value",
            )


def _to_filter(context: Context, flt: StudentFilter | None) -> reads.StudentFilter:
    if flt is None:
        return reads.StudentFilter()
    for attribute, fields in _FILTER_FIELDS.items():
        if getattr(flt, attribute) is not None:
            _require_readable(context, fields, "filter")
    return reads.StudentFilter(
        school_id=from_global_id(flt.school_id, "School")[1] if flt.school_id else None,
        class_id=from_global_id(flt.class_id, "Class")[1] if flt.class_id else None,
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
        order_by: StudentOrder = StudentOrder.NAME,
    ) -> Connection[Student]:
        context = info.context
        viewer = await context.require_viewer()
        size = page_size(first, context.settings.max_page_size)
        order = order_by.value
        keyset, fields = reads.STUDENT_ORDERS[order]
        cursors = Cursors.of(context, "students", order, viewer)
        key = cursors.open(after, len(keyset.columns))
        flt = _to_filter(context, filter)
        _require_readable(context, fields, "order")
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
