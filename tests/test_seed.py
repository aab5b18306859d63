"""The demo district (`schoolgraph seed`, SPEC §12): the demo accounts' story, determinism, and
what the bulk load must leave behind (indexes, constraints, sequences, nothing on failure).

The demo-account tests read the session's test database (400 students, seed 7, today). The
others seed databases of their own on the same server, with a fixed `today`, and drop them.
"""

from __future__ import annotations

import asyncio
import gc
import hashlib
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date
from typing import Any

import asyncpg
import pytest
from argon2 import PasswordHasher
from sqlalchemy.ext.asyncio import create_async_engine

from app import migrate
from app.database import asyncpg_dsn, sqlalchemy_url, with_database
from app.encryption import ENCRYPTED
from app.models import Role
from app.retention.rules import COPPA, due
from app.seed import (
    DEMO_ACCOUNTS,
    DEMO_PASSWORD,
    DISTRICT_NAME,
    MIN_STUDENTS,
    SECOND_DISTRICT_NAME,
    TABLES,
    SeedError,
    SeedSummary,
    seed,
)
from tests.test_encryption import stored_keyring

TODAY = date(2026, 2, 10)  # mid spring term
STUDENTS = 300
SEED = 11

STAFF_AT_STUDENTS_SCHOOL = {
    "principal": Role.SCHOOL_ADMIN,
    "coordinator": Role.COORDINATOR,
    "designee": Role.DESIGNEE,
    "teacher": Role.TEACHER,
}


# --- databases of our own ----------------------------------------------------------------------


