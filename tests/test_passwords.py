"""Passwords over HTTP and the command line: `changePassword`, reset and invitation tokens,
hashes upgraded at sign-in, `schoolgraph create-admin`, and production's one-line refusal to
start without its settings."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from argon2 import PasswordHasher

from app import migrate
from app.asgi import create_app
from app.auth import issue_token, needs_rehash, verify_password
from app.config import get_settings
from app.database import asyncpg_dsn, setup_roles, with_database
from app.encryption import forget_keyring
from app.roles import APP_ROLE, OWNER_ROLE, with_user
from app.seed import DEMO_PASSWORD
from schema.relay import to_global_id
from tests.factories import STRONG_PASSWORD, create_user

SCHOOLGRAPH = Path(sys.executable).with_name("schoolgraph")
NEW_PASSWORD = "Maple-Canoe-Thunder-1987"

CHANGE = """
mutation ($current: String!, $new: String!) {
  changePassword(input: {currentPassword: $current, newPassword: $new}) {
    changed userErrors { message code field }
  }
}
"""
ISSUE = """
mutation ($user: ID!, $purpose: PasswordTokenPurpose!) {
  issuePasswordReset(input: {userId: $user, purpose: $purpose}) {
    userId purpose token expiresAt userErrors { message code field }
  }
}
"""
REDEEM = """
mutation ($token: String!, $password: String!) {
  redeemPasswordToken(input: {token: $token, newPassword: $password}) {
    username userErrors { message code field }
  }
}
"""
LOGIN = """
mutation ($username: String!, $password: String!) {
  login(input: {username: $username, password: $password}) { token userErrors { code } }
}
"""


async def _post(
    client: httpx.AsyncClient, query: str, variables: dict[str, Any], token: str | None = None
) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = await client.post(
        "/graphql", json={"query": query, "variables": variables}, headers=headers
    )
    return dict(response.json())


def _staff_id(user_id: int) -> str:
    return str(to_global_id("StaffMember", user_id))


async def _login(client: httpx.AsyncClient, username: str, password: str) -> str | None:
    body = await _post(client, LOGIN, {"username": username, "password": password})
    token = body["data"]["login"]["token"]
    return str(token) if token else None


# --- changePassword -------------------------------------------------------------------------


@pytest.fixture
async def account(db: asyncpg.Connection) -> AsyncIterator[tuple[int, str, str]]:
    """A fresh account of the second district: (id, username, bearer token)."""
    user_id, username = await create_user(db)
    yield user_id, username, issue_token(user_id, get_settings())
    await db.execute("UPDATE app_user SET is_active = false WHERE id = $1", user_id)


@pytest.mark.parametrize(
    ("new", "reason"),
    [
        ("password123", "too easy to guess"),  # common, and short
        ("password1234", "very common password"),
        ("iloveyou12345", "too easy to guess"),
        ("Sh0rt-pw!", "at least 12 characters"),
        (DEMO_PASSWORD, "published demo password"),
    ],
)
async def test_change_password_refuses_weak_passwords(client, db, account, new, reason):
    user_id, _, token = account
    before = await db.fetchval("SELECT password_hash FROM app_user WHERE id = $1", user_id)
    body = await _post(client, CHANGE, {"current": STRONG_PASSWORD, "new": new}, token)
    payload = body["data"]["changePassword"]
    assert payload["changed"] is False
    [error] = payload["userErrors"]
    assert error["code"] == "WEAK_PASSWORD" and error["field"] == ["newPassword"]
    assert reason in error["message"]
    assert await db.fetchval("SELECT password_hash FROM app_user WHERE id = $1", user_id) == before


async def test_change_password_refuses_password123_for_a_demo_account(gql, db):
    before = await db.fetchval("SELECT password_hash FROM app_user WHERE username = 'teacher'")
    response = await gql(
        CHANGE, as_user="teacher", variables={"current": DEMO_PASSWORD, "new": "password123"}
    )
    payload = response.ok()["changePassword"]
    assert [e["code"] for e in payload["userErrors"]] == ["WEAK_PASSWORD"]
    assert "at least 12 characters" in payload["userErrors"][0]["message"]
    after = await db.fetchval("SELECT password_hash FROM app_user WHERE username = 'teacher'")
    assert after == before


async def test_change_password_refuses_the_accounts_own_words(client, account):
    _, username, token = account
    body = await _post(
        client, CHANGE, {"current": STRONG_PASSWORD, "new": f"{username}-Canoe-77"}, token
    )
    [error] = body["data"]["changePassword"]["userErrors"]
    assert error["code"] == "WEAK_PASSWORD"
    assert "username, name or email" in error["message"]


async def test_change_password_refuses_a_wrong_current_password(client, db, account):
    user_id, _, token = account
    body = await _post(client, CHANGE, {"current": "not-the-password", "new": NEW_PASSWORD}, token)
    [error] = body["data"]["changePassword"]["userErrors"]
    assert error == {
        "message": "the current password is wrong",
        "code": "WRONG_PASSWORD",
        "field": ["currentPassword"],
    }
    changed = await db.fetchval("SELECT password_changed_at FROM app_user WHERE id = $1", user_id)
    assert changed is None


async def test_change_password_accepts_a_strong_one_and_audits_no_password(client, db, account):
    user_id, username, token = account
    body = await _post(client, CHANGE, {"current": STRONG_PASSWORD, "new": NEW_PASSWORD}, token)
    assert body["data"]["changePassword"] == {"changed": True, "userErrors": []}
    row = await db.fetchrow(
        "SELECT password_hash, password_changed_at FROM app_user WHERE id = $1", user_id
    )
    assert row["password_changed_at"] is not None
    assert verify_password(row["password_hash"], NEW_PASSWORD)
    assert await _login(client, username, NEW_PASSWORD)
    assert await _login(client, username, STRONG_PASSWORD) is None
    events = await db.fetch(
        "SELECT actor_user_id, details::text AS details FROM audit_event"
        " WHERE action = 'password.change' AND target_id = $1",
        user_id,
    )
    assert [e["actor_user_id"] for e in events] == [user_id]
    assert NEW_PASSWORD not in events[0]["details"] and STRONG_PASSWORD not in events[0]["details"]


async def test_change_password_needs_a_signed_in_account(client):
    body = await _post(client, CHANGE, {"current": STRONG_PASSWORD, "new": NEW_PASSWORD})
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


# --- reset and invitation tokens ------------------------------------------------------------


async def _school_of(db: asyncpg.Connection, username: str) -> int:
    return int(
        await db.fetchval(
            "SELECT ra.school_id FROM role_assignment ra JOIN app_user u ON u.id = ra.user_id"
            " WHERE u.username = $1 AND ra.school_id IS NOT NULL LIMIT 1",
            username,
        )
    )


async def _other_high_school(db: asyncpg.Connection, school_id: int) -> int:
    return int(
        await db.fetchval(
            "SELECT id FROM school WHERE level = 'high' AND id <> $1 AND district_id ="
            " (SELECT district_id FROM school WHERE id = $1) ORDER BY id LIMIT 1",
            school_id,
        )
    )


async def _demo_district_user(
    db: asyncpg.Connection, school_id: int, *, password: str | None = STRONG_PASSWORD
) -> tuple[int, str]:
    """A support account of the demo district at `school_id` (deactivated after the test)."""
    from app.auth import hash_password

    username = f"pw-{uuid.uuid4().hex[:12]}"
    user_id = await db.fetchval(
        "INSERT INTO app_user (district_id, username, first_name, last_name, password_hash)"
        " SELECT district_id, $1, 'Pat', 'Quill', $2 FROM school WHERE id = $3 RETURNING id",
        username,
        hash_password(password) if password else None,
        school_id,
    )
    await db.execute(
        "INSERT INTO role_assignment (district_id, user_id, role, school_id)"
        " SELECT district_id, $1, 'support', id FROM school WHERE id = $2",
        user_id,
        school_id,
    )
    return int(user_id), username


@pytest.fixture
async def cleanup(db: asyncpg.Connection) -> AsyncIterator[list[int]]:
    """Accounts to take out of the shared district after the test (their audit stays)."""
    made: list[int] = []
    yield made
    for user_id in made:
        await db.execute("DELETE FROM role_assignment WHERE user_id = $1", user_id)
        await db.execute("UPDATE app_user SET is_active = false WHERE id = $1", user_id)


async def test_a_principal_resets_a_password_at_their_school(gql, client, db, cleanup):
    school = await _school_of(db, "principal")
    user_id, username = await _demo_district_user(db, school)
    cleanup.append(user_id)
    issued = await gql(
        ISSUE, as_user="principal", variables={"user": _staff_id(user_id), "purpose": "RESET"}
    )
    payload = issued.ok()["issuePasswordReset"]
    assert payload["userErrors"] == [] and payload["purpose"] == "RESET"
    token = payload["token"]
    assert len(token) >= 40
    stored = await db.fetch(
        "SELECT token_hash, purpose, expires_at - created_at AS lifetime FROM password_token"
        " WHERE user_id = $1",
        user_id,
    )
    # Only the SHA-256 is kept; a reset lives a day.
    assert [r["token_hash"] for r in stored] == [hashlib.sha256(token.encode()).hexdigest()]
    assert stored[0]["purpose"] == "reset" and stored[0]["lifetime"].total_seconds() == 86400

    weak = await _post(client, REDEEM, {"token": token, "password": "password123"})
    [error] = weak["data"]["redeemPasswordToken"]["userErrors"]
    assert error["code"] == "WEAK_PASSWORD" and error["field"] == ["newPassword"]

    # The weak attempt left the token usable; anonymous, no bearer token.
    redeemed = await _post(client, REDEEM, {"token": token, "password": NEW_PASSWORD})
    assert redeemed["data"]["redeemPasswordToken"] == {"username": username, "userErrors": []}
    assert await _login(client, username, NEW_PASSWORD)
    assert await _login(client, username, STRONG_PASSWORD) is None

    again = await _post(client, REDEEM, {"token": token, "password": "Another-Fine-Phrase-42"})
    [error] = again["data"]["redeemPasswordToken"]["userErrors"]
    assert error["code"] == "INVALID_TOKEN"
    assert await _login(client, username, NEW_PASSWORD)

    actions = await db.fetch(
        "SELECT action, actor_user_id, details::text AS details FROM audit_event"
        " WHERE target_type = 'user' AND target_id = $1 ORDER BY id",
        user_id,
    )
    principal = await db.fetchval("SELECT id FROM app_user WHERE username = 'principal'")
    assert [(a["action"], a["actor_user_id"]) for a in actions] == [
        ("password.reset.issue", principal),
        ("password.reset.redeem", user_id),
    ]
    assert all(token not in a["details"] and NEW_PASSWORD not in a["details"] for a in actions)


async def test_a_new_token_voids_the_earlier_one_and_an_expired_one_is_refused(
    gql, client, db, cleanup
):
    school = await _school_of(db, "principal")
    user_id, _ = await _demo_district_user(db, school)
    cleanup.append(user_id)
    variables = {"user": _staff_id(user_id), "purpose": "RESET"}
    first = (await gql(ISSUE, as_user="admin", variables=variables)).ok()["issuePasswordReset"]
    second = (await gql(ISSUE, as_user="admin", variables=variables)).ok()["issuePasswordReset"]
    voided = await _post(client, REDEEM, {"token": first["token"], "password": NEW_PASSWORD})
    assert voided["data"]["redeemPasswordToken"]["userErrors"][0]["code"] == "INVALID_TOKEN"
    await db.execute(
        "UPDATE password_token SET expires_at = now() - interval '1 second' WHERE token_hash = $1",
        hashlib.sha256(second["token"].encode()).hexdigest(),
    )
    expired = await _post(client, REDEEM, {"token": second["token"], "password": NEW_PASSWORD})
    assert expired["data"]["redeemPasswordToken"]["userErrors"][0]["code"] == "INVALID_TOKEN"
    unknown = await _post(client, REDEEM, {"token": "x" * 43, "password": NEW_PASSWORD})
    assert unknown["data"]["redeemPasswordToken"]["userErrors"][0]["code"] == "INVALID_TOKEN"
    assert verify_password(
        await db.fetchval("SELECT password_hash FROM app_user WHERE id = $1", user_id),
        STRONG_PASSWORD,
    )


async def test_an_imported_account_without_a_password_is_invited(gql, client, db, cleanup):
    school = await _school_of(db, "principal")
    user_id, username = await _demo_district_user(db, school, password=None)
    cleanup.append(user_id)
    assert await _login(client, username, NEW_PASSWORD) is None
    issued = await gql(
        ISSUE, as_user="admin", variables={"user": _staff_id(user_id), "purpose": "INVITATION"}
    )
    payload = issued.ok()["issuePasswordReset"]
    assert payload["purpose"] == "INVITATION"
    lifetime = await db.fetchval(
        "SELECT expires_at - created_at FROM password_token WHERE user_id = $1", user_id
    )
    assert lifetime.days == 14
    redeemed = await _post(client, REDEEM, {"token": payload["token"], "password": NEW_PASSWORD})
    assert redeemed["data"]["redeemPasswordToken"]["username"] == username
    assert await _login(client, username, NEW_PASSWORD)


async def test_only_admins_of_every_school_of_the_account_issue_tokens(gql, db, cleanup):
    school = await _school_of(db, "principal")
    other = await _other_high_school(db, school)
    elsewhere, _ = await _demo_district_user(db, other)
    cleanup.append(elsewhere)
    admin_id = await db.fetchval("SELECT id FROM app_user WHERE username = 'admin'")
    refusals = [
        ("principal", elsewhere),  # the other high school
        ("principal", admin_id),  # a district administrator
        ("teacher", elsewhere),  # not an administrator
        ("coordinator", elsewhere),
    ]
    for username, target in refusals:
        response = await gql(
            ISSUE, as_user=username, variables={"user": _staff_id(target), "purpose": "RESET"}
        )
        assert [e["extensions"]["code"] for e in response.errors] == ["FORBIDDEN"], (
            username,
            response.body,
        )
    assert (
        await db.fetchval("SELECT count(*) FROM password_token WHERE user_id = $1", elsewhere) == 0
    )
    assert (
        await db.fetchval("SELECT count(*) FROM password_token WHERE user_id = $1", admin_id) == 0
    )
    # The district administrator may; an account of another district is no one's here.
    allowed = await gql(
        ISSUE, as_user="admin", variables={"user": _staff_id(elsewhere), "purpose": "RESET"}
    )
    assert allowed.ok()["issuePasswordReset"]["token"]
    stranger, _ = await create_user(db)
    foreign = await gql(
        ISSUE, as_user="admin", variables={"user": _staff_id(stranger), "purpose": "RESET"}
    )
    assert foreign.ok()["issuePasswordReset"]["userErrors"][0]["code"] == "NOT_FOUND"


async def test_issuing_needs_a_signed_in_account(client):
    body = await _post(client, ISSUE, {"user": _staff_id(1), "purpose": "RESET"})
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


# --- hashes upgraded at sign-in -------------------------------------------------------------


async def test_a_hash_with_older_parameters_is_upgraded_at_sign_in(client, db):
    user_id, username = await create_user(db)
    weak = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1).hash(STRONG_PASSWORD)
    await db.execute("UPDATE app_user SET password_hash = $2 WHERE id = $1", user_id, weak)
    assert needs_rehash(weak)
    assert await _login(client, username, STRONG_PASSWORD)
    upgraded = await db.fetchval("SELECT password_hash FROM app_user WHERE id = $1", user_id)
    assert upgraded != weak and not needs_rehash(upgraded)
    assert verify_password(upgraded, STRONG_PASSWORD)
    # A failed sign-in upgrades nothing; an up-to-date hash is left as it is.
    assert await _login(client, username, STRONG_PASSWORD)
    assert (
        await db.fetchval("SELECT password_hash FROM app_user WHERE id = $1", user_id) == upgraded
    )
    await db.execute("UPDATE app_user SET password_hash = $2 WHERE id = $1", user_id, weak)
    assert await _login(client, username, "wrong-password-here") is None
    assert await db.fetchval("SELECT password_hash FROM app_user WHERE id = $1", user_id) == weak
    await db.execute("UPDATE app_user SET is_active = false WHERE id = $1", user_id)


# --- schoolgraph create-admin ---------------------------------------------------------------


@pytest.fixture
async def empty_database(admin_database_url: str) -> AsyncIterator[str]:
    """A new database, migrated and empty; its superuser URL."""
    name = f"sg_admin_{uuid.uuid4().hex[:10]}"
    server = asyncpg_dsn(with_database(admin_database_url, "postgres"))
    connection = await asyncpg.connect(server)
    await connection.execute(f'CREATE DATABASE "{name}"')
    await connection.close()
    url = with_database(admin_database_url, name)
    try:
        await setup_roles(url)
        import asyncio

        await asyncio.to_thread(migrate.upgrade, with_user(url, OWNER_ROLE))
        yield url
    finally:
        connection = await asyncpg.connect(server)
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await connection.close()


def _cli(
    url: str, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environment = {
        **os.environ,
        "DATABASE_URL": with_user(url, APP_ROLE),
        "SCHOOLGRAPH_MIGRATE_URL": with_user(url, OWNER_ROLE),
        "COLUMNS": "200",
        "NO_COLOR": "1",
        **(env or {}),
    }
    return subprocess.run(  # noqa: S603 (our own executable, fixed arguments)
        [str(SCHOOLGRAPH), *args],
        env=environment,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_create_admin_makes_the_first_administrator_of_an_empty_database(empty_database):
    args = ("create-admin", "--district", "Lakeview Unified", "--username", "lk-admin")
    made = _cli(empty_database, *args, "--email", "it@lakeview.example", "--first", "Robin")
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip().splitlines()[-1]
    assert "made district 'Lakeview Unified'" in made.stdout and "invitation" in made.stdout
    connection = await asyncpg.connect(asyncpg_dsn(empty_database))
    try:
        row = await connection.fetchrow(
            "SELECT u.id, u.password_hash, u.email, d.name, ra.role, ra.school_id"
            " FROM app_user u JOIN district d ON d.id = u.district_id"
            " JOIN role_assignment ra ON ra.user_id = u.id WHERE u.username = 'lk-admin'"
        )
        assert row["name"] == "Lakeview Unified" and row["role"] == "district_admin"
        assert row["school_id"] is None and row["password_hash"] is None
        assert b"lakeview" not in bytes(row["email"])  # encrypted at rest
        stored = await connection.fetchval(
            "SELECT token_hash FROM password_token WHERE user_id = $1 AND purpose = 'invitation'",
            row["id"],
        )
        assert stored == hashlib.sha256(token.encode()).hexdigest()
        audit = await connection.fetch(
            "SELECT action, details FROM audit_event WHERE target_id = $1 ORDER BY id", row["id"]
        )
        assert [a["action"] for a in audit] == ["user.create_admin", "password.invitation.issue"]
        assert token not in json.dumps([a["details"] for a in audit])
    finally:
        await connection.close()

    again = _cli(empty_database, *args)
    assert again.returncode == 1 and "taken" in again.stdout

    # The invitation works over HTTP: the new administrator sets a password and signs in.
    application = create_app(database_url=with_user(empty_database, APP_ROLE))
    try:
        async with application.router.lifespan_context(application):
            transport = httpx.ASGITransport(app=application)
            async with httpx.AsyncClient(transport=transport, base_url="http://sg.test") as client:
                body = await _post(client, REDEEM, {"token": token, "password": NEW_PASSWORD})
                assert body["data"]["redeemPasswordToken"]["username"] == "lk-admin"
                assert await _login(client, "lk-admin", NEW_PASSWORD)
    finally:
        # This process cached that database's data keys: the shared test database has its own.
        forget_keyring()


# --- production start-up --------------------------------------------------------------------


@pytest.mark.parametrize("command", [("migrate",), ("serve",), ("create-admin", "--district", "x")])
def test_production_without_a_setting_says_so_in_one_line(tmp_path, command):
    keys = {
        "SCHOOLGRAPH_JWT_SECRET": "j" * 48,
        "SCHOOLGRAPH_ENCRYPTION_KEY": "",
        "SCHOOLGRAPH_AUDIT_KEY": "a" * 64,
    }
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("SCHOOLGRAPH_") and k != "DATABASE_URL"
    }
    env = base | keys | {"SCHOOLGRAPH_ENV": "production", "SCHOOLGRAPH_HOME": str(tmp_path)}
    env.pop("SCHOOLGRAPH_ENCRYPTION_KEY")
    result = subprocess.run(  # noqa: S603
        [str(SCHOOLGRAPH), *command], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr + result.stdout
    assert result.stderr.splitlines() == [
        "error: SCHOOLGRAPH_ENCRYPTION_KEY (or SCHOOLGRAPH_ENCRYPTION_KEY_FILE) must be set in"
        " production (docs/deployment.md)"
    ]
    # With every key but no database: the embedded server is not for production.
    env["SCHOOLGRAPH_ENCRYPTION_KEY"] = "A" * 43 + "="
    result = subprocess.run(  # noqa: S603
        [str(SCHOOLGRAPH), *command], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "error: DATABASE_URL must be set in production (docs/deployment.md)"
    ]
    assert not (tmp_path / "pgdata").exists() and not (tmp_path / "jwt-secret").exists()


async def test_a_students_own_account_is_named_by_the_student_id(gql, db):
    school = await _school_of(db, "principal")
    other = await _other_high_school(db, school)
    rows = {
        at: await db.fetchrow(
            "SELECT id, user_id FROM student WHERE school_id = $1 AND user_id IS NOT NULL"
            " ORDER BY id LIMIT 1",
            at,
        )
        for at in (school, other)
    }
    try:
        ours = await gql(
            ISSUE,
            as_user="principal",
            variables={"user": to_global_id("Student", rows[school]["id"]), "purpose": "RESET"},
        )
        assert ours.ok()["issuePasswordReset"]["token"]
        stored = await db.fetchval(
            "SELECT count(*) FROM password_token WHERE user_id = $1", rows[school]["user_id"]
        )
        assert stored == 1
        theirs = await gql(
            ISSUE,
            as_user="principal",
            variables={"user": to_global_id("Student", rows[other]["id"]), "purpose": "RESET"},
        )
        assert [e["extensions"]["code"] for e in theirs.errors] == ["FORBIDDEN"]
    finally:
        await db.execute(
            "DELETE FROM password_token WHERE user_id = ANY($1::bigint[])",
            [r["user_id"] for r in rows.values()],
        )
