"""Who the viewer is and how they are related to students, computed from the database.

One statement per request loads the viewer's account, role assignments and every narrow relation
(the children they are guardian of, the students of the classes they teach today, their
classmates, their active legitimate-interest grants). From that `Viewer` the rest is arithmetic:

- `Viewer.scope()` gives the row scope a list query puts in its WHERE clause (student ids, school
  ids, or the whole district), so pagination and counts only ever see related rows;
- `Viewer.mask(student)` gives a row's relation mask: one bit per (role, relation) pair, which
  `app.policy` masks decide fields against.

Token claims are never trusted for any of this: the token only says who the viewer is.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from app.consent.rules import THIRD_PARTY_ROLES, third_party_granted
from app.database import cached_text
from app.models import Role
from app.policy import bit
from app.sessions.checks import SESSION_LIVE, TOUCH_CTE, SessionEnded

OFFICIAL_ROLES = (Role.COORDINATOR, Role.DESIGNEE, Role.SCHOOL_ADMIN, Role.DISTRICT_ADMIN)
# Roles whose holder may receive a legitimate-interest grant.
GRANTEE_ROLES = (
    Role.COORDINATOR,
    Role.DESIGNEE,
    Role.TEACHER,
    Role.SCHOOL_ADMIN,
    Role.DISTRICT_ADMIN,
    Role.SUPPORT,
)

# "Active today" for date-bounded links, in SQL.
_ACTIVE_LINK = "gl.starts_on <= CURRENT_DATE AND (gl.ends_on IS NULL OR gl.ends_on >= CURRENT_DATE)"
_ACTIVE_TEACHING = (
    "ta.starts_on <= CURRENT_DATE AND (ta.ends_on IS NULL OR ta.ends_on >= CURRENT_DATE)"
)


def _active_enrollment(alias: str) -> str:
    return (
        f"{alias}.begins_on <= CURRENT_DATE"
        f" AND ({alias}.ends_on IS NULL OR {alias}.ends_on >= CURRENT_DATE)"
    )


# A grant to a vendor (a third party) covers only the students whose consent to disclosure to
# third parties is in force: a withdrawal ends the vendor's access at the next request.
_CONSENTED = third_party_granted("{s}")
_THIRD_PARTY_ROLES = ", ".join(f"'{role.value}'" for role in THIRD_PARTY_ROLES)

_VIEWER_COLUMNS = "SELECT\n  u.id,"
_VIEWER_SQL = f"""
SELECT
  u.id, u.district_id, u.username, u.first_name, u.last_name, u.is_active, u.locked_at,
  ARRAY(SELECT ra.role || ':' || coalesce(ra.school_id::text, '')
        FROM role_assignment ra WHERE ra.user_id = u.id) AS roles,
  (SELECT s.id FROM student s WHERE s.user_id = u.id) AS student_id,
  ARRAY(
    SELECT gl.student_id FROM guardian_link gl JOIN student s ON s.id = gl.student_id
    WHERE gl.guardian_user_id = u.id AND gl.data_access AND {_ACTIVE_LINK}
      -- An unknown birth date (an import without demographics) counts as a minor's.
      AND (coalesce(s.date_of_birth + interval '18 years' > CURRENT_DATE, true)
           OR coalesce((SELECT c.granted FROM consent c
                        WHERE c.student_id = s.id AND c.kind = 'guardian_access'
                        ORDER BY c.recorded_at DESC, c.id DESC LIMIT 1), false))
  ) AS guardian_of,
  ARRAY(SELECT ta.class_id FROM teaching_assignment ta
        WHERE ta.staff_user_id = u.id AND {_ACTIVE_TEACHING}) AS taught_classes,
  ARRAY(
    SELECT DISTINCT e.student_id FROM teaching_assignment ta
    JOIN enrollment e ON e.class_id = ta.class_id
    WHERE ta.staff_user_id = u.id AND {_ACTIVE_TEACHING} AND {_active_enrollment("e")}
  ) AS taught_students,
  ARRAY(
    SELECT DISTINCT e2.student_id FROM student me
    JOIN enrollment e1 ON e1.student_id = me.id
    JOIN enrollment e2 ON e2.class_id = e1.class_id AND e2.student_id <> me.id
    JOIN student mate ON mate.id = e2.student_id
    WHERE me.user_id = u.id AND NOT mate.directory_opt_out
      AND {_active_enrollment("e1")} AND {_active_enrollment("e2")}
  ) AS classmates,
  coalesce((
    SELECT json_agg(json_build_object(
      'id', g.id, 'purpose', g.purpose, 'scope', g.scope, 'school_id', g.school_id,
      'third_party', tp.third_party,
      'student_ids', CASE
        WHEN g.scope = 'student' THEN (
          SELECT coalesce(json_agg(s.id), '[]'::json) FROM student s
          WHERE s.id = g.student_id AND (NOT tp.third_party OR {_CONSENTED.format(s="s.id")}))
        WHEN g.scope = 'class' THEN (
          SELECT coalesce(json_agg(e.student_id), '[]'::json) FROM enrollment e
          WHERE e.class_id = g.class_id AND {_active_enrollment("e")}
            AND (NOT tp.third_party OR {_CONSENTED.format(s="e.student_id")}))
        -- A vendor's school grant covers the students of the school who consent, one by one.
        WHEN tp.third_party THEN (
          SELECT coalesce(json_agg(s.id), '[]'::json) FROM student s
          WHERE s.school_id = g.school_id AND {_CONSENTED.format(s="s.id")})
        ELSE '[]'::json END))
    FROM legitimate_interest_grant g
    CROSS JOIN LATERAL (SELECT EXISTS (
      SELECT 1 FROM role_assignment ra WHERE ra.user_id = u.id
        AND ra.role = ANY(ARRAY[{_THIRD_PARTY_ROLES}]::varchar[])) AS third_party) tp
    WHERE g.grantee_user_id = u.id AND g.revoked_at IS NULL
      AND g.starts_at <= now() AND g.expires_at > now()
  ), '[]'::json) AS grants
