"""Plain functions that arrange rows for a test, and undo them.

Tests share one seeded database per session, so an account a test locks or changes is one it
created here (in the second district, away from the demo district's counts) and deletes after.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import asyncpg

from app.auth import hash_password
from app.encryption import KEYS_SQL, Keyring, MasterKey, data_keys
from app.seed import DEMO_PASSWORD

# Meets `app.auth.password_problems`: long, with lower case, upper case, digits and a symbol.
STRONG_PASSWORD = "Correct-Horse-42-battery"


async def other_district_id(db: asyncpg.Connection) -> int:
    """The district the demo accounts do not belong to."""
    found = await db.fetchval(
        "SELECT id FROM district WHERE id <> (SELECT district_id FROM app_user"
        " WHERE username = 'admin') ORDER BY id LIMIT 1"
    )
    assert found is not None, "the seed makes a second district"
    return int(found)


async def create_user(
    db: asyncpg.Connection,
    *,
    password: str | None = STRONG_PASSWORD,
    external_subject: str | None = None,
    role: str | None = "support",
    locked: bool = False,
    active: bool = True,
) -> tuple[int, str]:
    """A new account in the second district: `(id, username)`. Delete it with `delete_user`."""
    district_id = await other_district_id(db)
    username = f"test-{uuid.uuid4().hex[:12]}"
    user_id = await db.fetchval(
        "INSERT INTO app_user (district_id, username, first_name, last_name, password_hash,"
        " external_subject, is_active, locked_at)"
        " VALUES ($1, $2, 'Test', 'Account', $3, $4, $5, CASE WHEN $6 THEN now() END)"
        " RETURNING id",
        district_id,
        username,
        hash_password(password) if password is not None else None,
        external_subject,
        active,
        locked,
    )
    if role is not None:
        await db.execute(
            "INSERT INTO role_assignment (district_id, user_id, role) VALUES ($1, $2, $3)",
            district_id,
            user_id,
            role,
        )
    return int(user_id), username


async def delete_user(db: asyncpg.Connection, user_id: int) -> None:
    """Remove an account made by `create_user` and what its logins recorded."""
    await db.execute("DELETE FROM activity_event WHERE user_id = $1", user_id)
    await db.execute("DELETE FROM user_session WHERE user_id = $1", user_id)
    await db.execute("DELETE FROM role_assignment WHERE user_id = $1", user_id)
    await db.execute("DELETE FROM app_user WHERE id = $1", user_id)


async def login_state(db: asyncpg.Connection, user_id: int) -> tuple[int, bool]:
    """`(failed_logins, locked)` of an account, as stored: locked for good (`locked_at`) or for
    now (`lock_until` to come)."""
    row = await db.fetchrow(
        "SELECT failed_logins, locked_at IS NOT NULL OR coalesce(lock_until > now(), false)"
        " AS locked FROM app_user WHERE id = $1",
        user_id,
    )
    assert row is not None
    return int(row["failed_logins"]), bool(row["locked"])


@dataclass
class PrivacyDistrict:
    """A district of its own for tests that destroy data (de-identification, retention)."""

    id: int
    tag: str
    schools: list[int]
    admin: str  # usernames
    guardian: str
    coordinator: str
    students: list[int] = field(default_factory=list)
    # The student with distinctive names (and a guardian, an account, content, a grant, ...).
    subject: int = 0
    subject_user: int = 0
    first_name: str = ""
    last_name: str = ""
    email: str = ""
    born: date = date(2012, 3, 17)


async def sealing_keyring(db: asyncpg.Connection) -> Keyring:
    return Keyring.unwrap(MasterKey.from_settings(), data_keys(await db.fetch(KEYS_SQL)))


async def _user(
    db: asyncpg.Connection,
    district: int,
    username: str,
    role: str | None,
    school: int | None = None,
    first: str = "Test",
    last: str = "Account",
) -> int:
    user_id = int(
        await db.fetchval(
            "INSERT INTO app_user (district_id, username, first_name, last_name, password_hash)"
            " VALUES ($1, $2, $3, $4, $5) RETURNING id",
            district,
            username,
            first,
            last,
            hash_password(STRONG_PASSWORD),
        )
    )
    if role is not None:
        await db.execute(
            "INSERT INTO role_assignment (district_id, user_id, role, school_id)"
            " VALUES ($1, $2, $3, $4)",
            district,
            user_id,
            role,
            school,
        )
    return user_id


async def _unused_birthday(db: asyncpg.Connection, day: date) -> date:
    while await db.fetchval("SELECT count(*) FROM student WHERE date_of_birth = $1", day):
        day += timedelta(days=1)
    return day


async def make_privacy_district(db: asyncpg.Connection, *, students: int = 24) -> PrivacyDistrict:
    """A new district: two schools, `students` students (half each), an admin, a coordinator,
    a teacher, a guardian, and one student (`subject`) whose identity is spread over every table
    that can hold it: account, guardian link, marks with a comment, a portfolio, readiness,
    activity, consent, a grant, a statement, an inspection bundle, the write audit's values and a
    roster import message quoting her. Never removed (the record of disclosures is append-only)."""
    tag = uuid.uuid4().hex[:8]
    today = datetime.now(UTC).date()
    ring = await sealing_keyring(db)
    district = int(
        await db.fetchval(
            "INSERT INTO district (name, min_cell_size) VALUES ($1, 5) RETURNING id",
            f"Privacy Test District {tag}",
        )
    )
    schools = [
        int(
            await db.fetchval(
                "INSERT INTO school (district_id, name, code, level) VALUES ($1, $2, $3, 'middle')"
                " RETURNING id",
                district,
                f"{name} Middle {tag}",
                f"{name[:3].upper()}{tag}",
            )
        )
        for name in ("Aspen", "Birch")
    ]
    term = await db.fetchval(
        "INSERT INTO term (district_id, name, starts_on, ends_on) VALUES ($1, 'Current', $2, $3)"
        " RETURNING id",
        district,
        today - timedelta(days=60),
        today + timedelta(days=60),
    )
    made = PrivacyDistrict(
        id=district,
        tag=tag,
        schools=schools,
        admin=f"{tag}-admin",
        guardian=f"{tag}-guardian",
        coordinator=f"{tag}-coordinator",
        # Names and a birthday no other row of the database has, so a scan finds only hers.
        first_name="Zephyrine" + tag.translate(str.maketrans("0123456789", "ghijklmnop")),
        last_name=f"Quillfeather{tag}",
        email=f"zephyrine.{tag}@example.org",
        born=await _unused_birthday(db, date(2012, 1, 1) + timedelta(days=int(tag, 16) % 1000)),
    )
    admin = await _user(db, district, made.admin, "district_admin")
    coordinator = await _user(db, district, made.coordinator, "coordinator", schools[0])
    teacher = await _user(db, district, f"{tag}-teacher", "teacher", schools[0])
    guardian = await _user(
        db, district, made.guardian, "guardian", first="Ottoline", last=f"Marchbanks{tag}"
    )
    klass = await db.fetchval(
        "INSERT INTO class_section (district_id, school_id, term_id, title, code, subject,"
        " grade_levels, visibility)"
        " VALUES ($1, $2, $3, 'Math 7', $4, 'Mathematics', '{7}', 'PRIVATE')"
        " RETURNING id",
        district,
        schools[0],
        term,
        f"M7-{tag}",
    )
    await db.execute(
        "INSERT INTO teaching_assignment (district_id, class_id, staff_user_id, starts_on)"
        " VALUES ($1, $2, $3, $4)",
        district,
        klass,
        teacher,
        today - timedelta(days=60),
    )
    for n in range(students):
        school = schools[n % 2]
        student = int(
            await db.fetchval(
                "INSERT INTO student (district_id, school_id, student_number, first_name,"
                " last_name, grade_level, date_of_birth, gender, ethnicity, coppa_consent,"
                " enrollment_status)"
                " VALUES ($1, $2, $3, 'Pat', $4, 7, $5, $6, 'White', true, 'active') RETURNING id",
                district,
                school,
                f"{tag}-{n:03d}",
                f"Learner{n:03d}",
                date(2013, 1, 1) - timedelta(days=n * 20),
                ("female", "male")[n % 2],
            )
        )
        made.students.append(student)
        if school == schools[0]:
            await db.execute(
                "INSERT INTO enrollment (district_id, class_id, student_id, begins_on)"
                " VALUES ($1, $2, $3, $4)",
                district,
                klass,
                student,
                today - timedelta(days=60),
            )
            await db.execute(
                "INSERT INTO mark (district_id, student_id, class_id, term_id, score, letter,"
                " recorded_by) VALUES ($1, $2, $3, $4, $5, 'B', $6)",
                district,
                student,
                klass,
                term,
                80 + n % 10,
                teacher,
            )
    # The subject: the first student, with distinctive names everywhere.
    subject = made.subject = made.students[0]
    made.subject_user = await _user(
        db, district, f"zephyrine-{tag}", "student", first=made.first_name, last=made.last_name
    )
    await db.execute(
        "UPDATE student SET first_name = $2, last_name = $3, preferred_name = 'Zephy',"
        " date_of_birth = $4, email = $5, phone = $6, sourced_id = $7, user_id = $8,"
        " student_number = $9 WHERE id = $1",
        subject,
        made.first_name,
        made.last_name,
        made.born,
        ring.encrypt("student", "email", subject, made.email),
        ring.encrypt("student", "phone", subject, "555-0142"),
        f"src-zq-{tag}",
        made.subject_user,
        f"ZQ{tag}",
    )
    await db.execute(
        "UPDATE app_user SET email = $2, sourced_id = $3 WHERE id = $1",
        made.subject_user,
        ring.encrypt("app_user", "email", made.subject_user, made.email),
        f"usr-zq-{tag}",
    )
    await db.execute(
        "INSERT INTO guardian_link (district_id, guardian_user_id, student_id, relationship,"
        " legal_guardian, data_access, starts_on)"
        " VALUES ($1, $2, $3, 'parent', true, true, $4), ($1, $2, $5, 'parent', true, true, $4)",
        district,
        guardian,
        subject,
        today - timedelta(days=400),
        made.students[1],
    )
    mark = await db.fetchval("SELECT id FROM mark WHERE student_id = $1", subject)
    await db.execute(
        "UPDATE mark SET comment = $2 WHERE id = $1",
        mark,
        ring.encrypt("mark", "comment", mark, f"{made.first_name} works hard"),
    )
    portfolio = await db.fetchval(
        "INSERT INTO portfolio (district_id, student_id) VALUES ($1, $2) RETURNING id",
        district,
        subject,
    )
    await db.execute(
        "UPDATE portfolio SET headline = $2 WHERE id = $1",
        portfolio,
        ring.encrypt("portfolio", "headline", portfolio, f"{made.first_name}'s plans"),
    )
    for title in ("Astronomy club", f"Essay by {made.first_name} {made.last_name}"):
        item = await db.fetchval("SELECT nextval(pg_get_serial_sequence('portfolio_item', 'id'))")
        await db.execute(
            "INSERT INTO portfolio_item (id, district_id, portfolio_id, student_id, kind, title,"
            " body, visibility) VALUES ($1, $2, $3, $4, 'reflection', $5, $6, 'PRIVATE')",
            item,
            district,
            portfolio,
            subject,
            ring.encrypt("portfolio_item", "title", item, title),
            ring.encrypt("portfolio_item", "body", item, f"Written by {made.email}"),
        )
    await db.execute(
        "INSERT INTO readiness_indicator (district_id, student_id, indicator, category, met,"
        " value, achieved_on, source) VALUES ($1, $2, 'tsi_math', 'college', true, '951', $3,"
        " 'TSIA2')",
        district,
        subject,
        today - timedelta(days=30),
    )
    await db.execute(
        "INSERT INTO activity_event (district_id, user_id, student_id, school_id, kind)"
        " VALUES ($1, $2, $3, $4, 'login'), ($1, $2, $3, $4, 'portfolio_item_created')",
        district,
        made.subject_user,
        subject,
        schools[0],
    )
    await db.execute(
        "INSERT INTO consent (district_id, student_id, kind, granted, given_by)"
        " VALUES ($1, $2, 'coppa_collection', true, $3)",
        district,
        subject,
        guardian,
    )
    await db.execute(
        "INSERT INTO legitimate_interest_grant (district_id, grantee_user_id, scope, student_id,"
        " purpose, granted_by, starts_at, expires_at) VALUES ($1, $2, 'student', $3,"
        " 'Counseling follow-up', $2, now(), now() + interval '30 days')",
        district,
        coordinator,
        subject,
    )
    request = await db.fetchval(
        "INSERT INTO data_request (district_id, student_id, requester_user_id, kind, status,"
        " due_on) VALUES ($1, $2, $3, 'inspect', 'completed', $4) RETURNING id",
        district,
        subject,
        guardian,
        today + timedelta(days=45),
    )
    statement = await db.fetchval(
        "SELECT nextval(pg_get_serial_sequence('student_statement', 'id'))"
    )
    await db.execute(
        "INSERT INTO student_statement (id, district_id, student_id, data_request_id, fields,"
        " body, author_user_id) VALUES ($1, $2, $3, $4, '{phone}', $5, $6)",
        statement,
        district,
        subject,
        request,
        ring.encrypt("student_statement", "body", statement, f"{made.first_name} disagrees"),
        guardian,
    )
    export = await db.fetchval("SELECT nextval(pg_get_serial_sequence('data_export', 'id'))")
    await db.execute(
        "INSERT INTO data_export (id, district_id, data_request_id, student_id, token_hash,"
        " content, size_bytes, sha256, expires_at) VALUES ($1, $2, $3, $4, $5, $6, 10, 'x',"
        " now() + interval '7 days')",
        export,
        district,
        request,
        subject,
        f"hash-{tag}",
        ring.encrypt("data_export", "content", export, f"{made.first_name} {made.last_name}"),
    )
    event = await db.fetchval(
        "INSERT INTO audit_event (district_id, actor_user_id, action, target_type, target_id,"
        " details) VALUES ($1, $2, 'update_my_contact', 'Student', $3, $4) RETURNING id",
        district,
        made.subject_user,
        subject,
        json.dumps({"fields": ["phone"]}),
    )
    change = await db.fetchval("SELECT nextval(pg_get_serial_sequence('audit_change', 'id'))")
    await db.execute(
        "INSERT INTO audit_change (id, district_id, audit_event_id, student_id, user_id, field,"
        " before, after) VALUES ($1, $2, $3, $4, $5, 'phone', $6, $7)",
        change,
        district,
        event,
        subject,
        made.subject_user,
        ring.encrypt("audit_change", "before", change, "555-0100"),
        ring.encrypt("audit_change", "after", change, "555-0142"),
    )
    await db.execute(
        "INSERT INTO roster_import (district_id, user_id, finished_at, dry_run, status, errors,"
        " warnings, errors_total, warnings_total) VALUES ($1, $2, now(), true, 'failed', $3, $4,"
        " 1, 1)",
        district,
        admin,
        [f"users.csv:7: email: {made.email} is taken by {made.first_name} {made.last_name}"],
        [
            f"demographics.csv:3: birthDate: {made.born.isoformat()} for src-zq-{tag} looks odd",
            "users.csv:9: givenName: an Annual note stays",
        ],
    )
    return made


async def identity_traces(db: asyncpg.Connection, district: PrivacyDistrict) -> list[str]:
    """Every text, varchar, text[] and jsonb column of every table, as text, that holds one of
    the student's names, her email or her date of birth (ISO)."""
    needles = [
        f"{district.first_name} {district.last_name}",
        district.first_name,
        district.last_name,
        district.email,
        district.born.isoformat(),
    ]
    columns = await db.fetch(
        "SELECT table_name, column_name FROM information_schema.columns c"
        " JOIN information_schema.tables t USING (table_schema, table_name)"
        " WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE'"
        " AND (c.data_type IN ('text', 'character varying', 'jsonb', 'json')"
        "      OR (c.data_type = 'ARRAY' AND c.udt_name IN ('_text', '_varchar')))"
    )
    assert len(columns) > 40, "the scan covers the whole schema"
    found = []
    for table, column in columns:
        hits = await db.fetchval(
            f'SELECT count(*) FROM "{table}" WHERE "{column}"::text ILIKE ANY($1::text[])',
            [f"%{n}%" for n in needles],
        )
        if hits:
            found.append(f"{table}.{column}: {hits}")
    return found


__all__ = [
    "DEMO_PASSWORD",
    "STRONG_PASSWORD",
    "PrivacyDistrict",
    "create_user",
    "delete_user",
    "identity_traces",
    "login_state",
    "make_privacy_district",
    "other_district_id",
    "sealing_keyring",
]
