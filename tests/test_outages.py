"""Failures of the database during a request: a masked 503 with Retry-After when it is
unavailable (down, connections terminated, pool exhausted), a masked 5xx for anything else, and
never SQL, driver text or a traceback in the response — wherever the failure is raised (in a
resolver, in an extension's hook such as the disclosure record, or at commit)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import httpx
import pytest
from starlette.applications import Starlette

from app.asgi import create_app
from app.config import get_settings
from app.http_errors import RETRY_AFTER_SECONDS
from tests.factories import create_user, delete_user
from tests.test_http import LEAKS

SETTINGS = get_settings()
# Contact details are recorded: reading them appends to the disclosure record at the end.
RECORDED_READ = "{ students(first: 3) { edges { node { id email } } } }"
# Holds back the INSERT that appends a request's disclosures (reads are not blocked by it).
LOCK_THE_RECORD = "LOCK TABLE disclosure IN EXCLUSIVE MODE"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def assert_masked(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body.get("data") is None, body
    assert [e["extensions"]["code"] for e in body["errors"]] == [code] * len(body["errors"])
    assert body["extensions"]["requestId"], body
    assert not LEAKS.search(response.text), response.text
    if status == 503:
        assert response.headers["retry-after"] == str(RETRY_AFTER_SECONDS)


def assert_unavailable(response: httpx.Response) -> None:
    assert_masked(response, 503, "SERVICE_UNAVAILABLE")


@contextlib.asynccontextmanager
async def _client(application: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=application)
    async with httpx.AsyncClient(transport=transport, base_url="http://schoolgraph.test") as c:
        yield c


async def _post(client: httpx.AsyncClient, query: str, token: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return await client.post("/graphql", json={"query": query}, headers=headers)


def _login(username: str) -> str:
    return (
        f'mutation {{ login(input: {{username: "{username}", password: "wrong-Password-1"}})'
        " { token } }"
    )


@pytest.fixture
async def account(db: asyncpg.Connection) -> AsyncIterator[str]:
    """A fresh account's username (second district), deleted after the test."""
    user_id, username = await create_user(db)
    yield username
    await delete_user(db, user_id)


async def _terminate_when_waiting(db: asyncpg.Connection, *, count: int = 1) -> list[int]:
    """Wait until `count` of the server's connections wait for a lock, then terminate them."""
    for _ in range(500):
        # In a transaction, the statistics are a snapshot taken at their first read.
        await db.execute("SELECT pg_stat_clear_snapshot()")
        pids = await db.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
            " AND application_name = 'schoolgraph' AND wait_event_type = 'Lock'"
            " AND pid <> pg_backend_pid()"
        )
        if len(pids) >= count:
            for row in pids:
                await db.execute("SELECT pg_terminate_backend($1)", row["pid"])
            return [row["pid"] for row in pids]
        await asyncio.sleep(0.02)
    raise AssertionError("the request never waited for the lock")


async def _waiting(db: asyncpg.Connection, count: int) -> None:
    for _ in range(500):
        await db.execute("SELECT pg_stat_clear_snapshot()")
        waiting = await db.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND application_name = 'schoolgraph' AND wait_event_type = 'Lock'"
        )
        if waiting >= count:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{count} requests never waited for the lock")


# --- PostgreSQL is down -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def down_app() -> Starlette:
    """An application whose database is a closed port (no lifespan: it would connect)."""
    return create_app(database_url=f"postgresql://postgres@127.0.0.1:{_closed_port()}/nothing")


async def test_database_down_answers_masked_503(down_app, token_for):
    token = await token_for("admin")
    async with _client(down_app) as client:
        assert_unavailable(await _post(client, "{ viewer { username } }", token))
        assert_unavailable(await _post(client, RECORDED_READ, token))
        assert_unavailable(await _post(client, _login("anyone")))
        ready = await client.get("/readyz")
        assert (ready.status_code, ready.json()) == (503, {"ready": False})
        # Whatever does not need the database still answers.
        assert (await client.get("/healthz")).status_code == 200
        anonymous = await _post(client, "{ viewer { username } }")
        assert anonymous.json() == {
            "data": {"viewer": None},
            "extensions": anonymous.json()["extensions"],
        }


async def test_database_down_on_the_csv_export_is_a_masked_503(down_app, token_for):
    async with _client(down_app) as client:
        response = await client.get(
            "/reports/export.csv",
            params={"metric": "STUDENT_COUNT"},
            headers={"Authorization": f"Bearer {await token_for('admin')}"},
        )
    assert_unavailable(response)


# --- Connections terminated mid-request -------------------------------------------------------


