"""Login protection over the real HTTP app: password hashes off the event loop in a bounded pool,
rate limits per client address and per username (in memory, or shared through Redis), and the
answers a refused attempt gets (docs/login-protection.md)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import re
import socket
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
from starlette.applications import Starlette

from app.asgi import create_app
from app.auth import hash_password_in, verify_password
from app.config import get_settings
from app.login_limits import client_key
from app.offload import PoolBusy, WorkerPool
from tests.factories import STRONG_PASSWORD, create_user, delete_user, login_state

SETTINGS = get_settings()
REDIS_URL = "redis://127.0.0.1:6379/0"
LOGIN = """
mutation($username: String!, $password: String!) {
  login(input: {username: $username, password: $password}) { token userErrors { code } }
}
"""
WRONG_PASSWORD = "Wrong-password-1"
# Generous enough never to be met: for the tests that are about something else.
UNLIMITED = "100000/minute"


@contextlib.asynccontextmanager
async def _running(database_url: str, **overrides: Any) -> AsyncIterator[Starlette]:
    application = create_app(dataclasses.replace(SETTINGS, **overrides), database_url=database_url)
    async with application.router.lifespan_context(application):
        yield application


def _client(application: Starlette, address: str = "192.0.2.1") -> httpx.AsyncClient:
    """A client whose socket peer is `address` (what the limit per address counts)."""
    transport = httpx.ASGITransport(app=application, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://schoolgraph.test")


async def _login(
    application: Starlette, username: str, password: str = WRONG_PASSWORD, *, address: str
) -> httpx.Response:
    async with _client(application, address) as client:
        return await client.post(
            "/graphql",
            json={"query": LOGIN, "variables": {"username": username, "password": password}},
        )


async def _verifications(application: Starlette) -> int:
    """Password hashes verified so far (the process-wide counter at `/metrics`)."""
    async with _client(application) as client:
        text = (await client.get("/metrics")).text
    found = re.search(r"^schoolgraph_password_verifications_total (\d+)$", text, re.M)
    assert found, text
    return int(found.group(1))


def _failed(response: httpx.Response) -> bool:
    """The attempt was answered as a wrong password (so its hash was verified)."""
    body = response.json()
    return response.status_code == 200 and body["data"]["login"]["userErrors"] == [
        {"code": "LOGIN_FAILED"}
    ]


def _refused(response: httpx.Response, code: str = "RATE_LIMITED") -> int:
    """The attempt was refused with `code` alone; returns the seconds it says to wait."""
    body = response.json()
    assert body["data"] == {"login": None}, body
    [error] = body["errors"]
    assert error["extensions"]["code"] == code, error
    retry_after = int(error["extensions"]["retryAfter"])
    assert response.headers["retry-after"] == str(retry_after)
    return retry_after


def _unknown() -> str:
    return f"nobody-{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="module")
async def strict(database_url: str) -> AsyncIterator[Starlette]:
    """An app with small limits: 3 attempts a minute per address, 2 per username."""
    async with _running(
        database_url, login_limit_per_address="3/minute", login_limit_per_username="2/minute"
    ) as application:
        yield application


@pytest.fixture
async def account(db: asyncpg.Connection) -> AsyncIterator[tuple[int, str]]:
    user_id, username = await create_user(db)
    yield user_id, username
    await delete_user(db, user_id)


# --- Hashes off the event loop ----------------------------------------------------------------


async def test_healthz_answers_while_many_logins_hash(database_url: str) -> None:
    # One hash thread: the 12 hashes take seconds one after another. A health check sent once
    # the first login has finished is answered while a hash is being computed (impossible when
    # hashes run on the event loop, which then runs nothing else) and nearly all logins wait.
    async with _running(
        database_url,
        login_limit_per_address=UNLIMITED,
        login_limit_per_username=UNLIMITED,
        hash_workers=1,
        hash_queue=100,
    ) as application:
        finished: list[httpx.Response] = []
        first_finished = asyncio.Event()

        async def attempt(index: int) -> None:
            finished.append(await _login(application, _unknown(), address=f"198.51.100.{index}"))
            first_finished.set()

        attempts = [asyncio.create_task(attempt(i)) for i in range(12)]
        await first_finished.wait()
        # Health checks until one is answered while a hash is being computed and logins still
        # wait (a loaded machine may answer the first between two hashes): never, when hashes
        # run on the event loop, which then runs nothing else.
        answered_while_hashing = 0
        async with _client(application) as client:
            for _ in range(50):
                health = await client.get("/healthz")
                assert health.status_code == 200
                if application.state.hashing.running == 1 and len(finished) < len(attempts):
                    answered_while_hashing += 1
                    break
        still_hashing = len(attempts) - len(finished)
        await asyncio.gather(*attempts)
    assert answered_while_hashing == 1
    assert still_hashing >= 1, "every login was over before /healthz was answered"
    assert all(_failed(r) for r in finished)


async def test_hash_queue_beyond_its_limit_is_refused_at_once(database_url: str) -> None:
    async with _running(
        database_url,
        login_limit_per_address=UNLIMITED,
        login_limit_per_username=UNLIMITED,
        hash_workers=1,
        hash_queue=1,
    ) as application:
        before = await _verifications(application)
        responses = await asyncio.gather(
            *(_login(application, _unknown(), address=f"198.51.100.{i}") for i in range(8))
        )
        verified = await _verifications(application) - before
    busy = [r for r in responses if r.status_code == 503]
    assert busy, [r.json() for r in responses]
    assert all(_refused(r, "SERVER_BUSY") == 1 for r in busy)
    answered = [r for r in responses if r.status_code != 503]
    assert answered and all(_failed(r) for r in answered)
    assert verified == len(answered)  # a refused attempt verified nothing


async def test_hashing_and_verifying_in_a_pool() -> None:
    pool = WorkerPool("test-hash", workers=1)
    try:
        hashed = await hash_password_in(pool, STRONG_PASSWORD)
        assert verify_password(hashed, STRONG_PASSWORD)
        assert pool.calls == 1
    finally:
        pool.close()


async def test_a_pool_refuses_beyond_its_queue() -> None:
    pool = WorkerPool("test-busy", workers=1, queue=0)
    gate = asyncio.Event()
    loop = asyncio.get_running_loop()
    try:
        # The first call holds the only thread until the gate opens (set from the loop).
        started = loop.create_future()

        def hold() -> None:
            loop.call_soon_threadsafe(started.set_result, None)
            asyncio.run_coroutine_threadsafe(gate.wait(), loop).result()

        running = asyncio.create_task(pool.run(hold))
        await started
        with pytest.raises(PoolBusy):
            await pool.run(int, "1")
        gate.set()
        await running
        assert await pool.run(int, "2") == 2  # free again once the first finished
    finally:
        pool.close()


# --- Rate limits ------------------------------------------------------------------------------


async def test_attempt_beyond_the_limit_of_an_address_is_429_and_verifies_nothing(
    strict: Starlette, account: tuple[int, str]
) -> None:
    address = "203.0.113.10"
    for _ in range(3):  # different usernames: only the address's limit is met
        assert _failed(await _login(strict, _unknown(), address=address))
    before = await _verifications(strict)
    # Even the right password is refused: the limit is met before the password is looked at.
    refused = await _login(strict, account[1], STRONG_PASSWORD, address=address)
    assert refused.status_code == 429
    assert 1 <= _refused(refused) <= 60
    assert "from this address" in refused.json()["errors"][0]["message"]
    assert await _verifications(strict) == before
    # Another address is not concerned.
    other = await _login(strict, account[1], STRONG_PASSWORD, address="203.0.113.11")
    assert other.status_code == 200 and other.json()["data"]["login"]["token"]


async def test_limit_per_username_holds_across_addresses(strict: Starlette) -> None:
    username = _unknown()
    assert _failed(await _login(strict, username, address="203.0.113.20"))
    assert _failed(await _login(strict, username, address="203.0.113.21"))
    before = await _verifications(strict)
    refused = await _login(strict, username.upper(), address="203.0.113.22")
    assert refused.status_code == 429
    assert "for this username" in refused.json()["errors"][0]["message"]
    assert await _verifications(strict) == before
    assert _failed(await _login(strict, _unknown(), address="203.0.113.22"))


async def test_ipv6_clients_are_counted_by_their_slash_64(strict: Starlette) -> None:
    for host in ("2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2:ffff::3"):
        assert _failed(await _login(strict, _unknown(), address=host))
    refused = await _login(strict, _unknown(), address="2001:db8:1:2:abcd::4")
    assert refused.status_code == 429


def test_client_keys() -> None:
    assert client_key("203.0.113.7") == "203.0.113.7"
    assert client_key("::ffff:203.0.113.7") == "203.0.113.7"
    assert client_key("2001:db8:1:2:3:4:5:6") == "2001:db8:1:2::/64"
    assert client_key(None) == "unknown"


async def test_refused_login_keeps_the_failures_counted_before_it(
    strict: Starlette, db: asyncpg.Connection, account: tuple[int, str]
) -> None:
    # Two wrong passwords and a third attempt, refused, in one request: the refusal must not
    # roll back the failures the lockout counts.
    user_id, username = account
    query = (
        "mutation { "
        + " ".join(
            f'{alias}: login(input: {{username: "{username}", password: "{WRONG_PASSWORD}"}})'
            " { token userErrors { code } }"
            for alias in ("a", "b", "c")
        )
        + " }"
    )
    async with _client(strict, "203.0.113.30") as client:
        response = await client.post("/graphql", json={"query": query})
    body = response.json()
    assert response.status_code == 200  # there is more in it than the refusal
    assert body["data"]["a"]["userErrors"] == [{"code": "LOGIN_FAILED"}]
    assert body["data"]["b"]["userErrors"] == [{"code": "LOGIN_FAILED"}]
    assert body["data"]["c"] is None
    assert [e["extensions"]["code"] for e in body["errors"]] == ["RATE_LIMITED"]
    assert await login_state(db, user_id) == (2, False)


async def test_successful_login_works_under_the_limits(
    strict: Starlette, account: tuple[int, str], db: asyncpg.Connection
) -> None:
    user_id, username = account
    assert _failed(await _login(strict, username, address="203.0.113.40"))
    response = await _login(strict, username, STRONG_PASSWORD, address="203.0.113.40")
    assert response.status_code == 200
    assert response.json()["data"]["login"]["token"]
    assert await login_state(db, user_id) == (0, False)


# --- Shared through Redis ---------------------------------------------------------------------


def _redis_answers() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5) as connection:
            connection.sendall(b"PING\r\n")
            return connection.recv(16).startswith(b"+PONG")
    except OSError:
        return False


async def test_two_processes_share_the_limit_through_redis(database_url: str) -> None:
    if not _redis_answers():
        pytest.skip("no Redis at 127.0.0.1:6379: the shared limit cannot be tried here")
    # Keys outlive the test for a minute: an address of our own, from the documentation range.
    address = f"2001:db8:{uuid.uuid4().int % 0xFFFF:x}::1"
    shared = {"redis_url": REDIS_URL, "login_limit_per_address": "2/minute"}
    async with (
        _running(database_url, **shared) as first,
        _running(database_url, **shared) as second,
    ):
        assert _failed(await _login(first, _unknown(), address=address))
        assert _failed(await _login(second, _unknown(), address=address))
        refused = await _login(first, _unknown(), address=address)
    assert refused.status_code == 429
    _refused(refused)


async def test_without_redis_each_process_counts_alone(database_url: str) -> None:
    alone = {"login_limit_per_address": "2/minute"}
    async with _running(database_url, **alone) as first, _running(database_url, **alone) as second:
        for application in (first, second, first):
            assert _failed(await _login(application, _unknown(), address="203.0.113.50"))


async def test_logins_go_on_when_redis_does_not_answer(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    # Nothing listens on port 9 (discard): the attempt is let through, and that is logged.
    async with _running(
        database_url, redis_url="redis://127.0.0.1:9/0", login_limit_per_address="1/minute"
    ) as application:
        assert "does not answer: logins are not limited" in caplog.text  # said at start
        for _ in range(2):
            assert _failed(await _login(application, _unknown(), address="203.0.113.60"))
    assert caplog.text.count("attempt let through unlimited") == 2


async def test_several_workers_without_redis_warn_at_start(
    database_url: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WEB_CONCURRENCY", "4")
    async with _running(database_url):
        pass
    assert "LOGIN RATE LIMITS ARE PER PROCESS: 4 workers" in caplog.text
    caplog.clear()
    if _redis_answers():
        async with _running(database_url, redis_url=REDIS_URL):
            pass
        assert "PER PROCESS" not in caplog.text
