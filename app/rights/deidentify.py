"""Removing the identity of a set of students, for good (docs/retention.md).

What identifies a student is removed or replaced by a pseudonym; what the district's aggregates
and the record need is kept:

- `student`: names become a pseudonym ("Removed" / "Student 7F3A2C91D0E4", random, unique, not
  derived from the identity), the student number the same code; preferred name, email, phone,
  date of birth and sourced id are cleared; `deidentified_at` is set. School, grade level,
  gender, ethnicity and enrollment status stay (the reports group by them).
- the student's account: username and names become the pseudonym; contact, password, external
  subject and sourced id are cleared; deactivated; its role assignments removed.
- guardian links end today and disclose nothing (the guardians' own accounts stay: they may have
  other children).
- free text: mark comments, the portfolio headline, portfolio items' title and body (the rows
  stay, `erased_at` set, so portfolio counts stay right), data requests' details and proposed
  changes, statements (deleted), inspection bundles (content purged), the personal values of
  the write audit (`audit_change`, deleted), and the student's exact strings quoted in roster
  import messages.
- kept: enrollments, marks' scores and letters, readiness, activity, consents, grants, data
  requests (kind, status, dates), the record of disclosures (it points at the student row, which
  now carries the pseudonym) and the audit events (which hold no personal values).

Every statement covers the whole set (`unnest` of ids and pseudonyms), never a row at a time.

    previews = await deletion_previews(connection, [student_id], district_id=1)
    counts = await deidentify_students(connection, [student_id], district_id=1)
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.encryption import decrypt_rows, writing_keyring
from app.writes import WriteRefused

REMOVED_FIRST_NAME = "Removed"
REMOVED = "[removed]"
# The title an erased portfolio item shows (the column is required, and encrypted per row).
ERASED_TITLE = "(content removed)"

REMOVED_ACTION = "removed"
REPLACED_ACTION = "replaced"
KEPT_ACTION = "kept"


def new_pseudonym() -> str:
    """Twelve random hex digits: unique in practice (48 bits), derived from nothing."""
    return secrets.token_hex(6).upper()


@dataclass(frozen=True)
class PreviewLine:
    """One line of a deletion preview: what, how many rows, and what happens to them."""

    what: str
    rows: int
    action: str  # removed, replaced, kept


# (what, action, SQL counting the rows of the student `s`). Kept in the order a privacy
# officer reads them: the identity, the account, links, content, then what stays.
_PREVIEW: tuple[tuple[str, str, str], ...] = (
    (
        "student names, student number (replaced by a pseudonym)",
        REPLACED_ACTION,
        "SELECT 1",
    ),
    (
        "preferred name, email, phone, date of birth, sourced id",
        REMOVED_ACTION,
        "SELECT (s.preferred_name IS NOT NULL OR s.email IS NOT NULL OR s.phone IS NOT NULL"
        " OR s.date_of_birth IS NOT NULL OR s.sourced_id IS NOT NULL)::int",
    ),
    (
        "student account (username and names replaced; contact, password, sign-in removed;"
        " deactivated)",
        REPLACED_ACTION,
        "SELECT count(*) FROM app_user u WHERE u.id = s.user_id",
    ),
    (
        "role assignments of the student account",
        REMOVED_ACTION,
        "SELECT count(*) FROM role_assignment r WHERE r.user_id = s.user_id",
    ),
    (
        "guardian links (ended today; guardians' own accounts stay)",
        REPLACED_ACTION,
        "SELECT count(*) FROM guardian_link WHERE student_id = s.id"
        " AND (ends_on IS NULL OR ends_on > CURRENT_DATE OR data_access)",
    ),
    (
        "mark comments",
        REMOVED_ACTION,
        "SELECT count(*) FROM mark WHERE student_id = s.id AND comment IS NOT NULL",
    ),
    (
        "portfolio headline",
        REMOVED_ACTION,
        "SELECT count(*) FROM portfolio WHERE student_id = s.id AND headline IS NOT NULL",
    ),
    (
        "portfolio items' content (title, body; the items stay counted)",
        REMOVED_ACTION,
        "SELECT count(*) FROM portfolio_item WHERE student_id = s.id AND erased_at IS NULL",
    ),
    (
        "data requests' details and proposed changes",
        REMOVED_ACTION,
        "SELECT count(*) FROM data_request WHERE student_id = s.id"
        " AND (details IS NOT NULL OR changes IS NOT NULL)",
    ),
    (
        "statements",
        REMOVED_ACTION,
        "SELECT count(*) FROM student_statement WHERE student_id = s.id",
    ),
    (
        "inspection bundles",
        REMOVED_ACTION,
        "SELECT count(*) FROM data_export WHERE student_id = s.id AND content IS NOT NULL",
    ),
    (
        "personal values in the write audit",
        REMOVED_ACTION,
        "SELECT count(*) FROM audit_change WHERE student_id = s.id OR user_id = s.user_id",
    ),
    (
        "enrollments",
        KEPT_ACTION,
        "SELECT count(*) FROM enrollment WHERE student_id = s.id",
    ),
    (
        "marks (scores and letters)",
        KEPT_ACTION,
        "SELECT count(*) FROM mark WHERE student_id = s.id",
    ),
    (
        "readiness results",
        KEPT_ACTION,
        "SELECT count(*) FROM readiness_indicator WHERE student_id = s.id",
    ),
    (
        "activity events",
        KEPT_ACTION,
        "SELECT count(*) FROM activity_event WHERE student_id = s.id",
    ),
    (
        "consents",
        KEPT_ACTION,
        "SELECT count(*) FROM consent WHERE student_id = s.id",
    ),
    (
        "legitimate-interest grants naming the student",
        KEPT_ACTION,
        "SELECT count(*) FROM legitimate_interest_grant WHERE student_id = s.id",
    ),
    (
        "record of disclosures (now naming the pseudonym)",
        KEPT_ACTION,
        "SELECT count(*) FROM disclosure WHERE student_id = s.id",
    ),
    (
        "data requests (kind, status, dates)",
        KEPT_ACTION,
        "SELECT count(*) FROM data_request WHERE student_id = s.id",
    ),
)

# One statement for any number of students: a row per student, a column per line.
_COUNTS = ", ".join(f"({sql}) AS c{n}" for n, (_, _, sql) in enumerate(_PREVIEW))
_PREVIEW_SQL = (
    f"SELECT s.id, s.school_id, {_COUNTS} FROM student s"  # noqa: S608 (constants only)
    " WHERE s.id = ANY(:ids) AND s.district_id = :district_id"
)


@dataclass(frozen=True)
class Preview:
    """What de-identifying one student would do, and the student's school (who may see it)."""

    student_id: int
    school_id: int
    lines: list[PreviewLine]


