"""Everything SchoolGraph holds about one student, read in one fixed set of SQL statements.

A FERPA inspection (34 CFR 99.10) or a GDPR access request (Art. 15) is answered with the whole
record, not with what a screen shows: every field of the student (decrypted), the school,
classes and enrollments, marks, the whole portfolio (private items too), readiness results,
guardians, consents, the legitimate-interest grants that covered the student, data requests,
statements, activity, and the record of disclosures (who saw which field classes, when, on what
basis and for what purpose).

One statement per table, whatever the number of rows (the number of statements is the same for
a student with no marks and one with 50,000 disclosures). Rows come in a stable order (by date,
then id), values as JSON types: dates and times in ISO 8601 (times in UTC), scores as numbers.

```python
bundle = await collect(connection, student_id=7, generated_at=datetime.now(UTC))
bundle.table("marks").rows[0]["letter"]     # 'B'
```
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from app.database import cached_text
from app.encryption import decrypt_rows

FORMAT = "schoolgraph-student-record"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class Table:
    """One part of the record: `name` names its JSON key (in camelCase) and its CSV file."""

    name: str
    title: str  # the heading a reader sees
    description: str
    columns: tuple[str, ...]
    rows: list[dict[str, Any]]
    # One record (the student, the school), not a list.
    single: bool = False

    @property
    def key(self) -> str:
        return _camel(self.name)


@dataclass(frozen=True)
class Bundle:
    student_id: int
    data_request_id: int | None
    generated_at: datetime
    tables: tuple[Table, ...]

    def table(self, name: str) -> Table:
        return next(t for t in self.tables if t.name == name)

    @property
    def student_name(self) -> str:
        rows = self.table("student").rows
        return f"{rows[0]['firstName']} {rows[0]['lastName']}" if rows else "unknown student"

    @property
    def about(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "generatedAt": _plain(self.generated_at),
            "studentId": self.student_id,
            "dataRequestId": self.data_request_id,
        }


# (name, title, description, SQL, encrypted table or None, single). Every statement takes
# `:student_id`; its columns become the table's (in camelCase); ORDER BY makes the order stable.
# A person's name is `first || ' ' || last` (null when there is no such person).
_PARTS: tuple[tuple[str, str, str, str, str | None, bool], ...] = (
    (
        "student",
        "Student",
        "Every field held about the student.",
        """SELECT s.id, s.student_number, s.first_name, s.last_name, s.preferred_name,
                  s.grade_level, s.date_of_birth, s.gender, s.ethnicity, s.email, s.phone,
                  s.enrollment_status, s.directory_opt_out, s.coppa_consent,
                  u.username AS account_username, u.is_active AS account_active,
                  s.sourced_id AS roster_sourced_id, s.deidentified_at
           FROM student s LEFT JOIN app_user u ON u.id = s.user_id
           WHERE s.id = :student_id""",
        "student",
        True,
    ),
    (
        "school",
        "School",
        "The school the student attends, and its district.",
        """SELECT sc.id, sc.name, sc.code, sc.level, d.name AS district
           FROM student s JOIN school sc ON sc.id = s.school_id
           JOIN district d ON d.id = s.district_id WHERE s.id = :student_id""",
        None,
        True,
    ),
    (
        "enrollments",
        "Classes and enrollments",
        "Every class the student was enrolled in, with its term and the enrollment's dates.",
        """SELECT e.id, e.class_id, c.title AS class_title, c.code AS class_code, c.subject,
                  sc.name AS school, t.name AS term, t.starts_on AS term_starts_on,
                  t.ends_on AS term_ends_on, e.begins_on, e.ends_on,
                  ARRAY(SELECT tu.first_name || ' ' || tu.last_name FROM teaching_assignment ta
                        JOIN app_user tu ON tu.id = ta.staff_user_id WHERE ta.class_id = c.id
                        ORDER BY ta.is_primary DESC, tu.last_name, tu.first_name, tu.id)
                    AS teachers
           FROM enrollment e JOIN class_section c ON c.id = e.class_id
           JOIN term t ON t.id = c.term_id JOIN school sc ON sc.id = c.school_id
           WHERE e.student_id = :student_id ORDER BY e.begins_on, c.code, e.id""",
        None,
        False,
    ),
    (
        "marks",
        "Marks",
        "Marks by class and term, with the teacher's comment.",
        """SELECT m.id, m.class_id, c.title AS class_title, c.code AS class_code,
                  t.name AS term, m.score, m.letter, m.comment,
                  u.first_name || ' ' || u.last_name AS recorded_by, m.recorded_at
           FROM mark m JOIN class_section c ON c.id = m.class_id JOIN term t ON t.id = m.term_id
           LEFT JOIN app_user u ON u.id = m.recorded_by
           WHERE m.student_id = :student_id ORDER BY t.starts_on, c.code, m.id""",
        "mark",
        False,
    ),
    (
        "portfolio",
        "Portfolio",
        "The student's career-planning portfolio.",
        """SELECT p.id, p.headline, p.created_at FROM portfolio p
           WHERE p.student_id = :student_id""",
        "portfolio",
        True,
    ),
    (
        "portfolio_items",
        "Portfolio items",
        "Every item of the portfolio, whoever may see it (PRIVATE items too).",
        """SELECT i.id, i.kind, i.title, i.body, i.visibility, i.created_at, i.updated_at
           FROM portfolio_item i WHERE i.student_id = :student_id ORDER BY i.created_at, i.id""",
        "portfolio_item",
        False,
    ),
    (
        "readiness",
        "Readiness results",
        "College, career and military readiness results.",
        """SELECT r.id, r.indicator, r.category, r.met, r.value, r.achieved_on, r.source
           FROM readiness_indicator r WHERE r.student_id = :student_id
           ORDER BY r.achieved_on NULLS LAST, r.category, r.indicator, r.id""",
        None,
        False,
    ),
    (
        "guardians",
        "Guardians",
        "Parents and guardians linked to the student, past and present.",
        """SELECT u.id, u.first_name, u.last_name, u.email, u.phone, gl.relationship,
                  gl.legal_guardian, gl.data_access, gl.starts_on, gl.ends_on
           FROM guardian_link gl JOIN app_user u ON u.id = gl.guardian_user_id
           WHERE gl.student_id = :student_id ORDER BY gl.starts_on, gl.id""",
        "app_user",
        False,
    ),
    (
        "consents",
        "Consents",
        "Every consent recorded, and every withdrawal, oldest first.",
        """SELECT c.id, c.kind, c.granted, u.first_name || ' ' || u.last_name AS given_by,
                  c.recorded_at
           FROM consent c LEFT JOIN app_user u ON u.id = c.given_by
           WHERE c.student_id = :student_id ORDER BY c.recorded_at, c.id""",
        None,
        False,
    ),
    (
        "grants",
        "Legitimate-interest grants",
        "Grants that let a school official read the student's record: for the student, one of"
        " their classes, or their school.",
        """SELECT g.id, g.scope, coalesce(c.title, sc.name) AS covers, g.purpose,
                  grantee.first_name || ' ' || grantee.last_name AS grantee,
                  ARRAY(SELECT DISTINCT ra.role FROM role_assignment ra
                        WHERE ra.user_id = grantee.id ORDER BY 1) AS grantee_roles,
                  granter.first_name || ' ' || granter.last_name AS granted_by,
                  g.starts_at, g.expires_at, g.revoked_at,
                  revoker.first_name || ' ' || revoker.last_name AS revoked_by, g.archived_at
           FROM legitimate_interest_grant g
           JOIN app_user grantee ON grantee.id = g.grantee_user_id
           JOIN app_user granter ON granter.id = g.granted_by
           LEFT JOIN app_user revoker ON revoker.id = g.revoked_by
           LEFT JOIN class_section c ON c.id = g.class_id
           LEFT JOIN school sc ON sc.id = g.school_id AND g.scope = 'school'
           WHERE g.district_id = (SELECT district_id FROM student WHERE id = :student_id)
             AND ((g.scope = 'student' AND g.student_id = :student_id)
               OR (g.scope = 'class' AND g.class_id IN
                     (SELECT class_id FROM enrollment WHERE student_id = :student_id))
               OR (g.scope = 'school' AND g.school_id IN
                     (SELECT school_id FROM student WHERE id = :student_id
                      UNION SELECT c2.school_id FROM enrollment e2
                      JOIN class_section c2 ON c2.id = e2.class_id
                      WHERE e2.student_id = :student_id))
               OR g.id IN (SELECT grant_id FROM disclosure
                           WHERE student_id = :student_id AND grant_id IS NOT NULL))
           ORDER BY g.starts_at, g.id""",
        None,
        False,
    ),
    (
        "data_requests",
        "Data requests",
        "Requests to inspect, amend or delete the record, and how they were resolved.",
        """SELECT r.id, r.kind, r.status, req.first_name || ' ' || req.last_name AS requester,
                  r.details, r.changes, r.filed_at, r.due_on, r.resolved_at,
                  res.first_name || ' ' || res.last_name AS resolved_by, r.resolution
           FROM data_request r JOIN app_user req ON req.id = r.requester_user_id
           LEFT JOIN app_user res ON res.id = r.resolved_by
           WHERE r.student_id = :student_id ORDER BY r.filed_at, r.id""",
        "data_request",
        False,
    ),
    (
        "statements",
        "Statements",
        "Statements added to the record about contested fields.",
        """SELECT st.id, st.data_request_id, st.fields, st.body,
                  u.first_name || ' ' || u.last_name AS author, st.created_at
           FROM student_statement st JOIN app_user u ON u.id = st.author_user_id
           WHERE st.student_id = :student_id ORDER BY st.created_at, st.id""",
        "student_statement",
        False,
    ),
    (
        "activity",
        "Activity",
        "Sign-ins of the student's account and activity on the portfolio.",
        """SELECT a.id, a.kind, u.first_name || ' ' || u.last_name AS actor, a.occurred_at
           FROM activity_event a LEFT JOIN app_user u ON u.id = a.user_id
           WHERE a.student_id = :student_id
              OR a.user_id = (SELECT user_id FROM student WHERE id = :student_id)
           ORDER BY a.occurred_at, a.id""",
        None,
        False,
    ),
    (
        "disclosures",
        "Record of disclosures",
        "Who saw which parts of the record, when, on what basis and for what purpose.",
        """WITH viewers AS MATERIALIZED (
             SELECT u.id, u.first_name || ' ' || u.last_name AS name,
                    ARRAY(SELECT DISTINCT ra.role FROM role_assignment ra
                          WHERE ra.user_id = u.id ORDER BY 1) AS roles
             FROM app_user u
             WHERE u.id IN (SELECT DISTINCT viewer_user_id FROM disclosure
                            WHERE student_id = :student_id))
           SELECT d.id, d.disclosed_at, v.name AS viewer, v.roles AS viewer_roles, d.basis,
                  d.field_classes, d.grant_id, d.purpose, d.request_id
           FROM disclosure d JOIN viewers v ON v.id = d.viewer_user_id
           WHERE d.student_id = :student_id ORDER BY d.disclosed_at, d.id""",
        None,
        False,
    ),
)

TABLE_NAMES = tuple(part[0] for part in _PARTS)


async def collect(
    connection: AsyncConnection,
    *,
    student_id: int,
    generated_at: datetime,
    data_request_id: int | None = None,
) -> Bundle:
    """The whole record of one student: one statement per table."""
    params = {"student_id": student_id}
    tables = []
    for name, title, description, sql, sealed, single in _PARTS:
        result = await connection.execute(cached_text(sql), params)
        columns = tuple(result.keys())
        rows: Sequence[Any] = result.all()
        if sealed is not None:
            rows = await decrypt_rows(connection, sealed, rows)
        keys = tuple(_camel(c) for c in columns)
        tables.append(
            Table(
                name=name,
                title=title,
                description=description,
                columns=keys,
                rows=_records(columns, keys, rows, sealed is not None),
                single=single,
            )
        )
    return Bundle(
        student_id=student_id,
        data_request_id=data_request_id,
        generated_at=generated_at,
        tables=tuple(tables),
    )


def _records(
    columns: Sequence[str], keys: Sequence[str], rows: Sequence[Any], sealed: bool
) -> list[dict[str, Any]]:
    """Rows as JSON records; a record of disclosures can hold tens of thousands of rows, so
    values that need no conversion are taken as they are."""
    pairs = tuple(zip(keys, columns, strict=True))
    if sealed:  # decrypted on attribute access
        return [{k: _plain(getattr(row, c)) for k, c in pairs} for row in rows]
    return [
        {
            k: v if v is None or type(v) in _AS_IS else _plain(v)
            for k, v in zip(keys, row, strict=True)
        }
        for row in rows
    ]


_AS_IS = frozenset({str, int, bool, float})


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _plain(value: Any) -> Any:
    """A JSON value: dates and times in ISO 8601 (times in UTC), decimals as numbers."""
    if value is None or type(value) in _AS_IS:
        return value
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    return value
