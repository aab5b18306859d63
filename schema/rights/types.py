"""Privacy rights (SPEC §9): consent, directory opt-out and data requests."""

from __future__ import annotations

import datetime
import enum
from typing import Any

import strawberry
from sqlalchemy.engine import Row

from app import models
from app.rights import inspect
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

    @classmethod
    def from_row(cls, row: Row[Any], *, today: datetime.date | None = None) -> DataRequest:
        today = today or datetime.datetime.now(datetime.UTC).date()
        return cls(
            id=to_global_id("DataRequest", row.id),
            pk=row.id,
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