async def deletion_previews(
    connection: AsyncConnection, student_ids: Sequence[int], *, district_id: int
) -> dict[int, Preview]:
    """What de-identifying each of `student_ids` (of `district_id`) would remove, replace and
    keep, with row counts; one statement however many students."""
    rows = (
        await connection.execute(
            text(_PREVIEW_SQL), {"ids": list(student_ids), "district_id": district_id}
        )
    ).all()
    return {
        row.id: Preview(
            row.id,
            row.school_id,
            [
                PreviewLine(what, int(row[n + 2]), action)
                for n, (what, action, _) in enumerate(_PREVIEW)
            ],
        )
        for row in rows
    }


async def refuse_if_deidentified(connection: AsyncConnection, student_id: int) -> None:
    """A student whose identity was removed has no record left to inspect, amend or delete.

    Locks the student's row to the end of the transaction, so a de-identification running at
    the same time (retention) either finishes first, and this refuses, or waits for it."""
    gone = (
        await connection.execute(
            text("SELECT deidentified_at IS NOT NULL FROM student WHERE id = :id FOR UPDATE"),
            {"id": student_id},
        )
    ).scalar()
    if gone:
        raise WriteRefused(
            "the student's identity was removed: there is no record left to act on",
            "DEIDENTIFIED",
            "studentId",
        )


