"""Classes (sections): an administrator creates them and changes their title, code, subject,
grade levels, term and visibility; a teacher switches the visibility of a class they teach.

Classes hold no personal values: the audit event carries the values before and after.

    row = await classes.create(connection, actor, values={"school": 3, "term": 2, "title": ...})
    row = await classes.update(connection, actor, class_id=row.id, values={"visibility": "PUBLIC"})
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from app.admin.records import checks
from app.models import ClassVisibility
from app.writes import Actor, WriteRefused, audit

MAX_GRADES = len(checks.GRADES)
# The fields of a class, by GraphQL name, and their columns.
COLUMNS: Mapping[str, str] = {
    "school": "school_id",
    "term": "term_id",
    "title": "title",
    "code": "code",
    "subject": "subject",
    "gradeLevels": "grade_levels",
    "visibility": "visibility",
}
REQUIRED = ("school", "term", "title", "code", "subject")
# The one field a class's teacher may change (policy `Class.visibility`).
VISIBILITY = "visibility"


def _grades(values: list[int]) -> list[int]:
    if len(values) > MAX_GRADES:
        raise WriteRefused("gradeLevels: at most one of each grade", "TOO_MANY", "gradeLevels")
    return sorted({checks.grade(v, "gradeLevels") for v in values})


async def clean(connection: AsyncConnection, district_id: int, name: str, value: Any) -> Any:
    if value is None:
        raise WriteRefused(f"{name}: cannot be empty", "REQUIRED", name)
    match name:
        case "school":
            return (await checks.school(connection, school_id=value, district_id=district_id)).id
        case "term":
            return (await checks.term(connection, term_id=value, district_id=district_id)).id
        case "gradeLevels":
            return _grades(list(value))
        case "visibility":
            return ClassVisibility(value).value
        case "code":
            return checks.label(value, name, limit=40)
        case _:
            return checks.label(value, name)


async def create(
    connection: AsyncConnection, actor: Actor, *, values: Mapping[str, Any]
) -> Row[Any]:
    """A new class at `values["school"]` (checked by the caller to be in scope)."""
    values = {"gradeLevels": [], "visibility": ClassVisibility.PRIVATE.value, **values}
    for name in REQUIRED:
        if values.get(name) is None:
            raise WriteRefused(f"{name}: cannot be empty", "REQUIRED", name)
    cleaned = {
        COLUMNS[name]: await clean(connection, actor.district_id, name, values[name])
        for name in COLUMNS
    }
    row = (
        await connection.execute(
            text(
                f"INSERT INTO class_section (district_id, {', '.join(cleaned)})"  # noqa: S608
                f" VALUES (:district_id, {', '.join(':' + c for c in cleaned)}) RETURNING *"
            ),
            {"district_id": actor.district_id, **cleaned},
        )
    ).one()
    await audit(
        connection,
        actor,
        "create_class",
        "Class",
        row.id,
        {name: [None, cleaned[COLUMNS[name]]] for name in COLUMNS},
    )
    return row


async def update(
    connection: AsyncConnection, actor: Actor, *, class_id: int, values: Mapping[str, Any]
) -> Row[Any]:
    """Change the fields of `values` of a class of the district; the class as it now reads."""
    if not values:
        raise WriteRefused("give at least one field to change", "NOTHING_TO_CHANGE")
    current = await checks.class_section(
        connection, class_id=class_id, district_id=actor.district_id, lock=True
    )
    cleaned = {
        COLUMNS[name]: await clean(connection, actor.district_id, name, value)
        for name, value in values.items()
    }
    row, changed = await checks.update_changed(connection, "class_section", current, cleaned)
    names = {column: name for name, column in COLUMNS.items()}
    await audit(
        connection,
        actor,
        "update_class",
        "Class",
        class_id,
        {names[c]: [before, after] for c, (before, after) in changed.items()},
    )
    return row
