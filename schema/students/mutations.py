"""Writes on a student's record: `recordMark`, `addPortfolioItem`, `updatePortfolioItem`,
`deletePortfolioItem`.

Each asks the compiled policy for the write (`Mark` for a teacher of the student, `PortfolioItem`
for the student themself, `PortfolioItem.delete` for the student or a guardian) and then checks
what the policy cannot know: a mark is for a class the viewer teaches, an under-13 author has
COPPA consent in force, a guardian deletes only what was collected from a child under 13.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import strawberry
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from app import models, writes
from app.consent import portfolio
from app.consent.rules import COPPA_AGE, age_on, coppa_withheld, today
from app.models import Role
from app.policy import bit
from app.relations import Viewer
from schema.context import Context, Info
from schema.errors import Forbidden, UserError
from schema.relay import from_global_id
from schema.students.types import Mark, PortfolioItem

PORTFOLIO_KINDS = ("interest", "assessment", "reflection", "goal", "artifact", "certification")
_SELF = bit(Role.STUDENT, "self")


async def writable_student(
    context: Context, viewer: Viewer, connection: AsyncConnection, student_pk: int, obj: str
) -> tuple[Row[Any], int]:
    """The student row and the viewer's pairs allowed to write `obj` for them.

    A student the viewer is not related to at all is reported as not found (as a read would);
    a related student the policy does not let them write for is a FORBIDDEN error.
    """
    row = await writes.student(connection, student_id=student_pk, district_id=viewer.district_id)
    if not viewer.mask(row.id, row.school_id):
        raise writes.WriteRefused("no such student", "NOT_FOUND", "studentId")
    hit = context.write_hit(obj, school_id=row.school_id, student_id=row.id)
    if not hit:
        raise Forbidden(f"you may not write {obj} for this student", reason="no policy line")
    return row, hit


@strawberry.input
class RecordMarkInput:
    student_id: strawberry.ID
    class_id: strawberry.ID
    score: Decimal = strawberry.field(description="0 to 100; the letter follows from it.")
    comment: str | None = None


@strawberry.type
class MarkPayload:
    mark: Mark | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.input
class AddPortfolioItemInput:
    kind: str = strawberry.field(description=", ".join(PORTFOLIO_KINDS))
    title: str
    body: str | None = None
    visibility: models.Visibility = models.Visibility.PRIVATE


@strawberry.input
class UpdatePortfolioItemInput:
    id: strawberry.ID
    title: str | None = None
    body: str | None = None
    visibility: models.Visibility | None = None


@strawberry.type
class PortfolioItemPayload:
    item: PortfolioItem | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.input
class DeletePortfolioItemInput:
    id: strawberry.ID


@strawberry.type
class DeletePortfolioItemPayload:
    deleted_id: strawberry.ID | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


async def _own_record(context: Context, viewer: Viewer, connection: AsyncConnection) -> Row[Any]:
    """The viewer's own student record, when the policy lets them write their portfolio and,
    under 13, a parent's consent to collection is in force (16 CFR 312.5)."""
    if viewer.student_id is None:
        raise Forbidden("only students keep a portfolio", reason="not a student")
    row, _ = await writable_student(context, viewer, connection, viewer.student_id, "PortfolioItem")
    if coppa_withheld(row):
        raise writes.WriteRefused(
            "a parent must consent before a student under 13 adds to a portfolio",
            "COPPA_CONSENT_REQUIRED",
        )
    return row


