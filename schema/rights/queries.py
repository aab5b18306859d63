"""`Query.dataRequests`."""

from __future__ import annotations

import datetime
from typing import Annotated

import strawberry

from app import reads
from schema import reveals
from schema.context import Info
from schema.rights.types import DataRequest, DataRequestStatus

MAX_REQUESTS = 500


@strawberry.type
class RightsQuery:
    @strawberry.field(
        description="Data requests the viewer filed and, for administrators, those about "
        "students of their schools; the earliest due first."
    )
    async def data_requests(
        self,
        info: Info,
        status: DataRequestStatus | None = None,
        overdue: Annotated[
            bool | None,
            strawberry.argument(
                description="true: only requests still open after their due date; false: the "
                "others."
            ),
        ] = None,
    ) -> list[DataRequest]:
        context = info.context
        viewer = await context.require_viewer()
        # Besides their own, the requests the policy lets the viewer resolve.
        scope, _ = reveals.scope_for(context, viewer, "Query.dataRequests")
        today = datetime.datetime.now(datetime.UTC).date()
        async with context.db() as connection:
            rows = await reads.list_data_requests(
                connection=connection,
                scope=scope,
                user_id=viewer.user_id,
                status=status.value if status else None,
                overdue=overdue,
                today=today,
                limit=MAX_REQUESTS,
            )
        return [DataRequest.from_row(r, today=today) for r in rows]
