"""Least privilege: the owner role owns the schema, the server's role cannot alter the record.

Every statement below runs on the real test database, logged in as the role the server uses
(`database_url`); `db` is the superuser, for arranging and checking.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import pytest

from app import migrate
from app.asgi import create_app
from app.database import asyncpg_dsn, server_role_problem, setup_roles, with_database
from app.roles import APP_ROLE, OWNER_ROLE, RECORD_TABLES, RoleError, with_user

SCHOOLGRAPH = Path(sys.executable).with_name("schoolgraph")

# What the application role must never do to the record, each refused by a privilege check
# ("permission denied", "must be owner"), not by the append-only trigger.
FORBIDDEN = [
    *(f"UPDATE {table} SET id = id" for table in RECORD_TABLES),
    *(f"DELETE FROM {table}" for table in RECORD_TABLES),
    *(f"TRUNCATE {table}" for table in RECORD_TABLES),
    "ALTER TABLE disclosure DISABLE TRIGGER disclosure_no_update_delete",
    "ALTER TABLE disclosure DISABLE TRIGGER ALL",
    "DROP TRIGGER disclosure_no_truncate ON disclosure",
    "ALTER TABLE audit_event ADD COLUMN forged text",
    "DROP TABLE disclosure",
    "DROP TABLE audit_event",
    "DROP FUNCTION disclosure_append_only()",
    "CREATE OR REPLACE FUNCTION disclosure_append_only() RETURNS trigger LANGUAGE plpgsql"
    " AS $$ BEGIN RETURN NULL; END $$",
    "CREATE FUNCTION public.forge() RETURNS int LANGUAGE sql AS 'SELECT 1'",
    "CREATE TABLE public.shadow (id int)",
    "CREATE TRIGGER forge BEFORE INSERT ON disclosure FOR EACH ROW"
    " EXECUTE FUNCTION disclosure_append_only()",
    f"SET ROLE {OWNER_ROLE}",
    "SET ROLE postgres",
    f"ALTER ROLE {APP_ROLE} SUPERUSER",
    f"GRANT {OWNER_ROLE} TO {APP_ROLE}",
    "CREATE ROLE forger",
    "SET session_replication_role = replica",
    "ALTER SEQUENCE disclosure_id_seq RESTART WITH 1",
    "SELECT setval('disclosure_id_seq', 1)",
]


@pytest.fixture
async def app_connection(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection logged in exactly as the server's engine is."""
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        yield connection
    finally:
        await connection.close()


async def test_the_server_logs_in_as_the_application_role(app_connection):
    row = await app_connection.fetchrow(
        "SELECT current_user::text AS name, rolsuper, rolcreaterole, rolcreatedb, rolbypassrls,"
        f" pg_has_role(current_user, '{OWNER_ROLE}', 'MEMBER') AS owner"
        " FROM pg_roles WHERE rolname = current_user"
    )
    assert dict(row) == {
        "name": APP_ROLE,
        "rolsuper": False,
        "rolcreaterole": False,
        "rolcreatedb": False,
        "rolbypassrls": False,
        "owner": False,
    }


@pytest.mark.parametrize("statement", FORBIDDEN)
async def test_the_application_role_cannot_alter_the_record(app_connection, db, statement):
    before = await db.fetchval("SELECT count(*) FROM disclosure")
    with pytest.raises(asyncpg.InsufficientPrivilegeError) as refused:
        await app_connection.execute(statement)
    # A privilege check, not the append-only trigger (which a superuser or owner could disable).
    assert "append-only" not in str(refused.value)
    assert await db.fetchval("SELECT count(*) FROM disclosure") == before


