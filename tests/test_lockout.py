"""The lockout no one can aim at an account (docs/login-protection.md): temporary, with a growing
back-off, counted per account and per client address even when the rest of the request fails;
`unlockUser` for administrators in scope; production refuses the demo accounts."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from starlette.applications import Starlette

from app.asgi import create_app
from app.config import get_settings
from app.seed import DEMO_PASSWORD
from schema.relay import to_global_id
from tests.factories import STRONG_PASSWORD, create_user, delete_user, login_state

SETTINGS = get_settings()
WRONG = "Wrong-password-9"
LOGIN = """mutation ($u: String!, $p: String!) {
  login(input: {username: $u, password: $p}) { token userErrors { code message } } }"""
UNLOCK = """mutation ($id: ID!) {
  unlockUser(input: {userId: $id}) { userId unlocked userErrors { code message } } }"""


def _address() -> str:
    """An address of the documentation range no other test uses."""
    n = uuid.uuid4().int
    return f"198.51.{n % 250}.{(n >> 8) % 250 + 1}"


@asynccontextmanager
async def _client(app: Starlette, address: str) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://schoolgraph.test") as c:
        yield c


@asynccontextmanager
async def _app(database_url: str, **changes: Any) -> AsyncIterator[Starlette]:
    # Rate limits out of the way: what is tested here is the lockout behind them.
    settings = dataclasses.replace(
        SETTINGS,
        login_limit_per_address="10000/minute",
        login_limit_per_username="10000/minute",
        **changes,
    )
    application = create_app(settings, database_url=database_url)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture(scope="module")
async def lenient(database_url: str) -> AsyncIterator[Starlette]:
    async with _app(database_url) as application:
        yield application


Login = Callable[..., Awaitable[dict[str, Any]]]


@pytest.fixture
def login(lenient: Starlette) -> Login:
    """`await login(username, password, address=...)`: the `login` payload (None when refused
    as a whole, with the errors in `_errors`)."""

    async def run(
        username: str, password: str, *, address: str | None = None, app: Starlette | None = None
    ) -> dict[str, Any]:
        async with _client(app or lenient, address or _address()) as client:
            response = await client.post(
                "/graphql", json={"query": LOGIN, "variables": {"u": username, "p": password}}
            )
        body = response.json()
        payload = body["data"]["login"] if body.get("data") else None
        return payload or {"_status": response.status_code, "_errors": body.get("errors")}

    return run


@pytest.fixture
async def account(db: asyncpg.Connection) -> AsyncIterator[tuple[int, str]]:
    user_id, username = await create_user(db)
    yield user_id, username
    await db.execute(
        "DELETE FROM audit_event WHERE target_type = 'User' AND target_id = $1", user_id
    )
    await delete_user(db, user_id)


async def _fail(login: Login, username: str, times: int, **kwargs: Any) -> None:
    for _ in range(times):
        payload = await login(username, WRONG, **kwargs)
        assert [e["code"] for e in payload["userErrors"]] == ["LOGIN_FAILED"], payload


async def _lock(db: asyncpg.Connection, user_id: int) -> tuple[timedelta | None, int]:
    """How long the account's lock has still to run (None: not locked), and its lock count."""
    row = await db.fetchrow("SELECT lock_until, lockouts FROM app_user WHERE id = $1", user_id)
    assert row is not None
    until = row["lock_until"]
    left = until - datetime.now(UTC) if until and until > datetime.now(UTC) else None
    return left, int(row["lockouts"])


async def _expire(db: asyncpg.Connection, user_id: int) -> None:
    """The back-off has passed."""
    await db.execute(
        "UPDATE app_user SET lock_until = now() - interval '1 second' WHERE id = $1", user_id
    )


def _near(left: timedelta | None, seconds: int) -> bool:
    return left is not None and seconds - 30 < left.total_seconds() <= seconds


# --- Per account ------------------------------------------------------------------------------