@strawberry.type
class StudentMutation:
    @strawberry.mutation(description="A teacher records a mark for a student of their class.")
    async def record_mark(self, info: Info, input: RecordMarkInput) -> MarkPayload:
        context = info.context
        viewer = await context.require_viewer()
        _, student_pk = from_global_id(input.student_id, "Student")
        _, class_pk = from_global_id(input.class_id, "Class")
        try:
            async with context.db() as connection:
                await writable_student(context, viewer, connection, student_pk, "Mark")
                if class_pk not in viewer.taught_classes:
                    raise writes.WriteRefused(
                        "you can only mark classes you teach", "NOT_YOUR_CLASS", "classId"
                    )
                row = await writes.record_mark(
                    connection,
                    context.actor(),
                    student_id=student_pk,
                    class_id=class_pk,
                    score=input.score,
                    comment=input.comment,
                )
        except writes.WriteRefused as refusal:
            return MarkPayload(user_errors=[UserError.of(refusal)])
        return MarkPayload(mark=Mark.from_row(row))

    @strawberry.mutation(
        description="A student adds an item to their portfolio (refused under 13 without "
        "recorded parental consent)."
    )
    async def add_portfolio_item(
        self, info: Info, input: AddPortfolioItemInput
    ) -> PortfolioItemPayload:
        context = info.context
        viewer = await context.require_viewer()
        try:
            if input.kind not in PORTFOLIO_KINDS:
                raise writes.WriteRefused(
                    f"kind is one of {', '.join(PORTFOLIO_KINDS)}", "INVALID_KIND", "kind"
                )
            async with context.db() as connection:
                me = await _own_record(context, viewer, connection)
                row = await writes.add_portfolio_item(
                    connection,
                    context.actor(),
                    student_id=me.id,
                    kind=input.kind,
                    title=input.title,
                    body=input.body,
                    visibility=input.visibility.value,
                )
        except writes.WriteRefused as refusal:
            return PortfolioItemPayload(user_errors=[UserError.of(refusal)])
        return PortfolioItemPayload(item=PortfolioItem.from_row(row))

    @strawberry.mutation(description="A student edits one of their portfolio items.")
    async def update_portfolio_item(
        self, info: Info, input: UpdatePortfolioItemInput
    ) -> PortfolioItemPayload:
        context = info.context
        viewer = await context.require_viewer()
        _, item_pk = from_global_id(input.id, "PortfolioItem")
        changes: dict[str, Any] = {
            name: value
            for name, value in (
                ("title", input.title),
                ("body", input.body),
                ("visibility", input.visibility.value if input.visibility else None),
            )
            if value is not None
        }
        try:
            async with context.db() as connection:
                me = await _own_record(context, viewer, connection)
                row = await writes.update_portfolio_item(
                    connection,
                    context.actor(),
                    item_id=item_pk,
                    student_id=me.id,
                    changes=changes,
                )
        except writes.WriteRefused as refusal:
            return PortfolioItemPayload(user_errors=[UserError.of(refusal)])
        return PortfolioItemPayload(item=PortfolioItem.from_row(row))

    @strawberry.mutation(
        description="A student deletes one of their portfolio items; a guardian one of a child "
        "under 13 (audited, the content is not kept)."
    )
    async def delete_portfolio_item(
        self, info: Info, input: DeletePortfolioItemInput
    ) -> DeletePortfolioItemPayload:
        context = info.context
        viewer = await context.require_viewer()
        _, item_pk = from_global_id(input.id, "PortfolioItem")
        try:
            async with context.db() as connection:
                item = await portfolio.item(
                    connection, item_id=item_pk, district_id=viewer.district_id
                )
                hit = context.write_hit(
                    "PortfolioItem.delete", school_id=item.school_id, student_id=item.student_id
                )
                if not hit:
                    # Another student's item, or one the viewer may not delete: not found, so
                    # the mutation is no oracle for other students' items.
                    raise writes.WriteRefused("no such portfolio item", "NOT_FOUND", "id")
                if not hit & _SELF:
                    student = await writes.student(
                        connection, student_id=item.student_id, district_id=viewer.district_id
                    )
                    if age_on(student.date_of_birth, today()) >= COPPA_AGE:
                        raise writes.WriteRefused(
                            f"from {COPPA_AGE} the student deletes their own items; a guardian"
                            " may file a DELETE data request",
                            "STUDENT_DECIDES",
                            "id",
                        )
                await portfolio.delete_item(
                    connection,
                    context.actor(),
                    item=item,
                    on_behalf="self" if hit & _SELF else "guardian",
                )
        except writes.WriteRefused as refusal:
            return DeletePortfolioItemPayload(user_errors=[UserError.of(refusal)])
        return DeletePortfolioItemPayload(deleted_id=input.id)
