"""Read access to the database: keyword-only functions that take a connection.

Resolvers and loaders call these; these never call resolvers. Every list function takes the
viewer's `RowScope` (or ids already inside it) and puts it in the WHERE clause of the same
statement, so cursors and counts only ever see rows the viewer is related to. SQL text is fixed
per scope shape; values — user input included — are always bound parameters. Columns encrypted
at rest (app/encryption.py) are decrypted here, before any row leaves this module.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from app.database import cached_text
from app.encryption import ENCRYPTED, decrypt_rows
from app.keyset import Column, Keyset
from app.relations import RowScope

STUDENT_COLUMNS = (
    "s.id, s.district_id, s.school_id, s.user_id, s.student_number, s.first_name, s.last_name,"
    " s.preferred_name, s.grade_level, s.date_of_birth, s.gender, s.ethnicity, s.email, s.phone,"
    " s.enrollment_status, s.directory_opt_out, s.coppa_consent"
)

_ID = Column("s.id", "id")
_NAME = (Column("s.last_name", "last_name"), Column("s.first_name", "first_name"), _ID)
# Keyset orders: (the order, the fields it sorts by). Each ends in `id` so the order is total.
# The fields are every field whose values decide where a row lands (ties included): an order
# is allowed only where the viewer may read all of them (schema/reveals.py).
STUDENT_ORDERS: dict[str, tuple[Keyset, tuple[str, ...]]] = {
    "NAME": (Keyset(*_NAME), ("lastName", "firstName")),
    "GRADE_LEVEL": (
        Keyset(Column("s.grade_level", "grade_level"), *_NAME),
        ("gradeLevel", "lastName", "firstName"),
    ),
    # `dateOfBirth` is a nullable field: its unknown dates sort last.
    "DATE_OF_BIRTH": (
        Keyset(Column("s.date_of_birth", "date_of_birth", nullable=True), *_NAME),
        ("dateOfBirth", "lastName", "firstName"),
    ),
    # What `Student.displayName` shows (preferred or first name, last initial), and nothing
    # more: the order a classmate may use.
    "DISPLAY_NAME": (
        Keyset(
            Column("coalesce(s.preferred_name, s.first_name)", "display_first"),
            Column("left(s.last_name, 1)", "last_initial"),
            _ID,
        ),
        ("displayName",),
    ),
    # The order rows were created in: reveals no field.
    "ID": (Keyset(_ID), ()),
}
# A class's roster (`e` its enrollments, `s` their students), by name (`class_rosters`).
ROSTER_FROM = "enrollment e JOIN student s ON s.id = e.student_id"
ROSTER_ORDER = STUDENT_ORDERS["NAME"][0]
# A class's teachers today (`ta` of the class, `u` their accounts), by name.
TEACHING_TODAY = (
    "ta.starts_on <= CURRENT_DATE AND (ta.ends_on IS NULL OR ta.ends_on >= CURRENT_DATE)"
)
TEACHER_ORDER = "u.last_name, u.id"
# A student's enrollments (`e`, in the classes `c` of the terms `t`), current term first.
ENROLLMENTS_FROM = (
    "enrollment e JOIN class_section c ON c.id = e.class_id JOIN term t ON t.id = c.term_id"
)
ENROLLMENT_ORDER = "t.starts_on DESC, c.title, c.id"


@dataclass(frozen=True)
class StudentFilter:
    """Validated filter values; None means "any"."""

    school_id: int | None = None
    class_id: int | None = None
    grade_level: int | None = None
    name_prefix: str | None = None
    gender: str | None = None
    ethnicity: str | None = None


def _scope_sql(scope: RowScope, params: dict[str, Any]) -> str:
    params["district_id"] = scope.district_id
    return f"s.district_id = :district_id AND {_related_sql(scope, params)}"


def _related_sql(scope: RowScope, params: dict[str, Any], prefix: str = "scope") -> str:
    """The scope's students or schools (`s.`), with parameters named after `prefix`."""
    if scope.whole_district:
        return "TRUE"
    parts = []
    if scope.student_ids:
        params[f"{prefix}_ids"] = list(scope.student_ids)
        parts.append(f"s.id = ANY(:{prefix}_ids)")
    if scope.school_ids:
        params[f"{prefix}_schools"] = list(scope.school_ids)
        parts.append(f"s.school_id = ANY(:{prefix}_schools)")
    return f"({' OR '.join(parts) or 'FALSE'})"