async def test_ten_failures_lock_until_the_back_off_has_passed(login, db, account):
    user_id, username = account
    await _fail(login, username, SETTINGS.lockout_threshold - 1)
    assert await login_state(db, user_id) == (SETTINGS.lockout_threshold - 1, False)
    await _fail(login, username, 1)
    assert await login_state(db, user_id) == (SETTINGS.lockout_threshold, True)
    left, lockouts = await _lock(db, user_id)
    assert _near(left, SETTINGS.lockout_base_seconds) and lockouts == 1
    # Locked: the right password fails with the very answer a wrong one gets.
    refused = await login(username, STRONG_PASSWORD)
    wrong = await login(username, WRONG)
    assert refused["token"] is None and refused["userErrors"] == wrong["userErrors"]
    # Attempts during the lock neither count nor lengthen it.
    assert await login_state(db, user_id) == (SETTINGS.lockout_threshold, True)
    assert (await _lock(db, user_id))[0] <= left  # type: ignore[operator]
    await _expire(db, user_id)
    signed_in = await login(username, STRONG_PASSWORD)
    assert signed_in["token"] and signed_in["userErrors"] == []
    assert await login_state(db, user_id) == (0, False)
    assert await _lock(db, user_id) == (None, 0)
    assert await db.fetchval("SELECT last_sign_in_at FROM app_user WHERE id = $1", user_id)


async def test_each_lock_in_a_row_lasts_twice_as_long_up_to_the_cap(login, db, account):
    user_id, username = account
    base = SETTINGS.lockout_base_seconds
    for lockouts in (1, 2, 3):
        await _fail(login, username, SETTINGS.lockout_threshold)
        left, count = await _lock(db, user_id)
        assert count == lockouts
        assert _near(left, min(base * 2 ** (lockouts - 1), SETTINGS.lockout_max_seconds)), left
        await _expire(db, user_id)
        # After a lock, a new count starts: one more failure does not lock again at once.
        await _fail(login, username, 1)
        assert await login_state(db, user_id) == (1, False)
        await _fail(login, username, SETTINGS.lockout_threshold - 1 - 1)
        await _fail(login, username, 1)
        left, count = await _lock(db, user_id)
        assert count == lockouts + 1
        await _expire(db, user_id)
        await db.execute("UPDATE app_user SET lockouts = $2 WHERE id = $1", user_id, lockouts)
    await db.execute("UPDATE app_user SET lockouts = 40 WHERE id = $1", user_id)
    await _fail(login, username, SETTINGS.lockout_threshold)
    assert _near((await _lock(db, user_id))[0], SETTINGS.lockout_max_seconds)
    # A success resets the count of locks: the next lock is short again.
    await _expire(db, user_id)
    assert (await login(username, STRONG_PASSWORD))["token"]
    await _fail(login, username, SETTINGS.lockout_threshold)
    assert _near((await _lock(db, user_id))[0], base)


async def test_a_failure_is_counted_when_another_field_of_the_request_fails(lenient, db, account):
    user_id, username = account
    # Anonymous: unlockUser is refused (UNAUTHENTICATED), which nulls the whole answer, and the
    # request rolls back.
    document = (
        f'mutation {{ a: login(input: {{username: "{username}", password: "{WRONG}"}})'
        " { token userErrors { code } }"
        f' b: unlockUser(input: {{userId: "{to_global_id("StaffMember", user_id)}"}})'
        " { unlocked } }"
    )
    async with _client(lenient, _address()) as client:
        response = await client.post("/graphql", json={"query": document})
    assert response.status_code == 200, response.json()
    assert response.json()["data"] is None
    assert "UNAUTHENTICATED" in {e["extensions"]["code"] for e in response.json()["errors"]}
    assert await login_state(db, user_id) == (1, False)


# --- unlockUser -------------------------------------------------------------------------------


