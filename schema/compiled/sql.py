"""The statements' SQL: a `students` connection → one `SELECT` whose single column is the page (and
its count) as JSON, and the JSON list every listed part of a statement is (`json_rows`).

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


def json_rows(
    values: list[str], source: str, where: str, order_by: str, limit: str | None = None
) -> str:
    """The JSON list (never null) of `json_build_array(values)` of the rows of `source` where
    `where`, in the order `order_by`; the first `limit` (a parameter) when given."""
    row = f"json_build_array({', '.join(values)})"
    if limit is None:
        listed = f"json_agg({row} ORDER BY {order_by})"
        return f"(SELECT coalesce({listed}, '[]'::json) FROM {source} WHERE {where})"
    return (
        "(SELECT coalesce(json_agg(r.j ORDER BY r.n), '[]'::json) FROM"
        f" (SELECT {row} AS j, row_number() OVER (ORDER BY {order_by}) AS n"
        f" FROM {source} WHERE {where} ORDER BY {order_by} LIMIT {limit}) r)"
    )


@dataclass(frozen=True)
class StudentsStatement:
    """What the statement of one `students` page selects: `values` are the SQL of each row's
    array positions (`id` and `school_id` first, nested fields a JSON value, the keyset values a
    cursor seals last)."""

    order: str
    values: tuple[str, ...]
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
            page = json_rows(list(self.values), "student s", where, keyset.order_by, ":limit")
            parts.append(f"'rows', {page}")
        if self.count:
            where = reads.student_where(scope, flt, params)
            parts.append(f"'total', (SELECT count(*) FROM student s WHERE {where})")
        return f"SELECT json_build_object({', '.join(parts)})::text"


def students_by_id(values: list[str], scope: RowScope, params: dict[str, Any]) -> str:
    """The statement of students by id (`:ids`): the rows `reads.students_by_id` would return
    (those within the viewer's scope), as a JSON list of row arrays."""
    where = reads.student_where(scope, reads.StudentFilter(), params)
    return f"SELECT {json_rows(values, 'student s', f's.id = ANY(:ids) AND {where}', 's.id')}::text"
