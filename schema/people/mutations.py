"""`assignRole` and `revokeRole`: administrators manage who holds which role where.

A district administrator manages every role of the district; a school administrator manages the
school-scoped roles of their own school, except administrators.
"""

from __future__ import annotations

import strawberry

from app import writes
from app.models import Role
from app.relations import Viewer
from schema.access.queries import user_pk
from schema.context import Context, Info
from schema.errors import Forbidden, UserError
from schema.relay import from_global_id

strawberry.enum(Role, name="Role")

_ADMIN_ROLES = (Role.SCHOOL_ADMIN, Role.DISTRICT_ADMIN)


@strawberry.input
class RoleInput:
    user_id: strawberry.ID = strawberry.field(description="A StaffMember or Guardian id.")
    role: Role
    school_id: strawberry.ID | None = strawberry.field(
        default=None, description="The school; null for the whole district."
    )


@strawberry.type
class RolePayload:
    user_id: strawberry.ID | None = None
    role: Role | None = None
    school_id: strawberry.ID | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


def _authorize(context: Context, viewer: Viewer, role: Role, school_id: int | None) -> None:
    if school_id is None:
        allowed = viewer.role_schools(Role.DISTRICT_ADMIN)[1]
    else:
        allowed = bool(context.write_hit("RoleAssignment", school_id=school_id))
        if role in _ADMIN_ROLES and not viewer.role_schools(Role.DISTRICT_ADMIN)[1]:
            allowed = False
    if not allowed:
        raise Forbidden("you may not manage this role here", reason="not an administrator")


async def _change(info: Info, input: RoleInput, *, assign: bool) -> RolePayload:
    context = info.context
    viewer = await context.require_viewer()
    user = user_pk(input.user_id)
    school = from_global_id(input.school_id, "School")[1] if input.school_id else None
    _authorize(context, viewer, input.role, school)
    try:
        async with context.db() as connection:
            if (
                await writes.user_roles(connection, user_id=user, district_id=viewer.district_id)
                is None
            ):
                raise writes.WriteRefused("no such user", "NOT_FOUND", "userId")
            change = writes.assign_role if assign else writes.revoke_role
            await change(
                connection,
                context.actor(),
                user_id=user,
                role=input.role.value,
                school_id=school,
            )
    except writes.WriteRefused as refusal:
        return RolePayload(user_errors=[UserError.of(refusal)])
    return RolePayload(user_id=input.user_id, role=input.role, school_id=input.school_id)


@strawberry.type
class PeopleMutation:
    @strawberry.mutation(description="Give a user a role at a school or district-wide (audited).")
    async def assign_role(self, info: Info, input: RoleInput) -> RolePayload:
        return await _change(info, input, assign=True)

    @strawberry.mutation(description="Take a role away (audited).")
    async def revoke_role(self, info: Info, input: RoleInput) -> RolePayload:
        return await _change(info, input, assign=False)
