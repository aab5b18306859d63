"""`linkGuardian` and `updateGuardianLink`: administrators record who a student's guardians are,
with the custody (`dataAccess`) and legal-guardian flags (policy `GuardianLink`)."""

from __future__ import annotations

import datetime
from typing import Any

import strawberry
from sqlalchemy.ext.asyncio import AsyncConnection
from strawberry import UNSET

from app.admin.records import checks, guardians
from app.relations import Viewer
from app.writes import WriteRefused
from schema.access.queries import user_pk
from schema.admin.frame import perform
from schema.admin.types import GuardianLink, GuardianRelationship
from schema.context import Context, Info
from schema.errors import Forbidden, UserError
from schema.relay import from_global_id
from schema.students.mutations import writable_student


@strawberry.input
class LinkGuardianInput:
    guardian_id: strawberry.ID = strawberry.field(description="A Guardian (or StaffMember) id.")
    student_id: strawberry.ID
    relationship: GuardianRelationship
    legal_guardian: bool = True
    data_access: bool = strawberry.field(
        default=True, description="False records a custody restriction."
    )
    starts_on: datetime.date | None = strawberry.field(default=None, description="Today if unset.")
    ends_on: datetime.date | None = strawberry.field(
        default=None, description="The last day; null: open."
    )


@strawberry.input(description="Only the fields given change; `endsOn` null reopens the link.")
class UpdateGuardianLinkInput:
    id: strawberry.ID = strawberry.field(description="A GuardianLink id.")
    relationship: GuardianRelationship | None = UNSET
    legal_guardian: bool | None = UNSET
    data_access: bool | None = UNSET
    starts_on: datetime.date | None = UNSET
    ends_on: datetime.date | None = UNSET


@strawberry.type
class GuardianLinkPayload:
    link: GuardianLink | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


def _values(input: Any) -> dict[str, Any]:
    values = {
        name: getattr(input, attribute)
        for name, attribute in (
            ("relationship", "relationship"),
            ("legalGuardian", "legal_guardian"),
            ("dataAccess", "data_access"),
            ("startsOn", "starts_on"),
            ("endsOn", "ends_on"),
        )
        if getattr(input, attribute) is not UNSET
    }
    if isinstance(values.get("relationship"), GuardianRelationship):
        values["relationship"] = values["relationship"].value
    return values


@strawberry.type
class GuardianRecordsMutation:
    @strawberry.mutation(
        description="An administrator links a guardian to a student of their scope (audited)."
    )
    async def link_guardian(self, info: Info, input: LinkGuardianInput) -> GuardianLinkPayload:
        _, student_pk = from_global_id(input.student_id, "Student")
        guardian = user_pk(input.guardian_id)
        values = _values(input)
        values["startsOn"] = values["startsOn"] or checks.today()

        async def change(
            context: Context, viewer: Viewer, connection: AsyncConnection
        ) -> GuardianLinkPayload:
            await writable_student(context, viewer, connection, student_pk, "GuardianLink")
            row = await guardians.link(
                connection,
                context.actor(),
                guardian_id=guardian,
                student_id=student_pk,
                values=values,
            )
            return GuardianLinkPayload(link=GuardianLink.from_row(row))

        return await perform(info, "GuardianLink", GuardianLinkPayload, change)

    @strawberry.mutation(
        description="An administrator changes a guardian link: relationship, legal guardian, "
        "data access (custody) or dates (audited, with the values before and after)."
    )
    async def update_guardian_link(
        self, info: Info, input: UpdateGuardianLinkInput
    ) -> GuardianLinkPayload:
        _, pk = from_global_id(input.id, "GuardianLink")
        values = _values(input)

        async def change(
            context: Context, viewer: Viewer, connection: AsyncConnection
        ) -> GuardianLinkPayload:
            current = await guardians.link_row(
                connection, link_id=pk, district_id=viewer.district_id
            )
            if not viewer.mask(current.student_id, current.school_id):
                raise WriteRefused("no such guardian link", "NOT_FOUND", "id")
            if not context.write_hit(
                "GuardianLink", school_id=current.school_id, student_id=current.student_id
            ):
                raise Forbidden("you may not change this guardian link", reason="no policy line")
            row = await guardians.update(connection, context.actor(), link_id=pk, values=values)
            return GuardianLinkPayload(link=GuardianLink.from_row(row))

        return await perform(info, "GuardianLink", GuardianLinkPayload, change)
