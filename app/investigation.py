"""Breach investigation: the record of disclosures and the write audit, filtered, paged, counted
and streamed.

A privacy officer asks "who saw what": which reader read which students, which student was read
by whom, in a time range, for a field class; and "who changed what" in the write audit. Both
lists are keyset-paged newest first (`app.keyset`), counted with the same WHERE clause, and served
by the indexes of migration 0006 (docs/breach-investigation.md has their plans).

    found = DisclosureFilter(viewer_id=7, since=monday, until=friday, field_class="contact")
    rows = await list_disclosures(connection=c, scope=scope, flt=found, first=50, after=None)
    total = await count_disclosures(connection=c, scope=scope, flt=found)
"""

from __future__ import annotations

import csv
import datetime
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, TextIO

from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from app.database import cached_text
from app.keyset import Column, Keyset
from app.relations import RowScope

# Both lists newest first; ids grow with time, so the id alone is a total order.
DISCLOSURE_ORDER = Keyset(Column("d.id", "id"), descending=True)
AUDIT_ORDER = Keyset(Column("e.id", "id"), descending=True)


@dataclass(frozen=True)
class DisclosureFilter:
    """Validated filter values; None means "any". `since` inclusive, `until` exclusive."""

    student_id: int | None = None
    viewer_id: int | None = None
    since: datetime.datetime | None = None
    until: datetime.datetime | None = None
    field_class: str | None = None


@dataclass(frozen=True)
class AuditFilter:
    """Validated filter values; None means "any". `since` inclusive, `until` exclusive."""

    actor_id: int | None = None
    action: str | None = None
    target_type: str | None = None
    target_id: int | None = None
    since: datetime.datetime | None = None
    until: datetime.datetime | None = None


def _scope_sql(scope: RowScope, params: dict[str, Any]) -> str:
    """The students of `scope`, as a condition on `d.student_id` (an index can serve it)."""
    params["district_id"] = scope.district_id
    if scope.whole_district:
        return "d.district_id = :district_id"
    parts = []
    if scope.student_ids:
        params["scope_ids"] = list(scope.student_ids)
        parts.append("d.student_id = ANY(:scope_ids)")
    if scope.school_ids:
        params["scope_schools"] = list(scope.school_ids)
        parts.append(
            "d.student_id IN (SELECT s.id FROM student s WHERE s.district_id = :district_id"
            " AND s.school_id = ANY(:scope_schools))"
        )
    return f"d.district_id = :district_id AND ({' OR '.join(parts) or 'FALSE'})"


def _disclosure_where(scope: RowScope, flt: DisclosureFilter, params: dict[str, Any]) -> str:
    return " AND ".join([_scope_sql(scope, params), *_filter_sql(flt, params)])


def _filter_sql(flt: DisclosureFilter, params: dict[str, Any]) -> list[str]:
    conditions = []
    for column, value in (("student_id", flt.student_id), ("viewer_user_id", flt.viewer_id)):
        if value is not None:
            conditions.append(f"d.{column} = :{column}")
            params[column] = value
    if flt.since is not None:
        conditions.append("d.disclosed_at >= :since")
        params["since"] = flt.since
    if flt.until is not None:
        conditions.append("d.disclosed_at < :until")
        params["until"] = flt.until
    if flt.field_class is not None:
        # No index on the array: it would cost every recorded read, and a page of the common
        # classes is found within a few pages' rows of the id order anyway.
        conditions.append("d.field_classes @> CAST(:field_classes AS TEXT[])")
        params["field_classes"] = [flt.field_class]
    return conditions


async def list_disclosures(
    *,
    connection: AsyncConnection,
    scope: RowScope,
    flt: DisclosureFilter,
    first: int,
    after: tuple[Any, ...] | None,
) -> list[Row[Any]]:
    """Disclosures of the students of `scope` that match `flt`, newest first, by keyset pages
    (`first + 1` rows)."""
    if scope.empty:
        return []
    params: dict[str, Any] = {"limit": first + 1}
    where = _disclosure_where(scope, flt, params)
    if after is not None:
        where += " AND " + DISCLOSURE_ORDER.after(after, params)
    sql = (
        f"SELECT d.* FROM disclosure d WHERE {where}"
        f" ORDER BY {DISCLOSURE_ORDER.order_by} LIMIT :limit"
    )
    return list((await connection.execute(cached_text(sql), params)).all())


async def count_disclosures(
    *, connection: AsyncConnection, scope: RowScope, flt: DisclosureFilter
) -> int:
    """How many disclosures `list_disclosures` would page through."""
    if scope.empty:
        return 0
    params: dict[str, Any] = {}
    sql = f"SELECT count(*) FROM disclosure d WHERE {_disclosure_where(scope, flt, params)}"
    return int((await connection.execute(cached_text(sql), params)).scalar_one())


def _audit_where(district_id: int, flt: AuditFilter, params: dict[str, Any]) -> str:
    params["district_id"] = district_id
    conditions = ["e.district_id = :district_id"]
    for column, value in (
        ("actor_user_id", flt.actor_id),
        ("action", flt.action),
        ("target_type", flt.target_type),
        ("target_id", flt.target_id),
    ):
        if value is not None:
            conditions.append(f"e.{column} = :{column}")
            params[column] = value
    if flt.since is not None:
        conditions.append("e.at >= :since")
        params["since"] = flt.since
    if flt.until is not None:
        conditions.append("e.at < :until")
        params["until"] = flt.until
    return " AND ".join(conditions)


