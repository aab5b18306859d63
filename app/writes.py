"""Writes: keyword-only functions that take the request's connection and change the database.

Each function does one change and appends its `audit_event` row in the same transaction, so a
write and its audit record commit or roll back together. Whether the viewer may make the change
is decided by the caller (the GraphQL mutations, against the compiled policy); what is checked
here is what the data itself demands (the target exists in the viewer's district, a mark is for
an enrolled student, a portfolio item belongs to its author).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from app.encryption import decrypt_row, writing_keyring

# FERPA 34 CFR 99.10: a parent's request to inspect records is answered within 45 days; a
# district may promise fewer (`district.data_request_days`).
DATA_REQUEST_DAYS = 45
MAX_GRANT = timedelta(days=365)
# A purpose says which interest a grant serves; it is copied into every disclosure it covers.
MAX_PURPOSE = 1000
HUNDREDTH = Decimal("0.01")
# A grant records an interest from now on: a start in the past would make earlier reads look
# covered in the record. The slack absorbs clocks of clients a little behind the server's.
GRANT_START_SLACK = timedelta(minutes=5)


@dataclass(frozen=True)
class Actor:
    """Who writes, in which district, in which request: what every audit record names."""

    user_id: int
    district_id: int
    request_id: str


class WriteRefused(Exception):
    """The input cannot be applied; the message and code go back to the caller as a userError."""

    def __init__(self, message: str, code: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.field = field


async def audit(
    connection: AsyncConnection,
    actor: Actor,
    action: str,
    target_type: str,
    target_id: int | None,
    details: dict[str, Any],
) -> int:
    """Append the audit event of a write; its id (personal values hang off it: app/rights)."""
    result = await connection.execute(
        text(
            "INSERT INTO audit_event"
            " (district_id, actor_user_id, action, target_type, target_id, details, request_id)"
            " VALUES (:district_id, :actor, :action, :target_type, :target_id,"
            " CAST(:details AS jsonb), :request_id) RETURNING id"
        ),
        {
            "district_id": actor.district_id,
            "actor": actor.user_id,
            "action": action,
            "target_type": target_type,
            "target_id": target_id,
            "details": json.dumps(details, default=str, sort_keys=True),
            "request_id": actor.request_id,
        },
    )
    return int(result.scalar_one())


async def _one(connection: AsyncConnection, sql: str, **params: Any) -> Row[Any] | None:
    return (await connection.execute(text(sql), params)).first()


async def _returning(connection: AsyncConnection, sql: str, **params: Any) -> Row[Any]:
    """The row of an INSERT (or upsert) ... RETURNING, which always returns one."""
    return (await connection.execute(text(sql), params)).one()


async def _next_id(connection: AsyncConnection, table: str) -> int:
    """The id a new row of `table` will have: encrypted values are bound to it before the
    INSERT (`table` comes from the code)."""
    sql = f"SELECT nextval(pg_get_serial_sequence('{table}', 'id'))"
    return int((await connection.execute(text(sql))).scalar_one())


# --- look-ups the mutations decide on ----------------------------------------------------------


async def student(connection: AsyncConnection, *, student_id: int, district_id: int) -> Row[Any]:
    row = await _one(
        connection,
        "SELECT id, school_id, district_id, date_of_birth, coppa_consent, directory_opt_out"
        " FROM student WHERE id = :id AND district_id = :district_id",
        id=student_id,
        district_id=district_id,
    )
    if row is None:
        raise WriteRefused("no such student", "NOT_FOUND", "studentId")
    return row


async def user_roles(
    connection: AsyncConnection, *, user_id: int, district_id: int
) -> frozenset[tuple[str, int | None]] | None:
    """The roles of a user of the district, or None when there is no such user."""
    row = await _one(
        connection,
        "SELECT u.id, ARRAY(SELECT ra.role || ':' || coalesce(ra.school_id::text, '')"
        " FROM role_assignment ra WHERE ra.user_id = u.id) AS roles"
        " FROM app_user u WHERE u.id = :id AND u.district_id = :district_id",
        id=user_id,
        district_id=district_id,
    )
    if row is None:
        return None
    roles = set()
    for value in row.roles:
        role, _, school = value.partition(":")
        roles.add((role, int(school) if school else None))
    return frozenset(roles)


async def grant_target_school(
    connection: AsyncConnection, *, scope: str, target_id: int, district_id: int
) -> int:
    """The school a grant's target belongs to (a student's, a class's, or the school itself)."""
    table = {"student": "student", "class": "class_section", "school": "school"}[scope]
    column = "id" if scope == "school" else "school_id"
    row = await _one(
        connection,
        f"SELECT {column} AS school_id FROM {table} WHERE id = :id AND district_id = :district_id",
        id=target_id,
        district_id=district_id,
    )
    if row is None:
        raise WriteRefused(f"no such {scope}", "NOT_FOUND", "targetId")
    return int(row.school_id)


