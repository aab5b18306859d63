"""What a student's current consents allow.

A consent is a row per decision (`consent`: kind, granted, given by, when); the newest row of a
kind is the one in force. Two kinds gate what SchoolGraph does:

- `coppa_collection`: nothing is collected from a student under 13 without a parent's consent
  (16 CFR 312.5). While it is not in force, the student cannot add to or edit their portfolio,
  and what was collected is no longer used: staff stop seeing it (the policy object
  `PortfolioItem.WITHOUT_CONSENT`: the student and guardians only) until retention erases it
  after the district's notice period.
- `third_party_disclosure`: a vendor (a holder of a `THIRD_PARTY_ROLES` role) sees a student only
  while this consent is in force, and a OneRoster export to a third party leaves out the
  students without it.

```python
if coppa_withheld(student_row):           # an under-13 student without consent in force
    ...
sql = f"... WHERE {third_party_granted('s.id')}"
```
"""

from __future__ import annotations

import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.models import ConsentKind, Role

COPPA_AGE = 13
# Roles whose holders are third parties to the school: vendor support staff.
THIRD_PARTY_ROLES = (Role.SUPPORT,)


def age_on(born: datetime.date | None, day: datetime.date) -> int:
    """Whole years from `born` to `day`.

    An unknown birth date (a roster import without demographics) counts as a child's: the
    protections of minors hold until the date is known.
    """
    if born is None:
        return 0
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def today() -> datetime.date:
    return datetime.datetime.now(datetime.UTC).date()


def coppa_withheld(student: Any, day: datetime.date | None = None) -> bool:
    """An under-13 student without a parent's consent to collection in force.

    `student`: a row with `date_of_birth` and `coppa_consent` (the current COPPA state, kept on
    the student row by `recordConsent`)."""
    return age_on(student.date_of_birth, day or today()) < COPPA_AGE and not student.coppa_consent


def latest_granted(student_id_sql: str, kind: ConsentKind) -> str:
    """SQL: whether the newest consent of `kind` for the student `student_id_sql` grants it
    (false when none was ever recorded). `student_id_sql` comes from the code."""
    where = f"c.student_id = {student_id_sql} AND c.kind = '{kind.value}'"
    return (
        "coalesce((SELECT c.granted FROM consent c WHERE "  # noqa: S608 (code, not input)
        + where
        + " ORDER BY c.recorded_at DESC, c.id DESC LIMIT 1), false)"
    )


def third_party_granted(student_id_sql: str) -> str:
    """SQL: the student's consent to disclosure to third parties is in force."""
    return latest_granted(student_id_sql, ConsentKind.THIRD_PARTY_DISCLOSURE)


async def third_party_consent(connection: AsyncConnection, *, student_id: int) -> bool:
    sql = f"SELECT {third_party_granted(':id')}"
    return bool((await connection.execute(text(sql), {"id": student_id})).scalar_one())


def is_third_party(roles: frozenset[tuple[str, int | None]] | None) -> bool:
    """A user holding a third-party role (whatever else they hold)."""
    return any(role in THIRD_PARTY_ROLES for role, _ in roles or ())
