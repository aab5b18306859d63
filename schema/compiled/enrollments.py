"""`Student.classes` and `Student.enrollments` in a compiled answer: one JSON sub-select over the
student row `s` of their enrollments, `[class id, begins on, ends on, class row]`, in the order of
`Loaders.enrollments`.

Released as the resolvers release them (`Student._enrollments`): `Context.academic_release` of
`Student.classes` (recording the disclosure, or withheld with a redaction), then only the
viewer's own classes' where that is all it releases (`enrollment_shown`); `classes` lists the
classes of the active ones, `active` computed as `Enrollment.active` computes it.
"""

from __future__ import annotations

import datetime
from typing import Any

from app import reads
from app.encryption import Keyring
from schema.classes.types import enrolled_today
from schema.compiled import klass
from schema.compiled.base import WITHHELD, Binder
from schema.compiled.shape import Selected
from schema.compiled.sql import json_rows
from schema.compiled.student import Path, StudentRef
from schema.context import Context
from schema.students.types import enrollment_shown


def _classes(selected: Selected) -> list[Selected]:
    """The Class selections of `classes` (itself) or `enrollments` (its `class` fields)."""
    if selected.name == "classes":
        return [selected]
    return [f for f in selected.children.values() if f.name == "class"]


def sql(selected: Selected, binder: Binder) -> str:
    values = ["e.class_id", "e.begins_on", "e.ends_on"]
    nodes = _classes(selected)
    if nodes:
        row = klass.expressions(klass.columns(nodes), nodes, binder)
        values.append(f"json_build_array({', '.join(row)})")
    return json_rows(values, reads.ENROLLMENTS_FROM, "e.student_id = s.id", reads.ENROLLMENT_ORDER)


def _released(
    context: Context, value: list[list[Any]], ref: StudentRef, path: Path
) -> list[list[Any]] | None:
    own_only = context.academic_release(ref, "classes")
    if own_only is None:
        context.redact_at(path, "Student.classes", WITHHELD)
        return None
    return [row for row in value if enrollment_shown(context, own_only, row[0])]


def _active(row: list[Any]) -> bool:
    ends_on = row[2]
    return enrolled_today(
        datetime.date.fromisoformat(row[1]),
        None if ends_on is None else datetime.date.fromisoformat(ends_on),
    )


def classes(
    context: Context,
    selected: Selected,
    value: list[list[Any]],
    ref: StudentRef,
    ring: Keyring | None,
    path: Path,
) -> list[dict[str, Any]] | None:
    rows = _released(context, value, ref, path)
    if rows is None:
        return None
    position = {c: i for i, c in enumerate(klass.columns([selected]))}
    active = [row for row in rows if _active(row)]
    return [
        klass.render(context, selected, row[3], position, ring, [*path, index])
        for index, row in enumerate(active)
    ]


def enrollments(
    context: Context,
    selected: Selected,
    value: list[list[Any]],
    ref: StudentRef,
    ring: Keyring | None,
    path: Path,
) -> list[dict[str, Any]] | None:
    rows = _released(context, value, ref, path)
    if rows is None:
        return None
    position = {c: i for i, c in enumerate(klass.columns(_classes(selected)))}
    found = []
    for index, row in enumerate(rows):
        out: dict[str, Any] = {}
        for key, field in selected.children.items():
            if field.name == "__typename":
                out[key] = "Enrollment"
            elif field.name == "beginsOn":
                out[key] = row[1]
            elif field.name == "endsOn":
                out[key] = row[2]
            elif field.name == "active":
                out[key] = _active(row)
            else:  # class
                out[key] = klass.render(context, field, row[3], position, ring, [*path, index, key])
        found.append(out)
    return found
