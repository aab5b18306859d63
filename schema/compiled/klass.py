"""A Class in a compiled answer: the columns its selected fields are made of (over the class row
`class_section c`), and its value from its row.

A row is a JSON array of columns whose positions `columns` names (`id` and `title` first):
the class's own columns, `school` and `term` (`objects`), `teachers` (the rows and order of
`Loaders.teachers`, emails decrypted as its loader decrypts them) and one roster per `students`
selected (`roster`). Nothing of a class is decided by the policy: the field or list that leads to
it was; its roster's students are decided one by one.
"""

from __future__ import annotations

from typing import Any

from app import reads
from app.encryption import Keyring
from schema.compiled import objects, roster
from schema.compiled.base import Binder, Fallback, blob
from schema.compiled.shape import Selected
from schema.compiled.sql import json_rows
from schema.context import Context
from schema.relay import to_global_id

# Scalar field → its column of `class_section c`.
CLASS_COLUMNS = {
    "title": "title",
    "code": "code",
    "subject": "subject",
    "gradeLevels": "grade_levels",
    "visibility": "visibility",
}
PLAIN = {"school": "School", "term": "Term"}
TEACHERS = json_rows(
    ["u.id", "u.first_name", "u.last_name", "u.email"],
    "teaching_assignment ta JOIN app_user u ON u.id = ta.staff_user_id",
    f"ta.class_id = c.id AND {reads.TEACHING_TODAY}",
    reads.TEACHER_ORDER,
)


def column_of(field: Selected) -> str | None:
    """The row column a selected Class field is made of (None: `id`, `__typename`)."""
    if field.name == "students":
        return f"students@{field.place}"
    if field.name in PLAIN or field.name == "teachers":
        return field.name
    return CLASS_COLUMNS.get(field.name)


def columns(nodes: list[Selected]) -> list[str]:
    """The row columns the Class fields selected in `nodes` are made of, `id` and `title` (the
    sort key of `classes`) first."""
    found = ["id", "title"]
    for node in nodes:
        for field in node.children.values():
            column = column_of(field)
            if column is not None and column not in found:
                found.append(column)
    return found


def expressions(
    columns: list[str], nodes: list[Selected], binder: Binder, pk: int | None = None
) -> list[str]:
    """The SQL of each of `columns` over `class_section c` (`pk`: the class's key, when it is
    known before the statement); what rosters bind goes into `binder`."""
    fields = {column_of(f): f for node in nodes for f in node.children.values()}
    found = []
    for column in columns:
        if column in PLAIN:
            found.append(objects.subselect(PLAIN[column], f"c.{column}_id"))
        elif column == "teachers":
            if any(f.name == "email" for t in _teachers(nodes) for f in t.children.values()):
                binder.secret = True
            found.append(TEACHERS)
        elif column.startswith("students@"):
            found.append(roster.sql(fields[column], binder, pk))
        else:
            found.append(f"c.{column}")
    return found


def _teachers(nodes: list[Selected]) -> list[Selected]:
    return [f for node in nodes for f in node.children.values() if f.name == "teachers"]


def render(
    context: Context,
    selected: Selected,
    row: list[Any],
    position: dict[str, int],
    ring: Keyring | None,
    path: list[str | int],
) -> dict[str, Any]:
    """The Class `selected` asks for, from its row."""
    out: dict[str, Any] = {}
    for key, field in selected.children.items():
        name = field.name
        if name == "__typename":
            out[key] = "Class"
        elif name == "id":
            out[key] = to_global_id("Class", row[0])
        elif name in PLAIN:
            out[key] = objects.render(PLAIN[name], field, row[position[name]])
        elif name == "teachers":
            out[key] = [_teacher(field, t, ring) for t in row[position[name]]]
        elif name == "students":
            value = row[position[f"students@{field.place}"]]
            out[key] = roster.render(context, field, value, row[0], ring, [*path, key])
        else:
            out[key] = row[position[CLASS_COLUMNS[name]]]
    return out


def _teacher(selected: Selected, value: list[Any], ring: Keyring | None) -> dict[str, Any]:
    pk, first_name, last_name, email = value
    out: dict[str, Any] = {}
    for key, field in selected.children.items():
        if field.name == "__typename":
            out[key] = "StaffMember"
        elif field.name == "id":
            out[key] = to_global_id("StaffMember", pk)
        elif field.name == "firstName":
            out[key] = first_name
        elif field.name == "lastName":
            out[key] = last_name
        elif ring is None:  # never: `expressions` asks for the keyring
            raise Fallback("keyring")
        else:  # email, encrypted at rest
            out[key] = ring.decrypt("app_user", "email", pk, blob(email))
    return out