# --- legitimate-interest grants ----------------------------------------------------------------


def validate_grant(*, purpose: str, starts_at: datetime, expires_at: datetime) -> str:
    """Refuse a grant's purpose or period; the purpose, trimmed."""
    purpose = purpose.strip()
    if not purpose:
        raise WriteRefused("a grant needs its purpose", "PURPOSE_REQUIRED", "purpose")
    if len(purpose) > MAX_PURPOSE:
        raise WriteRefused(
            f"a purpose is at most {MAX_PURPOSE} characters", "PURPOSE_TOO_LONG", "purpose"
        )
    now = datetime.now(UTC)
    if starts_at < now - GRANT_START_SLACK:
        raise WriteRefused("a grant cannot start in the past", "BACKDATED", "startsAt")
    if starts_at > now + MAX_GRANT:
        raise WriteRefused("a grant starts within a year", "TOO_FAR_AHEAD", "startsAt")
    if expires_at <= starts_at:
        raise WriteRefused("a grant must expire after it starts", "INVALID_PERIOD", "expiresAt")
    if expires_at - starts_at > MAX_GRANT:
        raise WriteRefused("a grant lasts at most one year", "TOO_LONG", "expiresAt")
    return purpose


async def create_grant(
    connection: AsyncConnection,
    actor: Actor,
    *,
    grantee_id: int,
    scope: str,
    target_id: int,
    school_id: int,
    purpose: str,
    starts_at: datetime,
    expires_at: datetime,
) -> Row[Any]:
    purpose = validate_grant(purpose=purpose, starts_at=starts_at, expires_at=expires_at)
    row = await _returning(
        connection,
        "INSERT INTO legitimate_interest_grant (district_id, grantee_user_id, scope, student_id,"
        " class_id, school_id, purpose, granted_by, starts_at, expires_at)"
        " VALUES (:district_id, :grantee, :scope, :student_id, :class_id, :school_id, :purpose,"
        " :granted_by, :starts_at, :expires_at) RETURNING *",
        district_id=actor.district_id,
        grantee=grantee_id,
        scope=scope,
        student_id=target_id if scope == "student" else None,
        class_id=target_id if scope == "class" else None,
        school_id=school_id,
        purpose=purpose,
        granted_by=actor.user_id,
        starts_at=starts_at,
        expires_at=expires_at,
    )
    await audit(
        connection,
        actor,
        "grant_legitimate_interest",
        "LegitimateInterestGrant",
        row.id,
        {
            "grantee": grantee_id,
            "scope": scope,
            "target": target_id,
            "purpose": purpose,
            "starts_at": starts_at,
            "expires_at": expires_at,
        },
    )
    return row


async def grant(connection: AsyncConnection, *, grant_id: int, district_id: int) -> Row[Any]:
    row = await _one(
        connection,
        "SELECT * FROM legitimate_interest_grant WHERE id = :id AND district_id = :district_id",
        id=grant_id,
        district_id=district_id,
    )
    if row is None:
        raise WriteRefused("no such grant", "NOT_FOUND", "id")
    return row


async def revoke_grant(connection: AsyncConnection, actor: Actor, *, grant_id: int) -> Row[Any]:
    row = await _one(
        connection,
        "UPDATE legitimate_interest_grant SET revoked_at = now(), revoked_by = :actor"
        " WHERE id = :id AND district_id = :district_id AND revoked_at IS NULL RETURNING *",
        id=grant_id,
        district_id=actor.district_id,
        actor=actor.user_id,
    )
    if row is None:
        raise WriteRefused("the grant is already revoked", "ALREADY_REVOKED", "id")
    await audit(
        connection, actor, "revoke_legitimate_interest", "LegitimateInterestGrant", grant_id, {}
    )
    return row