async def test_the_application_role_reads_and_appends_to_the_record(app_connection, db):
    district, viewer, student = await db.fetchrow(
        "SELECT s.district_id, u.id, s.id FROM app_user u JOIN student s USING (district_id)"
        " ORDER BY s.id LIMIT 1"
    )
    before = await db.fetchval("SELECT count(*) FROM disclosure")
    assert await app_connection.fetchval("SELECT count(*) FROM disclosure") == before
    # Rolled back: the chain of the shared test database stays as the seed made it.
    transaction = app_connection.transaction()
    await transaction.start()
    try:
        disclosed = await app_connection.fetchval(
            "INSERT INTO disclosure (district_id, student_id, viewer_user_id, basis, field_classes,"
            " request_id) VALUES ($1, $2, $3, 'admin', '{contact}', 'test-roles') RETURNING id",
            district,
            student,
            viewer,
        )
        event = await app_connection.fetchval(
            "INSERT INTO audit_event (district_id, actor_user_id, action, target_type, target_id,"
            " details) VALUES ($1, $2, 'test.append', 'student', $3, '{}') RETURNING id",
            district,
            viewer,
            student,
        )
        assert disclosed is not None and event is not None
        assert await app_connection.fetchval("SELECT count(*) FROM disclosure") == before + 1
    finally:
        await transaction.rollback()


async def test_every_object_of_the_schema_belongs_to_the_owner(db):
    strangers = await db.fetch(
        "SELECT relname, relowner::regrole::text FROM pg_class"
        " WHERE relnamespace = 'public'::regnamespace AND relowner <> $1::regrole"
        " UNION ALL SELECT proname, proowner::regrole::text FROM pg_proc"
        " WHERE pronamespace = 'public'::regnamespace AND proowner <> $1::regrole"
        " UNION ALL SELECT 'schema public', nspowner::regrole::text FROM pg_namespace"
        " WHERE nspname = 'public' AND nspowner <> $1::regrole",
        OWNER_ROLE,
    )
    assert strangers == []
    assert await db.fetchval("SELECT count(*) FROM pg_class WHERE relname = 'disclosure'") == 1


async def test_a_server_with_least_privilege_has_no_problem(database_url):
    assert await server_role_problem(database_url) is None


async def test_the_server_refuses_to_start_as_the_superuser_or_the_owner(
    admin_database_url, owner_database_url
):
    for url, expected in ((admin_database_url, "a superuser"), (owner_database_url, "owns")):
        problem = await server_role_problem(url)
        assert problem is not None and expected in problem, problem
        application = create_app(database_url=url)
        with pytest.raises(RuntimeError, match=APP_ROLE):
            async with application.router.lifespan_context(application):
                pass


# --- grants are re-applied by every migration ----------------------------------------------------


@pytest.fixture
async def scratch_url(admin_database_url: str) -> AsyncIterator[str]:
    """A new, empty database on the test server (superuser URL), dropped after the test."""
    name = f"sg_roles_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(asyncpg_dsn(with_database(admin_database_url, "postgres")))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield with_database(admin_database_url, name)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def _privileges(url: str, table: str) -> set[str]:
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        found = set()
        for privilege in ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "TRIGGER"):
            if await connection.fetchval(
                "SELECT has_table_privilege($1, $2, $3)", APP_ROLE, f"public.{table}", privilege
            ):
                found.add(privilege)
        return found
    finally:
        await connection.close()


async def test_a_table_a_later_migration_adds_gets_the_grants(scratch_url):
    await asyncio.to_thread(migrate.upgrade, scratch_url)  # a superuser migrates as the owner
    owner_url = with_user(scratch_url, OWNER_ROLE)
    owner = await asyncpg.connect(asyncpg_dsn(owner_url))
    try:
        # What a later migration does: the owner makes a table; the next `migrate` grants it.
        await owner.execute("CREATE TABLE later_table (id serial PRIMARY KEY, note text)")
    finally:
        await owner.close()
    assert await _privileges(scratch_url, "later_table") == set()

    await asyncio.to_thread(migrate.upgrade, owner_url)

    assert await _privileges(scratch_url, "later_table") == {"SELECT", "INSERT", "UPDATE", "DELETE"}
    for table in RECORD_TABLES:
        assert await _privileges(scratch_url, table) == {"SELECT", "INSERT"}
    assert await _privileges(scratch_url, "alembic_version") == {"SELECT"}
    app = await asyncpg.connect(asyncpg_dsn(with_user(scratch_url, APP_ROLE)))
    try:
        assert await app.fetchval("INSERT INTO later_table (note) VALUES ('x') RETURNING id") == 1
    finally:
        await app.close()


