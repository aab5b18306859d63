"""A school's cancellation: its classes go, its people stay.

When a school leaves SchoolGraph (one seed product's rule: "removing a school's classes and
enrollments keeps its student and guardian accounts"), `cancel` removes, in one transaction:

- the grants scoped to one of its classes are revoked first (a revoked grant outlives its class:
  it stays in the record, its class emptied);
- the school's classes, with their enrollments, teaching assignments and the marks given in them.
  Marks are education records: a cancellation that must keep transcripts exports them first
  (an INSPECT request per student, docs/privacy.md); they cannot outlive the class they grade.

Kept: the school itself, every student and guardian account and guardian link, staff accounts
and roles, portfolios, readiness results, consents, data requests, the record of disclosures and
grants scoped to the whole school or to one student. One audit event names the counts.

```python
plan = await cancel.preview(connection, school_id=3)     # what would go, nothing changed
plan = await cancel.cancel(connection, school_id=3, by="alice")
```
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.districts.settings import audit

ACTION = "cancel_school"


class CancelError(Exception):
    """The school cannot be found (or is ambiguous)."""


@dataclass(frozen=True)
class School:
    id: int
    district_id: int
    code: str
    name: str


@dataclass(frozen=True)
class Plan:
    """What a cancellation removes (first five) and keeps (the last two)."""

    classes: int
    enrollments: int
    teaching_assignments: int
    marks: int
    grants_revoked: int
    students_kept: int
    guardians_kept: int

    def rows(self) -> list[tuple[str, int]]:
        return [(f.name.replace("_", " "), getattr(self, f.name)) for f in fields(self)]


async def find_school(
    connection: AsyncConnection, key: str, *, district_id: int | None = None
) -> School:
    """A school by id or by code (`H001`); codes repeat across districts, so a code shared by
    schools of several districts needs `district_id`."""
    column = "id" if key.isdigit() else "code"
    rows = (
        await connection.execute(
            text(
                f"SELECT id, district_id, code, name FROM school WHERE {column} = :key"  # noqa: S608
                " AND (CAST(:district AS bigint) IS NULL OR district_id = :district)"
            ),
            {"key": int(key) if key.isdigit() else key, "district": district_id},
        )
    ).all()
    if not rows:
        raise CancelError(f"no school {key!r}")
    if len(rows) > 1:
        raise CancelError(f"schools of several districts have the code {key!r}: add --district")
    row = rows[0]
    return School(row.id, row.district_id, row.code, row.name)


_PLAN_SQL = """
WITH classes AS (SELECT id FROM class_section WHERE school_id = :school)
SELECT
  (SELECT count(*) FROM classes) AS classes,
  (SELECT count(*) FROM enrollment WHERE class_id IN (SELECT id FROM classes)) AS enrollments,
  (SELECT count(*) FROM teaching_assignment WHERE class_id IN (SELECT id FROM classes))
    AS teaching_assignments,
  (SELECT count(*) FROM mark WHERE class_id IN (SELECT id FROM classes)) AS marks,
  (SELECT count(*) FROM legitimate_interest_grant
   WHERE class_id IN (SELECT id FROM classes) AND revoked_at IS NULL) AS grants_revoked,
  (SELECT count(*) FROM student WHERE school_id = :school) AS students_kept,
  (SELECT count(DISTINCT gl.guardian_user_id) FROM guardian_link gl
   JOIN student s ON s.id = gl.student_id WHERE s.school_id = :school) AS guardians_kept
"""
_OF_CLASSES = "class_id IN (SELECT id FROM class_section WHERE school_id = :school)"


async def preview(connection: AsyncConnection, *, school_id: int) -> Plan:
    row = (await connection.execute(text(_PLAN_SQL), {"school": school_id})).one()
    return Plan(**{f.name: int(getattr(row, f.name)) for f in fields(Plan)})


async def cancel(connection: AsyncConnection, *, school: School, by: str) -> Plan:
    """Carry the cancellation out (in the caller's transaction) and audit it."""
    params: dict[str, Any] = {"school": school.id}
    plan = await preview(connection, school_id=school.id)
    revoked = (
        await connection.execute(
            text(
                "UPDATE legitimate_interest_grant SET revoked_at = now()"
                " WHERE class_id IN (SELECT id FROM class_section WHERE school_id = :school)"
                " AND revoked_at IS NULL RETURNING id"
            ),
            params,
        )
    ).all()
    for grant in revoked:
        await audit(
            connection,
            None,
            "revoke_legitimate_interest",
            ("LegitimateInterestGrant", grant.id),
            {"by": by, "reason": ACTION},
            district_id=school.district_id,
        )
    for table in ("mark", "enrollment", "teaching_assignment"):
        await connection.execute(
            text(f"DELETE FROM {table} WHERE {_OF_CLASSES}"),  # noqa: S608 (constants)
            params,
        )
    await connection.execute(text("DELETE FROM class_section WHERE school_id = :school"), params)
    await audit(
        connection,
        None,
        ACTION,
        ("School", school.id),
        {"by": by, "code": school.code, **{name: count for name, count in _removed(plan)}},
        district_id=school.district_id,
    )
    return plan


def _removed(plan: Plan) -> list[tuple[str, int]]:
    return [(f.name, getattr(plan, f.name)) for f in fields(plan) if not f.name.endswith("_kept")]
