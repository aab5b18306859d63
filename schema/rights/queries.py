"""`Query.dataRequests`."""

from __future__ import annotations

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
        self, info: Info, status: DataRequestStatus | None = None
    ) -> list[DataRequest]:
        context = info.context
        viewer = await context.require_viewer()
        # Besides their own, the requests the policy lets the viewer resolve.
        scope, _ = reveals.scope_for(context, viewer, "Query.dataRequests")
        async with context.db() as connection:
            rows = await reads.list_data_requests(
                connection=connection,
                scope=scope,
                user_id=viewer.user_id,
                status=status.value if status else None,
                limit=MAX_REQUESTS,
            )
        return [DataRequest.from_row(r) for r in rows]