async def list_audit_events(
    *,
    connection: AsyncConnection,
    district_id: int,
    flt: AuditFilter,
    first: int,
    after: tuple[Any, ...] | None,
) -> list[Row[Any]]:
    """The district's write audit matching `flt`, newest first, by keyset pages (`first + 1`)."""
    params: dict[str, Any] = {"limit": first + 1}
    where = _audit_where(district_id, flt, params)
    if after is not None:
        where += " AND " + AUDIT_ORDER.after(after, params)
    sql = (
        f"SELECT e.* FROM audit_event e WHERE {where} ORDER BY {AUDIT_ORDER.order_by} LIMIT :limit"
    )
    return list((await connection.execute(cached_text(sql), params)).all())


async def count_audit_events(
    *, connection: AsyncConnection, district_id: int, flt: AuditFilter
) -> int:
    params: dict[str, Any] = {}
    sql = f"SELECT count(*) FROM audit_event e WHERE {_audit_where(district_id, flt, params)}"
    return int((await connection.execute(cached_text(sql), params)).scalar_one())


# The report's columns, in order; `student_name` and `viewer_name` are joined in.
REPORT_COLUMNS = (
    "disclosed_at",
    "viewer_username",
    "viewer_name",
    "student_id",
    "student_number",
    "student_name",
    "field_classes",
    "basis",
    "grant_id",
    "purpose",
    "request_id",
)


async def stream_report(
    *,
    connection: AsyncConnection,
    district_id: int | None,
    flt: DisclosureFilter,
    batch: int = 1000,
) -> AsyncIterator[Row[Any]]:
    """Disclosures matching `flt` (of every district when `district_id` is None), oldest
    first, with the reader's and the student's names: a server-side cursor fetches `batch`
    rows at a time, so a report of millions of rows holds one batch in memory."""
    params: dict[str, Any] = {}
    conditions = _filter_sql(flt, params)
    if district_id is not None:
        conditions.append("d.district_id = :district_id")
        params["district_id"] = district_id
    sql = (
        "SELECT d.disclosed_at, u.username AS viewer_username,"
        " concat_ws(' ', u.first_name, u.last_name) AS viewer_name, d.student_id,"
        " s.student_number, concat_ws(' ', s.first_name, s.last_name) AS student_name,"
        " array_to_string(d.field_classes, ';') AS field_classes, d.basis, d.grant_id,"
        " d.purpose, d.request_id"
        " FROM disclosure d JOIN app_user u ON u.id = d.viewer_user_id"
        " JOIN student s ON s.id = d.student_id"
        f" WHERE {' AND '.join(conditions) or 'TRUE'} ORDER BY d.id"
    )
    result = await connection.stream(cached_text(sql).execution_options(yield_per=batch), params)
    async for row in result:
        yield row


async def write_report(
    *,
    connection: AsyncConnection,
    district_id: int | None,
    flt: DisclosureFilter,
    out: TextIO,
    global_id: Callable[[str, int], str],
) -> int:
    """Write the disclosures matching `flt` to `out` as CSV (a header, then oldest first);
    return how many rows were written. Rows go out as they arrive: memory stays flat.
    `global_id` makes the API's ids (`schema.relay.to_global_id`), so the CSV's ids are the
    ones `Query.disclosures(studentId:)` takes.

    ```python
    with open("report.csv", "w", newline="") as out:
        written = await write_report(
            connection=c, district_id=1, flt=flt, out=out, global_id=to_global_id
        )
    ```
    """
    writer = csv.writer(out)
    writer.writerow(REPORT_COLUMNS)
    written = 0
    async for row in stream_report(connection=connection, district_id=district_id, flt=flt):
        values = row._mapping
        writer.writerow(
            [
                values["disclosed_at"].isoformat(),
                *(values[name] for name in REPORT_COLUMNS[1:3]),
                global_id("Student", values["student_id"]),
                *(values[name] for name in REPORT_COLUMNS[4:8]),
                global_id("LegitimateInterestGrant", values["grant_id"])
                if values["grant_id"]
                else "",
                values["purpose"] or "",
                values["request_id"],
            ]
        )
        written += 1
    return written


async def find_subject(
    connection: AsyncConnection,
    *,
    username: str | None = None,
    student_id: int | None = None,
    student_number: str | None = None,
) -> tuple[int, int | None, int | None] | None:
    """`(district id, reader's user id, student id)` of a report's subject — a reader by
    username, or a student by id or by student number — or None when there is none.

    A student number is local to a district: one that several districts use is ambiguous and
    found nowhere; give the student's id then.
    """
    if username is not None:
        sql = "SELECT district_id, id FROM app_user WHERE username = :name"
        row = (await connection.execute(cached_text(sql), {"name": username})).first()
        return (int(row.district_id), int(row.id), None) if row else None
    if student_id is not None:
        sql = "SELECT district_id, id FROM student WHERE id = :value"
        value: Any = student_id
    else:
        sql = "SELECT district_id, id FROM student WHERE student_number = :value"
        value = student_number
    rows = (await connection.execute(cached_text(sql), {"value": value})).all()
    return (int(rows[0].district_id), None, int(rows[0].id)) if len(rows) == 1 else None