@dataclass(frozen=True)
class _Identity:
    """The exact strings that identified a student, to scrub where they were quoted."""

    values: tuple[str, ...]


_MIN_SCRUBBED = 2  # a one-letter value would scrub every message


async def _identities(connection: AsyncConnection, student_ids: Sequence[int]) -> list[_Identity]:
    rows = (
        await connection.execute(
            text(
                "SELECT s.id, s.student_number, s.first_name, s.last_name, s.preferred_name,"
                " s.date_of_birth, s.email, s.phone, s.sourced_id,"
                " u.username, u.sourced_id AS user_sourced_id"
                " FROM student s LEFT JOIN app_user u ON u.id = s.user_id"
                " WHERE s.id = ANY(:ids)"
            ),
            {"ids": list(student_ids)},
        )
    ).all()
    found = []
    for row in await decrypt_rows(connection, "student", rows):
        born: date | None = row.date_of_birth
        names = [
            row.student_number,
            f"{row.first_name} {row.last_name}",
            row.first_name,
            row.last_name,
            row.preferred_name,
            born.isoformat() if born else None,
            row.email,
            row.phone,
            row.sourced_id,
            row.username,
            row.user_sourced_id,
        ]
        found.append(_Identity(tuple(v for v in names if v and len(v.strip()) >= _MIN_SCRUBBED)))
    return found


def _pattern(identities: Sequence[_Identity]) -> re.Pattern[str] | None:
    values = sorted({v for i in identities for v in i.values}, key=len, reverse=True)
    if not values:
        return None
    # Whole words only: "Ann" is scrubbed, "Annual" is not.
    return re.compile(r"(?<!\w)(?:" + "|".join(map(re.escape, values)) + r")(?!\w)")


async def _scrub_roster_messages(
    connection: AsyncConnection, district_id: int, identities: Sequence[_Identity]
) -> int:
    """Roster import messages quote the input values of a bad row: the students' exact strings
    are replaced there. Returns the number of imports changed."""
    pattern = _pattern(identities)
    if pattern is None:
        return 0
    rows = (
        await connection.execute(
            text(
                "SELECT id, errors, warnings FROM roster_import WHERE district_id = :district_id"
                " AND (cardinality(errors) > 0 OR cardinality(warnings) > 0)"
            ),
            {"district_id": district_id},
        )
    ).all()
    ids, errors, warnings = [], [], []
    for row in rows:
        new_errors = [pattern.sub(REMOVED, m) for m in row.errors or []]
        new_warnings = [pattern.sub(REMOVED, m) for m in row.warnings or []]
        if new_errors != list(row.errors or []) or new_warnings != list(row.warnings or []):
            ids.append(row.id)
            # Each message array travels as one text (JSON) so the arrays may differ in length.
            errors.append(new_errors)
            warnings.append(new_warnings)
    if ids:
        await connection.execute(
            text(
                "UPDATE roster_import r SET"
                " errors = ARRAY(SELECT jsonb_array_elements_text(v.errors)),"
                " warnings = ARRAY(SELECT jsonb_array_elements_text(v.warnings))"
                " FROM (SELECT * FROM unnest(CAST(:ids AS bigint[]), CAST(:errors AS jsonb[]),"
                " CAST(:warnings AS jsonb[]))) AS v(id, errors, warnings) WHERE r.id = v.id"
            ),
            {
                "ids": ids,
                "errors": [json.dumps(e) for e in errors],
                "warnings": [json.dumps(w) for w in warnings],
            },
        )
    return len(ids)


@dataclass(frozen=True)
class Deidentified:
    """The students whose identity was removed, and the rows changed by what they held."""

    student_ids: list[int]
    counts: dict[str, int]


