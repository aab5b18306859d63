"""`Class.students` in a compiled answer: a page of the class's roster, as one JSON sub-select over
the class row `c`.

The rows are `reads.class_rosters`' (the same condition, `reads.roster_where`, over the scope
`loaders.roster_scope` gives; the same order and limit), the count `reads.roster_counts`'. The
sub-select is `[page size, follows a cursor, rows, count]`: the page's own values travel with it,
so a roster is rendered from its value wherever its class is (a list of classes, a student's).

A cursor (`after`) opens only on the roster of the class it was made for: compiled only where
that class is known before the statement (`class(id)`); in a list of classes the resolvers refuse
it for the others, so it falls back, as does a page size they refuse.
"""

from __future__ import annotations

from typing import Any

from app import reads
from app.encryption import Keyring
from schema.classes.types import roster_cursors
from schema.compiled import connection, student
from schema.compiled.base import Binder, Fallback, argument
from schema.compiled.shape import Selected
from schema.compiled.sql import json_rows
from schema.context import Context
from schema.loaders import roster_scope
from schema.relay import page_size

ORDER = reads.ROSTER_ORDER
# `reads.ROSTER_FROM` with the student row looked up per enrollment. Correlated to one class, the
# planner expects one enrollment and, joining, makes the scope's `s.id = ANY(:ids)` the student
# scan's index condition: every listed student read again for each enrollment (a dashboard's
# statement took three times as long). `OFFSET 0` keeps the look-up a sub-query of its own, so
# it is by key and the scope filters what it returns.
FROM = (
    "enrollment e CROSS JOIN LATERAL (SELECT * FROM student s WHERE s.id = e.student_id OFFSET 0) s"
)


def columns(selected: Selected) -> list[str]:
    """The student row columns of the roster `selected` asks for (with the sort key when it asks
    for a cursor)."""
    nodes, cursor, _, _ = connection.wanted(selected)
    found = student.columns(nodes)
    if cursor:
        found += [f"key:{c.attribute}" for c in ORDER.columns]
    return found


def sql(selected: Selected, binder: Binder, class_pk: int | None) -> str:
    """The roster's sub-select, over the class row `c` (`class_pk`: that class, when known)."""
    context = binder.context
    try:
        # The resolver's checks, in its order.
        size = page_size(
            argument(selected, "first", binder.variables), context.settings.max_page_size
        )
        after = argument(selected, "after", binder.variables)
        key = None
        if after is not None:
            if class_pk is None:
                raise Fallback("a roster's cursor in a list of classes")
            cursors = roster_cursors(context, class_pk, binder.viewer)
            key = cursors.open(after, len(ORDER.columns))
    except Exception as refused:
        raise Fallback("refused") from refused
    nodes, _, rows_wanted, counted = connection.wanted(selected)
    prefix = binder.prefix()
    params = binder.params
    params[f"{prefix}_size"] = size
    params[f"{prefix}_limit"] = size + 1
    where = reads.roster_where(
        **roster_scope(context, binder.viewer),
        params=params,
        classes="e.class_id = c.id",
        prefix="roster_",
    )
    rows = total = "NULL"
    if where is not None and rows_wanted:
        listed = columns(selected)
        values = student.expressions(listed, nodes, binder, ORDER)
        after_key = "" if key is None else f" AND {ORDER.after(key, params, f'{prefix}_after')}"
        rows = json_rows(values, FROM, where + after_key, ORDER.order_by, f":{prefix}_limit")
    if where is not None and counted:
        total = f"(SELECT count(*) FROM {FROM} WHERE {where})"  # noqa: S608 (names)
    follows = "true" if key is not None else "false"
    return f"json_build_array(CAST(:{prefix}_size AS integer), {follows}, {rows}, {total})"


def render(
    context: Context,
    selected: Selected,
    value: list[Any],
    class_pk: int,
    ring: Keyring | None,
    path: list[str | int],
) -> dict[str, Any]:
    """The roster `selected` asks for, from its sub-select's value; each student decided as
    `student.render` decides."""
    size, follows, rows, total = value
    rows = rows or []
    page = rows[:size]
    position = {c: i for i, c in enumerate(columns(selected))}
    refs = [student.ref_of(context, row) for row in page]
    viewer = context._viewer
    if viewer is None:  # never: a compiled answer has a viewer
        raise Fallback("viewer")
    cursors = roster_cursors(context, class_pk, viewer)

    def cursor(index: int) -> str:
        row = page[index]
        return cursors.seal(tuple(row[position[f"key:{c.attribute}"]] for c in ORDER.columns))

    def node(index: int, field: Selected, at: list[str | int]) -> dict[str, Any]:
        return student.render(context, field, page[index], refs[index], position, ring, at)

    found = connection.Page(len(page), len(rows) > size, follows, total, cursor, node)
    return connection.render(selected, "StudentConnection", found, path)