async def test_tables_made_by_postgres_are_handed_to_the_owner(scratch_url):
    """A database an older version migrated as `postgres` is taken over by the next migration."""
    connection = await asyncpg.connect(asyncpg_dsn(scratch_url))
    try:
        await connection.execute("CREATE TABLE legacy (id serial PRIMARY KEY)")
        await connection.execute(
            "CREATE FUNCTION legacy_fn() RETURNS int LANGUAGE sql AS 'SELECT 1'"
        )
        await asyncio.to_thread(migrate.upgrade, scratch_url)
        owners = await connection.fetch(
            "SELECT relowner::regrole::text FROM pg_class"
            " WHERE relname IN ('legacy', 'legacy_id_seq')"
            " UNION ALL SELECT proowner::regrole::text FROM pg_proc WHERE proname = 'legacy_fn'"
        )
    finally:
        await connection.close()
    assert [row[0] for row in owners] == [OWNER_ROLE] * 3


async def test_the_application_role_cannot_migrate(database_url):
    with pytest.raises(RoleError, match=f"migrations run as {OWNER_ROLE}"):
        await asyncio.to_thread(migrate.upgrade, database_url)


# --- the command line: one clear line for a wrong setup; create-roles for an external server ----


def _cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL",)}
    clean.pop("SCHOOLGRAPH_MIGRATE_URL", None)
    return subprocess.run(  # noqa: S603 (our own executable, fixed arguments)
        [str(SCHOOLGRAPH), *args],
        env={**clean, "COLUMNS": "300", "NO_COLOR": "1", **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _one_clear_line(result: subprocess.CompletedProcess[str], expected: str) -> None:
    assert result.returncode == 1, result
    output = (result.stdout + result.stderr).strip()
    assert "Traceback" not in output, output
    assert len(output.splitlines()) == 1, output
    assert expected in output, output


def test_serve_as_a_superuser_stops_with_one_line(admin_database_url):
    result = _cli("serve", "--port", "1", DATABASE_URL=admin_database_url)
    _one_clear_line(result, f"the server must run as {APP_ROLE}")


def test_migrate_with_only_database_url_stops_with_one_line(database_url):
    result = _cli("migrate", DATABASE_URL=database_url)
    _one_clear_line(result, "SCHOOLGRAPH_MIGRATE_URL is not set")


def test_migrate_as_the_application_role_stops_with_one_line(database_url):
    result = _cli("migrate", DATABASE_URL=database_url, SCHOOLGRAPH_MIGRATE_URL=database_url)
    _one_clear_line(result, f"migrations run as {OWNER_ROLE}")


async def test_serve_without_a_migrate_url_needs_a_current_schema(scratch_url):
    await setup_roles(scratch_url)
    app_url = with_user(scratch_url, APP_ROLE)
    result = await asyncio.to_thread(_cli, "serve", "--port", "1", DATABASE_URL=app_url)
    _one_clear_line(result, "run `schoolgraph migrate` with SCHOOLGRAPH_MIGRATE_URL")


def test_create_roles_makes_a_database_ready_to_migrate_and_serve(admin_database_url):
    name = f"sg_roles_{uuid.uuid4().hex[:12]}"
    admin = with_database(admin_database_url, "postgres")
    try:
        result = _cli("db", "create-roles", "--admin-url", admin, "--database", name)
        assert result.returncode == 0, result
        settings = dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)
        assert set(settings) == {"DATABASE_URL", "SCHOOLGRAPH_MIGRATE_URL"}
        assert f"//{APP_ROLE}" in settings["DATABASE_URL"]
        assert f"//{OWNER_ROLE}" in settings["SCHOOLGRAPH_MIGRATE_URL"]
        assert urlsplit(settings["DATABASE_URL"]).path == f"/{name}"

        migrated = _cli("migrate", **settings)
        assert migrated.returncode == 0, migrated
        assert asyncio.run(server_role_problem(settings["DATABASE_URL"])) is None
        assert asyncio.run(migrate.current_revision(settings["DATABASE_URL"])) is not None
    finally:

        async def drop() -> None:
            connection = await asyncpg.connect(asyncpg_dsn(admin))
            try:
                await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            finally:
                await connection.close()

        asyncio.run(drop())


def test_create_roles_needs_a_superuser(database_url):
    result = _cli("db", "create-roles", "--admin-url", database_url)
    _one_clear_line(result, "superuser")
