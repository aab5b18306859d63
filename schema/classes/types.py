"""Classes (sections) and enrollments."""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from sqlalchemy.engine import Row

from app import models
from app.reads import ROSTER_ORDER
from app.relations import Viewer
from schema.context import Context, Info
from schema.cursors import Cursors
from schema.people.types import StaffMember
from schema.relay import Connection, Node, build_connection, page_size, to_global_id
from schema.schools.types import School, Term

if TYPE_CHECKING:
    from schema.students.types import Student

StudentRef = Annotated["Student", strawberry.lazy("schema.students.types")]


strawberry.enum(models.ClassVisibility, name="ClassVisibility")


def roster_cursors(context: Context, class_pk: int, viewer: Viewer) -> Cursors:
    """The cursors of a class's roster (`Class.students`), by name. Sealed to this class's
    roster: a cursor of another class opens nowhere here."""
    return Cursors.of(context, f"Class.students/{class_pk}", "NAME", viewer)


def enrolled_today(begins_on: datetime.date, ends_on: datetime.date | None) -> bool:
    """Whether an enrollment is in force today (`Enrollment.active`)."""
    today = datetime.date.today()
    return begins_on <= today and (ends_on is None or ends_on >= today)


@strawberry.type(description="A section of a course in one term.")
class Class(Node):
    title: str
    code: str
    subject: str
    grade_levels: list[int]
    visibility: models.ClassVisibility
    pk: strawberry.Private[int]
    school_id: strawberry.Private[int]
    term_id: strawberry.Private[int]

    @classmethod
    def from_row(cls, row: Row[Any]) -> Class:
        return cls(
            id=to_global_id("Class", row.id),
            title=row.title,
            code=row.code,
            subject=row.subject,
            grade_levels=list(row.grade_levels),
            visibility=models.ClassVisibility(row.visibility),
            pk=row.id,
            school_id=row.school_id,
            term_id=row.term_id,
        )

    @strawberry.field
    async def school(self, info: Info) -> School | None:
        row = await info.context.loaders.school.load(self.school_id)
        return School.from_row(row) if row else None

    @strawberry.field
    async def term(self, info: Info) -> Term | None:
        row = await info.context.loaders.term.load(self.term_id)
        return Term.from_row(row) if row else None

    @strawberry.field
    async def teachers(self, info: Info) -> list[StaffMember]:
        return [StaffMember.from_row(r) for r in await info.context.loaders.teachers.load(self.pk)]

    @strawberry.field(
        description="Students enrolled today whose enrollment the viewer may read (the policy "
        "of `Student.classes`)."
    )
    async def students(
        self, info: Info, first: int | None = 50, after: str | None = None
    ) -> Connection[StudentRef]:
        from schema.students.types import Student

        context = info.context
        size = page_size(first, context.settings.max_page_size)
        cursors = roster_cursors(context, self.pk, await context.require_viewer())
        key = cursors.open(after, len(ROSTER_ORDER.columns))
        rows = await context.loaders.roster(size, key).load(self.pk)
        students = [Student.from_row(context, r) for r in rows]

        async def count() -> int:
            # One grouped statement for every class of the page that asks.
            return await context.loaders.roster_count.load(self.pk)

        return build_connection(
            students,
            first=size,
            after=key,
            cursor=lambda s: cursors.seal(ROSTER_ORDER.key(s.row)),
            count=count,
        )


@strawberry.type(description="A student's enrollment in a class.")
class Enrollment:
    begins_on: datetime.date
    ends_on: datetime.date | None
    class_id: strawberry.Private[int]

    @classmethod
    def from_row(cls, row: Row[Any]) -> Enrollment:
        return cls(begins_on=row.begins_on, ends_on=row.ends_on, class_id=row.class_id)

    @property
    def active(self) -> bool:
        return enrolled_today(self.begins_on, self.ends_on)

    @strawberry.field(name="active")
    def is_active(self) -> bool:
        return self.active

    @strawberry.field(name="class")
    async def klass(self, info: Info) -> Class | None:
        row = await info.context.loaders.klass.load(self.class_id)
        return Class.from_row(row) if row else None
