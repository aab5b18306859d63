"""`Query.rosterImports`: the district's roster imports, for district administrators."""

from __future__ import annotations

import strawberry

from app.models import Role
from app.roster import runs
from schema.context import Info
from schema.cursors import Cursors
from schema.errors import Forbidden
from schema.relay import Connection, build_connection, from_global_id, page_size
from schema.roster.types import RosterImport


@strawberry.type
class RosterQuery:
    @strawberry.field(
        description="For district administrators: the district's roster imports (uploads to "
        "`POST /roster/imports`), newest first."
    )
    async def roster_imports(
        self, info: Info, first: int | None = 50, after: str | None = None
    ) -> Connection[RosterImport] | None:
        context = info.context
        viewer = await context.require_viewer()
        if not viewer.role_schools(Role.DISTRICT_ADMIN)[1]:
            raise Forbidden(
                "only district administrators read roster imports",
                reason="not a district administrator",
            )
        size = page_size(first, context.settings.max_page_size)
        cursors = Cursors.of(context, "rosterImports", "NEWEST", viewer)
        key = cursors.open(after, 1)
        async with context.db() as connection:
            rows = await runs.list_runs(
                connection,
                district_id=viewer.district_id,
                first=size,
                after=int(key[0]) if key else None,
            )

        async def count() -> int:
            async with context.db() as connection:
                return await runs.count_runs(connection, district_id=viewer.district_id)

        return build_connection(
            [RosterImport.from_row(r) for r in rows],
            first=size,
            after=key,
            cursor=lambda r: cursors.seal((from_global_id(r.id)[1],)),
            count=count,
        )
