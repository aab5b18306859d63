"""What the records mutations return beside a student or a class: a teaching assignment and a
guardian link."""

from __future__ import annotations

import datetime
import enum
from typing import Any

import strawberry
from sqlalchemy.engine import Row

from schema.relay import to_global_id


@strawberry.enum(description="How a guardian is related to a student.")
class GuardianRelationship(enum.StrEnum):
    PARENT = "parent"
    GUARDIAN = "guardian"
    RELATIVE = "relative"


def _active(starts: datetime.date, ends: datetime.date | None) -> bool:
    today = datetime.datetime.now(datetime.UTC).date()
    return starts <= today and (ends is None or ends >= today)


@strawberry.type(description="A teacher's assignment to a class, with its dates.")
class TeachingAssignment:
    id: strawberry.ID
    teacher_id: strawberry.ID = strawberry.field(description="A StaffMember id.")
    class_id: strawberry.ID
    starts_on: datetime.date
    ends_on: datetime.date | None = strawberry.field(description="The last day; null: open.")
    is_primary: bool
    active: bool = strawberry.field(description="In force today.")

    @classmethod
    def from_row(cls, row: Row[Any]) -> TeachingAssignment:
        return cls(
            id=to_global_id("TeachingAssignment", row.id),
            teacher_id=to_global_id("StaffMember", row.staff_user_id),
            class_id=to_global_id("Class", row.class_id),
            starts_on=row.starts_on,
            ends_on=row.ends_on,
            is_primary=row.is_primary,
            active=_active(row.starts_on, row.ends_on),
        )


@strawberry.type(
    description="A guardian's link to a student. `dataAccess` false records a custody "
    "restriction: the link stays on record and gives the guardian nothing of the student's."
)
class GuardianLink:
    id: strawberry.ID
    guardian_id: strawberry.ID = strawberry.field(description="A Guardian id.")
    student_id: strawberry.ID
    relationship: GuardianRelationship
    legal_guardian: bool
    data_access: bool
    starts_on: datetime.date
    ends_on: datetime.date | None = strawberry.field(description="The last day; null: open.")
    active: bool = strawberry.field(description="In force today.")

    @classmethod
    def from_row(cls, row: Row[Any]) -> GuardianLink:
        return cls(
            id=to_global_id("GuardianLink", row.id),
            guardian_id=to_global_id("Guardian", row.guardian_user_id),
            student_id=to_global_id("Student", row.student_id),
            relationship=GuardianRelationship(row.relationship),
            legal_guardian=row.legal_guardian,
            data_access=row.data_access,
            starts_on=row.starts_on,
            ends_on=row.ends_on,
            active=_active(row.starts_on, row.ends_on),
        )
