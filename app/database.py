"""Connections: which PostgreSQL to use, the async engine, and the per-request statement counter.

`DATABASE_URL` names an external server; without it the embedded server of this checkout is
started (or joined). The application database is `schoolgraph` on the embedded server.
"""

from __future__ import annotations

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

from app import embedded
from app.config import Settings, get_settings
from app.database_tls import split_tls

APP_DATABASE = "schoolgraph"


@functools.lru_cache(maxsize=1024)
def cached_text(statement: str) -> TextClause:
    """`text(statement)`, parsed once: reads assemble their SQL per call from a few fixed shapes
    (scope, filter, order), and parsing the text for its bind parameters on every call cost more
    than running a small query."""
    return text(statement)


_embedded_server: Any = None


def resolve_database_url(settings: Settings | None = None, *, database: str = APP_DATABASE) -> str:
    """The libpq-style URL of the application database, starting the embedded server if needed."""
    global _embedded_server
    settings = settings or get_settings()
    if settings.database_url:
        return settings.database_url
    if _embedded_server is None:
        _embedded_server = embedded.start(settings.home)
    return embedded.server_url(_embedded_server, database)


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
        state = getattr(cause, "sqlstate", None)
        if isinstance(state, str) and (state.startswith("08") or state in _UNAVAILABLE_STATES):
            return True
    return False


@asynccontextmanager
async def transaction(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    async with engine.begin() as connection:
        yield connection
