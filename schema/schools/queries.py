"""`Query.schools`: the schools of the viewer's district."""

from __future__ import annotations

import strawberry
from sqlalchemy import text

from schema.context import Info
from schema.schools.types import School


@strawberry.type
class SchoolQuery:
    @strawberry.field(description="Schools of the viewer's district, by name.")
    async def schools(self, info: Info) -> list[School]:
        viewer = await info.context.require_viewer()
        async with info.context.db() as connection:
            rows = await connection.execute(
                text("SELECT * FROM school WHERE district_id = :d ORDER BY name, id"),
                {"d": viewer.district_id},
            )
            return [School.from_row(r) for r in rows]
