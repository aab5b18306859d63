"""What retention says is due as of a date (docs/retention.md), read-only.

- `ENDED`: a district whose service ended (the later of its contract and subscription end) at
  least six months before the date: every student not yet de-identified, and every account.
- `COPPA`: an under-13 student (on the date) whose latest COPPA consent is a withdrawal at least
  the district's notice period old, or who never had consent and whose collected content is
  older than the notice period: the collected content (portfolio headline and items) is erased.
- `GRANTS`: legitimate-interest grants that expired or were revoked before the date: archived.
- `EXPORTS`: inspection bundles past their expiry: content purged.

    plan = await due(connection, as_of=date(2026, 11, 30))
    plan.students    # [DueStudent(id=..., rule='ENDED', ...), ...]
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

ENDED = "ENDED"
COPPA = "COPPA"
GRANTS = "GRANTS"
EXPORTS = "EXPORTS"
RULES = {
    ENDED: "district's service ended six months ago: identities removed",
    COPPA: "under 13 without COPPA consent: collected content erased",
    GRANTS: "legitimate-interest grants ended: archived",
    EXPORTS: "inspection bundles expired: content purged",
}
GRACE_MONTHS = 6
COPPA_AGE = 13


def months_before(day: date, months: int) -> date:
    """`day` moved back by calendar months (the 31st becomes the month's last day)."""
    year, month = divmod(day.year * 12 + day.month - 1 - months, 12)
    return date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


@dataclass(frozen=True)
class EndedDistrict:
    id: int
    name: str
    ended_on: date  # the later of the contract's and the subscription's end
    students: int  # not yet de-identified
    accounts: int  # staff and guardian accounts not yet de-identified


@dataclass(frozen=True)
class DueStudent:
    id: int
    district_id: int
    student_number: str
    name: str
    school: str
    rule: str


@dataclass
class Plan:
    as_of: date
    districts: list[EndedDistrict] = field(default_factory=list)
    students: list[DueStudent] = field(default_factory=list)  # ENDED, then COPPA
    grants: list[tuple[int, int]] = field(default_factory=list)  # (id, district id)
    exports: list[tuple[int, int]] = field(default_factory=list)  # (id, district id)

    def of_rule(self, rule: str) -> list[DueStudent]:
        return [s for s in self.students if s.rule == rule]

    @property
    def empty(self) -> bool:
        return not (
            self.students or self.grants or self.exports or any(d.accounts for d in self.districts)
        )

    def counts(self) -> dict[str, int]:
        return {
            ENDED: len(self.of_rule(ENDED)) + sum(d.accounts for d in self.districts),
            COPPA: len(self.of_rule(COPPA)),
            GRANTS: len(self.grants),
            EXPORTS: len(self.exports),
        }


_DISTRICT_FILTER = "(CAST(:district_id AS bigint) IS NULL OR {t}.district_id = :district_id)"

_ENDED_SQL = """
SELECT d.id, d.name, greatest(d.contract_ends_on, d.subscription_ends_on) AS ended_on,
       (SELECT count(*) FROM student s WHERE s.district_id = d.id
          AND s.deidentified_at IS NULL) AS students,
       (SELECT count(*) FROM app_user u WHERE u.district_id = d.id AND u.deidentified_at IS NULL
          AND NOT EXISTS (SELECT FROM student s WHERE s.user_id = u.id)) AS accounts
FROM district d
WHERE greatest(d.contract_ends_on, d.subscription_ends_on) <= :cutoff
  AND (CAST(:district_id AS bigint) IS NULL OR d.id = :district_id)
ORDER BY d.id
"""

_STUDENT_COLUMNS = (
    "s.id, s.district_id, s.student_number, s.first_name || ' ' || s.last_name AS name,"
    " sc.name AS school"
)

_ENDED_STUDENTS_SQL = f"""
SELECT {_STUDENT_COLUMNS}
FROM student s JOIN school sc ON sc.id = s.school_id
WHERE s.district_id = ANY(:districts) AND s.deidentified_at IS NULL
ORDER BY s.district_id, s.id
"""  # noqa: S608 (constants only)

# The latest COPPA consent of each student; an under-13 student is due when it is a withdrawal
# at least the notice period old, or when there never was one (and the student's flag says no)
# and collected content is older than the notice period. Content already erased is not due again.
_COPPA_SQL = f"""
WITH latest AS (
  SELECT DISTINCT ON (c.student_id) c.student_id, c.granted, c.recorded_at
  FROM consent c
  WHERE c.kind = 'coppa_collection' AND {_DISTRICT_FILTER.format(t="c")}
  ORDER BY c.student_id, c.recorded_at DESC, c.id DESC
)
SELECT {_STUDENT_COLUMNS}
FROM student s
JOIN school sc ON sc.id = s.school_id
JOIN district d ON d.id = s.district_id
LEFT JOIN latest l ON l.student_id = s.id
LEFT JOIN portfolio p ON p.student_id = s.id
WHERE {_DISTRICT_FILTER.format(t="s")}
  AND NOT (d.id = ANY(:ended))
  AND s.date_of_birth > CAST(:as_of AS date) - make_interval(years => {COPPA_AGE})
  AND (
    (l.granted = false
      AND l.recorded_at < CAST(:as_of AS date) - d.consent_notice_days + 1
      AND (p.headline IS NOT NULL OR EXISTS (
        SELECT FROM portfolio_item i WHERE i.student_id = s.id AND i.erased_at IS NULL)))
    OR (l.student_id IS NULL AND NOT s.coppa_consent
      AND ((p.headline IS NOT NULL
            AND p.created_at < CAST(:as_of AS date) - d.consent_notice_days + 1)
        OR EXISTS (SELECT FROM portfolio_item i WHERE i.student_id = s.id AND i.erased_at IS NULL
                   AND i.created_at < CAST(:as_of AS date) - d.consent_notice_days + 1)))
  )
ORDER BY s.district_id, s.id
"""  # noqa: S608 (constants only)

# "Before the date", and never in the future: the end of the day, or now if earlier.
_CUT = "least(now(), (CAST(:as_of AS date) + 1)::timestamp AT TIME ZONE 'UTC')"

_GRANTS_SQL = f"""
SELECT g.id, g.district_id FROM legitimate_interest_grant g
WHERE g.archived_at IS NULL AND {_DISTRICT_FILTER.format(t="g")}
  AND least(g.revoked_at, g.expires_at) < {_CUT}
ORDER BY g.id
"""  # noqa: S608 (constants only)

_EXPORTS_SQL = f"""
SELECT e.id, e.district_id FROM data_export e
WHERE e.content IS NOT NULL AND {_DISTRICT_FILTER.format(t="e")} AND e.expires_at < {_CUT}
ORDER BY e.id
"""  # noqa: S608 (constants only)


async def _rows(connection: AsyncConnection, sql: str, params: dict[str, Any]) -> list[Any]:
    return list((await connection.execute(text(sql), params)).all())


async def due(connection: AsyncConnection, *, as_of: date, district_id: int | None = None) -> Plan:
    """What the rules say is due on `as_of` (in one district, or all); nothing is changed."""
    params: dict[str, Any] = {
        "as_of": as_of,
        "cutoff": months_before(as_of, GRACE_MONTHS),
        "district_id": district_id,
    }
    plan = Plan(as_of=as_of)
    plan.districts = [
        EndedDistrict(r.id, r.name, r.ended_on, int(r.students), int(r.accounts))
        for r in await _rows(connection, _ENDED_SQL, params)
    ]
    params["ended"] = params["districts"] = [d.id for d in plan.districts]
    for sql, rule in ((_ENDED_STUDENTS_SQL, ENDED), (_COPPA_SQL, COPPA)):
        plan.students += [
            DueStudent(r.id, r.district_id, r.student_number, r.name, r.school, rule)
            for r in await _rows(connection, sql, params)
        ]
    plan.grants = [(r.id, r.district_id) for r in await _rows(connection, _GRANTS_SQL, params)]
    plan.exports = [(r.id, r.district_id) for r in await _rows(connection, _EXPORTS_SQL, params)]
    return plan
