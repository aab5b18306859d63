"""Connections: which PostgreSQL to use, as which role, the async engine, and the per-request
statement counter.

`DATABASE_URL` names an external server and logs in as the application role; migrations and the
seed use `SCHOOLGRAPH_MIGRATE_URL` (the owner, or a superuser). Without `DATABASE_URL` the embedded
server of this checkout is started (or joined): as its superuser, over its Unix socket, this
process creates the `schoolgraph` database and both roles if missing, then hands out URLs that log
in as the owner or the application role (`app/roles.py`, docs/deployment.md).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import functools
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from sqlalchemy import TextClause, event, exc, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from app import embedded, roles
from app.config import Settings, get_settings, missing_in_production
from app.database_tls import split_tls

APP_DATABASE = "schoolgraph"


@functools.lru_cache(maxsize=1024)
def cached_text(statement: str) -> TextClause:
    """`text(statement)`, parsed once: reads assemble their SQL per call from a few fixed shapes
    (scope, filter, order), and parsing the text for its bind parameters on every call cost more
    than running a small query."""
    return text(statement)


_embedded_server: Any = None
_embedded_ready: set[str] = set()


def _run_outside_loop(coroutine: Any) -> Any:
    """Run a coroutine to completion from sync code, even when an event loop is running in this
    thread (uvicorn calls the app factory inside its loop)."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def _embedded_url(settings: Settings, database: str, user: str) -> str:
    """A URL of the embedded server, which is started and whose roles are set up on first use."""
    global _embedded_server
    if _embedded_server is None:
        _embedded_server = embedded.start(settings.home)
    admin = embedded.server_url(_embedded_server, database)
    if database not in _embedded_ready:
        _run_outside_loop(setup_roles(admin))
        _embedded_ready.add(database)
    return roles.with_user(admin, user)


def _no_embedded_in_production(settings: Settings) -> None:
    """Production keeps its records on a server it chose, never in an embedded one under the
    checkout."""
    if settings.production:
        raise missing_in_production("DATABASE_URL")


def resolve_database_url(settings: Settings | None = None, *, database: str = APP_DATABASE) -> str:
    """The URL the server connects with: the application role (`DATABASE_URL`, or the embedded
    server's `schoolgraph_app`)."""
    settings = settings or get_settings()
    if settings.database_url:
        return settings.database_url
    _no_embedded_in_production(settings)
    return _embedded_url(settings, database, roles.APP_ROLE)


def resolve_migrate_url(settings: Settings | None = None, *, database: str = APP_DATABASE) -> str:
    """The URL migrations and the seed connect with: the owner role (`SCHOOLGRAPH_MIGRATE_URL`, or
    the embedded server's `schoolgraph_owner`). With `DATABASE_URL` but no migrate URL it raises
    `roles.RoleError` with one line saying what to set."""
    settings = settings or get_settings()
    if settings.migrate_url:
        return settings.migrate_url
    if settings.database_url:
        raise roles.RoleError(
            "SCHOOLGRAPH_MIGRATE_URL is not set: with DATABASE_URL (the application role),"
            f" migrations and the seed run as {roles.OWNER_ROLE} from SCHOOLGRAPH_MIGRATE_URL"
            " (`schoolgraph db create-roles`, docs/deployment.md)"
        )
    _no_embedded_in_production(settings)
    return _embedded_url(settings, database, roles.OWNER_ROLE)


def resolve_admin_url(settings: Settings | None = None, *, database: str = APP_DATABASE) -> str:
    """The embedded server's superuser URL (benchmarks, tests: they create databases); with
    `DATABASE_URL` the migrate URL, which creates databases only if it is a superuser's."""
    settings = settings or get_settings()
    if settings.database_url:
        return resolve_migrate_url(settings, database=database)
    _embedded_url(settings, database, roles.OWNER_ROLE)
    return embedded.server_url(_embedded_server, database)


async def setup_roles(admin_url: str) -> None:
    """As a superuser: create the database of `admin_url` and both roles if missing, and give the
    owner role the schema and every object in it (idempotent; what the embedded server, the test
    fixtures and `schoolgraph db create-roles` do)."""
    await ensure_database(admin_url)
    connection = await asyncpg.connect(asyncpg_dsn(admin_url))
    try:
        # Every process of the embedded server comes here: when all is in order, it only reads.
        if not await connection.fetchval(roles.NEEDS_PREPARING_QUERY):
            return
        async with connection.transaction():
            statements = roles.create_role_statements() + roles.prepare_statements()
            # On a database already migrated (an older checkout's, made as `postgres`) the
            # application role gets its grants now, not at the next migration.
            if await connection.fetchval("SELECT to_regclass('public.alembic_version')"):
                statements += roles.grant_statements()
            for statement in statements:
                await connection.execute(statement)
    finally:
        await connection.close()


