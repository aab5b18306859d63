"""A Student in a compiled answer: the columns its selected fields are made of, and its value
from its row.

A row is a JSON array of columns whose positions the caller records (`id` and `school_id` first).
Scalars are columns of `student s`; a nested field (`NESTED`) is one JSON sub-select over `s`,
rendered by its own function (the sub-select of `classes` and `enrollments` is built from what
they select: `schema/compiled/enrollments.py`). Each field is decided as the resolver decides
it — with the context's own `allows` (which records the disclosure) or withheld with
`redact_at` — so the two paths cannot disagree.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from app.encryption import ENCRYPTED, Keyring
from app.keyset import Keyset
from app.relations import Viewer
from schema.compiled import guardians, marks, objects, portfolio, readiness
from schema.compiled.base import WITHHELD, Binder, blob
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

    # The sub-select; or, for a field whose sub-select depends on what it selects (a Class's
    # roster, say), the function that builds it from the field and the statement's `Binder`:
    # such a field has a column of its own per place in the document (`column_of`).
    sql: str | Callable[[Selected, Binder], str]
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


def _enrollments(name: str) -> Any:
    """A function of `schema.compiled.enrollments`, imported when first called: a student's
    classes render their rosters, which render Students (this module)."""

    def call(*args: Any) -> Any:
        from schema.compiled import enrollments

        return getattr(enrollments, name)(*args)

    return call


NESTED: dict[str, Nested] = {
    "school": Nested(objects.subselect("School", "s.school_id"), _school),
    # Released by `Context.academic_release` (the renderer decides), as the resolvers do.
    "classes": Nested(_enrollments("sql"), _enrollments("classes"), decided=False),
    "enrollments": Nested(_enrollments("sql"), _enrollments("enrollments"), decided=False),
    "guardians": Nested(guardians.SQL, guardians.render, secret=True),
    "portfolio": Nested(portfolio.SQL, portfolio.render, decided=False, secret=True),
    "marks": Nested(marks.SQL, marks.render, decided=False, secret=True, params=marks.params),
    "readiness": Nested(readiness.SQL, readiness.render),
}


def column_of(field: Selected) -> str:
    """The row column a nested Student field is made of: its name, or for a field whose SQL is
    built from its selection, its name and place."""
    nested = NESTED.get(field.name)
    if nested is not None and callable(nested.sql):
        return f"{field.name}@{field.place}"
    return field.name


def columns(nodes: list[Selected]) -> list[str]:
    """The row columns the Student fields selected in `nodes` are made of, `id` and `school_id`
    first."""
    found = ["id", "school_id"]
    for node in nodes:
        for selected in node.children.values():
            name = selected.name
            made_of = (column_of(selected),) if name in NESTED else STUDENT_COLUMNS.get(name, ())
            for column in made_of:
                if column not in found:
                    found.append(column)
    return found


def expressions(
    columns: list[str], nodes: list[Selected], binder: Binder, keyset: Keyset | None = None
) -> list[str]:
    """The SQL of each of `columns` over `student s` (`key:<attribute>`: a value of `keyset`);
    what nested fields bind goes into `binder`."""
    built = {column_of(f): f for node in nodes for f in node.children.values()}
    if secret(columns):
        binder.secret = True
    found = []
    for column in columns:
        if column.startswith("key:") and keyset is not None:
            found.append(next(c.sql for c in keyset.columns if c.attribute == column[4:]))
            continue
        nested = NESTED.get(column.split("@")[0])
        if nested is not None and nested.params is not None:
            binder.params.update(nested.params(binder.context, binder.viewer))
        if nested is None:
            found.append(f"s.{column}")
        elif callable(nested.sql):
            found.append(nested.sql(built[column], binder))
        else:
            found.append(nested.sql)
    return found


def secret(columns: list[str]) -> bool:
    """Whether any of `columns` holds encrypted values (nested ones built by a `Binder` say so
    themselves)."""
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
            value = row[position[column_of(field)]]
            out[key] = nested.render(context, field, value, ref, ring, [*path, key])
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
