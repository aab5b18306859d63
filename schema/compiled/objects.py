"""Objects whose every field is a column of one row, answered from a JSON sub-select: School,
Term, District's plain fields, ReadinessIndicator (and any such type added to `PLAIN`).

`subselect(type, key_sql)` is the JSON array of the row whose id is `key_sql` (null when there is
none), `listselect(type, where_sql, order_sql)` the JSON list of such arrays of the rows `where_sql`
selects; `render(type, selected, value)` the object the selection asks for from one array. No
policy decides their fields: the field that leads to them was decided.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

from schema.compiled.shape import Selected
from schema.compiled.sql import json_rows
from schema.relay import to_global_id


@dataclass(frozen=True)
class Plain:
    table: str
    # GraphQL field → column, in the array's order after the id.
    fields: dict[str, str]

    @property
    def values(self) -> list[str]:
        """The SQL of the array's positions: the id, then the fields' columns."""
        return ["o.id", *(f"o.{c}" for c in self.fields.values())]

    @cached_property
    def position(self) -> dict[str, int]:
        """Field → its position in the array."""
        return {name: i for i, name in enumerate(self.fields, start=1)}


PLAIN: dict[str, Plain] = {
    # Its settings are the policy's to decide: they are not covered (coverage.py).
    "District": Plain("district", {"name": "name"}),
    "School": Plain("school", {"name": "name", "code": "code", "level": "level"}),
    "Term": Plain("term", {"name": "name", "startsOn": "starts_on", "endsOn": "ends_on"}),
    "ReadinessIndicator": Plain(
        "readiness_indicator",
        {
            "indicator": "indicator",
            "category": "category",
            "met": "met",
            "value": "value",
            "achievedOn": "achieved_on",
            "source": "source",
        },
    ),
}


def subselect(type_name: str, key_sql: str) -> str:
    plain = PLAIN[type_name]
    row = f"json_build_array({', '.join(plain.values)})"
    return f"(SELECT {row} FROM {plain.table} o WHERE o.id = {key_sql})"  # noqa: S608


def listselect(type_name: str, where_sql: str, order_sql: str) -> str:
    """The rows of `type_name`'s table (aliased `o`) that `where_sql` selects, in `order_sql`
    order, as a JSON list (empty when there are none)."""
    plain = PLAIN[type_name]
    return json_rows(plain.values, f"{plain.table} o", where_sql, order_sql)


def render(type_name: str, selected: Selected, value: list[Any] | None) -> dict[str, Any] | None:
    if value is None:
        return None
    position = PLAIN[type_name].position
    out: dict[str, Any] = {}
    for key, field in selected.children.items():
        if field.name == "__typename":
            out[key] = type_name
        elif field.name == "id":
            out[key] = to_global_id(type_name, value[0])
        else:
            out[key] = value[position[field.name]]
    return out