# --- marks and portfolios ----------------------------------------------------------------------


def letter_for(score: Decimal) -> str:
    for floor, letter in ((90, "A"), (80, "B"), (70, "C"), (60, "D")):
        if score >= floor:
            return letter
    return "F"


async def record_mark(
    connection: AsyncConnection,
    actor: Actor,
    *,
    student_id: int,
    class_id: int,
    score: Decimal,
    comment: str | None,
) -> Row[Any]:
    """Record (or correct) the student's mark in a class for the class's term."""
    # NaN and infinities parse as decimals too, and a tiny exponent is beyond what the column
    # stores: a score is a finite number from 0 to 100, to the hundredth (never rounded here).
    if not score.is_finite() or not Decimal(0) <= score <= Decimal(100):
        raise WriteRefused("a score is between 0 and 100", "OUT_OF_RANGE", "score")
    if score != score.quantize(HUNDREDTH):
        raise WriteRefused("a score has at most two decimals", "TOO_PRECISE", "score")
    score = score.quantize(HUNDREDTH)  # the same number, in the column's scale (-0E-999999 is 0)
    enrolled = await _one(
        connection,
        "SELECT c.term_id FROM enrollment e JOIN class_section c ON c.id = e.class_id"
        " WHERE e.student_id = :student_id AND e.class_id = :class_id"
        " AND c.district_id = :district_id AND e.begins_on <= CURRENT_DATE"
        " AND (e.ends_on IS NULL OR e.ends_on >= CURRENT_DATE)",
        student_id=student_id,
        class_id=class_id,
        district_id=actor.district_id,
    )
    if enrolled is None:
        raise WriteRefused("the student is not enrolled in this class", "NOT_ENROLLED", "classId")
    row = await _returning(
        connection,
        "INSERT INTO mark (district_id, student_id, class_id, term_id, score, letter, comment,"
        " recorded_by, recorded_at) VALUES (:district_id, :student_id, :class_id, :term_id,"
        " :score, :letter, NULL, :actor, now())"
        " ON CONFLICT ON CONSTRAINT uq_mark DO UPDATE SET score = EXCLUDED.score,"
        " letter = EXCLUDED.letter, comment = NULL,"
        " recorded_by = EXCLUDED.recorded_by, recorded_at = EXCLUDED.recorded_at RETURNING *",
        district_id=actor.district_id,
        student_id=student_id,
        class_id=class_id,
        term_id=enrolled.term_id,
        score=score,
        letter=letter_for(score),
        actor=actor.user_id,
    )
    if comment is not None:
        # The upsert decides the row (new, or the one corrected); the comment is sealed to it.
        ring = await writing_keyring(connection)
        row = await _returning(
            connection,
            "UPDATE mark SET comment = :comment WHERE id = :id RETURNING *",
            id=row.id,
            comment=ring.encrypt("mark", "comment", row.id, comment),
        )
    row = await decrypt_row(connection, "mark", row)
    await audit(
        connection,
        actor,
        "record_mark",
        "Mark",
        row.id,
        {"student": student_id, "class": class_id, "score": score},
    )
    return row


async def add_portfolio_item(
    connection: AsyncConnection,
    actor: Actor,
    *,
    student_id: int,
    kind: str,
    title: str,
    body: str | None,
    visibility: str,
) -> Row[Any]:
    if not title.strip():
        raise WriteRefused("an item needs a title", "TITLE_REQUIRED", "title")
    portfolio = await _returning(
        connection,
        "INSERT INTO portfolio (district_id, student_id) VALUES (:district_id, :student_id)"
        " ON CONFLICT (student_id) DO UPDATE SET student_id = EXCLUDED.student_id RETURNING id",
        district_id=actor.district_id,
        student_id=student_id,
    )
    item_id = await _next_id(connection, "portfolio_item")
    ring = await writing_keyring(connection)
    row = await _returning(
        connection,
        "INSERT INTO portfolio_item (id, district_id, portfolio_id, student_id, kind, title, body,"
        " visibility) VALUES (:id, :district_id, :portfolio_id, :student_id, :kind, :title, :body,"
        " :visibility) RETURNING *",
        id=item_id,
        district_id=actor.district_id,
        portfolio_id=portfolio.id,
        student_id=student_id,
        kind=kind,
        title=ring.encrypt("portfolio_item", "title", item_id, title.strip()),
        body=ring.encrypt("portfolio_item", "body", item_id, body),
        visibility=visibility,
    )
    row = await decrypt_row(connection, "portfolio_item", row)
    await _portfolio_activity(connection, row, actor.user_id, "portfolio_item_created")
    await audit(
        connection,
        actor,
        "add_portfolio_item",
        "PortfolioItem",
        row.id,
        {"kind": kind, "visibility": visibility},
    )
    return row