def _filter_sql(flt: StudentFilter, params: dict[str, Any]) -> list[str]:
    clauses = []
    if flt.school_id is not None:
        params["f_school"] = flt.school_id
        clauses.append("s.school_id = :f_school")
    if flt.class_id is not None:
        params["f_class"] = flt.class_id
        clauses.append(
            "EXISTS (SELECT 1 FROM enrollment e WHERE e.student_id = s.id AND e.class_id = :f_class"
            " AND e.begins_on <= CURRENT_DATE AND (e.ends_on IS NULL OR e.ends_on >= CURRENT_DATE))"
        )
    if flt.grade_level is not None:
        params["f_grade"] = flt.grade_level
        clauses.append("s.grade_level = :f_grade")
    if flt.name_prefix:
        # LIKE metacharacters in the user's text are escaped, so they match literally.
        escaped = flt.name_prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        params["f_name"] = escaped.lower() + "%"
        clauses.append("(lower(s.last_name) LIKE :f_name OR lower(s.first_name) LIKE :f_name)")
    if flt.gender is not None:
        params["f_gender"] = flt.gender
        clauses.append("s.gender = :f_gender")
    if flt.ethnicity is not None:
        params["f_ethnicity"] = flt.ethnicity
        clauses.append("s.ethnicity = :f_ethnicity")
    return clauses


def _where(scope: RowScope, flt: StudentFilter, params: dict[str, Any]) -> str:
    return " AND ".join([_scope_sql(scope, params), *_filter_sql(flt, params)])


def student_where(scope: RowScope, flt: StudentFilter, params: dict[str, Any]) -> str:
    """The WHERE condition `list_students` and `count_students` use (alias `s`), for statements
    built elsewhere that must see exactly the same rows (schema/compiled)."""
    return _where(scope, flt, params)


async def list_students(
    *,
    connection: AsyncConnection,
    scope: RowScope,
    flt: StudentFilter,
    order: str,
    first: int,
    after: tuple[Any, ...] | None,
) -> Sequence[Row[Any]]:
    """Up to `first + 1` students after the sort key `after` (the extra row says "more")."""
    if scope.empty:
        return []
    params: dict[str, Any] = {"limit": first + 1}
    where = _where(scope, flt, params)
    keyset = STUDENT_ORDERS[order][0]
    if after is not None:
        where += f" AND {keyset.after(after, params)}"
    order_by = keyset.order_by
    # An order by a computed value selects it too, for the cursor of each row.
    computed = "".join(
        f", {c.sql} AS {c.attribute}" for c in keyset.columns if c.sql != f"s.{c.attribute}"
    )
    sql = (
        f"SELECT {STUDENT_COLUMNS}{computed} FROM student s WHERE {where}"
        f" ORDER BY {order_by} LIMIT :limit"
    )
    rows = (await connection.execute(cached_text(sql), params)).all()
    return await decrypt_rows(connection, "student", rows)


async def count_students(
    *, connection: AsyncConnection, scope: RowScope, flt: StudentFilter
) -> int:
    if scope.empty:
        return 0
    params: dict[str, Any] = {}
    sql = f"SELECT count(*) FROM student s WHERE {_where(scope, flt, params)}"
    return int((await connection.execute(cached_text(sql), params)).scalar_one())


async def students_by_id(
    *, connection: AsyncConnection, scope: RowScope, ids: Sequence[int]
) -> dict[int, Row[Any]]:
    """The students among `ids` that the scope covers; the rest are simply absent."""
    if scope.empty or not ids:
        return {}
    params: dict[str, Any] = {"ids": list(ids)}
    scope_sql = _scope_sql(scope, params)
    sql = f"SELECT {STUDENT_COLUMNS} FROM student s WHERE s.id = ANY(:ids) AND {scope_sql}"
    rows = (await connection.execute(cached_text(sql), params)).all()
    return {row.id: row for row in await decrypt_rows(connection, "student", rows)}


