"""The second factor (docs/login-protection.md): TOTP enrolment, sign-in with a code, replays
refused, a district that requires it of administrators and coordinators, an administrator's
reset."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import httpx
import pyotp
import pytest
from starlette.applications import Starlette

from schema.relay import to_global_id
from tests.factories import STRONG_PASSWORD, create_user, delete_user, login_state
from tests.test_encryption import plain

LOGIN = """mutation ($u: String!, $p: String!, $otp: String) {
  login(input: {username: $u, password: $p, otp: $otp}) {
    token totpEnrollment { secret otpauthUri } userErrors { code field } } }"""
BEGIN = """mutation ($p: String!) { beginTotpEnrollment(input: {password: $p}) {
  secret otpauthUri userErrors { code } } }"""
CONFIRM = """mutation ($c: String!) { confirmTotpEnrollment(input: {code: $c}) {
  totpEnabled userErrors { code field } } }"""
DISABLE = """mutation ($c: String!) { disableTotp(input: {code: $c}) {
  totpEnabled userErrors { code } } }"""
RESET = """mutation ($id: ID!) { resetTotp(input: {userId: $id}) {
  totpEnabled userErrors { code } } }"""
DISTRICT = "{ viewer { district { requireMfa } } }"
REQUIRE = """mutation ($on: Boolean!) { updateDistrictSettings(input: {requireMfa: $on}) {
  district { requireMfa } userErrors { code } } }"""


def _code(secret: str, steps: int = 0) -> str:
    """The code `steps` time steps from now."""
    return pyotp.TOTP(secret).at(int(time.time()) + 30 * steps)


Login = Callable[..., Awaitable[dict[str, Any]]]


@pytest.fixture
async def login(app: Starlette) -> Login:
    async def run(username: str, password: str, otp: str | None = None) -> dict[str, Any]:
        n = uuid.uuid4().int  # an address of its own: the per-address rule stays out of the way
        transport = httpx.ASGITransport(app=app, client=(f"203.0.{n % 250}.{n % 249 + 1}", 1))
        async with httpx.AsyncClient(transport=transport, base_url="http://t.test") as client:
            response = await client.post(
                "/graphql",
                json={"query": LOGIN, "variables": {"u": username, "p": password, "otp": otp}},
            )
        return dict(response.json()["data"]["login"])

    return run


def _codes(payload: dict[str, Any]) -> list[str]:
    return [e["code"] for e in payload["userErrors"]]


@pytest.fixture
async def staff(db: asyncpg.Connection) -> AsyncIterator[Callable[[str], Awaitable[str]]]:
    """`await staff(role)`: a new account of the demo district with a district-wide role."""
    made: list[int] = []

    async def make(role: str) -> str:
        user_id, username = await create_user(db, role=None)
        district = await db.fetchval("SELECT district_id FROM app_user WHERE username = 'admin'")
        await db.execute("UPDATE app_user SET district_id = $2 WHERE id = $1", user_id, district)
        await db.execute(
            "INSERT INTO role_assignment (district_id, user_id, role) VALUES ($1, $2, $3)",
            district,
            user_id,
            role,
        )
        made.append(user_id)
        return username

    yield make
    for user_id in made:
        await db.execute("DELETE FROM audit_event WHERE actor_user_id = $1", user_id)
        await db.execute(
            "DELETE FROM audit_event WHERE target_type = 'User' AND target_id = $1", user_id
        )
        await delete_user(db, user_id)


async def _enrol(gql, username: str) -> tuple[str, str]:
    """Enrol `username`; returns the secret and the code the enrolment used (a replay after)."""
    begun = (await gql(BEGIN, as_user=username, variables={"p": STRONG_PASSWORD})).ok()
    secret = begun["beginTotpEnrollment"]["secret"]
    assert begun["beginTotpEnrollment"]["otpauthUri"].startswith("otpauth://totp/")
    used = _code(secret)
    confirmed = await gql(CONFIRM, as_user=username, variables={"c": used})
    assert confirmed.ok()["confirmTotpEnrollment"] == {"totpEnabled": True, "userErrors": []}
    return str(secret), used


async def test_enrolment_then_sign_in_with_a_code_used_once(gql, db, login, staff):
    username = await staff("teacher")
    user_id = await db.fetchval("SELECT id FROM app_user WHERE username = $1", username)
    wrong_password = await gql(
        BEGIN, as_user=username, variables={"p": "not-it-" + STRONG_PASSWORD}
    )
    assert wrong_password.ok()["beginTotpEnrollment"]["userErrors"] == [{"code": "WRONG_PASSWORD"}]
    begun = (await gql(BEGIN, as_user=username, variables={"p": STRONG_PASSWORD})).ok()
    secret = begun["beginTotpEnrollment"]["secret"]
    assert f"secret={secret}" in begun["beginTotpEnrollment"]["otpauthUri"]
    # Stored encrypted, not yet in force: sign-in still needs only the password.
    stored = bytes(await db.fetchval("SELECT totp_secret FROM app_user WHERE id = $1", user_id))
    assert secret.encode() not in stored
    assert (await login(username, STRONG_PASSWORD))["token"]
    wrong = await gql(CONFIRM, as_user=username, variables={"c": "000000"})
    assert _codes(wrong.ok()["confirmTotpEnrollment"]) == ["WRONG_CODE"]
    # The code, kept: computed again later it would belong to the next time step if the clock
    # crossed one meanwhile, and be no replay.
    used = _code(secret)
    ok = await gql(CONFIRM, as_user=username, variables={"c": used})
    assert ok.ok()["confirmTotpEnrollment"]["totpEnabled"] is True
    # Enabled: the password alone asks for a code, and is not a failure.
    asked = await login(username, STRONG_PASSWORD)
    assert asked["token"] is None and _codes(asked) == ["MFA_REQUIRED"]
    assert asked["userErrors"][0]["field"] == ["otp"]
    assert await login_state(db, user_id) == (0, False)
    # The code already used to confirm is a replay; a wrong one fails like a wrong password.
    replayed = await login(username, STRONG_PASSWORD, used)
    assert _codes(replayed) == ["LOGIN_FAILED"]
    assert _codes(await login(username, STRONG_PASSWORD, "123456")) == ["LOGIN_FAILED"]
    assert await login_state(db, user_id) == (2, False)
    # The next step's code (a clock a little ahead) works, once.
    following = _code(secret, 1)
    assert (await login(username, STRONG_PASSWORD, following))["token"]
    assert _codes(await login(username, STRONG_PASSWORD, following)) == ["LOGIN_FAILED"]
    # A right code with a wrong password is no sign-in.
    assert _codes(await login(username, "Wrong-password-9", _code(secret, 1))) == ["LOGIN_FAILED"]
    actions = await db.fetch(
        "SELECT action FROM audit_event WHERE target_type = 'User' AND target_id = $1 ORDER BY id",
        user_id,
    )
    assert [a["action"] for a in actions] == ["begin_totp_enrollment", "confirm_totp_enrollment"]


async def test_disabling_needs_a_fresh_code(gql, db, login, staff):
    username = await staff("teacher")
    secret, used = await _enrol(gql, username)
    assert await db.fetchval(
        "SELECT totp_enabled_at IS NOT NULL FROM app_user WHERE username = $1", username
    )
    refused = await gql(DISABLE, as_user=username, variables={"c": used})  # a replay
    assert _codes(refused.ok()["disableTotp"]) == ["WRONG_CODE"]
    disabled = await gql(DISABLE, as_user=username, variables={"c": _code(secret, 1)})
    assert disabled.ok()["disableTotp"] == {"totpEnabled": False, "userErrors": []}
    assert (await login(username, STRONG_PASSWORD))["token"]
    assert (
        await db.fetchval("SELECT totp_secret FROM app_user WHERE username = $1", username) is None
    )


async def test_an_administrator_resets_a_lost_second_factor(gql, db, login, staff):
    username = await staff("teacher")
    await _enrol(gql, username)
    user = to_global_id(
        "StaffMember", await db.fetchval("SELECT id FROM app_user WHERE username = $1", username)
    )
    refused = await gql(RESET, as_user="teacher", variables={"id": user})
    assert [e["extensions"]["code"] for e in refused.errors] == ["FORBIDDEN"]
    reset = await gql(RESET, as_user="admin", variables={"id": user})
    assert reset.ok()["resetTotp"] == {"totpEnabled": False, "userErrors": []}
    assert (await login(username, STRONG_PASSWORD))["token"]


@pytest.fixture
async def mfa_required(gql) -> AsyncIterator[None]:
    """The demo district requires a second factor (set by its administrator), for one test."""
    on = await gql(REQUIRE, as_user="admin", variables={"on": True})
    assert on.ok()["updateDistrictSettings"]["district"] == {"requireMfa": True}
    try:
        yield
    finally:
        off = await gql(REQUIRE, as_user="admin", variables={"on": False})
        assert off.ok()["updateDistrictSettings"]["district"] == {"requireMfa": False}


async def test_a_district_that_requires_it_enrols_its_coordinators_at_sign_in(
    gql, db, login, staff, mfa_required
):
    coordinator = await staff("coordinator")
    teacher = await staff("teacher")
    # A teacher's role is not asked for a code.
    assert (await login(teacher, STRONG_PASSWORD))["token"]
    # A coordinator without a second factor gets a secret to enrol instead of a token.
    first = await login(coordinator, STRONG_PASSWORD)
    assert first["token"] is None and _codes(first) == ["MFA_ENROLLMENT_REQUIRED"]
    secret = first["totpEnrollment"]["secret"]
    assert first["totpEnrollment"]["otpauthUri"].startswith("otpauth://totp/")
    # The wrong password never reveals a secret.
    wrong = await login(coordinator, "Wrong-password-9")
    assert _codes(wrong) == ["LOGIN_FAILED"] and wrong["totpEnrollment"] is None
    # Signing in with a code of that secret enables it.
    enrolled = await login(coordinator, STRONG_PASSWORD, _code(secret))
    assert enrolled["token"] and enrolled["userErrors"] == []
    assert _codes(await login(coordinator, STRONG_PASSWORD)) == ["MFA_REQUIRED"]
    assert (await login(coordinator, STRONG_PASSWORD, _code(secret, 1)))["token"]
    # While the district requires it, the coordinator cannot turn it off.
    kept = await gql(DISABLE, as_user=coordinator, variables={"c": _code(secret, -1)})
    assert _codes(kept.ok()["disableTotp"]) == ["MFA_REQUIRED"]


async def test_only_the_district_administrator_changes_require_mfa(gql):
    refused = await gql(REQUIRE, as_user="principal", variables={"on": True})
    assert [e["extensions"]["code"] for e in refused.errors] == ["FORBIDDEN"]
    shown = await gql(DISTRICT, as_user="admin")
    assert shown.ok()["viewer"]["district"]["requireMfa"] is False
    hidden = await gql(DISTRICT, as_user="principal")
    assert hidden.data["viewer"]["district"]["requireMfa"] is None


async def test_the_stored_secret_decrypts_to_the_one_handed_out(gql, db, staff):
    username = await staff("teacher")
    begun = (await gql(BEGIN, as_user=username, variables={"p": STRONG_PASSWORD})).ok()
    row = await db.fetchrow("SELECT id, totp_secret FROM app_user WHERE username = $1", username)
    secret = begun["beginTotpEnrollment"]["secret"]
    assert await plain(db, "app_user", "totp_secret", row["id"]) == secret
