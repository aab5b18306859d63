"""The Class roots: `classes(first, after, schoolId, mine)` as one page statement, `class(id)` and
`node(id)` of a Class as one row statement.

The rows are the resolvers' (`schema/classes/queries.py`): the same scope condition and
parameters (`SCOPE`, `scope_params`, `list_where`), the same keyset order and cursors; the count
only when asked. Before its statement each runs the resolver's checks (page size, cursor, school
id, class id) — any refusal falls back, so the resolver reports it in its own words.
"""

from __future__ import annotations

from typing import Any

from schema.classes.queries import ONE, ORDER, list_where, scope_params
from schema.compiled import connection, klass
from schema.compiled.base import Binder, Fallback, argument, fetch, global_id
from schema.compiled.shape import Selected
from schema.compiled.sql import json_rows
from schema.context import Context
from schema.cursors import Cursors
from schema.relay import page_size


async def classes(
    context: Context, selected: Selected, variables: dict[str, Any]
) -> dict[str, Any]:
    viewer = await context.require_viewer()
    try:
        # The resolver's checks, in its order.
        size = page_size(argument(selected, "first", variables), context.settings.max_page_size)
        cursors = Cursors.of(context, "classes", "TITLE", viewer)
        key = cursors.open(argument(selected, "after", variables), len(ORDER.columns))
        params = await scope_params(context) | {"limit": size + 1}
        mine = argument(selected, "mine", variables)
        if "mine" in selected.arguments and not isinstance(mine, bool):
            raise Fallback("mine")  # null for a non-null argument: the resolvers refuse it
        where = list_where(
            params, mine=bool(mine), school_id=argument(selected, "schoolId", variables)
        )
    except Exception as refused:
        raise Fallback("refused") from refused

    nodes, _, rows_wanted, counted = connection.wanted(selected)
    columns = klass.columns(nodes)
    binder = Binder(context, viewer, variables, params)
    parts = []
    if rows_wanted:
        values = klass.expressions(columns, nodes, binder)
        after = "" if key is None else f" AND {ORDER.after(key, params)}"
        page_sql = json_rows(values, "class_section c", where + after, ORDER.order_by, ":limit")
        parts.append(f"'rows', {page_sql}")
    if counted:
        count = f"(SELECT count(*) FROM class_section c WHERE {where})"  # noqa: S608 (names)
        parts.append(f"'total', {count}")
    sql = f"SELECT json_build_object({', '.join(parts)})::text"
    result, ring = await fetch(context, sql, params, secret=binder.secret)
    rows: list[list[Any]] = result.get("rows") or []

    position = {c: i for i, c in enumerate(columns)}
    page = rows[:size]

    def cursor(index: int) -> str:
        row = page[index]
        return cursors.seal((row[1], row[0]))  # ORDER: title, id

    def node(index: int, field: Selected, path: list[str | int]) -> dict[str, Any]:
        return klass.render(context, field, page[index], position, ring, path)

    found = connection.Page(
        len(page), len(rows) > size, key is not None, int(result.get("total") or 0), cursor, node
    )
    return connection.render(selected, "ClassConnection", found, [selected.key])


async def class_by_global_id(
    context: Context, selected: Selected, variables: dict[str, Any]
) -> dict[str, Any] | None:
    pk = global_id(selected, variables, "Class")
    viewer = await context.require_viewer()
    binder = Binder(context, viewer, variables, await scope_params(context) | {"id": pk})
    columns = klass.columns([selected])
    values = klass.expressions(columns, [selected], binder, pk)
    sql = f"SELECT {json_rows(values, 'class_section c', ONE, 'c.id')}::text"
    rows, ring = await fetch(context, sql, binder.params, secret=binder.secret)
    if not rows:
        return None
    position = {c: i for i, c in enumerate(columns)}
    return klass.render(context, selected, rows[0], position, ring, [selected.key])
