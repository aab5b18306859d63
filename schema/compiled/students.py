"""The Student roots: `students(first, after, orderBy)` as one page statement, `student(id)` and
`node(id)` of a Student as one row statement.

Before its statement each runs the checks the resolver makes first (page size, order, cursor,
id) — any refusal falls back, so the resolver reports it in its own words.
"""

from __future__ import annotations

import datetime
import enum
from typing import Any

from app import reads
from schema import reveals
from schema.compiled import connection, student
from schema.compiled.base import Binder, Fallback, argument, fetch, global_id
from schema.compiled.shape import Selected
from schema.compiled.sql import StudentsStatement, students_by_id
from schema.context import Context
from schema.cursors import Cursors
from schema.relay import page_size


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

    nodes, cursor_wanted, rows_wanted, counted = connection.wanted(selected)
    columns = student.columns(nodes)
    if cursor_wanted:
        columns += [f"key:{c.attribute}" for c in keyset.columns]
    binder = Binder(context, viewer, variables, {"limit": size + 1})
    statement = StudentsStatement(
        order=order,
        values=tuple(student.expressions(columns, nodes, binder, keyset)),
        rows=rows_wanted,
        count=counted,
    )
    sql = statement.text(context.scope(viewer), key, binder.params)
    result, ring = await fetch(context, sql, binder.params, secret=binder.secret)
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

    def node(index: int, field: Selected, path: list[str | int]) -> dict[str, Any]:
        return student.render(context, field, page[index], refs[index], position, ring, path)

    found = connection.Page(
        len(page), len(rows) > size, key is not None, int(result.get("total") or 0), cursor, node
    )
    return connection.render(selected, "StudentConnection", found, [selected.key])


async def student_by_global_id(
    context: Context, selected: Selected, variables: dict[str, Any]
) -> dict[str, Any] | None:
    pk = global_id(selected, variables, "Student")
    viewer = await context.require_viewer()
    columns = student.columns([selected])
    scope = context.scope(viewer)
    if scope.empty:
        return None
    binder = Binder(context, viewer, variables, {"ids": [pk]})
    sql = students_by_id(student.expressions(columns, [selected], binder), scope, binder.params)
    rows, ring = await fetch(context, sql, binder.params, secret=binder.secret)
    if not rows:
        return None
    row = rows[0]
    position = {c: i for i, c in enumerate(columns)}
    ref = student.ref_of(context, row)
    return student.render(context, selected, row, ref, position, ring, [selected.key])