async def update_portfolio_item(
    connection: AsyncConnection,
    actor: Actor,
    *,
    item_id: int,
    student_id: int,
    changes: dict[str, Any],
) -> Row[Any]:
    """Apply `changes` (title, body, visibility) to one of the student's own items."""
    if "title" in changes and not str(changes["title"]).strip():
        raise WriteRefused("an item needs a title", "TITLE_REQUIRED", "title")
    assignments = ", ".join(f"{column} = :{column}" for column in sorted(changes))
    ring = await writing_keyring(connection)
    row = await _one(
        connection,
        f"UPDATE portfolio_item SET {assignments}{', ' if assignments else ''}"
        "updated_at = now() WHERE id = :id AND student_id = :student_id"
        # An erased item (app/rights/deidentify.py) holds nothing to edit.
        " AND erased_at IS NULL RETURNING *",
        id=item_id,
        student_id=student_id,
        **ring.encrypt_row("portfolio_item", item_id, changes),
    )
    if row is None:
        raise WriteRefused("no such portfolio item of yours", "NOT_FOUND", "id")
    row = await decrypt_row(connection, "portfolio_item", row)
    await _portfolio_activity(connection, row, actor.user_id, "portfolio_item_updated")
    await audit(
        connection,
        actor,
        "update_portfolio_item",
        "PortfolioItem",
        item_id,
        {"changed": sorted(changes)},
    )
    return row


async def _portfolio_activity(
    connection: AsyncConnection, item: Row[Any], actor_id: int, kind: str
) -> None:
    await connection.execute(
        text(
            "INSERT INTO activity_event (district_id, user_id, student_id, school_id, kind)"
            " SELECT s.district_id, :actor, s.id, s.school_id, :kind FROM student s"
            " WHERE s.id = :student_id"
        ),
        {"actor": actor_id, "student_id": item.student_id, "kind": kind},
    )


# --- consent, directory opt-out and data requests ---------------------------------------------


async def record_consent(
    connection: AsyncConnection,
    actor: Actor,
    *,
    student_id: int,
    kind: str,
    granted: bool,
) -> Row[Any]:
    row = await _returning(
        connection,
        "INSERT INTO consent (district_id, student_id, kind, granted, given_by)"
        " VALUES (:district_id, :student_id, :kind, :granted, :actor) RETURNING *",
        district_id=actor.district_id,
        student_id=student_id,
        kind=kind,
        granted=granted,
        actor=actor.user_id,
    )
    if kind == "coppa_collection":
        # The student row carries the current COPPA state that portfolio writes check.
        await connection.execute(
            text("UPDATE student SET coppa_consent = :granted WHERE id = :id"),
            {"granted": granted, "id": student_id},
        )
    await audit(
        connection,
        actor,
        "record_consent",
        "Student",
        student_id,
        {"kind": kind, "granted": granted},
    )
    return row


async def set_directory_opt_out(
    connection: AsyncConnection,
    actor: Actor,
    *,
    student_id: int,
    opt_out: bool,
) -> None:
    await connection.execute(
        text("UPDATE student SET directory_opt_out = :opt_out WHERE id = :id"),
        {"opt_out": opt_out, "id": student_id},
    )
    await audit(
        connection,
        actor,
        "opt_out_of_directory" if opt_out else "opt_in_to_directory",
        "Student",
        student_id,
        {"opt_out": opt_out},
    )


