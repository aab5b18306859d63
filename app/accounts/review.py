"""The termly access review: who holds access at a school (or in the district), and what looks
wrong about it.

```python
review = await access_review(connection, district_id=1, school_id=3)   # None: the district
for account in review.accounts: print(account.username, account.flags)
await mark_reviewed(connection, actor, user_id=7, note="still teaches")
```

The review lists every staff and vendor account — every account holding a role other than
student or guardian — of the school (a role held at the school, or an active legitimate-interest
grant there) or of the district, with its roles, its active grants, its last sign-in and when it
was last reviewed, and flags on the active ones:

- `NO_SIGN_IN_90_DAYS`: never signed in, or not for `STALE_DAYS` days;
- `ROLE_WITHOUT_TEACHING`: a teacher role at a school where the account teaches no class of a
  current term today;
- `GRANT_EXPIRING`: an active grant that ends within `EXPIRING_DAYS` days.

Beside it, `students` lists the student accounts still active although the student's record is
not (its enrollment status is no longer active, or it was de-identified):
`DEACTIVATED_STUDENT_ACCOUNT_ACTIVE`. Three statements (JIT off, accounts, students), whatever
the number of accounts.
"""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from app import writes
from app.accounts.users import LAST_SIGN_IN
from app.database import cached_text
from app.writes import Actor, WriteRefused

STALE_DAYS = 90
EXPIRING_DAYS = 14
MAX_NOTE = 1000

NO_SIGN_IN_90_DAYS = "NO_SIGN_IN_90_DAYS"
ROLE_WITHOUT_TEACHING = "ROLE_WITHOUT_TEACHING"
GRANT_EXPIRING = "GRANT_EXPIRING"
DEACTIVATED_STUDENT_ACCOUNT_ACTIVE = "DEACTIVATED_STUDENT_ACCOUNT_ACTIVE"
FLAGS = (NO_SIGN_IN_90_DAYS, ROLE_WITHOUT_TEACHING, GRANT_EXPIRING)

_CURRENT_TEACHING = """EXISTS (
  SELECT 1 FROM teaching_assignment ta
  JOIN class_section c ON c.id = ta.class_id JOIN term t ON t.id = c.term_id
  WHERE ta.staff_user_id = ra.user_id AND c.school_id = ra.school_id
    AND ta.starts_on <= CURRENT_DATE AND (ta.ends_on IS NULL OR ta.ends_on >= CURRENT_DATE)
    AND t.starts_on <= CURRENT_DATE AND t.ends_on >= CURRENT_DATE)"""

# Grants in force, with the school each concerns (a student's, a class's, or the school).
_ACTIVE_GRANTS = """
  SELECT g.id, g.grantee_user_id, g.scope, g.purpose, g.expires_at,
         coalesce(g.school_id, gs.school_id, gc.school_id) AS school_id
  FROM legitimate_interest_grant g
  LEFT JOIN student gs ON gs.id = g.student_id
  LEFT JOIN class_section gc ON gc.id = g.class_id
  WHERE g.district_id = :district_id AND g.revoked_at IS NULL
    AND g.starts_at <= now() AND g.expires_at > now()"""

_ACCOUNTS_SQL = f"""
WITH grants AS ({_ACTIVE_GRANTS}
), accounts AS (
  SELECT ra.user_id AS id FROM role_assignment ra
  WHERE ra.district_id = :district_id AND ra.role NOT IN ('student', 'guardian')
    AND (CAST(:whole AS boolean) OR ra.school_id = :school_id)
  UNION
  SELECT g.grantee_user_id FROM grants g
  WHERE CAST(:whole AS boolean) OR g.school_id = :school_id
)
SELECT u.id, u.username, u.first_name, u.last_name, u.is_active,
  {LAST_SIGN_IN} AS last_sign_in_at, u.reviewed_at, rv.username AS reviewed_by,
  coalesce({LAST_SIGN_IN} < now() - make_interval(days => :stale), true) AS stale,
  coalesce((SELECT json_agg(json_build_object(
      'role', ra.role, 'school_id', ra.school_id, 'school_name', sc.name,
      'teaching', CASE WHEN ra.role = 'teacher' AND ra.school_id IS NOT NULL
                       THEN {_CURRENT_TEACHING} END)
      ORDER BY ra.role, sc.name NULLS FIRST)
    FROM role_assignment ra LEFT JOIN school sc ON sc.id = ra.school_id
    WHERE ra.user_id = u.id), '[]'::json) AS roles,
  coalesce((SELECT json_agg(json_build_object(
      'id', g.id, 'scope', g.scope, 'purpose', g.purpose, 'school_id', g.school_id,
      'expires_at', g.expires_at,
      'expiring', g.expires_at <= now() + make_interval(days => :expiring))
      ORDER BY g.expires_at, g.id)
    FROM grants g WHERE g.grantee_user_id = u.id
      AND (CAST(:whole AS boolean) OR g.school_id = :school_id)), '[]'::json) AS grants
FROM accounts a JOIN app_user u ON u.id = a.id
LEFT JOIN app_user rv ON rv.id = u.reviewed_by
ORDER BY u.username
"""  # noqa: S608 (constants)

_STUDENTS_SQL = f"""
SELECT s.id AS student_id, s.school_id, sc.name AS school_name, s.enrollment_status,
  s.deidentified_at IS NOT NULL AS deidentified, u.id AS user_id, u.username,
  {LAST_SIGN_IN} AS last_sign_in_at
FROM student s JOIN app_user u ON u.id = s.user_id JOIN school sc ON sc.id = s.school_id
WHERE s.district_id = :district_id AND (CAST(:whole AS boolean) OR s.school_id = :school_id)
  AND u.is_active AND (s.enrollment_status <> 'active' OR s.deidentified_at IS NOT NULL)
ORDER BY u.username
"""  # noqa: S608 (constants)