async def _lock_identified(
    connection: AsyncConnection, table: str, ids: Sequence[int], district_id: int
) -> list[int]:
    """Lock the rows of `table` (student or app_user, from the code) among `ids` that belong to
    the district and still carry an identity; their ids. Two runs at once do each row once."""
    result = await connection.execute(
        text(
            f"SELECT id FROM {table} WHERE id = ANY(:ids) AND district_id = :district_id"  # noqa: S608
            " AND deidentified_at IS NULL ORDER BY id FOR UPDATE"
        ),
        {"ids": list(ids), "district_id": district_id},
    )
    return list(result.scalars())


# A de-identified account's sign-in sessions end, and forget where and on what they were made.
_END_SESSIONS = (
    "UPDATE user_session SET address = NULL, user_agent = NULL,"
    " revoked_at = coalesce(revoked_at, now()) WHERE user_id = ANY({ids})"
)


async def deidentify_students(
    connection: AsyncConnection, student_ids: Sequence[int], *, district_id: int
) -> Deidentified:
    """Remove the identity of the students of `district_id` among `student_ids` who still have
    one (the others are skipped). Locks the students' rows: two runs at once do each student
    once."""
    ids = await _lock_identified(connection, "student", student_ids, district_id)
    counts: dict[str, int] = {"students": len(ids)}
    if not ids:
        return Deidentified(ids, counts)
    identities = await _identities(connection, ids)
    codes = [new_pseudonym() for _ in ids]
    params: dict[str, Any] = {
        "ids": ids,
        "codes": codes,
        "district_id": district_id,
        "removed": REMOVED_FIRST_NAME,
    }

    async def run(name: str, sql: str) -> None:
        result = await connection.execute(text(sql), params)
        counts[name] = counts.get(name, 0) + int(result.rowcount or 0)

    user_ids = list(
        (
            await connection.execute(
                text("SELECT user_id FROM student WHERE id = ANY(:ids) AND user_id IS NOT NULL"),
                params,
            )
        ).scalars()
    )
    params["user_ids"] = user_ids
    await run(
        "student_accounts",
        "UPDATE app_user u SET username = 'removed-' || lower(p.code),"
        " first_name = :removed, last_name = 'Student ' || p.code,"
        " email = NULL, phone = NULL, password_hash = NULL, external_subject = NULL,"
        " sourced_id = NULL, is_active = false, failed_logins = 0, locked_at = NULL,"
        " deidentified_at = now()"
        " FROM student s JOIN unnest(CAST(:ids AS bigint[]), CAST(:codes AS text[])) AS p(id, code)"
        " ON p.id = s.id WHERE u.id = s.user_id",
    )
    await run("role_assignments", "DELETE FROM role_assignment WHERE user_id = ANY(:user_ids)")
    await run("sessions", _END_SESSIONS.format(ids=":user_ids"))
    await run(
        "students",
        "UPDATE student s SET first_name = :removed,"
        " last_name = 'Student ' || p.code, student_number = 'removed-' || lower(p.code),"
        " preferred_name = NULL, email = NULL, phone = NULL, date_of_birth = NULL,"
        " sourced_id = NULL, directory_opt_out = true, deidentified_at = now()"
        " FROM unnest(CAST(:ids AS bigint[]), CAST(:codes AS text[])) AS p(id, code)"
        " WHERE s.id = p.id",
    )
    counts["students"] = len(ids)
    await run(
        "guardian_links_ended",
        "UPDATE guardian_link SET ends_on = LEAST(coalesce(ends_on, CURRENT_DATE), CURRENT_DATE),"
        " data_access = false, sourced_id = NULL WHERE student_id = ANY(:ids)",
    )
    await run(
        "enrollment_sourced_ids",
        "UPDATE enrollment SET sourced_id = NULL WHERE student_id = ANY(:ids)"
        " AND sourced_id IS NOT NULL",
    )
    await run(
        "mark_comments",
        "UPDATE mark SET comment = NULL WHERE student_id = ANY(:ids) AND comment IS NOT NULL",
    )
    counts.update(await erase_collected_content(connection, ids))
    await run(
        "data_request_details",
        "UPDATE data_request SET details = NULL, changes = NULL WHERE student_id = ANY(:ids)"
        " AND (details IS NOT NULL OR changes IS NOT NULL)",
    )
    await run("statements", "DELETE FROM student_statement WHERE student_id = ANY(:ids)")
    await run(
        "inspection_bundles",
        "UPDATE data_export SET content = NULL, purged_at = coalesce(purged_at, now())"
        " WHERE student_id = ANY(:ids) AND content IS NOT NULL",
    )
    await run(
        "audit_values",
        "DELETE FROM audit_change WHERE student_id = ANY(:ids) OR user_id = ANY(:user_ids)",
    )
    counts["roster_imports_scrubbed"] = await _scrub_roster_messages(
        connection, district_id, identities
    )
    return Deidentified(ids, counts)


