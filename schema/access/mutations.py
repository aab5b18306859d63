"""`grantLegitimateInterest` and `revokeLegitimateInterest`.

Who may grant is policy (`LegitimateInterestGrant, write` for the viewer's role as a school
official of the target's school); to whom is decided here: a coordinator grants to themselves or
a designee at that school, an administrator to any staff or support user of their scope. A vendor
(support) is granted one student only while the student's consent to disclosure to third parties
is in force.
"""

from __future__ import annotations

import datetime

import strawberry

from app import writes
from app.consent.rules import is_third_party, third_party_consent
from app.models import Role
from app.policy import bit
from app.relations import GRANTEE_ROLES
from schema.access.queries import user_pk
from schema.access.types import GrantScope, LegitimateInterestGrant
from schema.context import Info
from schema.errors import Forbidden, UserError
from schema.relay import from_global_id

_TARGET_TYPES = {
    GrantScope.STUDENT: "Student",
    GrantScope.CLASS: "Class",
    GrantScope.SCHOOL: "School",
}
_ADMIN_BITS = bit(Role.SCHOOL_ADMIN, "school_official") | bit(
    Role.DISTRICT_ADMIN, "school_official"
)


@strawberry.input
class GrantLegitimateInterestInput:
    grantee_id: strawberry.ID = strawberry.field(description="A StaffMember id.")
    scope: GrantScope
    target_id: strawberry.ID = strawberry.field(description="The student, class or school.")
    purpose: str = strawberry.field(description="Required: the educational interest served.")
    expires_at: datetime.datetime = strawberry.field(description="At most a year after start.")
    starts_at: datetime.datetime | None = strawberry.field(
        default=None, description="Now if unset."
    )


@strawberry.input
class RevokeLegitimateInterestInput:
    id: strawberry.ID


@strawberry.type
class GrantPayload:
    grant: LegitimateInterestGrant | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


def _aware(moment: datetime.datetime) -> datetime.datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=datetime.UTC)


@strawberry.type
class AccessMutation:
    @strawberry.mutation(description="Record a legitimate educational interest (audited).")
    async def grant_legitimate_interest(
        self, info: Info, input: GrantLegitimateInterestInput
    ) -> GrantPayload:
        context = info.context
        viewer = await context.require_viewer()
        _, target = from_global_id(input.target_id, _TARGET_TYPES[input.scope])
        grantee = user_pk(input.grantee_id)
        if not viewer.possible_mask & context.policy.write_mask("LegitimateInterestGrant"):
            # Decided before the target is looked up: the answer does not depend on it.
            raise Forbidden("you may not grant access", reason="no policy line allows it")
        try:
            async with context.db() as connection:
                # A target that does not exist and one at a school where the viewer may not
                # grant get the same answer: the mutation is no oracle for other schools' ids.
                school_id = await writes.grant_target_school(
                    connection,
                    scope=input.scope.value,
                    target_id=target,
                    district_id=viewer.district_id,
                )
                hit = context.write_hit("LegitimateInterestGrant", school_id=school_id)
                if not hit:
                    raise writes.WriteRefused(
                        f"no such {input.scope.value}", "NOT_FOUND", "targetId"
                    )
                roles = await writes.user_roles(
                    connection, user_id=grantee, district_id=viewer.district_id
                )
                if hit & _ADMIN_BITS:
                    rule = "staff or support of this school"
                    eligible = any(
                        role in GRANTEE_ROLES and school in (None, school_id)
                        for role, school in roles or ()
                    )
                else:
                    rule = "yourself or a designee at this school"
                    eligible = grantee == viewer.user_id or (Role.DESIGNEE, school_id) in (
                        roles or ()
                    )
                if not eligible:
                    # An unknown user gets the same answer as an ineligible one.
                    raise writes.WriteRefused(
                        f"a grant here can only go to {rule}", "INELIGIBLE_GRANTEE", "granteeId"
                    )
                starts = _aware(input.starts_at or datetime.datetime.now(datetime.UTC))
                # The input is checked first: a vendor's grant is refused for want of consent
                # only when it would otherwise be made.
                writes.validate_grant(
                    purpose=input.purpose, starts_at=starts, expires_at=_aware(input.expires_at)
                )
                if (
                    input.scope is GrantScope.STUDENT
                    and is_third_party(roles)
                    and not await third_party_consent(connection, student_id=target)
                ):
                    # A class or school grant to a vendor covers only the students who consent
                    # (app/relations.py); one student's grant without it would cover nobody.
                    raise writes.WriteRefused(
                        "the student's consent to disclosure to third parties is not in force:"
                        " a vendor cannot be granted access to their record",
                        "CONSENT_REQUIRED",
                        "targetId",
                    )
                row = await writes.create_grant(
                    connection,
                    context.actor(),
                    grantee_id=grantee,
                    scope=input.scope.value,
                    target_id=target,
                    school_id=school_id,
                    purpose=input.purpose,
                    starts_at=starts,
                    expires_at=_aware(input.expires_at),
                )
        except writes.WriteRefused as refusal:
            return GrantPayload(user_errors=[UserError.of(refusal)])
        return GrantPayload(grant=LegitimateInterestGrant.from_row(row))

    @strawberry.mutation(description="End a grant now (audited).")
    async def revoke_legitimate_interest(
        self, info: Info, input: RevokeLegitimateInterestInput
    ) -> GrantPayload:
        context = info.context
        viewer = await context.require_viewer()
        _, pk = from_global_id(input.id, "LegitimateInterestGrant")
        try:
            async with context.db() as connection:
                current = await writes.grant(
                    connection, grant_id=pk, district_id=viewer.district_id
                )
                hit = context.write_hit("LegitimateInterestGrant", school_id=current.school_id)
                own = viewer.user_id in (current.granted_by, current.grantee_user_id)
                if not (hit & _ADMIN_BITS or (hit and own)):
                    raise writes.WriteRefused("no such grant", "NOT_FOUND", "id")
                row = await writes.revoke_grant(
                    connection,
                    context.actor(),
                    grant_id=pk,
                )
        except writes.WriteRefused as refusal:
            return GrantPayload(user_errors=[UserError.of(refusal)])
        return GrantPayload(grant=LegitimateInterestGrant.from_row(row))