async def test_connection_terminated_in_a_resolver_is_a_masked_503(client, db, account, caplog):
    caplog.set_level(logging.INFO, logger="schoolgraph.errors")
    async with db.transaction():
        await db.execute("SELECT 1 FROM app_user WHERE username = $1 FOR UPDATE", account)
        request = asyncio.create_task(_post(client, _login(account)))
        await _terminate_when_waiting(db)
        response = await request
    assert_unavailable(response)
    # The log has what the response may not show: the traceback, under the same request id.
    [record] = [r for r in caplog.records if r.name == "schoolgraph.errors"]
    assert record.levelno == logging.ERROR
    assert record.exc_info is not None
    assert record.__dict__["request_id"] == response.json()["extensions"]["requestId"]
    # The server recovers: the next request gets a fresh connection.
    assert (await _post(client, _login(account))).status_code == 200


async def test_resolvers_after_the_connection_was_lost_are_a_masked_503(client, db, token_for):
    """One resolver's statement loses the connection while others wait their turn on it: the
    request as a whole is a masked 503. (The soak saw such later resolvers meet SQLAlchemy's
    PendingRollbackError, answered 500 before it was counted as unavailable; this request does
    not reliably reach that state, so it guards the outcome, not that path.)"""
    token = await token_for("admin")
    query = "{ students(first: 2) { edges { node { school { name } marks { score } } } } }"
    async with db.transaction():
        # The school loader waits on this lock; the marks loader queues behind it.
        await db.execute("LOCK TABLE school IN ACCESS EXCLUSIVE MODE")
        request = asyncio.create_task(_post(client, query, token))
        await _terminate_when_waiting(db)
        response = await request
    assert_unavailable(response)
    assert (await _post(client, query, token)).status_code == 200


async def test_connection_terminated_while_recording_disclosures_is_a_masked_503(
    client, db, token_for
):
    """The record is appended in an extension's hook, after the resolvers: a failure there was
    answered 400 with the SQL of the statement and its parameters."""
    token = await token_for("admin")
    async with db.transaction():
        await db.execute(LOCK_THE_RECORD)
        request = asyncio.create_task(_post(client, RECORDED_READ, token))
        await _terminate_when_waiting(db)
        response = await request
    assert_unavailable(response)
    assert (await _post(client, RECORDED_READ, token)).status_code == 200


@pytest.fixture
async def impatient_app(database_url: str) -> AsyncIterator[Starlette]:
    """Statements time out after a quarter of a second."""
    settings = dataclasses.replace(SETTINGS, statement_timeout_ms=250)
    application = create_app(settings, database_url=database_url)
    async with application.router.lifespan_context(application):
        yield application


async def test_a_timeout_while_recording_disclosures_is_masked(impatient_app, db, token_for):
    token = await token_for("admin")
    async with _client(impatient_app) as client, db.transaction():
        await db.execute(LOCK_THE_RECORD)
        response = await _post(client, RECORDED_READ, token)
    # What code a timeout gets is not this test's business; that it fails masked is.
    assert response.status_code >= 500, response.text
    assert response.json()["data"] is None
    assert not LEAKS.search(response.text), response.text


# --- The pool is exhausted --------------------------------------------------------------------


@pytest.fixture
async def small_pool_app(database_url: str) -> AsyncIterator[Starlette]:
    """Two connections at most (pool of one and one overflow); a wait of half a second."""
    settings = dataclasses.replace(SETTINGS, pool_size=1, pool_timeout_seconds=0.5)
    application = create_app(settings, database_url=database_url)
    async with application.router.lifespan_context(application):
        yield application


async def test_an_exhausted_pool_is_a_masked_503(
    small_pool_app, db: asyncpg.Connection, token_for: Callable[[str], Awaitable[str]]
):
    first, second = await create_user(db), await create_user(db)
    try:
        async with _client(small_pool_app) as client:
            async with db.transaction():
                for _, username in (first, second):
                    await db.execute(
                        "SELECT 1 FROM app_user WHERE username = $1 FOR UPDATE", username
                    )
                held: list[asyncio.Task[Any]] = [
                    asyncio.create_task(_post(client, _login(username)))
                    for _, username in (first, second)
                ]
                await _waiting(db, 2)
                response = await _post(client, "{ viewer { username } }", await token_for("admin"))
            await asyncio.gather(*held)
            assert_unavailable(response)
            after = await _post(client, "{ viewer { username } }", await token_for("admin"))
            assert after.status_code == 200, after.text
    finally:
        for user_id, _ in (first, second):
            await delete_user(db, user_id)