async def file_data_request(
    connection: AsyncConnection,
    actor: Actor,
    *,
    student_id: int,
    kind: str,
    details: str | None,
    today: date | None = None,
) -> Row[Any]:
    """File a request, due within the district's `data_request_days` of `today`."""
    request_id = await _next_id(connection, "data_request")
    ring = await writing_keyring(connection)
    row = await _returning(
        connection,
        "INSERT INTO data_request (id, district_id, student_id, requester_user_id, kind, details,"
        " status, due_on) SELECT :id, :district_id, :student_id, :actor, :kind, :details, 'open',"
        " CAST(:today AS date) + coalesce(d.data_request_days, :days)"
        " FROM district d WHERE d.id = :district_id RETURNING *",
        id=request_id,
        district_id=actor.district_id,
        student_id=student_id,
        actor=actor.user_id,
        kind=kind,
        details=ring.encrypt("data_request", "details", request_id, details),
        today=today or datetime.now(UTC).date(),
        days=DATA_REQUEST_DAYS,
    )
    row = await decrypt_row(connection, "data_request", row)
    await audit(
        connection,
        actor,
        "file_data_request",
        "DataRequest",
        row.id,
        {"kind": kind, "student": student_id},
    )
    return row


async def data_request(
    connection: AsyncConnection, *, request_id: int, district_id: int
) -> Row[Any]:
    row = await _one(
        connection,
        "SELECT r.*, s.school_id FROM data_request r JOIN student s ON s.id = r.student_id"
        " WHERE r.id = :id AND r.district_id = :district_id",
        id=request_id,
        district_id=district_id,
    )
    if row is None:
        raise WriteRefused("no such data request", "NOT_FOUND", "id")
    return await decrypt_row(connection, "data_request", row)


async def resolve_data_request(
    connection: AsyncConnection,
    actor: Actor,
    *,
    data_request_id: int,
    status: str,
    resolution: str,
) -> Row[Any]:
    if not resolution.strip():
        raise WriteRefused("say how the request was resolved", "RESOLUTION_REQUIRED", "resolution")
    ring = await writing_keyring(connection)
    row = await _one(
        connection,
        "UPDATE data_request SET status = :status, resolution = :resolution,"
        " resolved_at = now(), resolved_by = :actor"
        " WHERE id = :id AND status = 'open' RETURNING *",
        id=data_request_id,
        status=status,
        resolution=ring.encrypt("data_request", "resolution", data_request_id, resolution.strip()),
        actor=actor.user_id,
    )
    if row is None:
        raise WriteRefused("the request is already resolved", "ALREADY_RESOLVED", "id")
    row = await decrypt_row(connection, "data_request", row)
    await audit(
        connection,
        actor,
        "resolve_data_request",
        "DataRequest",
        data_request_id,
        {"status": status},
    )
    return row


# --- role assignments --------------------------------------------------------------------------


async def assign_role(
    connection: AsyncConnection,
    actor: Actor,
    *,
    user_id: int,
    role: str,
    school_id: int | None,
) -> bool:
    """Give a user a role; False when they already hold it."""
    if school_id is not None:
        school = await _one(
            connection,
            "SELECT id FROM school WHERE id = :id AND district_id = :district_id",
            id=school_id,
            district_id=actor.district_id,
        )
        if school is None:
            raise WriteRefused("no such school", "NOT_FOUND", "schoolId")
    inserted = await _one(
        connection,
        "INSERT INTO role_assignment (district_id, user_id, role, school_id)"
        " SELECT :district_id, :user_id, CAST(:role AS varchar), CAST(:school_id AS bigint)"
        " WHERE NOT EXISTS (SELECT 1 FROM role_assignment WHERE user_id = :user_id"
        " AND role = CAST(:role AS varchar)"
        " AND school_id IS NOT DISTINCT FROM CAST(:school_id AS bigint)) RETURNING id",
        district_id=actor.district_id,
        user_id=user_id,
        role=role,
        school_id=school_id,
    )
    if inserted is not None:
        await audit(
            connection, actor, "assign_role", "User", user_id, {"role": role, "school": school_id}
        )
    return inserted is not None


async def revoke_role(
    connection: AsyncConnection,
    actor: Actor,
    *,
    user_id: int,
    role: str,
    school_id: int | None,
) -> None:
    deleted = await _one(
        connection,
        "DELETE FROM role_assignment WHERE user_id = :user_id AND role = :role"
        " AND school_id IS NOT DISTINCT FROM CAST(:school_id AS bigint)"
        " AND district_id = :district_id"
        " RETURNING id",
        district_id=actor.district_id,
        user_id=user_id,
        role=role,
        school_id=school_id,
    )
    if deleted is None:
        raise WriteRefused("the user does not hold that role", "NOT_FOUND", "role")
    await audit(
        connection, actor, "revoke_role", "User", user_id, {"role": role, "school": school_id}
    )
