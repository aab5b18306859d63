"""Which accounts an administrator lists and manages.

A district administrator: every account of the district. A school administrator: the accounts
that belong to one of their schools — a role held at the school, the student account of a
student of the school, a guardian linked to a student of the school. Of those, a school
administrator manages (updates, deactivates, reactivates) only the accounts that belong to
their schools alone: no district-wide role, no role at another school, no administrator role
(as `assignRole` leaves administrators to the district).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from app.database import cached_text
from app.models import Role
from app.writes import WriteRefused

ADMIN_ROLES = (Role.SCHOOL_ADMIN.value, Role.DISTRICT_ADMIN.value)


@dataclass(frozen=True)
class AdminScope:
    """The administrator's reach: the whole district (`schools` None) or these schools."""

    district_id: int
    schools: frozenset[int] | None

    @property
    def whole_district(self) -> bool:
        return self.schools is None

    def params(self) -> dict[str, Any]:
        return {
            "district_id": self.district_id,
            "whole": self.schools is None,
            "schools": sorted(self.schools or ()),
        }


# An account belongs to the schools of its roles, of its student record and of the students it
# is a guardian of (`u` is the app_user row; `:whole` / `:schools` from `AdminScope.params`).
IN_SCOPE = """(
  CAST(:whole AS boolean)
  OR EXISTS (SELECT 1 FROM role_assignment ra
             WHERE ra.user_id = u.id AND ra.school_id = ANY(CAST(:schools AS bigint[])))
  OR EXISTS (SELECT 1 FROM student st
             WHERE st.user_id = u.id AND st.school_id = ANY(CAST(:schools AS bigint[])))
  OR EXISTS (SELECT 1 FROM guardian_link gl JOIN student st ON st.id = gl.student_id
             WHERE gl.guardian_user_id = u.id
               AND st.school_id = ANY(CAST(:schools AS bigint[]))))"""

_BELONGS_SQL = """
SELECT u.id, u.district_id,
  ARRAY(SELECT ra.role || ':' || coalesce(ra.school_id::text, '')
        FROM role_assignment ra WHERE ra.user_id = u.id) AS roles,
  ARRAY(SELECT st.school_id FROM student st WHERE st.user_id = u.id
        UNION SELECT st.school_id FROM guardian_link gl JOIN student st ON st.id = gl.student_id
        WHERE gl.guardian_user_id = u.id) AS record_schools
FROM app_user u WHERE u.id = :id AND u.district_id = :district_id
"""


@dataclass(frozen=True)
class Belonging:
    """Where an account belongs: its roles (role, school or None) and its records' schools."""

    user_id: int
    roles: frozenset[tuple[str, int | None]]
    record_schools: frozenset[int]

    @property
    def schools(self) -> frozenset[int]:
        return frozenset(s for _, s in self.roles if s is not None) | self.record_schools

    @property
    def district_wide(self) -> bool:
        return any(s is None for _, s in self.roles)

    def has(self, role: str) -> bool:
        return any(r == role for r, _ in self.roles)


async def belonging(connection: AsyncConnection, *, user_id: int, district_id: int) -> Belonging:
    """Where the account belongs; NOT_FOUND when the district has no such account."""
    row = (
        await connection.execute(
            cached_text(_BELONGS_SQL), {"id": user_id, "district_id": district_id}
        )
    ).first()
    if row is None:
        raise WriteRefused("no such user", "NOT_FOUND", "userId")
    roles = set()
    for value in row.roles:
        role, _, school = value.partition(":")
        roles.add((role, int(school) if school else None))
    return Belonging(row.id, frozenset(roles), frozenset(row.record_schools))


def require_manageable(scope: AdminScope, account: Belonging) -> None:
    """Refuse (NOT_FOUND outside the scope, FORBIDDEN within it) an account the administrator
    may not manage."""
    if scope.schools is None:
        return
    if not account.schools & scope.schools:
        raise WriteRefused("no such user", "NOT_FOUND", "userId")
    if (
        account.district_wide
        or not account.schools <= scope.schools
        or any(account.has(role) for role in ADMIN_ROLES)
    ):
        raise WriteRefused(
            "this account belongs beyond your schools (or is an administrator's): a district"
            " administrator manages it",
            "FORBIDDEN",
            "userId",
        )
