"""Privacy rights (SPEC §9): consent, directory opt-out and data requests."""

from __future__ import annotations

import datetime
import enum
from typing import Any

import strawberry
from sqlalchemy.engine import Row

from app import models
from app.rights import amend, inspect
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
    description="The bundle of a completed inspection request: a zip of the whole record "
    "(`record.json`, one CSV per table, `index.html`), downloaded with a GET of `url` carrying "
    "the same bearer token, until `expiresAt`."
)
class DataExport:
    url: str = strawberry.field(
        description="Opens only with the bearer token of the requester or a district "
        "administrator; each download is recorded as a disclosure."
    )
    expires_at: datetime.datetime
    size_bytes: int = strawberry.field(description="Size of the zip.")
    sha256: str = strawberry.field(description="SHA-256 of the zip, in hex.")
    built_at: datetime.datetime


@strawberry.type(
    description="A request to inspect, amend or delete a student's records, answered within "
    "the district's days (45 at most)."
)
class DataRequest(Node):
    pk: strawberry.Private[int]
    student_id: strawberry.ID
    kind: models.DataRequestKind
    status: DataRequestStatus
    details: str | None
    filed_at: datetime.datetime
    due_on: datetime.date
    overdue: bool = strawberry.field(description="Still open after its due date.")
    resolved_at: datetime.datetime | None
    resolution: str | None
    student_pk: strawberry.Private[int]
    # Its proposed values decrypt only when `changes` is asked for.
    row: strawberry.Private[Row[Any]]

    @strawberry.field(
        description="The download of a completed INSPECT request's bundle, for the requester "
        "(while they hold the relation that gave them the right) and the district's "
        "administrators; null until completed, for other kinds and for anyone else."
    )
    async def export(self, info: Info) -> DataExport | None:
        if self.kind is not models.DataRequestKind.INSPECT:
            return None
        if self.status is not DataRequestStatus.COMPLETED:
            return None
        context = info.context
        viewer = await context.require_viewer()
        row = await context.loaders.data_export.load(self.pk)
        if row is None or inspect.download_basis(viewer, context.policy, row) is None:
            return None
        token = inspect.link_token(context.settings.jwt_secret, row.id, row.built_at)
        base = str(context.request.base_url).rstrip("/")
        return DataExport(
            url=base + inspect.PATH.format(token=token),
            expires_at=row.expires_at,
            size_bytes=row.size_bytes,
            sha256=row.sha256,
            built_at=row.built_at,
        )

    @strawberry.field(
        description="For a DELETE request, to administrators who may resolve it: what completing "
        "it would remove, replace by a pseudonym and keep, with row counts. Null otherwise."
    )
    async def deletion_preview(self, info: Info) -> list[DeletionPreviewLine] | None:
        if self.kind is not models.DataRequestKind.DELETE:
            return None
        return await _deletion_preview(info, self.student_id)

    @classmethod
    def from_row(cls, row: Row[Any], *, today: datetime.date | None = None) -> DataRequest:
        today = today or datetime.datetime.now(datetime.UTC).date()
        return cls(
            id=to_global_id("DataRequest", row.id),
            pk=row.id,
            student_pk=row.student_id,
            row=row,
            student_id=to_global_id("Student", row.student_id),
            kind=models.DataRequestKind(row.kind),
            status=DataRequestStatus(row.status),
            details=row.details,
            filed_at=row.filed_at,
            due_on=row.due_on,
            overdue=row.status == DataRequestStatus.OPEN.value and row.due_on < today,
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
