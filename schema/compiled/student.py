"""A Student in a compiled answer: the columns its selected fields are made of, and its value
from its row.

A row is a JSON array of columns whose positions the caller records (`id` and `school_id` first).
Scalars are columns of `student s`; a nested field (`NESTED`) is one JSON sub-select over `s`,
rendered by its own function. Each field is decided as the resolver decides it — with the
context's own `allows` (which records the disclosure) or withheld with `redact_at` — so the two
paths cannot disagree.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from app.encryption import ENCRYPTED, Keyring
from app.relations import Viewer
from schema.compiled import guardians, marks, objects, portfolio, readiness
from schema.compiled.base import WITHHELD, blob
from schema.compiled.shape import Selected
from schema.context import Context
from schema.relay import to_global_id

SECRET = frozenset(ENCRYPTED["student"])
Path = list[str | int]

# Scalar field → the columns of `student s` its value is made of.
STUDENT_COLUMNS: dict[str, tuple[str, ...]] = {
    "firstName": ("first_name",),
    "lastName": ("last_name",),
    "preferredName": ("preferred_name",),
    "displayName": ("preferred_name", "first_name", "last_name"),
    "gradeLevel": ("grade_level",),
    "studentNumber": ("student_number",),
    "email": ("email",),
    "phone": ("phone",),
    "dateOfBirth": ("date_of_birth",),
    "gender": ("gender",),
    "ethnicity": ("ethnicity",),
}


@dataclass
class StudentRef:
    """What `Context.allows` needs of a row."""

    pk: int
    school_id: int
    mask: int


# A nested field's value: (context, its selection, its sub-select's JSON, the student, the
# keyring, its path) → its value in the response.
Render = Callable[[Context, Selected, Any, StudentRef, Keyring | None, Path], Any]


@dataclass(frozen=True)
class Nested:
    """A Student field answered from one JSON sub-select over the student row `s`."""

    sql: str
    render: Render
    # Whether `Student.<field>` is decided (allowed or withheld) before `render` is called;
    # False when the field's release is the renderer's to decide (marks, classes, portfolio).
    decided: bool = True
    # Whether its values are encrypted (the keyring is loaded).
    secret: bool = False
    # The values its `sql` binds (parameters named after the field), for the viewer.
    params: Callable[[Context, Viewer], dict[str, Any]] | None = None


def _school(
    context: Context,
    selected: Selected,
    school: Any,
    ref: StudentRef,
    ring: Keyring | None,
    path: Path,
) -> dict[str, Any] | None:
    return objects.render("School", selected, school)


NESTED: dict[str, Nested] = {
    "school": Nested(objects.subselect("School", "s.school_id"), _school),
    "guardians": Nested(guardians.SQL, guardians.render, secret=True),
    "portfolio": Nested(portfolio.SQL, portfolio.render, decided=False, secret=True),
    "marks": Nested(marks.SQL, marks.render, decided=False, secret=True, params=marks.params),
    "readiness": Nested(readiness.SQL, readiness.render),
}


def columns(nodes: list[Selected]) -> list[str]:
    """The row columns the Student fields selected in `nodes` are made of, `id` and `school_id`
    first."""
    found = ["id", "school_id"]
    for node in nodes:
        for selected in node.children.values():
            name = selected.name
            for column in STUDENT_COLUMNS.get(name, (name,) if name in NESTED else ()):
                if column not in found:
                    found.append(column)
    return found


def expression(column: str) -> str:
    """The SQL of one column of a student row (over `student s`)."""
    nested = NESTED.get(column)
    return nested.sql if nested else f"s.{column}"


def bind(context: Context, viewer: Viewer, columns: list[str], params: dict[str, Any]) -> None:
    """Bind into `params` the values the nested sub-selects among `columns` use."""
    for column in columns:
        nested = NESTED.get(column)
        if nested is not None and nested.params is not None:
            params.update(nested.params(context, viewer))


def secret(columns: list[str]) -> bool:
    """Whether any of `columns` holds encrypted values."""
    return any(c in SECRET or (c in NESTED and NESTED[c].secret) for c in columns)


def ref_of(context: Context, row: list[Any]) -> StudentRef:
    return StudentRef(row[0], row[1], context.student_mask(row[0], row[1]))


def render(
    context: Context,
    selected: Selected,
    row: list[Any],
    ref: StudentRef,
    position: dict[str, int],
    ring: Keyring | None,
    path: Path,
) -> dict[str, Any]:
    """The Student `selected` asks for, from its row; withheld fields null and redacted."""
    out: dict[str, Any] = {}
    for key, field in selected.children.items():
        name = field.name
        nested = NESTED.get(name)
        if name == "__typename":
            out[key] = "Student"
        elif name == "id":
            out[key] = to_global_id("Student", ref.pk)
        elif (nested is None or nested.decided) and not context.allows(ref, f"Student.{name}"):
            context.redact_at([*path, key], f"Student.{name}", WITHHELD)
            out[key] = None
        elif nested is not None:
            out[key] = nested.render(context, field, row[position[name]], ref, ring, [*path, key])
        elif name == "displayName":
            preferred = row[position["preferred_name"]]
            first = row[position["first_name"]]
            out[key] = f"{preferred or first} {row[position['last_name']][:1]}."
        else:
            (column,) = STUDENT_COLUMNS[name]
            value = row[position[column]]
            if column in SECRET and ring is not None:
                value = ring.decrypt("student", column, ref.pk, blob(value))
            out[key] = value
    return out
