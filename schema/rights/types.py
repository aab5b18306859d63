"""Privacy rights (SPEC §9): consent, directory opt-out and data requests."""

from __future__ import annotations

import datetime
import enum
from typing import Any

import strawberry
from sqlalchemy.engine import Row

from app import models
from app.rights import amend
from app.rights.validate import COLUMNS, AmendableField, shown
from schema.context import Info
from schema.relay import Node, to_global_id

strawberry.enum(models.ConsentKind, name="ConsentKind")
strawberry.enum(models.DataRequestKind, name="DataRequestKind")
strawberry.enum(
    AmendableField,
    name="AmendableField",
    description="A field of the student's record an amendment may propose a value for.",
)


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
    student_pk: strawberry.Private[int]
    # Its proposed values decrypt only when `changes` is asked for.
    row: strawberry.Private[Row[Any]]

    @classmethod
    def from_row(cls, row: Row[Any]) -> DataRequest:
        return cls(
            id=to_global_id("DataRequest", row.id),
            student_pk=row.student_id,
            row=row,
            student_id=to_global_id("Student", row.student_id),
            kind=models.DataRequestKind(row.kind),
            status=DataRequestStatus(row.status),
            details=row.details,
            filed_at=row.filed_at,
            due_on=row.due_on,
            resolved_at=row.resolved_at,
            resolution=row.resolution,
        )

    @strawberry.field(
        description="An amendment's proposed values, field by field; null for other kinds."
    )
    def changes(self) -> list[ProposedChange] | None:
        if self.kind is not models.DataRequestKind.AMEND:
            return None
        return [
            ProposedChange(field=c.field, value=c.value, student_pk=self.student_pk)
            for c in amend.load(self.row.changes)
        ]


@strawberry.type(description="A value an amendment proposes for one field of the record.")
class ProposedChange:
    field: AmendableField
    value: str | None = strawberry.field(
        description="The proposed value (dates as YYYY-MM-DD); null clears the field."
    )
    student_pk: strawberry.Private[int]

    @strawberry.field(
        description="What the record says now, where the viewer may read the field (the policy "
        "decides it, and the read is recorded like the field's)."
    )
    async def current_value(self, info: Info) -> str | None:
        from schema.students.types import Student

        row = await info.context.loaders.student.load(self.student_pk)
        if row is None:
            return None
        student = Student.from_row(info.context, row)
        if not student._show(info, self.field.value):
            return None
        return shown(getattr(row, COLUMNS[self.field]))


@strawberry.type(
    description="A statement the student or their parents placed in the record after an "
    "amendment was denied (FERPA 99.21): kept with the record, shown with the contested fields."
)
class Statement(Node):
    fields: list[str] = strawberry.field(
        description="The contested fields, as Student names them (`phone`, `dateOfBirth`)."
    )
    body: str
    created_at: datetime.datetime
    data_request_id: strawberry.ID | None

    @classmethod
    def from_row(cls, row: Row[Any]) -> Statement:
        return cls(
            id=to_global_id("Statement", row.id),
            fields=list(row.fields),
            body=row.body,
            created_at=row.created_at,
            data_request_id=to_global_id("DataRequest", row.data_request_id)
            if row.data_request_id is not None
            else None,
        )