@asynccontextmanager
async def fresh_database(server_url: str, *, migrated: bool = True) -> AsyncIterator[str]:
    """A new, uniquely named database on the server of `server_url`, dropped on exit."""
    name = f"sg_seed_{uuid.uuid4().hex[:12]}"
    admin_url = asyncpg_dsn(with_database(server_url, "postgres"))
    admin = await asyncpg.connect(admin_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = with_database(server_url, name)
    try:
        if migrated:
            # Alembic runs its own event loop: give it a thread.
            await asyncio.to_thread(migrate.upgrade, url)
        yield url
    finally:
        admin = await asyncpg.connect(admin_url)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


@asynccontextmanager
async def connect(url: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        yield connection
    finally:
        await connection.close()


async def schema_of(connection: asyncpg.Connection) -> dict[str, list[tuple[Any, ...]]]:
    """Indexes, constraints (with their validation state) and triggers of the public schema."""
    indexes = await connection.fetch(
        "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'"
        " ORDER BY tablename, indexname"
    )
    constraints = await connection.fetch(
        """
        SELECT conrelid::regclass::text, conname, contype, pg_get_constraintdef(oid), convalidated
        FROM pg_constraint WHERE connamespace = 'public'::regnamespace
        ORDER BY 1, 2
        """
    )
    triggers = await connection.fetch(
        "SELECT tgrelid::regclass::text, tgname, tgenabled FROM pg_trigger"
        " WHERE NOT tgisinternal ORDER BY 1, 2"
    )
    return {
        "indexes": [tuple(r) for r in indexes],
        "constraints": [tuple(r) for r in constraints],
        "triggers": [tuple(r) for r in triggers],
    }


async def digests(connection: asyncpg.Connection) -> dict[str, tuple[int, str]]:
    """Per seeded table: row count and an md5 of all its rows in id order (encrypted columns
    by their plain text: their ciphertexts differ from database to database)."""
    found = {}
    for table in TABLES:
        if table in ENCRYPTED:
            found[table] = await _plain_digest(connection, table)
            continue
        row = await connection.fetchrow(
            f"SELECT count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY t.id), ''))"
            f' FROM "{table}" t'
        )
        found[table] = (row[0], row[1])
    return found


async def _plain_digest(connection: asyncpg.Connection, table: str) -> tuple[int, str]:
    rows = await connection.fetch(f'SELECT * FROM "{table}" ORDER BY id')
    digest = hashlib.md5(usedforsecurity=False)
    ring = await stored_keyring(connection) if rows else None
    for row in rows:
        values = dict(row)
        for column in ENCRYPTED[table]:
            values[column] = ring.decrypt(table, column, row["id"], values[column])  # type: ignore[union-attr]
        digest.update(repr(sorted(values.items())).encode())
    return len(rows), digest.hexdigest()


async def snapshot(connection: asyncpg.Connection) -> dict[str, Any]:
    """Everything a failed seed must leave as it was."""
    sequences = await connection.fetch(
        "SELECT sequencename, last_value FROM pg_sequences WHERE schemaname = 'public'"
        " ORDER BY sequencename"
    )
    return {
        "rows": await digests(connection),
        "sequences": [tuple(r) for r in sequences],
        "schema": await schema_of(connection),
    }


@dataclass(frozen=True)
class Seeded:
    url: str
    summary: SeedSummary
    schema_before: dict[str, list[tuple[Any, ...]]]


@pytest.fixture(scope="module")
async def seeded(admin_database_url: str) -> AsyncIterator[Seeded]:
    """A database of this module's own: migrated, then seeded with (STUDENTS, SEED, TODAY)."""
    async with fresh_database(admin_database_url) as url:
        async with connect(url) as connection:
            before = await schema_of(connection)
        summary = await seed(url, students=STUDENTS, seed=SEED, progress=False, today=TODAY)
        yield Seeded(url, summary, before)


@pytest.fixture
async def seeded_db(seeded: Seeded) -> AsyncIterator[asyncpg.Connection]:
    async with connect(seeded.url) as connection:
        yield connection


# --- the demo accounts (SPEC §12), in the session's test database --------------------------------


async def user_id(db: asyncpg.Connection, username: str) -> int:
    found = await db.fetchval("SELECT id FROM app_user WHERE username = $1", username)
    assert found is not None, f"no account {username!r}"
    return int(found)


async def student_school(db: asyncpg.Connection) -> int:
    school = await db.fetchval(
        "SELECT school_id FROM student WHERE user_id = $1", await user_id(db, "student")
    )
    assert school is not None
    return int(school)


async def current_classes(db: asyncpg.Connection, teacher: int) -> list[int]:
    """The teacher's classes in the current term: the one holding today, else the next one."""
    today = date.today()
    rows = await db.fetch(
        """
        SELECT c.id
        FROM class_section c
        JOIN teaching_assignment ta ON ta.class_id = c.id
        WHERE ta.staff_user_id = $1
          AND ta.starts_on <= $2 AND (ta.ends_on IS NULL OR ta.ends_on >= $2)
          AND c.term_id = (SELECT t.id FROM term t
                           WHERE t.district_id = c.district_id AND t.ends_on >= $2
                           ORDER BY t.starts_on LIMIT 1)
        ORDER BY c.id
        """,
        teacher,
        today,
    )
    return [r["id"] for r in rows]


async def test_every_demo_account_exists_with_its_role_and_the_demo_password(db):
    district = await db.fetchval("SELECT id FROM district WHERE name = $1", DISTRICT_NAME)
    hasher = PasswordHasher()
    for account in DEMO_ACCOUNTS:
        user = await db.fetchrow(
            "SELECT id, district_id, password_hash FROM app_user WHERE username = $1",
            account.username,
        )
        assert user is not None, account.username
        assert user["district_id"] == district, account.username
        roles = await db.fetch(
            "SELECT role, district_id FROM role_assignment WHERE user_id = $1", user["id"]
        )
        assert account.role in {r["role"] for r in roles}, account.username
        assert {r["district_id"] for r in roles} == {district}
        assert user["password_hash"], account.username
        assert hasher.verify(user["password_hash"], DEMO_PASSWORD)


async def test_principal_coordinator_designee_and_teacher_work_at_the_students_school(db):
    school = await student_school(db)
    for username, role in STAFF_AT_STUDENTS_SCHOOL.items():
        schools = await db.fetch(
            "SELECT school_id FROM role_assignment WHERE user_id = $1 AND role = $2",
            await user_id(db, username),
            role.value,
        )
        assert [r["school_id"] for r in schools] == [school], username


async def test_teacher_teaches_several_current_classes_at_that_school(db):
    classes = await current_classes(db, await user_id(db, "teacher"))
    assert len(classes) >= 3
    schools = await db.fetch(
        "SELECT DISTINCT school_id FROM class_section WHERE id = ANY($1::bigint[])", classes
    )
    assert [r["school_id"] for r in schools] == [await student_school(db)]


async def test_student_is_enrolled_in_a_current_class_of_teacher(db):
    classes = await current_classes(db, await user_id(db, "teacher"))
    today = date.today()
    enrolled = await db.fetchval(
        """
        SELECT count(*)
        FROM enrollment e JOIN student s ON s.id = e.student_id
        WHERE s.user_id = $1 AND e.class_id = ANY($2::bigint[])
          AND e.begins_on <= $3 AND (e.ends_on IS NULL OR e.ends_on >= $3)
        """,
        await user_id(db, "student"),
        classes,
        today,
    )
    assert enrolled >= 1


async def test_guardian_has_student_and_one_more_child_at_another_school_outside_teacher_classes(
    db,
):
    links = await db.fetch(
        """
        SELECT s.id, s.user_id, s.school_id, s.district_id, g.data_access
        FROM guardian_link g JOIN student s ON s.id = g.student_id
        WHERE g.guardian_user_id = $1
        ORDER BY s.id
        """,
        await user_id(db, "guardian"),
    )
    assert len(links) == 2
    assert all(link["data_access"] for link in links)
    student = await user_id(db, "student")
    (own,) = [link for link in links if link["user_id"] == student]
    (other,) = [link for link in links if link["user_id"] != student]
    assert other["school_id"] != own["school_id"]
    assert other["district_id"] == own["district_id"]
    in_teacher_classes = await db.fetchval(
        """
        SELECT count(*)
        FROM enrollment e JOIN teaching_assignment ta ON ta.class_id = e.class_id
        WHERE e.student_id = $1 AND ta.staff_user_id = $2
        """,
        other["id"],
        await user_id(db, "teacher"),
    )
    assert in_teacher_classes == 0


async def test_a_second_district_has_its_own_schools_students_and_staff(db):
    first = await db.fetchval("SELECT id FROM district WHERE name = $1", DISTRICT_NAME)
    second = await db.fetchval("SELECT id FROM district WHERE name = $1", SECOND_DISTRICT_NAME)
    assert second is not None and second != first
    schools = await db.fetchval("SELECT count(*) FROM school WHERE district_id = $1", second)
    assert schools >= 2
    students = await db.fetchval(
        """
        SELECT count(*) FROM student s JOIN school sc ON sc.id = s.school_id
        WHERE s.district_id = $1 AND sc.district_id = $1
        """,
        second,
    )
    assert students > 0
    assert students == await db.fetchval(
        "SELECT count(*) FROM student WHERE district_id = $1", second
    )
    admins = await db.fetchval(
        "SELECT count(*) FROM role_assignment WHERE district_id = $1 AND role = $2",
        second,
        Role.DISTRICT_ADMIN.value,
    )
    assert admins >= 1
    demo_districts = await db.fetch(
        "SELECT DISTINCT district_id FROM app_user WHERE username = ANY($1::text[])",
        [account.username for account in DEMO_ACCOUNTS],
    )
    assert [r["district_id"] for r in demo_districts] == [first]


# --- a database seeded here -------------------------------------------------------------------


async def test_seed_creates_no_legitimate_interest_grants(seeded_db):
    assert await seeded_db.fetchval("SELECT count(*) FROM legitimate_interest_grant") == 0
    assert await seeded_db.fetchval("SELECT count(*) FROM disclosure") == 0


async def test_nothing_is_collected_from_a_child_under_13_without_coppa_consent(seeded):
    """As the product refuses it (addPortfolioItem): such a student has no portfolio, items or
    portfolio edits, only logins; everyone else in grade 6+ has a portfolio. So retention finds
    no COPPA content to erase in a fresh demo."""
    async with connect(seeded.url) as connection:
        rows = await connection.fetch(
            """
            SELECT s.id, s.grade_level,
                   s.date_of_birth > $1::date - interval '13 years' AND NOT s.coppa_consent
                       AS withheld,
                   (SELECT count(*) FROM portfolio p WHERE p.student_id = s.id) AS portfolios,
                   (SELECT count(*) FROM portfolio_item i WHERE i.student_id = s.id) AS items,
                   (SELECT array_agg(DISTINCT a.kind ORDER BY a.kind) FROM activity_event a
                    WHERE a.student_id = s.id) AS kinds
            FROM student s WHERE s.grade_level >= 6
            """,
            TODAY,
        )
    withheld = [r for r in rows if r["withheld"]]
    assert withheld, "the seed has middle schoolers under 13 without consent"
    for r in withheld:
        assert (r["portfolios"], r["items"], r["kinds"]) == (0, 0, ["login"]), dict(r)
    others = [r for r in rows if not r["withheld"]]
    assert all(r["portfolios"] == 1 and r["items"] >= 2 for r in others)
    assert any("portfolio_item_created" in r["kinds"] for r in others)

    engine = create_async_engine(sqlalchemy_url(seeded.url))
    try:
        async with engine.connect() as connection:
            plan = await due(connection, as_of=TODAY)
    finally:
        await engine.dispose()
    assert plan.of_rule(COPPA) == []


async def test_summary_counts_the_rows_of_every_table(seeded, seeded_db):
    assert sorted(seeded.summary.rows) == sorted(TABLES)
    counts = {table: count for table, (count, _) in (await digests(seeded_db)).items()}
    assert dict(seeded.summary.rows) == counts
    assert seeded.summary.total_rows == sum(counts.values())
    assert counts["student"] == STUDENTS


async def test_seed_leaves_every_index_constraint_and_trigger_as_migrated(seeded, seeded_db):
    assert await schema_of(seeded_db) == seeded.schema_before


async def test_same_students_seed_and_today_give_identical_rows(
    seeded, seeded_db, admin_database_url
):
    async with fresh_database(admin_database_url) as url:
        summary = await seed(url, students=STUDENTS, seed=SEED, progress=False, today=TODAY)
        async with connect(url) as again:
            assert await digests(again) == await digests(seeded_db)
    assert dict(summary.rows) == dict(seeded.summary.rows)


async def test_another_seed_gives_other_rows(seeded_db, admin_database_url):
    async with fresh_database(admin_database_url) as url:
        await seed(url, students=STUDENTS, seed=SEED + 1, progress=False, today=TODAY)
        async with connect(url) as other:
            theirs = await digests(other)
    ours = await digests(seeded_db)
    for table in ("student", "enrollment", "mark"):
        assert theirs[table] != ours[table], table


async def test_sequences_continue_after_the_seeded_ids(seeded_db):
    for table in TABLES:
        last = await seeded_db.fetchval(
            "SELECT pg_sequence_last_value(pg_get_serial_sequence($1, 'id'))", table
        )
        assert last == await seeded_db.fetchval(f'SELECT max(id) FROM "{table}"'), table
    users = await seeded_db.fetchval("SELECT max(id) FROM app_user")
    students = await seeded_db.fetchval("SELECT max(id) FROM student")
    transaction = seeded_db.transaction()
    await transaction.start()
    try:
        new_user = await seeded_db.fetchval(
            "INSERT INTO app_user (district_id, username, first_name, last_name)"
            " VALUES (1, 'new.teacher', 'New', 'Teacher') RETURNING id"
        )
        new_student = await seeded_db.fetchval(
            """
            INSERT INTO student (district_id, school_id, user_id, student_number, first_name,
                                 last_name, grade_level, date_of_birth, gender, ethnicity,
                                 enrollment_status)
            VALUES (1, (SELECT min(id) FROM school WHERE district_id = 1), $1, '999999', 'New',
                    'Student', 9, '2011-05-01', 'female', 'Asian', 'active')
            RETURNING id
            """,
            new_user,
        )
    finally:
        await transaction.rollback()
    assert new_user == users + 1
    assert new_student == students + 1


async def test_seeding_a_seeded_database_raises_and_writes_nothing(seeded, seeded_db):
    before = await snapshot(seeded_db)
    with pytest.raises(SeedError, match="already holds"):
        await seed(seeded.url, students=STUDENTS, seed=SEED + 5, progress=False, today=TODAY)
    assert await snapshot(seeded_db) == before
    assert gc.isenabled()


async def test_seeding_an_unmigrated_database_raises(admin_database_url):
    async with fresh_database(admin_database_url, migrated=False) as url:
        with pytest.raises(SeedError, match="migrate"):
            await seed(url, students=STUDENTS, progress=False, today=TODAY)


async def test_too_few_students_are_refused(seeded):
    with pytest.raises(SeedError, match=str(MIN_STUDENTS)):
        await seed(seeded.url, students=MIN_STUDENTS - 1, progress=False, today=TODAY)


async def test_a_failing_load_rolls_back_everything(admin_database_url, monkeypatch):
    """An error in the middle of the load (here: in the row generator) leaves the database as
    migrated: no rows, every index and foreign key still there."""
    from app.seed.generator import Generator

    def broken(self: Any) -> Any:
        raise RuntimeError("generator failed")
        yield  # pragma: no cover

    monkeypatch.setattr(Generator, "_portfolio_rows", broken)
    async with fresh_database(admin_database_url) as url, connect(url) as connection:
        before = await snapshot(connection)
        with pytest.raises(RuntimeError, match="generator failed"):
            await seed(url, students=STUDENTS, seed=SEED, progress=False, today=TODAY)
        assert await snapshot(connection) == before
    assert gc.isenabled()
