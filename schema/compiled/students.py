"""The Student roots: `students(first, after, orderBy)` as one page statement, `student(id)` and
`node(id)` of a Student as one row statement.

Before its statement each runs the checks the resolver makes first (page size, order, cursor,
id) — any refusal falls back, so the resolver reports it in its own words.
"""

from __future__ import annotations

import datetime
import enum
from collections.abc import Callable
from typing import Any

from app import reads
from schema import reveals
from schema.compiled import student
from schema.compiled.base import Fallback, argument, fetch
from schema.compiled.shape import Selected
from schema.compiled.sql import StudentsStatement, students_by_id
from schema.context import Context
from schema.cursors import Cursors
from schema.relay import from_global_id, page_size


async def students(
    context: Context, selected: Selected, variables: dict[str, Any]
) -> dict[str, Any]:
    viewer = await context.require_viewer()
    order_by = argument(selected, "orderBy", variables)
    if isinstance(order_by, enum.Enum):
        order_by = order_by.name
    try:
        # The resolver's checks, in its order.
        size = page_size(argument(selected, "first", variables), context.settings.max_page_size)
        order = reveals.default_order(context) if order_by is None else str(order_by)
        keyset, _ = reads.STUDENT_ORDERS[order]
        cursors = Cursors.of(context, "students", order, viewer)
        key = cursors.open(argument(selected, "after", variables), len(keyset.columns))
        reveals.require_order(context, order)
    except Exception as refused:
        raise Fallback("refused") from refused

    connection_fields = selected.children
    edges = [s for s in connection_fields.values() if s.name == "edges"]
    page_infos = [s for s in connection_fields.values() if s.name == "pageInfo"]
    nodes = [n for e in edges for n in e.children.values() if n.name == "node"]
    cursor_wanted = any(c.name == "cursor" for e in edges for c in e.children.values()) or any(
        c.name in ("startCursor", "endCursor") for p in page_infos for c in p.children.values()
    )
    columns = student.columns(nodes)
    if cursor_wanted:
        columns += [f"key:{c.attribute}" for c in keyset.columns]
    statement = StudentsStatement(
        order=order,
        columns=tuple(columns),
        rows=bool(edges or page_infos),
        count=any(s.name == "totalCount" for s in connection_fields.values()),
    )
    params: dict[str, Any] = {"limit": size + 1}
    student.bind(context, viewer, columns, params)
    sql = statement.text(context.scope(viewer), key, params)
    result, ring = await fetch(context, sql, params, secret=student.secret(columns))
    rows: list[list[Any]] = result.get("rows") or []

    position = {c: i for i, c in enumerate(columns)}
    page = rows[:size]
    sealed: dict[int, str] = {}

    def cursor(index: int) -> str:
        if index not in sealed:
            row = page[index]
            values = []
            for c in keyset.columns:
                value = row[position[f"key:{c.attribute}"]]
                if c.attribute == "date_of_birth" and value is not None:
                    value = datetime.date.fromisoformat(value)
                values.append(value)
            sealed[index] = cursors.seal(tuple(values))
        return sealed[index]

    refs = [student.ref_of(context, row) for row in page]
    out: dict[str, Any] = {}
    for response_key, field in connection_fields.items():
        path: list[str | int] = [selected.key, response_key]
        if field.name == "__typename":
            out[response_key] = "StudentConnection"
        elif field.name == "totalCount":
            out[response_key] = int(result.get("total") or 0)
        elif field.name == "pageInfo":
            # Each value only when asked: a cursor is sealed from key columns selected only
            # when some cursor is asked for.
            page_info: dict[str, Callable[[], Any]] = {
                "__typename": lambda: "PageInfo",
                "hasNextPage": lambda: len(rows) > size,
                "hasPreviousPage": lambda: key is not None,
                "startCursor": lambda: cursor(0) if page else None,
                "endCursor": lambda: cursor(len(page) - 1) if page else None,
            }
            out[response_key] = {k: page_info[f.name]() for k, f in field.children.items()}
        else:  # edges
            listed = []
            for index, row in enumerate(page):
                edge: dict[str, Any] = {}
                for k, f in field.children.items():
                    if f.name == "__typename":
                        edge[k] = "StudentEdge"
                    elif f.name == "cursor":
                        edge[k] = cursor(index)
                    else:
                        edge[k] = student.render(
                            context, f, row, refs[index], position, ring, [*path, index, k]
                        )
                listed.append(edge)
            out[response_key] = listed
    return out


async def student_by_global_id(
    context: Context, selected: Selected, variables: dict[str, Any]
) -> dict[str, Any] | None:
    # `student(id)` refuses an id of another type; `node(id)` answers it, on the resolver path.
    try:
        expected = "Student" if selected.name == "student" else None
        kind, pk = from_global_id(argument(selected, "id", variables), expected)
    except Exception as refused:
        raise Fallback("refused") from refused
    if kind != "Student":
        raise Fallback(kind)
    viewer = await context.require_viewer()
    columns = student.columns([selected])
    params: dict[str, Any] = {"ids": [pk]}
    student.bind(context, viewer, columns, params)
    scope = context.scope(viewer)
    if scope.empty:
        return None
    sql = students_by_id(tuple(columns), scope, params)
    rows, ring = await fetch(context, sql, params, secret=student.secret(columns))
    if not rows:
        return None
    row = rows[0]
    position = {c: i for i, c in enumerate(columns)}
    ref = student.ref_of(context, row)
    return student.render(context, selected, row, ref, position, ring, [selected.key])