@pytest.fixture
async def district_account(db: asyncpg.Connection) -> AsyncIterator[Callable[..., Awaitable[int]]]:
    """`await district_account(role, school_name)`: a new account of the demo district."""
    made: list[int] = []

    async def make(role: str, school: str | None) -> int:
        user_id, _ = await create_user(db, role=None)
        district = await db.fetchval("SELECT district_id FROM app_user WHERE username = 'admin'")
        school_id = (
            await db.fetchval("SELECT id FROM school WHERE name = $1", school) if school else None
        )
        await db.execute("UPDATE app_user SET district_id = $2 WHERE id = $1", user_id, district)
        await db.execute(
            "INSERT INTO role_assignment (district_id, user_id, role, school_id)"
            " VALUES ($1, $2, $3, $4)",
            district,
            user_id,
            role,
            school_id,
        )
        made.append(user_id)
        return user_id

    yield make
    for user_id in made:
        await db.execute(
            "DELETE FROM audit_event WHERE target_type = 'User' AND target_id = $1", user_id
        )
        await delete_user(db, user_id)


async def _locked(db: asyncpg.Connection, user_id: int) -> None:
    await db.execute(
        "UPDATE app_user SET failed_logins = 10, lockouts = 3,"
        " lock_until = now() + interval '1 hour', locked_at = now() WHERE id = $1",
        user_id,
    )


async def test_an_administrator_unlocks_an_account_and_it_signs_in(
    gql, login, db, district_account
):
    user_id = await district_account("teacher", "Riverside High School")
    username = await db.fetchval("SELECT username FROM app_user WHERE id = $1", user_id)
    await _locked(db, user_id)
    assert (await login(username, STRONG_PASSWORD))["token"] is None
    unlocked = (
        await gql(UNLOCK, as_user="admin", variables={"id": to_global_id("StaffMember", user_id)})
    ).ok()["unlockUser"]
    assert unlocked == {
        "userId": to_global_id("StaffMember", user_id),
        "unlocked": True,
        "userErrors": [],
    }
    row = await db.fetchrow(
        "SELECT failed_logins, lockouts, lock_until, locked_at FROM app_user WHERE id = $1",
        user_id,
    )
    assert tuple(row) == (0, 0, None, None)
    event = await db.fetchrow(
        "SELECT e.action, e.details, u.username FROM audit_event e"
        " JOIN app_user u ON u.id = e.actor_user_id"
        " WHERE e.target_type = 'User' AND e.target_id = $1",
        user_id,
    )
    assert (event["action"], event["username"]) == ("unlock_user", "admin")
    assert '"lockouts": 3' in event["details"]
    assert (await login(username, STRONG_PASSWORD))["token"]
    # Nothing left to undo: answered, and said.
    again = await gql(
        UNLOCK, as_user="admin", variables={"id": to_global_id("StaffMember", user_id)}
    )
    assert again.ok()["unlockUser"]["unlocked"] is False


async def test_unlocking_is_for_administrators_in_scope(gql, db, district_account):
    at_a = await district_account("teacher", "Riverside High School")
    at_b = await district_account("teacher", "Lakeview High School")
    district_wide = await district_account("coordinator", None)
    for user_id in (at_a, at_b, district_wide):
        await _locked(db, user_id)

    async def unlock(as_user: str, user_id: int) -> Any:
        return await gql(
            UNLOCK, as_user=as_user, variables={"id": to_global_id("StaffMember", user_id)}
        )

    refused = await unlock("teacher", at_a)
    assert [e["extensions"]["code"] for e in refused.errors] == ["FORBIDDEN"]
    assert await login_state(db, at_a) == (10, True)
    # A principal: their school's accounts, not the other high school's, nor district-wide ones.
    assert (await unlock("principal", at_a)).ok()["unlockUser"]["unlocked"] is True
    for user_id in (at_b, district_wide):
        response = await unlock("principal", user_id)
        assert [e["extensions"]["code"] for e in response.errors] == ["FORBIDDEN"]
        assert await login_state(db, user_id) == (10, True)
    # An account of another district does not exist for this one.
    other, _ = await create_user(db)
    try:
        missing = (await unlock("admin", other)).ok()["unlockUser"]
        assert [e["code"] for e in missing["userErrors"]] == ["NOT_FOUND"]
    finally:
        await delete_user(db, other)
    assert (await unlock("admin", district_wide)).ok()["unlockUser"]["unlocked"] is True


