"""The benchmark's databases: one seeded template per district size, a fresh copy per run.

`schoolgraph_bench_<N>` on the chosen server holds the demo district with N students. It is
reused while it has exactly N students and the newest schema revision, and rebuilt otherwise.
Every run works on a copy (`CREATE DATABASE ... TEMPLATE`), because SchoolGraph writes a
disclosure row for every non-directory read: a run that worked on the template would leave the
next one a bigger record of disclosures to read and append to, and the numbers would drift.

Usage:

```python
template = prepare_template(server_url, students=100_000)
run_url = copy_database(template, suffix="run")
...
drop_database(run_url)
```
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Iterator
from urllib.parse import urlsplit

import asyncpg
from alembic.script import ScriptDirectory

from app import migrate
from app.database import asyncpg_dsn, with_database
from app.encryption import KEYS_SQL, EncryptionError, Keyring, MasterKey, data_keys
from app.seed import seed

TEMPLATE_PREFIX = "schoolgraph_bench_"


def template_name(students: int) -> str:
    return f"{TEMPLATE_PREFIX}{students}"


def _name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


@contextlib.asynccontextmanager
async def _admin(server_url: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(asyncpg_dsn(with_database(server_url, "postgres")))
    try:
        yield connection
    finally:
        await connection.close()


async def _quoted(connection: asyncpg.Connection, name: str) -> str:
    # Identifiers cannot be bound as parameters; quote_ident makes the name safe.
    return str(await connection.fetchval("SELECT quote_ident($1)", name))


async def _state(url: str) -> tuple[str | None, int]:
    """(schema revision, students) of an existing database; (None, 0) when it holds nothing, or
    when it was encrypted under another master key than this checkout's (it cannot be read)."""
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        if not await connection.fetchval("SELECT to_regclass('public.student') IS NOT NULL"):
            return None, 0
        revision = await connection.fetchval("SELECT max(version_num) FROM alembic_version")
        if await connection.fetchval("SELECT to_regclass('public.data_key') IS NOT NULL"):
            try:
                Keyring.unwrap(
                    MasterKey.from_settings(), data_keys(await connection.fetch(KEYS_SQL))
                )
            except EncryptionError:
                return None, 0
        return revision, int(await connection.fetchval("SELECT count(*) FROM student"))
    finally:
        await connection.close()


def _head_revision(url: str) -> str | None:
    return ScriptDirectory.from_config(migrate.alembic_config(url)).get_current_head()


def prepare_template(
    server_url: str, *, students: int, reseed: bool = False, progress: bool = True
) -> str:
    """The URL of a template database with the demo district of `students` students.

    Concurrent benchmark runs on one server wait for each other here (an advisory lock), so
    one seeds and the other reuses.
    """
    url = with_database(server_url, template_name(students))

    async def check_or_create() -> bool:
        async with _admin(server_url) as admin:
            exists = await admin.fetchval(
                "SELECT 1 FROM pg_database WHERE datname = $1", _name(url)
            )
            if exists and not reseed:
                revision, count = await _state(url)
                if count == students and revision == _head_revision(url):
                    return True
            quoted = await _quoted(admin, _name(url))
            await admin.execute(f"DROP DATABASE IF EXISTS {quoted} WITH (FORCE)")
            await admin.execute(f"CREATE DATABASE {quoted}")
            return False

    with _server_lock(server_url, _name(url)):
        if asyncio.run(check_or_create()):
            print(f"reusing {_name(url)} ({students:,} students)", flush=True)
            return url
        print(f"seeding {_name(url)} with {students:,} students ...", flush=True)
        migrate.upgrade(url)  # runs its own event loop, so not inside asyncio.run
        summary = asyncio.run(seed(url, students=students, progress=progress))
        print(f"seeded in {summary.elapsed:.1f} s", flush=True)
    return url


@contextlib.contextmanager
def _server_lock(server_url: str, name: str) -> Iterator[None]:
    """An advisory lock named after the template, held on a connection of its own."""
    runner = asyncio.Runner()
    connection = runner.run(asyncpg.connect(asyncpg_dsn(with_database(server_url, "postgres"))))
    try:
        runner.run(connection.execute("SELECT pg_advisory_lock(hashtext($1))", name))
        yield
    finally:
        runner.run(connection.close())  # closing the session releases the lock
        runner.close()


def copy_database(template_url: str, *, suffix: str) -> str:
    """A fresh copy of the template, named after it, `suffix` and this process."""
    url = with_database(template_url, f"{_name(template_url)}_{suffix}_{os.getpid()}")

    async def create() -> None:
        async with _admin(template_url) as admin:
            quoted = await _quoted(admin, _name(url))
            source = await _quoted(admin, _name(template_url))
            version = int(await admin.fetchval("SHOW server_version_num"))
            # FILE_COPY (PostgreSQL 15+) copies the files instead of logging every page.
            strategy = " STRATEGY FILE_COPY" if version >= 150000 else ""
            await admin.execute(f"DROP DATABASE IF EXISTS {quoted} WITH (FORCE)")
            await admin.execute(f"CREATE DATABASE {quoted} TEMPLATE {source}{strategy}")

    with _server_lock(template_url, _name(template_url)):
        asyncio.run(create())
    return url


def drop_database(url: str) -> None:
    async def drop() -> None:
        async with _admin(url) as admin:
            quoted = await _quoted(admin, _name(url))
            await admin.execute(f"DROP DATABASE IF EXISTS {quoted} WITH (FORCE)")

    asyncio.run(drop())
