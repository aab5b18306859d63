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

    @classmethod
    def from_row(cls, row: Row[Any]) -> Consent:
        return cls(
            id=to_global_id("Consent", row.id),
            student_id=to_global_id("Student", row.student_id),
            kind=models.ConsentKind(row.kind),
            granted=row.granted,
            recorded_at=row.recorded_at,
        )


@strawberry.enum(description="What de-identification does to a kind of row.")
class DeletionAction(enum.Enum):
    REMOVED = "removed"
    REPLACED = "replaced"
    KEPT = "kept"


@strawberry.type(description="One line of a deletion preview: what, how many rows, what happens.")
class DeletionPreviewLine:
    what: str
    rows: int
    action: DeletionAction


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

    @strawberry.field(
        description="For a DELETE request, to administrators who may resolve it: what completing "
        "it would remove, replace by a pseudonym and keep, with row counts. Null otherwise."
    )
    async def deletion_preview(self, info: Info) -> list[DeletionPreviewLine] | None:
        if self.kind is not models.DataRequestKind.DELETE:
            return None
        return await _deletion_preview(info, self.student_id)

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


async def _deletion_preview(
    info: Info, student_id: strawberry.ID
) -> list[DeletionPreviewLine] | None:
    from schema.relay import from_global_id

    context = info.context
    preview = await context.loaders.deletion_preview.load(from_global_id(student_id, "Student")[1])
    if preview is None or not context.write_hit("DataRequest.resolve", school_id=preview.school_id):
        return None
    return [
        DeletionPreviewLine(what=x.what, rows=x.rows, action=DeletionAction(x.action))
        for x in preview.lines
    ]