@dataclass(frozen=True)
class ReviewRole:
    role: str
    school_id: int | None
    school_name: str | None
    # For a teacher role at a school: whether the account teaches a current class there.
    teaching: bool | None


@dataclass(frozen=True)
class ReviewGrant:
    id: int
    scope: str
    purpose: str
    school_id: int | None
    expires_at: datetime.datetime
    expiring: bool


@dataclass(frozen=True)
class ReviewAccount:
    user_id: int
    username: str
    first_name: str
    last_name: str
    is_active: bool
    last_sign_in_at: datetime.datetime | None
    reviewed_at: datetime.datetime | None
    reviewed_by: str | None
    roles: list[ReviewRole]
    grants: list[ReviewGrant]
    flags: list[str]


@dataclass(frozen=True)
class ReviewStudentAccount:
    """A student account still active although the student's record is not."""

    student_id: int
    user_id: int
    username: str
    school_id: int
    school_name: str
    enrollment_status: str
    deidentified: bool
    last_sign_in_at: datetime.datetime | None
    flags: list[str] = field(default_factory=lambda: [DEACTIVATED_STUDENT_ACCOUNT_ACTIVE])


@dataclass(frozen=True)
class AccessReview:
    district_id: int
    school_id: int | None
    accounts: list[ReviewAccount]
    students: list[ReviewStudentAccount]

    def flag_counts(self) -> dict[str, int]:
        counts = {flag: sum(flag in a.flags for a in self.accounts) for flag in FLAGS}
        counts[DEACTIVATED_STUDENT_ACCOUNT_ACTIVE] = len(self.students)
        return counts


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def _time(value: Any) -> datetime.datetime:
    if isinstance(value, datetime.datetime):
        return value
    return datetime.datetime.fromisoformat(value)


def _account(row: Any, school_id: int | None) -> ReviewAccount:
    roles = [
        ReviewRole(r["role"], r["school_id"], r["school_name"], r["teaching"])
        for r in _json(row.roles)
    ]
    grants = [
        ReviewGrant(
            g["id"], g["scope"], g["purpose"], g["school_id"], _time(g["expires_at"]), g["expiring"]
        )
        for g in _json(row.grants)
    ]
    flags = []
    if row.is_active:
        if row.stale:
            flags.append(NO_SIGN_IN_90_DAYS)
        if any(
            r.teaching is False and (school_id is None or r.school_id == school_id) for r in roles
        ):
            flags.append(ROLE_WITHOUT_TEACHING)
        if any(g.expiring for g in grants):
            flags.append(GRANT_EXPIRING)
    return ReviewAccount(
        user_id=row.id,
        username=row.username,
        first_name=row.first_name,
        last_name=row.last_name,
        is_active=row.is_active,
        last_sign_in_at=row.last_sign_in_at,
        reviewed_at=row.reviewed_at,
        reviewed_by=row.reviewed_by,
        roles=roles,
        grants=grants,
        flags=flags,
    )


async def access_review(
    connection: AsyncConnection, *, district_id: int, school_id: int | None
) -> AccessReview:
    """The review of one school of the district, or of the whole district (`school_id` None)."""
    params = {
        "district_id": district_id,
        "whole": school_id is None,
        "school_id": school_id,
        "stale": STALE_DAYS,
        "expiring": EXPIRING_DAYS,
    }
    # A subquery per account puts the plan's cost past PostgreSQL's JIT threshold, and compiling
    # it took longer than running it (1 s of 1.5 s for a district of 100,000 students): off, for
    # the rest of this transaction only.
    await connection.execute(cached_text("SET LOCAL jit = off"))
    rows = (await connection.execute(cached_text(_ACCOUNTS_SQL), params)).all()
    students = (
        await connection.execute(
            cached_text(_STUDENTS_SQL),
            {"district_id": district_id, "whole": school_id is None, "school_id": school_id},
        )
    ).all()
    return AccessReview(
        district_id=district_id,
        school_id=school_id,
        accounts=[_account(row, school_id) for row in rows],
        students=[
            ReviewStudentAccount(
                student_id=s.student_id,
                user_id=s.user_id,
                username=s.username,
                school_id=s.school_id,
                school_name=s.school_name,
                enrollment_status=s.enrollment_status,
                deidentified=s.deidentified,
                last_sign_in_at=s.last_sign_in_at,
            )
            for s in students
        ],
    )


async def mark_reviewed(
    connection: AsyncConnection, actor: Actor, *, user_id: int, note: str | None
) -> datetime.datetime:
    """Record that the account was reviewed now, by the actor (audited, with the note)."""
    note = (note or "").strip() or None
    if note is not None and len(note) > MAX_NOTE:
        raise WriteRefused(f"note: at most {MAX_NOTE} characters", "TOO_LONG", "note")
    row = (
        await connection.execute(
            cached_text(
                "UPDATE app_user SET reviewed_at = now(), reviewed_by = :by"
                " WHERE id = :id AND district_id = :district_id RETURNING reviewed_at"
            ),
            {"by": actor.user_id, "id": user_id, "district_id": actor.district_id},
        )
    ).first()
    if row is None:
        raise WriteRefused("no such user", "NOT_FOUND", "userId")
    await writes.audit(connection, actor, "mark_account_reviewed", "User", user_id, {"note": note})
    reviewed_at: datetime.datetime = row.reviewed_at
    return reviewed_at