def roster_where(
    scope: RowScope,
    own_scope: RowScope | None,
    own_classes: Collection[int],
    params: dict[str, Any],
    *,
    classes: str,
    prefix: str = "",
) -> str | None:
    """The enrollments (`e`, of the students `s`) listed today on the rosters of the classes
    `classes` selects (an SQL condition on `e.class_id`); None when the viewer may see none.
    Parameters are named after `prefix`."""
    if own_scope is None or own_scope.empty or not own_classes:
        own_scope, own_classes = None, ()
    if scope.empty and own_scope is None:
        return None
    params[f"{prefix}district_id"] = scope.district_id
    related = "FALSE" if scope.empty else _related_sql(scope, params, f"{prefix}scope")
    if own_scope is not None:
        params[f"{prefix}own_classes"] = list(own_classes)
        own = _related_sql(own_scope, params, f"{prefix}own")
        related = f"({related} OR (e.class_id = ANY(:{prefix}own_classes) AND {own}))"
    return f"""{classes}
            AND e.begins_on <= CURRENT_DATE AND (e.ends_on IS NULL OR e.ends_on >= CURRENT_DATE)
            AND s.district_id = :{prefix}district_id AND {related}"""


def _roster_where(
    scope: RowScope,
    class_ids: Sequence[int],
    own_scope: RowScope | None,
    own_classes: Collection[int],
    params: dict[str, Any],
) -> str | None:
    """The enrollments of `class_ids` listed today on their rosters (`e` and `s`); None when
    the viewer may see none."""
    if not class_ids:
        return None
    params["class_ids"] = list(class_ids)
    return roster_where(
        scope, own_scope, own_classes, params, classes="e.class_id = ANY(:class_ids)"
    )


async def class_rosters(
    *,
    connection: AsyncConnection,
    scope: RowScope,
    class_ids: Sequence[int],
    first: int,
    after: tuple[Any, ...] | None = None,
    own_scope: RowScope | None = None,
    own_classes: Collection[int] = (),
) -> dict[int, list[Row[Any]]]:
    """The first `first + 1` students of each class after the sort key `after`, by name, in
    one statement.

    A roster shows a student's enrollment in the class: only students of `scope` are listed, and
    in `own_classes` those of `own_scope` too (enrollments the viewer may read only in the
    classes they teach).
    """
    params: dict[str, Any] = {"limit": first + 1}
    where = _roster_where(scope, class_ids, own_scope, own_classes, params)
    if where is None:
        return {}
    if after is not None:
        where += f" AND {ROSTER_ORDER.after(after, params)}"
    sql = f"""
        SELECT * FROM (
          SELECT {STUDENT_COLUMNS}, e.class_id AS roster_class_id,
                 row_number() OVER (PARTITION BY e.class_id
                                    ORDER BY {ROSTER_ORDER.order_by}) AS roster_rank
          FROM {ROSTER_FROM}
          WHERE {where}
        ) ranked WHERE roster_rank <= :limit ORDER BY roster_class_id, roster_rank
    """
    rosters: dict[int, list[Row[Any]]] = {}
    rows = (await connection.execute(cached_text(sql), params)).all()
    for row in await decrypt_rows(connection, "student", rows):
        rosters.setdefault(row.roster_class_id, []).append(row)
    return rosters


async def roster_counts(
    *,
    connection: AsyncConnection,
    scope: RowScope,
    class_ids: Sequence[int],
    own_scope: RowScope | None = None,
    own_classes: Collection[int] = (),
) -> dict[int, int]:
    """How many students each class's roster lists (as `class_rosters`), in one statement."""
    params: dict[str, Any] = {}
    where = _roster_where(scope, class_ids, own_scope, own_classes, params)
    if where is None:
        return {}
    sql = f"""
        SELECT e.class_id, count(*) AS n
        FROM {ROSTER_FROM}
        WHERE {where} GROUP BY e.class_id
    """
    rows = (await connection.execute(cached_text(sql), params)).all()
    return {row.class_id: int(row.n) for row in rows}