async def erase_collected_content(
    connection: AsyncConnection, student_ids: Sequence[int]
) -> dict[str, int]:
    """Erase what the students' portfolios collected (the headline; items' title and body):
    the item rows stay, `erased_at` set, so a district's portfolio counts do not change."""
    ids = list(student_ids)
    headlines = await connection.execute(
        text(
            "UPDATE portfolio SET headline = NULL WHERE student_id = ANY(:ids)"
            " AND headline IS NOT NULL"
        ),
        {"ids": ids},
    )
    items = list(
        (
            await connection.execute(
                text(
                    "SELECT id FROM portfolio_item WHERE student_id = ANY(:ids)"
                    " AND erased_at IS NULL ORDER BY id FOR UPDATE"
                ),
                {"ids": ids},
            )
        ).scalars()
    )
    if items:
        ring = await writing_keyring(connection)
        titles = [ring.encrypt("portfolio_item", "title", i, ERASED_TITLE) for i in items]
        await connection.execute(
            text(
                "UPDATE portfolio_item p SET title = v.title, body = NULL, erased_at = now()"
                " FROM unnest(CAST(:items AS bigint[]), CAST(:titles AS bytea[])) AS v(id, title)"
                " WHERE p.id = v.id"
            ),
            {"items": items, "titles": titles},
        )
    return {"portfolio_headlines": int(headlines.rowcount or 0), "portfolio_items": len(items)}


async def deidentify_accounts(
    connection: AsyncConnection, user_ids: Sequence[int], *, district_id: int
) -> list[int]:
    """Remove the identity of accounts (staff, guardians) of `district_id`: username and names
    become a pseudonym, contact and sign-in are cleared, the account is deactivated and holds no
    role. The ids of the accounts changed (those not done before)."""
    ids = await _lock_identified(connection, "app_user", user_ids, district_id)
    if not ids:
        return ids
    params = {"ids": ids, "codes": [new_pseudonym() for _ in ids], "removed": REMOVED_FIRST_NAME}
    await connection.execute(
        text(
            "UPDATE app_user u SET username = 'removed-' || lower(p.code),"
            " first_name = :removed, last_name = 'User ' || p.code,"
            " email = NULL, phone = NULL, password_hash = NULL, external_subject = NULL,"
            " sourced_id = NULL, is_active = false, failed_logins = 0, locked_at = NULL,"
            " deidentified_at = now()"
            " FROM unnest(CAST(:ids AS bigint[]), CAST(:codes AS text[])) AS p(id, code)"
            " WHERE u.id = p.id"
        ),
        params,
    )
    await connection.execute(
        text("DELETE FROM role_assignment WHERE user_id = ANY(:ids)"), {"ids": ids}
    )
    await connection.execute(text(_END_SESSIONS.format(ids=":ids")), {"ids": ids})
    await connection.execute(
        text("DELETE FROM audit_change WHERE user_id = ANY(:ids)"), {"ids": ids}
    )
    return ids
