"""`Query.classes` and `Query.class`."""

from __future__ import annotations

from typing import Annotated, Any

import strawberry
from sqlalchemy import text

from app.keyset import Column, Keyset
from schema import reveals
from schema.classes.types import Class
from schema.context import Context, Info
from schema.cursors import Cursors
from schema.relay import Connection, build_connection, from_global_id, page_size

# Classes a viewer may list: those they teach, every class at a school where they are an official
# (or the whole district), public listings, and the classes of students whose enrollments they may
# read (their own, their children's: a class listed for its students reveals their enrollment).
SCOPE = """
  c.district_id = :district_id AND (
    c.visibility = 'PUBLIC' OR :whole
    OR c.id = ANY(:class_ids) OR c.school_id = ANY(:school_ids)
    OR EXISTS (SELECT 1 FROM enrollment e WHERE e.class_id = c.id
               AND e.student_id = ANY(:student_ids)))
"""
# `class(id)`: the class `:id`, if the viewer may list it.
ONE = f"c.id = :id AND {SCOPE}"


ORDER = Keyset(Column("c.title", "title"), Column("c.id", "pk"))


async def scope_params(context: Context) -> dict[str, Any]:
    """The values `SCOPE` binds, for this request's viewer."""
    viewer = await context.require_viewer()
    scope = context.scope(viewer)
    enrolled, _ = reveals.scope_for(context, viewer, "Query.classes")
    return {
        "district_id": viewer.district_id,
        "whole": scope.whole_district,
        "class_ids": list(viewer.taught_classes),
        "school_ids": list(scope.school_ids),
        "student_ids": list(enrolled.student_ids),
    }


def list_where(params: dict[str, Any], *, mine: bool, school_id: str | None) -> str:
    """The condition of `classes(mine, schoolId)` (before any position): `SCOPE` and the
    filters; binds the school's key into `params` (a malformed id is bad input)."""
    where = SCOPE
    if mine:
        where += " AND c.id = ANY(:class_ids)"
    if school_id is not None:
        params["school"] = from_global_id(school_id, "School")[1]
        where += " AND c.school_id = :school"
    return where


@strawberry.type
class ClassQuery:
    @strawberry.field(description="Classes the viewer teaches, attends or oversees.")
    async def classes(
        self,
        info: Info,
        first: int | None = 50,
        after: str | None = None,
        school_id: strawberry.ID | None = None,
        mine: Annotated[
            bool, strawberry.argument(description="Only classes the viewer teaches today.")
        ] = False,
    ) -> Connection[Class]:
        context = info.context
        size = page_size(first, context.settings.max_page_size)
        cursors = Cursors.of(context, "classes", "TITLE", await context.require_viewer())
        key = cursors.open(after, len(ORDER.columns))
        params = await scope_params(context) | {"limit": size + 1}
        where = list_where(params, mine=mine, school_id=school_id)
        # Counted only when asked for: the same scope and filters, without the position.
        count_sql = f"SELECT count(*) FROM class_section c WHERE {where}"
        count_params = dict(params)
        if key is not None:
            where += f" AND {ORDER.after(key, params)}"
        sql = (
            f"SELECT c.* FROM class_section c WHERE {where} ORDER BY {ORDER.order_by} LIMIT :limit"
        )
        async with context.db() as connection:
            rows = (await connection.execute(text(sql), params)).all()

        async def count() -> int:
            async with context.db() as connection:
                found = await connection.execute(text(count_sql), count_params)
                return int(found.scalar_one())

        return build_connection(
            [Class.from_row(r) for r in rows],
            first=size,
            after=key,
            cursor=lambda c: cursors.seal(ORDER.key(c)),
            count=count,
        )

    @strawberry.field(name="class", description="A class the viewer may list; null otherwise.")
    async def klass(self, info: Info, id: strawberry.ID) -> Class | None:
        _, pk = from_global_id(id, "Class")
        params = await scope_params(info.context) | {"id": pk}
        sql = f"SELECT c.* FROM class_section c WHERE {ONE}"
        async with info.context.db() as connection:
            row = (await connection.execute(text(sql), params)).first()
        return Class.from_row(row) if row else None
