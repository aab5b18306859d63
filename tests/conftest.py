"""Test fixtures: one real PostgreSQL database per test session, migrated and seeded.

The server is `TEST_DATABASE_URL` (a superuser's URL) when set, else this checkout's embedded
PostgreSQL; the tests use their own database on it (`schoolgraph_test`), dropped and made anew at
the start of each session, so they never touch the demo district.

Roles as in production (app/roles.py): the database is migrated and seeded as the owner role, and
`database_url` (the `app` fixture, CLI tests) logs in as the application role, so the whole suite
runs the application with least privilege. `db` and `admin_database_url` are the superuser's, for
arranging and checking rows and for making databases.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import asyncpg
import httpx
import pytest
from starlette.applications import Starlette

from app import migrate
from app.asgi import create_app
from app.auth import issue_token
from app.config import get_settings
from app.database import asyncpg_dsn, resolve_admin_url, setup_roles, with_database
from app.roles import APP_ROLE, OWNER_ROLE, with_user
from app.seed import seed
from tests.helpers import GraphQLResponse

# Several test sessions can share one server (parallel checkouts, CI jobs) by naming their own.
TEST_DATABASE = os.environ.get("SCHOOLGRAPH_TEST_DATABASE", "schoolgraph_test")
TEST_STUDENTS = 400
TEST_SEED = 7


async def _recreate(url: str) -> None:
    admin = await asyncpg.connect(asyncpg_dsn(with_database(url, "postgres")))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{TEST_DATABASE}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{TEST_DATABASE}"')
    finally:
        await admin.close()


@pytest.fixture(scope="session")
def admin_database_url() -> Iterator[str]:
    """The superuser's URL of a migrated, seeded test database: `TEST_STUDENTS` students, seed
    `TEST_SEED`, every object owned by the owner role."""
    base = os.environ.get("TEST_DATABASE_URL") or resolve_admin_url()
    url = with_database(base, TEST_DATABASE)
    asyncio.run(_recreate(url))
    asyncio.run(setup_roles(url))
    owner = with_user(url, OWNER_ROLE)
    migrate.upgrade(owner)
    asyncio.run(seed(owner, students=TEST_STUDENTS, seed=TEST_SEED, progress=False))
    yield url


@pytest.fixture(scope="session")
def owner_database_url(admin_database_url: str) -> str:
    """The test database as the owner role (what `schoolgraph migrate` and `seed` log in as)."""
    return with_user(admin_database_url, OWNER_ROLE)


@pytest.fixture(scope="session")
def database_url(admin_database_url: str) -> str:
    """The test database as the application role: what the server under test logs in as."""
    return with_user(admin_database_url, APP_ROLE)


@pytest.fixture
async def db(admin_database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A plain asyncpg connection to the test database (as the superuser), for arranging and
    checking rows."""
    connection = await asyncpg.connect(asyncpg_dsn(admin_database_url))
    try:
        yield connection
    finally:
        await connection.close()


@pytest.fixture(scope="session")
async def app(database_url: str) -> AsyncIterator[Starlette]:
    """The real ASGI application (lifespan included) over the test database."""
    application = create_app(database_url=database_url)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://schoolgraph.test") as c:
        yield c


@pytest.fixture
async def token_for(db: asyncpg.Connection) -> Callable[[str], Awaitable[str]]:
    """`await token_for("teacher")`: a bearer token for an account of the test district."""

    async def make(username: str) -> str:
        user_id = await db.fetchval("SELECT id FROM app_user WHERE username = $1", username)
        assert user_id is not None, f"no account {username!r}"
        return issue_token(user_id, get_settings())

    return make


@pytest.fixture
def gql(
    client: httpx.AsyncClient, token_for: Callable[[str], Awaitable[str]]
) -> Callable[..., Awaitable[GraphQLResponse]]:
    """`await gql(query, as_user="teacher", variables=...)` over HTTP."""

    async def run(
        query: str, *, as_user: str | None = None, variables: dict[str, Any] | None = None
    ) -> GraphQLResponse:
        headers = {"Authorization": f"Bearer {await token_for(as_user)}"} if as_user else {}
        response = await client.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
        )
        return GraphQLResponse(response.status_code, response.json())

    return run
