"""The `viewer` root: the signed-in user, as `PeopleQuery.viewer` answers it.

Its scalars and roles are the viewer's own (`Context.viewer()`, through `viewer_type`, the
resolver's function): no statement. `district` is one statement, as the resolver's, and `student`
and `children` one over the student rows by id — the rows `Loaders.student` returns (the viewer's
row scope), `children` in `guardian_of` order with missing ones dropped — each rendered by
`student.render`. `sessions` and the district's settings are not covered (coverage.py).

Statements run in the resolvers' order (the district's, then the students'); when one fails, the
fields it answers are null and the errors located as graphql-core locates the resolvers' (see
`_located`).
"""

from __future__ import annotations

from typing import Any

from graphql import GraphQLError, located_error

from schema.compiled import objects, student
from schema.compiled.base import Binder, Failed, fetch
from schema.compiled.shape import Selected
from schema.compiled.sql import students_by_id
from schema.context import Context
from schema.people.queries import ViewerType, viewer_type

# Fields whose values are the viewer's own: name → the attribute of `ViewerType`.
_OWN = {"id": "id", "username": "username", "firstName": "first_name", "lastName": "last_name"}
_STUDENTS = ("student", "children")


async def viewer(
    context: Context, selected: Selected, variables: dict[str, Any]
) -> dict[str, Any] | None:
    found = await context.viewer()
    if found is None:
        return None
    value = viewer_type(found)
    path: list[str | int] = [selected.key]
    fields = list(selected.children.values())
    errors: list[GraphQLError] = []

    # Each `district` runs its own statement on the resolver path: one answers them all here,
    # unless it failed (then each fails on its own, as the lost transaction fails the next).
    districts: dict[str, Any] = {}
    district: list[Any] | None = None
    answered = False
    for field in (f for f in fields if f.name == "district"):
        if not answered:
            try:
                district = await _district(context, value.district_id)
                answered = True
            except Exception as error:
                errors.append(_located(error, field, [*path, field.key]))
        districts[field.key] = objects.render("District", field, district) if answered else None

    rows: dict[int, list[Any]] = {}
    columns: list[str] = []
    ring = None
    listing = [f for f in fields if f.name in _STUDENTS]
    lost = False  # the students' statement failed
    try:
        rows, columns, ring = await _students(context, value, listing, variables)
    except Exception as error:
        # The loader's one statement fails every field awaiting it: the nullable `student`s
        # are reported first, then the first `children`, whose null (a non-null list) is the
        # viewer's, which graphql-core reports once its siblings are done.
        owned = [f for f in listing if f.name == "student"]
        owned += [f for f in listing if f.name == "children"][:1]
        errors += [_located(error, f, [*path, f.key]) for f in owned]
        if any(f.name == "children" for f in listing):
            raise Failed(None, errors) from error
        lost = True

    position = {c: i for i, c in enumerate(columns)}
    out: dict[str, Any] = {}
    for field in fields:
        key, name = field.key, field.name
        if name == "__typename":
            out[key] = "Viewer"
        elif name in _OWN:
            out[key] = getattr(value, _OWN[name])
        elif name == "roles":
            out[key] = [_role(field, grant) for grant in value.roles]
        elif name == "district":
            out[key] = districts[key]
        elif name == "student" and lost:
            out[key] = None
        elif name == "student":
            row = rows.get(value.student_id) if value.student_id is not None else None
            out[key] = _render(context, field, row, position, ring, [*path, key])
        else:  # children
            found_rows = [rows[i] for i in value.guardian_of if i in rows]
            out[key] = [
                _render(context, field, row, position, ring, [*path, key, index])
                for index, row in enumerate(found_rows)
            ]
    if errors:
        raise Failed(out, errors)
    return out


async def _district(context: Context, district_id: int) -> list[Any] | None:
    """The district's row as the resolver reads it (`_district`), as a JSON array."""
    sql = f"SELECT {objects.subselect('District', ':district_id')}::text"
    found, _ = await fetch(context, sql, {"district_id": district_id}, secret=False)
    return found  # type: ignore[no-any-return]


async def _students(
    context: Context, value: ViewerType, listing: list[Selected], variables: dict[str, Any]
) -> tuple[dict[int, list[Any]], list[str], Any]:
    """The rows of the students `listing` asks for, by id, in one statement — none when there is
    nothing to load or the viewer's scope is empty, as `Loaders.student` runs none."""
    ids: list[int] = []
    if any(f.name == "student" for f in listing) and value.student_id is not None:
        ids.append(value.student_id)
    if any(f.name == "children" for f in listing):
        ids += [i for i in value.guardian_of if i not in ids]
    columns = student.columns(listing)
    viewer = await context.require_viewer()
    scope = context.scope(viewer)
    if not ids or scope.empty:
        return {}, columns, None
    binder = Binder(context, viewer, variables, {"ids": ids})
    sql = students_by_id(student.expressions(columns, listing, binder), scope, binder.params)
    found, ring = await fetch(context, sql, binder.params, secret=binder.secret)
    return {row[0]: row for row in found}, columns, ring


def _render(
    context: Context,
    selected: Selected,
    row: list[Any] | None,
    position: dict[str, int],
    ring: Any,
    path: list[str | int],
) -> dict[str, Any] | None:
    if row is None:
        return None
    ref = student.ref_of(context, row)
    return student.render(context, selected, row, ref, position, ring, path)


def _role(selected: Selected, grant: Any) -> dict[str, Any]:
    names = {"role": grant.role, "schoolId": grant.school_id, "__typename": "RoleGrant"}
    return {key: names[field.name] for key, field in selected.children.items()}


def _located(error: Exception, selected: Selected, path: list[str | int]) -> GraphQLError:
    """`error` where graphql-core puts a resolver's: at the field's path and nodes."""
    return located_error(error, selected.nodes, path)
