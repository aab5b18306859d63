"""Guardian links: an administrator links a guardian to a student and changes the link.

A link records the relationship (parent, guardian, relative), whether the guardian is a legal
guardian, and `data_access`: false records a custody restriction (the link stays on record and
discloses nothing: `guardian_of` needs data access). One link of a guardian to a student at a
time.

    row = await guardians.link(connection, actor, guardian_id=9, student_id=7,
                               values={"relationship": "parent", ...})
    row = await guardians.update(connection, actor, link_id=row.id, values={"dataAccess": False})
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from app.admin.records import checks
from app.writes import Actor, WriteRefused, audit

RELATIONSHIPS = ("parent", "guardian", "relative")
# The fields of a link, by GraphQL name, and their columns.
COLUMNS: Mapping[str, str] = {
    "relationship": "relationship",
    "legalGuardian": "legal_guardian",
    "dataAccess": "data_access",
    "startsOn": "starts_on",
    "endsOn": "ends_on",
}
# Two periods overlap unless one ends before the other begins (an open end never does).
_CLASH = (
    "SELECT starts_on FROM guardian_link"
    " WHERE guardian_user_id = :guardian_id AND student_id = :student_id"
    " AND id IS DISTINCT FROM CAST(:link_id AS bigint) AND "
    "starts_on <= coalesce(CAST(:ends_on AS date), 'infinity'::date)"
    " AND coalesce(ends_on, 'infinity'::date) >= CAST(:starts_on AS date)"
)


def _relationship(value: str) -> str:
    value = value.strip().lower()
    if value not in RELATIONSHIPS:
        raise WriteRefused(
            f"relationship: one of {', '.join(RELATIONSHIPS)}", "NOT_ALLOWED", "relationship"
        )
    return value


async def _no_overlap(
    connection: AsyncConnection,
    *,
    guardian_id: int,
    student_id: int,
    starts_on: datetime.date,
    ends_on: datetime.date | None,
    link_id: int | None,
) -> None:
    clash = (
        await connection.execute(
            text(_CLASH),
            {
                "guardian_id": guardian_id,
                "student_id": student_id,
                "starts_on": starts_on,
                "ends_on": ends_on,
                "link_id": link_id,
            },
        )
    ).first()
    if clash is not None:
        raise WriteRefused(
            f"the guardian is already linked to this student from {clash.starts_on}",
            "ALREADY_LINKED",
            "guardianId",
        )


def _details(row: Row[Any]) -> dict[str, Any]:
    return {name: getattr(row, column) for name, column in COLUMNS.items()}


async def link(
    connection: AsyncConnection,
    actor: Actor,
    *,
    guardian_id: int,
    student_id: int,
    values: Mapping[str, Any],
) -> Row[Any]:
    starts_on, ends_on = checks.period(
        values["startsOn"], values.get("endsOn"), start_field="startsOn", end_field="endsOn"
    )
    await checks.student(connection, student_id=student_id, district_id=actor.district_id)
    guardian = await checks.user(
        connection, user_id=guardian_id, district_id=actor.district_id, field="guardianId"
    )
    if guardian.is_student:
        raise WriteRefused(
            "a student's own account cannot be a guardian", "NOT_A_GUARDIAN", "guardianId"
        )
    # Serialises links of this guardian, so two requests cannot both pass the overlap check.
    await connection.execute(
        text("SELECT id FROM app_user WHERE id = :id FOR UPDATE"), {"id": guardian_id}
    )
    await _no_overlap(
        connection,
        guardian_id=guardian_id,
        student_id=student_id,
        starts_on=starts_on,
        ends_on=ends_on,
        link_id=None,
    )
    row = (
        await connection.execute(
            text(
                "INSERT INTO guardian_link (district_id, guardian_user_id, student_id,"
                " relationship, legal_guardian, data_access, starts_on, ends_on)"
                " VALUES (:district_id, :guardian_id, :student_id, :relationship,"
                " :legal_guardian, :data_access, :starts_on, :ends_on) RETURNING *"
            ),
            {
                "district_id": actor.district_id,
                "guardian_id": guardian_id,
                "student_id": student_id,
                "relationship": _relationship(values["relationship"]),
                "legal_guardian": bool(values["legalGuardian"]),
                "data_access": bool(values["dataAccess"]),
                "starts_on": starts_on,
                "ends_on": ends_on,
            },
        )
    ).one()
    await audit(
        connection,
        actor,
        "link_guardian",
        "Student",
        student_id,
        {
            "link": row.id,
            "guardian": guardian_id,
            **{k: [None, v] for k, v in _details(row).items()},
        },
    )
    return row


async def link_row(connection: AsyncConnection, *, link_id: int, district_id: int) -> Row[Any]:
    row = (
        await connection.execute(
            text(
                "SELECT gl.*, s.school_id FROM guardian_link gl"
                " JOIN student s ON s.id = gl.student_id"
                " WHERE gl.id = :id AND gl.district_id = :district_id"
            ),
            {"id": link_id, "district_id": district_id},
        )
    ).first()
    if row is None:
        raise WriteRefused("no such guardian link", "NOT_FOUND", "id")
    return row


async def update(
    connection: AsyncConnection, actor: Actor, *, link_id: int, values: Mapping[str, Any]
) -> Row[Any]:
    """Change the fields of `values` of a link of the district; the link as it now reads."""
    if not values:
        raise WriteRefused("give at least one field to change", "NOTHING_TO_CHANGE")
    current = (
        await connection.execute(
            text(
                "SELECT * FROM guardian_link WHERE id = :id AND district_id = :district_id"
                " FOR UPDATE"
            ),
            {"id": link_id, "district_id": actor.district_id},
        )
    ).first()
    if current is None:
        raise WriteRefused("no such guardian link", "NOT_FOUND", "id")
    await checks.student(connection, student_id=current.student_id, district_id=actor.district_id)
    cleaned: dict[str, Any] = {}
    for name, value in values.items():
        if value is None and name != "endsOn":
            raise WriteRefused(f"{name}: cannot be empty", "REQUIRED", name)
        if name == "relationship":
            value = _relationship(value)
        elif name in ("legalGuardian", "dataAccess"):
            value = bool(value)
        cleaned[COLUMNS[name]] = value
    starts_on, ends_on = checks.period(
        cleaned.get("starts_on", current.starts_on),
        cleaned.get("ends_on", current.ends_on),
        start_field="startsOn",
        end_field="endsOn",
    )
    await _no_overlap(
        connection,
        guardian_id=current.guardian_user_id,
        student_id=current.student_id,
        starts_on=starts_on,
        ends_on=ends_on,
        link_id=link_id,
    )
    row, changed = await checks.update_changed(connection, "guardian_link", current, cleaned)
    names = {column: name for name, column in COLUMNS.items()}
    await audit(
        connection,
        actor,
        "update_guardian_link",
        "Student",
        current.student_id,
        {
            "link": link_id,
            "guardian": current.guardian_user_id,
            **{names[c]: [before, after] for c, (before, after) in changed.items()},
        },
    )
    return row
