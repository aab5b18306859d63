"""Privacy rights (SPEC §9): consent, directory opt-out and data requests."""

from __future__ import annotations

import datetime
import enum
from typing import Any

import strawberry
from sqlalchemy.engine import Row

from app import models
from schema.context import Info
from schema.relay import Node, to_global_id

strawberry.enum(models.ConsentKind, name="ConsentKind")
strawberry.enum(models.DataRequestKind, name="DataRequestKind")


@strawberry.enum
class DataRequestStatus(enum.Enum):
    OPEN = "open"
    COMPLETED = "completed"
    DENIED = "denied"


@strawberry.type(description="A recorded consent, or its withdrawal.")
class Consent(Node):
    student_id: strawberry.ID
    kind: models.ConsentKind
    granted: bool
    recorded_at: datetime.datetime
    current: bool = strawberry.field(
        description="The newest decision of its kind for the student: the one in force."
    )
    given_by_user_id: strawberry.Private[int]

    @classmethod
    def from_row(cls, row: Row[Any], *, current: bool = True) -> Consent:
        return cls(
            id=to_global_id("Consent", row.id),
            student_id=to_global_id("Student", row.student_id),
            kind=models.ConsentKind(row.kind),
            granted=row.granted,
            recorded_at=row.recorded_at,
            current=current,
            given_by_user_id=row.given_by,
        )

    @strawberry.field(description="Who recorded it (a guardian, or the eligible student).")
    async def given_by(self, info: Info) -> str | None:
        user = await info.context.loaders.user.load(self.given_by_user_id)
        return f"{user.first_name} {user.last_name}" if user else None


@strawberry.type(
    description="A request to inspect, amend or delete a student's records, answered within "
    "45 days."
)
class DataRequest(Node):
    student_id: strawberry.ID
    kind: models.DataRequestKind
    status: DataRequestStatus
    details: str | None
    filed_at: datetime.datetime
    due_on: datetime.date
    resolved_at: datetime.datetime | None
    resolution: str | None

    @classmethod
    def from_row(cls, row: Row[Any]) -> DataRequest:
        return cls(
            id=to_global_id("DataRequest", row.id),
            student_id=to_global_id("Student", row.student_id),
            kind=models.DataRequestKind(row.kind),
            status=DataRequestStatus(row.status),
            details=row.details,
            filed_at=row.filed_at,
            due_on=row.due_on,
            resolved_at=row.resolved_at,
            resolution=row.resolution,
        )
