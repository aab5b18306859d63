"""`Query.dataRequests`."""

from __future__ import annotations

import strawberry

from app import reads
from app.models import Role
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
        district_wide = viewer.role_schools(Role.DISTRICT_ADMIN)[1]
        scope = None if district_wide else viewer.role_schools(Role.SCHOOL_ADMIN)[0]
        async with context.db() as connection:
            rows = await reads.list_data_requests(
                connection=connection,
                district_id=viewer.district_id,
                user_id=viewer.user_id,
                school_ids=scope,
                status=status.value if status else None,
                limit=MAX_REQUESTS,
            )
        return [DataRequest.from_row(r) for r in rows]
