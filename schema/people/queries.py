"""`Query.viewer` (who am I, what am I related to) and `Query.node`."""

from __future__ import annotations

import strawberry
from sqlalchemy import text

from app import writes
from app.relations import Viewer
from schema import nodes
from schema.access.queries import is_admin_of
from schema.classes.queries import ClassQuery
from schema.classes.types import Class
from schema.context import Info
from schema.people.types import RoleGrant, StaffMember
from schema.relay import Node, from_global_id, to_global_id
from schema.schools.types import District, School, Term
from schema.sessions.queries import own_sessions
from schema.sessions.types import Session
from schema.students.types import Student


@strawberry.type(name="Viewer", description="The signed-in user.")
class ViewerType:
    id: strawberry.ID
    username: str
    first_name: str
    last_name: str
    roles: list[RoleGrant]
    district_id: strawberry.Private[int]
    student_id: strawberry.Private[int | None]
    guardian_of: strawberry.Private[list[int]]

    @strawberry.field
    async def district(self, info: Info) -> District | None:
        return await _district(info, self.district_id)

    @strawberry.field(description="The viewer's own student record, if they are a student.")
    async def student(self, info: Info) -> Student | None:
        if self.student_id is None:
            return None
        row = await info.context.loaders.student.load(self.student_id)
        return Student.from_row(info.context, row) if row else None

    @strawberry.field(description="Students whose records the viewer may see as a guardian.")
    async def children(self, info: Info) -> list[Student]:
        rows = await info.context.loaders.student.load_many(self.guardian_of)
        return [Student.from_row(info.context, r) for r in rows if r is not None]

    @strawberry.field(
        description="The viewer's live sessions (sign-ins not ended), newest first; `current` "
        "marks this request's."
    )
    async def sessions(self, info: Info) -> list[Session]:
        return await own_sessions(info, int(from_global_id(self.id)[1]))


def viewer_type(viewer: Viewer) -> ViewerType:
    """`Query.viewer`'s value for a signed-in viewer (the compiled path answers from it too)."""
    return ViewerType(
        id=to_global_id("StaffMember", viewer.user_id),
        username=viewer.username,
        first_name=viewer.first_name,
        last_name=viewer.last_name,
        roles=[
            RoleGrant(role=role, school_id=to_global_id("School", s) if s else None)
            for role, s in sorted(viewer.roles, key=lambda r: (r[0], r[1] or 0))
        ],
        district_id=viewer.district_id,
        student_id=viewer.student_id,
        guardian_of=sorted(viewer.guardian_of),
    )


@strawberry.type
class PeopleQuery:
    @strawberry.field(description="The signed-in user; null for an anonymous request.")
    async def viewer(self, info: Info) -> ViewerType | None:
        viewer = await info.context.viewer()
        return None if viewer is None else viewer_type(viewer)

    @strawberry.field(
        description="Any object by global id; null when it does not exist or the "
        "viewer may not see it (the two are indistinguishable)."
    )
    async def node(self, info: Info, id: strawberry.ID) -> Node | None:
        context = info.context
        viewer = await context.require_viewer()
        type_name, pk = from_global_id(id)
        loaders = context.loaders
        if type_name == "Student":
            row = await loaders.student.load(pk)
            return Student.from_row(context, row) if row else None
        if type_name == "Class":
            klass: Class | None = await ClassQuery().klass(info, id)
            return klass
        if type_name == "School":
            row = await loaders.school.load(pk)
            ok = row is not None and row.district_id == viewer.district_id
            return School.from_row(row) if row and ok else None
        if type_name == "Term":
            row = await loaders.term.load(pk)
            ok = row is not None and row.district_id == viewer.district_id
            return Term.from_row(row) if row and ok else None
        if type_name == "District":
            return await _district(info, pk) if pk == viewer.district_id else None
        if type_name == "StaffMember":
            row = await loaders.user.load(pk)
            ok = (
                row is not None
                and row.district_id == viewer.district_id
                and (await _is_staff(info, pk))
            )
            return StaffMember.from_row(row) if row and ok else None
        if type_name in ("LegitimateInterestGrant", "DataRequest"):
            return await _record(info, viewer, type_name, pk)
        if type_name in nodes.KINDS:
            return await nodes.student_part(info, type_name, pk)
        if type_name == "AuditEvent":
            return await nodes.audit_event(info, viewer, pk)
        return None


async def _record(info: Info, viewer: Viewer, type_name: str, pk: int) -> Node | None:
    """A grant or data request: for the people it names and the administrators of its school."""
    from schema.access.types import LegitimateInterestGrant
    from schema.rights.types import DataRequest

    async with info.context.db() as connection:
        try:
            if type_name == "DataRequest":
                row = await writes.data_request(
                    connection, request_id=pk, district_id=viewer.district_id
                )
                named = {row.requester_user_id}
            else:
                row = await writes.grant(connection, grant_id=pk, district_id=viewer.district_id)
                named = {row.grantee_user_id, row.granted_by}
        except writes.WriteRefused:
            return None
    if viewer.user_id not in named and not is_admin_of(viewer, row.school_id):
        return None
    if type_name == "DataRequest":
        return DataRequest.from_row(row)
    return LegitimateInterestGrant.from_row(row)


async def _is_staff(info: Info, user_id: int) -> bool:
    async with info.context.db() as connection:
        found = await connection.execute(
            text(
                "SELECT 1 FROM role_assignment WHERE user_id = :id"
                " AND role NOT IN ('student', 'guardian')"
            ),
            {"id": user_id},
        )
        return found.first() is not None


async def _district(info: Info, pk: int) -> District | None:
    async with info.context.db() as connection:
        row = (
            await connection.execute(text("SELECT * FROM district WHERE id = :id"), {"id": pk})
        ).first()
    return District.from_row(row) if row else None
