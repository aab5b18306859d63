"""Alembic migrations on an empty database of their own, and the append-only record."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from app import migrate
from app.database import asyncpg_dsn, with_database

# Tables the application cannot work without; the migrations must make at least these.
CORE_TABLES = {
    "district",
    "school",
    "term",
    "app_user",
    "role_assignment",
    "student",
    "guardian_link",
    "class_section",
    "enrollment",
    "mark",
    "disclosure",
    "activity_event",
}


@pytest.fixture
async def empty_database_url(admin_database_url: str) -> AsyncIterator[str]:
    """A new, empty database on the test server (a superuser's URL), dropped after the test."""
    name = f"sg_migrations_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(asyncpg_dsn(with_database(admin_database_url, "postgres")))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield with_database(admin_database_url, name)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def _state(url: str) -> tuple[set[str], str | None, set[str]]:
    """(tables, alembic revision, triggers) of a database."""
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        tables = {
            r["tablename"]
            for r in await connection.fetch(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            )
        }
        revision = None
        if "alembic_version" in tables:
            revision = await connection.fetchval("SELECT version_num FROM alembic_version")
        triggers = {
            r["tgname"]
            for r in await connection.fetch("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")
        }
        return tables - {"alembic_version"}, revision, triggers
    finally:
        await connection.close()


async def _upgrade(url: str, revision: str = "head") -> None:
    # Alembic's environment runs its own event loop: give it a thread.
    await asyncio.to_thread(migrate.upgrade, url, revision)


async def _downgrade(url: str, revision: str) -> None:
    await asyncio.to_thread(migrate.downgrade, url, revision)


async def _head(url: str) -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(migrate.alembic_config(url)).get_current_head()
    assert head is not None
    return head


async def test_upgrade_downgrade_upgrade_on_an_empty_database(empty_database_url):
    url = empty_database_url
    assert await _state(url) == (set(), None, set())

    await _upgrade(url)
    tables, revision, triggers = await _state(url)
    assert tables >= CORE_TABLES, CORE_TABLES - tables
    assert revision == await _head(url)
    assert {"disclosure_no_update_delete", "disclosure_no_truncate"} <= triggers

    await _downgrade(url, "base")
    assert await _state(url) == (set(), None, set())
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        leftovers = await connection.fetch(
            "SELECT proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
            " WHERE n.nspname = 'public'"
        )
        types = await connection.fetch(
            "SELECT typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace"
            " WHERE n.nspname = 'public' AND t.typtype = 'e'"
        )
    finally:
        await connection.close()
    assert not leftovers and not types, (leftovers, types)

    await _upgrade(url)
    assert await _state(url) == (tables, revision, triggers)


async def test_the_append_only_migration_steps_down_and_up(empty_database_url):
    url = empty_database_url
    await _upgrade(url, "0001")
    tables, _, triggers = await _state(url)
    assert "disclosure" in tables
    assert not triggers & {"disclosure_no_update_delete", "disclosure_no_truncate"}
    await _upgrade(url)
    await _downgrade(url, "0001")
    assert not (await _state(url))[2] & {"disclosure_no_update_delete", "disclosure_no_truncate"}


async def test_upgrade_is_idempotent(owner_database_url):
    before = await _state(owner_database_url)
    await _upgrade(owner_database_url)
    assert await _state(owner_database_url) == before


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE disclosure SET field_classes = field_classes WHERE id = $1",
        "DELETE FROM disclosure WHERE id = $1",
        "TRUNCATE disclosure",
    ],
    ids=["update", "delete", "truncate"],
)
async def test_the_record_of_disclosures_refuses_changes(gql, db, statement):
    # Admin reads an email: a disclosure row exists to try to change.
    (await gql("{ students(first: 1) { edges { node { email } } } }", as_user="admin")).ok()
    row_id = await db.fetchval("SELECT max(id) FROM disclosure")
    assert row_id is not None
    count = await db.fetchval("SELECT count(*) FROM disclosure")
    transaction = db.transaction()
    await transaction.start()
    try:
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
            if "$1" in statement:
                await db.execute(statement, row_id)
            else:
                await db.execute(statement)
    finally:
        # Whatever happened, the shared record is left as it was.
        await transaction.rollback()
    assert await db.fetchval("SELECT count(*) FROM disclosure") == count