async def recent_disclosures(
    *, connection: AsyncConnection, student_ids: Sequence[int], first: int
) -> dict[int, list[Row[Any]]]:
    """The newest `first` disclosures of each student, newest first, in one statement.

    The limit is applied per student in SQL: a student's record grows with every read of it,
    and a screen shows only its latest entries.
    """
    sql = """
        SELECT d.* FROM unnest(CAST(:ids AS BIGINT[])) AS k(student_id)
        CROSS JOIN LATERAL (
          SELECT * FROM disclosure WHERE disclosure.student_id = k.student_id
          ORDER BY disclosure.id DESC LIMIT :limit
        ) d
        ORDER BY d.student_id, d.id DESC
    """
    grouped: dict[int, list[Row[Any]]] = {i: [] for i in student_ids}
    params = {"ids": list(student_ids), "limit": first}
    for row in await connection.execute(cached_text(sql), params):
        grouped[row.student_id].append(row)
    return grouped


async def rows_by_key(
    *,
    connection: AsyncConnection,
    table: str,
    key: str,
    values: Sequence[int],
    order: str = "id",
    class_ids: Collection[int] | None = None,
) -> dict[int, list[Row[Any]]]:
    """All rows of `table` whose `key` is among `values`, grouped by key (for loaders); with
    `class_ids`, only the rows of those classes.

    `table`, `key` and `order` come from the schema code, never from a request.
    """
    params: dict[str, Any] = {"values": list(values)}
    where = f"{key} = ANY(:values)"
    if class_ids is not None:
        params["class_ids"] = list(class_ids)
        where += " AND class_id = ANY(:class_ids)"
    sql = f"SELECT * FROM {table} WHERE {where} ORDER BY {key}, {order}"
    grouped: dict[int, list[Row[Any]]] = {v: [] for v in values}
    rows = (await connection.execute(cached_text(sql), params)).all()
    if table in ENCRYPTED:
        rows = await decrypt_rows(connection, table, rows)
    for row in rows:
        grouped[getattr(row, key)].append(row)
    return grouped


async def list_grants(
    *,
    connection: AsyncConnection,
    district_id: int,
    user_id: int,
    school_ids: Collection[int] | None,
    active_only: bool,
    limit: int,
    include_archived: bool = False,
) -> list[Row[Any]]:
    """Grants the viewer granted or received, plus every grant of `school_ids` (None: the whole
    district), newest first; archived grants only when asked for."""
    sql = (
        "SELECT * FROM legitimate_interest_grant WHERE district_id = :district_id"
        " AND (grantee_user_id = :user_id OR granted_by = :user_id"
        + (" OR true" if school_ids is None else " OR school_id = ANY(:school_ids)")
        + ")"
        + (
            " AND revoked_at IS NULL AND starts_at <= now() AND expires_at > now()"
            if active_only
            else ""
        )
        + ("" if include_archived else " AND archived_at IS NULL")
        + " ORDER BY id DESC LIMIT :limit"
    )
    params: dict[str, Any] = {"district_id": district_id, "user_id": user_id, "limit": limit}
    if school_ids is not None:
        params["school_ids"] = list(school_ids)
    return list((await connection.execute(cached_text(sql), params)).all())


async def list_data_requests(
    *,
    connection: AsyncConnection,
    scope: RowScope,
    user_id: int,
    status: str | None,
    limit: int,
    overdue: bool | None = None,
    today: date | None = None,
) -> list[Row[Any]]:
    """Requests the viewer filed, plus every request about a student of `scope`, oldest due
    first; with `overdue`, only those still open after their due date (or only the others)."""
    params: dict[str, Any] = {"user_id": user_id, "limit": limit}
    related = "FALSE" if scope.empty else _related_sql(scope, params)
    params["district_id"] = scope.district_id
    condition = ""
    if status is not None:
        condition = " AND r.status = :status"
        params["status"] = status
    if overdue is not None:
        late = "(r.status = 'open' AND r.due_on < :today)"
        condition += f" AND {late}" if overdue else f" AND NOT {late}"
        params["today"] = today or datetime.now(UTC).date()
    sql = (
        "SELECT r.* FROM data_request r JOIN student s ON s.id = r.student_id"
        f" WHERE r.district_id = :district_id AND (r.requester_user_id = :user_id OR {related})"
        f"{condition} ORDER BY r.due_on, r.id LIMIT :limit"
    )
    rows = (await connection.execute(cached_text(sql), params)).all()
    return await decrypt_rows(connection, "data_request", rows)