# --- Per address ------------------------------------------------------------------------------


async def test_an_address_that_fails_too_often_is_refused_without_locking_anyone(
    database_url, db, login
):
    accounts = [await create_user(db) for _ in range(4)]
    sprayer, neighbour = _address(), _address()
    try:
        async with _app(database_url, address_failure_limit=6) as strict:
            # Six failures from one address, across several accounts.
            for _, username in accounts[:3]:
                await _fail(login, username, 2, address=sprayer, app=strict)
            refused = await login(accounts[3][1], STRONG_PASSWORD, address=sprayer, app=strict)
            assert refused["_status"] == 429
            [error] = refused["_errors"]
            assert error["extensions"]["code"] == "RATE_LIMITED"
            assert 0 < error["extensions"]["retryAfter"] <= SETTINGS.address_failure_window_seconds
            assert "address" in error["message"]
            # Its further guesses reach no account: nobody is locked, no count rises.
            for user_id, username in accounts[:3]:
                again = await login(username, WRONG, address=sprayer, app=strict)
                assert again["_status"] == 429
                assert await login_state(db, user_id) == (2, False)
            # Another address is not held back by it.
            signed_in = await login(accounts[3][1], STRONG_PASSWORD, address=neighbour, app=strict)
            assert signed_in["token"]
            # When its failures leave the window, the address may try again.
            await db.execute(
                "UPDATE login_failure SET at = at - interval '1 day' WHERE address = $1", sprayer
            )
            back = await login(accounts[3][1], STRONG_PASSWORD, address=sprayer, app=strict)
            assert back["token"]
    finally:
        for user_id, _ in accounts:
            await delete_user(db, user_id)


async def test_every_refused_attempt_is_a_failure_of_its_address(login, db, account):
    _, username = account
    address = _address()
    await login(f"nobody-{uuid.uuid4().hex}", WRONG, address=address)
    await login(username, WRONG, address=address)
    await login(username, STRONG_PASSWORD, address=address)
    assert await db.fetchval("SELECT count(*) FROM login_failure WHERE address = $1", address) == 2


# --- Production -------------------------------------------------------------------------------


async def test_production_refuses_the_demo_accounts_seeded_in_development(database_url, db, login):
    last_event = await db.fetchval("SELECT coalesce(max(id), 0) FROM activity_event")
    signed_in = await db.fetchval("SELECT last_sign_in_at FROM app_user WHERE username = 'teacher'")
    try:
        async with _app(database_url, environment="production") as production:
            refused = await login("teacher", DEMO_PASSWORD, app=production)
            wrong = await login("teacher", WRONG, app=production)
            assert refused["token"] is None
            assert refused["userErrors"] == wrong["userErrors"]
            assert [e["code"] for e in refused["userErrors"]] == ["LOGIN_FAILED"]
            # Not counted on the account: production cannot be locked out of nothing.
            assert (
                await db.fetchval("SELECT failed_logins FROM app_user WHERE username = 'teacher'")
                == 0
            )
        # Control: the same database in development lets the demo account in.
        assert (await login("teacher", DEMO_PASSWORD))["token"]
    finally:
        await db.execute(
            "DELETE FROM activity_event WHERE id > $1 AND user_id ="
            " (SELECT id FROM app_user WHERE username = 'teacher')",
            last_event,
        )
        await db.execute(
            "UPDATE app_user SET last_sign_in_at = $1 WHERE username = 'teacher'", signed_in
        )
