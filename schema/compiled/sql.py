"""A `students` connection → one `SELECT` whose single column is the page (and its count) as JSON.

The rows are the ones `reads.list_students` would return: the same WHERE condition (the viewer's
row scope and the keyset position), the same order and limit; the count is `reads.count_students`'s.
Each row is a JSON array of the columns the selection needs, in a fixed order the plan records.
Only column names from the schema's code go into the text; every value is a bound parameter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app import reads
from app.relations import RowScope
from schema.compiled.student import expression


@dataclass(frozen=True)
class StudentsStatement:
    """What the statement of one `students` page selects: `columns` name each row's array
    positions (`id` and `school_id` first, `school` a nested array, `key:<attribute>` the keyset
    values a cursor seals)."""

    order: str
    columns: tuple[str, ...]
    rows: bool
    count: bool

    def text(self, scope: RowScope, after: tuple[Any, ...] | None, params: dict[str, Any]) -> str:
        """The statement for this viewer's scope and page; binds their values into `params`."""
        keyset = reads.STUDENT_ORDERS[self.order][0]
        flt = reads.StudentFilter()
        parts = []
        if self.rows:
            where = reads.student_where(scope, flt, params)
            if after is not None:
                where += f" AND {keyset.after(after, params)}"
            values = ", ".join(_expression(c, keyset) for c in self.columns)
            parts.append(
                "'rows', (SELECT coalesce(json_agg(r.j ORDER BY r.n), '[]'::json) FROM"
                f" (SELECT json_build_array({values}) AS j,"
                f" row_number() OVER (ORDER BY {keyset.order_by}) AS n"
                f" FROM student s WHERE {where} ORDER BY {keyset.order_by} LIMIT :limit) r)"
            )
        if self.count:
            where = reads.student_where(scope, flt, params)
            parts.append(f"'total', (SELECT count(*) FROM student s WHERE {where})")
        return f"SELECT json_build_object({', '.join(parts)})::text"


def students_by_id(columns: tuple[str, ...], scope: RowScope, params: dict[str, Any]) -> str:
    """The statement of students by id (`:ids`): the rows `reads.students_by_id` would return
    (those within the viewer's scope), as a list of row arrays in no particular order."""
    keyset = reads.STUDENT_ORDERS["ID"][0]
    values = ", ".join(_expression(c, keyset) for c in columns)
    where = reads.student_where(scope, reads.StudentFilter(), params)
    return (
        f"SELECT coalesce(json_agg(json_build_array({values})), '[]'::json)::text"
        f" FROM student s WHERE s.id = ANY(:ids) AND {where}"
    )


def _expression(column: str, keyset: Any) -> str:
    if column.startswith("key:"):
        attribute = column[4:]
        return str(next(c.sql for c in keyset.columns if c.attribute == attribute))
    return expression(column)
