"""Grants of legitimate educational interest, and what the policy says a viewer may see."""

from __future__ import annotations

import datetime
import enum
from typing import Any

import strawberry
from sqlalchemy.engine import Row

from schema.context import Info
from schema.people.types import StaffMember
from schema.relay import Node, to_global_id


@strawberry.enum(description="What a grant covers: one student, a class's students, a school.")
class GrantScope(enum.Enum):
    STUDENT = "student"
    CLASS = "class"
    SCHOOL = "school"


@strawberry.type(
    description="A recorded, time-bounded legitimate educational interest: while active it "
    "relates the grantee to the students it covers (relation `legitimate_interest`)."
)
class LegitimateInterestGrant(Node):
    scope: GrantScope
    target_id: strawberry.ID = strawberry.field(description="The student, class or school.")
    purpose: str
    starts_at: datetime.datetime
    expires_at: datetime.datetime
    revoked_at: datetime.datetime | None
    archived_at: datetime.datetime | None = strawberry.field(
        description="When retention archived the ended grant: kept for the record, listed only "
        "with `includeArchived`."
    )
    grantee_id: strawberry.Private[int]
    granted_by_id: strawberry.Private[int]

    @classmethod
    def from_row(cls, row: Row[Any]) -> LegitimateInterestGrant:
        scope = GrantScope(row.scope)
        target_type, target = {
            GrantScope.STUDENT: ("Student", row.student_id),
            GrantScope.CLASS: ("Class", row.class_id),
            GrantScope.SCHOOL: ("School", row.school_id),
        }[scope]
        return cls(
            id=to_global_id("LegitimateInterestGrant", row.id),
            scope=scope,
            target_id=to_global_id(target_type, target),
            purpose=row.purpose,
            starts_at=row.starts_at,
            expires_at=row.expires_at,
            revoked_at=row.revoked_at,
            archived_at=row.archived_at,
            grantee_id=row.grantee_user_id,
            granted_by_id=row.granted_by,
        )

    @strawberry.field(description="True while started, unexpired and unrevoked.")
    def active(self) -> bool:
        now = datetime.datetime.now(datetime.UTC)
        return self.revoked_at is None and self.starts_at <= now < self.expires_at

    @strawberry.field
    async def grantee(self, info: Info) -> StaffMember | None:
        row = await info.context.loaders.user.load(self.grantee_id)
        return StaffMember.from_row(row) if row else None

    @strawberry.field
    async def granted_by(self, info: Info) -> StaffMember | None:
        row = await info.context.loaders.user.load(self.granted_by_id)
        return StaffMember.from_row(row) if row else None


@strawberry.type(description="Whether the viewer may read one field, and on which basis.")
class FieldAccess:
    field: str
    field_class: str | None
    allowed: bool
    own_classes_only: bool = strawberry.field(
        description="Only the rows of classes the viewer teaches (marks, classes)."
    )


@strawberry.type(description="What the viewer may see of a student, so a UI can hide the rest.")
class StudentAccess:
    student_id: strawberry.ID
    relations: list[str] = strawberry.field(description="How the viewer is related to them.")
    fields: list[FieldAccess]
    portfolio_visibilities: list[str] = strawberry.field(
        description="The portfolio item visibilities released to the viewer."
    )
    writes: list[str] = strawberry.field(
        description="What the viewer may change for the student (e.g. `Mark`, `Consent`)."
    )


@strawberry.type(description="Why a user may or may not read one field of one student.")
class AccessExplanation:
    allowed: bool
    field: str
    field_class: str | None
    roles: list[str] = strawberry.field(description="The user's roles, as `role@school id`.")
    relations: list[str] = strawberry.field(
        description="The (role, relation) pairs relating the user to the student."
    )
    matched_line: str | None = strawberry.field(
        description="The policy line that allows the read; null when none does."
    )
    reason: str