async def server_role_problem(url: str) -> str | None:
    """None when `url` logs in with least privilege, else one line saying what is wrong."""
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        found = [row[0] for row in await connection.fetch(roles.SERVER_PROBLEMS_QUERY)]
    finally:
        await connection.close()
    return roles.server_problem(found[0]) if found else None


def with_database(url: str, database: str) -> str:
    """The same server URL pointing at another database."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + database))


def sqlalchemy_url(url: str) -> str:
    """`postgresql://...` → `postgresql+asyncpg://...` for SQLAlchemy."""
    scheme, rest = url.split("://", 1)
    if scheme in ("postgres", "postgresql", "postgresql+asyncpg"):
        return "postgresql+asyncpg://" + rest
    raise ValueError(f"unsupported database URL scheme: {scheme!r}")


def asyncpg_dsn(url: str) -> str:
    """A DSN asyncpg accepts (it knows no `+asyncpg` driver suffix)."""
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def ensure_database(url: str) -> None:
    """Create the database named in `url` if it does not exist yet."""
    name = urlsplit(url).path.lstrip("/")
    admin = await asyncpg.connect(asyncpg_dsn(with_database(url, "postgres")))
    try:
        exists = await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            # Identifiers cannot be bound as parameters; quote_ident makes the name safe.
            quoted = await admin.fetchval("SELECT quote_ident($1)", name)
            await admin.execute(f"CREATE DATABASE {quoted}")
    finally:
        await admin.close()


# --- Statement counting ---------------------------------------------------------------------
# Counts are deterministic, so tests assert them ("the number of SQL statements depends only on
# the query's shape"); benchmarks report them.


@dataclass
class StatementCounter:
    statements: int = 0


_counter: contextvars.ContextVar[StatementCounter | None] = contextvars.ContextVar(
    "statement_counter", default=None
)


def start_counting() -> StatementCounter:
    counter = StatementCounter()
    _counter.set(counter)
    return counter


def _count_statement(*_args: Any, **_kwargs: Any) -> None:
    counter = _counter.get()
    if counter is not None:
        counter.statements += 1


def create_engine(url: str, settings: Settings | None = None) -> AsyncEngine:
    settings = settings or get_settings()
    url, tls = split_tls(url)
    engine = create_async_engine(
        sqlalchemy_url(url),
        pool_size=settings.pool_size,
        max_overflow=settings.pool_size,
        pool_pre_ping=False,
        pool_timeout=settings.pool_timeout_seconds,
        connect_args={
            **tls,
            "server_settings": {
                "statement_timeout": str(settings.statement_timeout_ms),
                "application_name": "schoolgraph",
            },
        },
    )
    event.listen(engine.sync_engine, "before_cursor_execute", _count_statement)
    return engine


# --- Outages ---------------------------------------------------------------------------------

# SQLSTATEs that say "the database cannot serve now, try again": connection exceptions (class 08),
# shutdown or start-up (57P01-57P03), too many connections, and the transaction conflicts that a
# retry resolves (serialization failure, deadlock).
_UNAVAILABLE_STATES = frozenset({"57P01", "57P02", "57P03", "53300", "40001", "40P01"})


def _chain(error: BaseException) -> Iterator[BaseException]:
    """The error, what SQLAlchemy wrapped (`orig`) and what it was raised from, once each."""
    seen: set[int] = set()
    pending = [error]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        for linked in (getattr(current, "orig", None), current.__cause__, current.__context__):
            if isinstance(linked, BaseException):
                pending.append(linked)


def is_unavailable(error: BaseException) -> bool:
    """Did this fail because the database cannot be reached or cannot serve right now?

    ```python
    except Exception as error:
        status = 503 if is_unavailable(error) else 500
    ```
    """
    for cause in _chain(error):
        if isinstance(cause, exc.DBAPIError) and cause.connection_invalidated:
            return True
        if isinstance(
            cause,
            exc.TimeoutError  # no pooled connection came free in time
            | ConnectionError  # refused, reset, aborted
            | TimeoutError  # the server did not answer the connection in time
            | socket.gaierror  # its host name does not resolve
            | asyncpg.PostgresConnectionError
            | asyncpg.ConnectionDoesNotExistError,
        ):
            return True
        if isinstance(cause, asyncpg.InterfaceError) and "connection is closed" in str(cause):
            return True
        if isinstance(cause, exc.PendingRollbackError) and "reconnect" in str(cause):
            # The request's connection was lost by an earlier statement of the same request
            # (its other resolvers meet this): the same outage, not a fault of the server.
            return True
        state = getattr(cause, "sqlstate", None)
        if isinstance(state, str) and (state.startswith("08") or state in _UNAVAILABLE_STATES):
            return True
    return False


@asynccontextmanager
async def transaction(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    async with engine.begin() as connection:
        yield connection