FROM app_user u
"""

# For a token that names a session: the same statement, with the session's check and touch.
if _VIEWER_COLUMNS not in _VIEWER_SQL:
    raise RuntimeError("the viewer's statement no longer starts with its id")
_SESSION_VIEWER_SQL = TOUCH_CTE + _VIEWER_SQL.replace(
    _VIEWER_COLUMNS, "SELECT" + SESSION_LIVE + "\n  u.id,", 1
)


@dataclass(frozen=True)
class Grant:
    id: int
    purpose: str


@dataclass(frozen=True)
class RowScope:
    """The rows a list query may return: any of these ids, schools, or the whole district."""

    district_id: int
    student_ids: frozenset[int]
    school_ids: frozenset[int]
    whole_district: bool

    @property
    def empty(self) -> bool:
        return not (self.student_ids or self.school_ids or self.whole_district)


@dataclass(frozen=True)
class Viewer:
    user_id: int
    district_id: int
    username: str
    first_name: str
    last_name: str
    roles: frozenset[tuple[str, int | None]]  # (role, school id or None for the district)
    student_id: int | None = None
    guardian_of: frozenset[int] = frozenset()
    taught_classes: frozenset[int] = frozenset()
    taught_students: frozenset[int] = frozenset()
    classmates: frozenset[int] = frozenset()
    grant_by_student: dict[int, Grant] = field(default_factory=dict)
    grant_by_school: dict[int, Grant] = field(default_factory=dict)

    def has_role(self, role: str) -> bool:
        return any(r == role for r, _ in self.roles)

    def role_schools(self, role: str) -> tuple[frozenset[int], bool]:
        """Schools where the viewer holds `role`, and whether they hold it district-wide."""
        schools = frozenset(s for r, s in self.roles if r == role and s is not None)
        return schools, any(r == role and s is None for r, s in self.roles)

    def scope(self) -> RowScope:
        ids = set(self.guardian_of) | set(self.classmates) | set(self.grant_by_student)
        if self.student_id is not None:
            ids.add(self.student_id)
        if self.has_role(Role.TEACHER):
            ids |= self.taught_students
        schools = set(self.grant_by_school)
        whole = False
        for role in OFFICIAL_ROLES:
            role_schools, district_wide = self.role_schools(role)
            schools |= role_schools
            whole = whole or district_wide
        return RowScope(self.district_id, frozenset(ids), frozenset(schools), whole)

    def scope_where(self, allowed: int) -> RowScope:
        """The rows related to the viewer by a pair of `allowed` (a policy allow-mask): the part
        of `scope()` where the policy lets the viewer read that object.

        ```python
        scope = viewer.scope_where(policy.mask("Student.classes"))  # whose classes I may read
        ```
        """
        bits = self._masks
        ids: set[int] = set()
        if bits.self_bit & allowed and self.student_id is not None:
            ids.add(self.student_id)
        if bits.guardian_bit & allowed:
            ids |= self.guardian_of
        if bits.teacher_bit & allowed:
            ids |= self.taught_students
        if bits.classmate_bit & allowed:
            ids |= self.classmates
        schools = {school for school, b in bits.official_by_school.items() if b & allowed}
        if bits.grant_bits & allowed:
            ids |= set(self.grant_by_student)
            schools |= set(self.grant_by_school)
        whole = bool(bits.official_district & allowed)
        return RowScope(self.district_id, frozenset(ids), frozenset(schools), whole)

    def mask(self, student_id: int, school_id: int) -> int:
        """The (role, relation) pairs that relate the viewer to one student."""
        return self._masks.mask(self, student_id, school_id)

    @property
    def district_mask(self) -> int:
        """The pairs the viewer holds district-wide: what district-level objects (the district's
        settings) are decided against."""
        return self._masks.official_district

    @property
    def possible_mask(self) -> int:
        """Every pair the viewer could hold for some student: what filters are checked against."""
        return self._masks.possible

    def grant_for(self, student_id: int, school_id: int) -> Grant | None:
        return self.grant_by_student.get(student_id) or self.grant_by_school.get(school_id)

    @property
    def _masks(self) -> _MaskBits:
        cached: _MaskBits | None = self.__dict__.get("_mask_bits")
        if cached is None:
            cached = _MaskBits.of(self)
            object.__setattr__(self, "_mask_bits", cached)
        return cached


@dataclass(frozen=True)
class _MaskBits:
    """The viewer's bits, precomputed so a row's mask is a few set look-ups."""

    self_bit: int
    guardian_bit: int
    teacher_bit: int
    classmate_bit: int
    official_district: int  # pairs held district-wide
    official_by_school: dict[int, int]
    grant_bits: int
    possible: int

    @classmethod
    def of(cls, viewer: Viewer) -> _MaskBits:
        official_district = 0
        by_school: dict[int, int] = {}
        for role in OFFICIAL_ROLES:
            schools, district_wide = viewer.role_schools(role)
            b = bit(role, "school_official")
            if district_wide:
                official_district |= b
            for school in schools:
                by_school[school] = by_school.get(school, 0) | b
        grant_bits = 0
        if viewer.grant_by_student or viewer.grant_by_school:
            for role in GRANTEE_ROLES:
                if viewer.has_role(role):
                    grant_bits |= bit(role, "legitimate_interest")
        bits = cls(
            self_bit=bit(Role.STUDENT, "self") if viewer.student_id is not None else 0,
            guardian_bit=bit(Role.GUARDIAN, "guardian_of") if viewer.guardian_of else 0,
            teacher_bit=bit(Role.TEACHER, "teacher_of") if viewer.has_role(Role.TEACHER) else 0,
            classmate_bit=bit(Role.STUDENT, "classmate") if viewer.classmates else 0,
            official_district=official_district,
            official_by_school=by_school,
            grant_bits=grant_bits,
            possible=0,
        )
        possible = (
            bits.self_bit
            | bits.guardian_bit
            | bits.teacher_bit
            | bits.classmate_bit
            | official_district
            | grant_bits
        )
        for value in by_school.values():
            possible |= value
        return cls(**{**bits.__dict__, "possible": possible})

    def mask(self, viewer: Viewer, student_id: int, school_id: int) -> int:
        m = self.official_district | self.official_by_school.get(school_id, 0)
        if student_id == viewer.student_id:
            m |= self.self_bit
        if student_id in viewer.guardian_of:
            m |= self.guardian_bit
        if student_id in viewer.taught_students:
            m |= self.teacher_bit
        if student_id in viewer.classmates:
            m |= self.classmate_bit
        if self.grant_bits and viewer.grant_for(student_id, school_id) is not None:
            m |= self.grant_bits
        return m


def _parse_roles(values: Iterable[str]) -> frozenset[tuple[str, int | None]]:
    roles = set()
    for value in values:
        role, _, school = value.partition(":")
        roles.add((role, int(school) if school else None))
    return frozenset(roles)


def _viewer_from_row(row: Any) -> Viewer:
    grants = row.grants if isinstance(row.grants, list) else json.loads(row.grants)
    by_student: dict[int, Grant] = {}
    by_school: dict[int, Grant] = {}
    for g in grants:
        grant = Grant(id=g["id"], purpose=g["purpose"])
        for student_id in g["student_ids"]:
            by_student.setdefault(student_id, grant)
        if g["scope"] == "school" and not g["third_party"]:
            by_school.setdefault(g["school_id"], grant)
    return Viewer(
        user_id=row.id,
        district_id=row.district_id,
        username=row.username,
        first_name=row.first_name,
        last_name=row.last_name,
        roles=_parse_roles(row.roles),
        student_id=row.student_id,
        guardian_of=frozenset(row.guardian_of),
        taught_classes=frozenset(row.taught_classes),
        taught_students=frozenset(row.taught_students),
        classmates=frozenset(row.classmates),
        grant_by_student=by_student,
        grant_by_school=by_school,
    )


async def load_viewer(
    connection: AsyncConnection,
    *,
    user_id: int | None = None,
    external_subject: str | None = None,
    session_id: str | None = None,
) -> Viewer | None:
    """The viewer for a verified token, or None when the account is unknown, locked or inactive.

    With `session_id` (the token's `sid`), the same statement checks the session and notes when
    it was last seen: `SessionEnded` when it was revoked or has expired (app/sessions/checks.py).
    """
    params: dict[str, Any]
    base = _VIEWER_SQL if session_id is None else _SESSION_VIEWER_SQL
    if user_id is not None:
        sql, params = base + " WHERE u.id = :key", {"key": user_id}
    else:
        sql, params = base + " WHERE u.external_subject = :key", {"key": external_subject}
    if session_id is not None:
        params["sid"] = session_id
    row = (await connection.execute(cached_text(sql), params)).first()
    if row is None or not row.is_active or row.locked_at is not None:
        return None
    if session_id is not None and not row.session_live:
        raise SessionEnded()
    return _viewer_from_row(row)
