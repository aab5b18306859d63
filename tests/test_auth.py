"""Authentication over HTTP: bearer tokens (local HS256 and an identity provider's JWKS), the
`login` mutation with its lockout, and the password rules."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json
import threading
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import asyncpg
import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from app.asgi import create_app
from app.auth import hash_password, issue_token, verify_password
from app.config import get_settings
from app.passwords.rules import password_problems
from tests.factories import DEMO_PASSWORD, STRONG_PASSWORD, create_user, delete_user, login_state

SETTINGS = get_settings()
VIEWER = "{ viewer { username } }"
STUDENTS = "{ students(first: 1) { edges { node { id } } } }"
LOGIN = """
mutation ($username: String!, $password: String!) {
  login(input: {username: $username, password: $password}) {
    token expiresAt userErrors { message code field }
  }
}
"""


async def _ask(client: httpx.AsyncClient, query: str, token: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return await client.post("/graphql", json={"query": query}, headers=headers)


async def _login(client: httpx.AsyncClient, username: str, password: str) -> dict[str, Any]:
    response = await client.post(
        "/graphql",
        json={"query": LOGIN, "variables": {"username": username, "password": password}},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    return dict(body["data"]["login"])


def _claims(subject: str, /, **overrides: Any) -> dict[str, Any]:
    """Claims the server accepts for `subject`; an override of None leaves the claim out."""
    now = datetime.now(UTC)
    claims: dict[str, Any] = {
        "sub": subject,
        "iss": SETTINGS.jwt_issuer,
        "aud": SETTINGS.jwt_audience,
        "iat": now,
        "exp": now + timedelta(minutes=5),
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unsigned(header: dict[str, Any], claims: dict[str, Any]) -> str:
    payload = {k: int(v.timestamp()) if isinstance(v, datetime) else v for k, v in claims.items()}
    return _b64(json.dumps(header).encode()) + "." + _b64(json.dumps(payload).encode())


@pytest.fixture
async def accounts(
    db: asyncpg.Connection,
) -> AsyncIterator[Callable[..., Awaitable[tuple[int, str]]]]:
    """`await accounts(...)`: `(id, username)` of a fresh account, deleted after the test."""
    made: list[int] = []

    async def make(**options: Any) -> tuple[int, str]:
        user_id, username = await create_user(db, **options)
        made.append(user_id)
        return user_id, username

    yield make
    for user_id in made:
        await delete_user(db, user_id)


# --- Local (HS256) tokens -------------------------------------------------------------------


async def _admin_id(db: asyncpg.Connection) -> int:
    return int(await db.fetchval("SELECT id FROM app_user WHERE username = 'admin'"))


async def test_valid_token_is_accepted(client, db):
    response = await _ask(client, VIEWER, issue_token(await _admin_id(db), SETTINGS))
    assert response.status_code == 200
    assert response.json()["data"] == {"viewer": {"username": "admin"}}


async def _assert_unauthenticated(response: httpx.Response, message: str) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"].startswith("Bearer")
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
    assert message in error["message"]
    assert "data" not in response.json() or response.json()["data"] is None


async def test_expired_token_is_401(client, db):
    token = issue_token(await _admin_id(db), SETTINGS, ttl=timedelta(seconds=-30))
    await _assert_unauthenticated(await _ask(client, VIEWER, token), "token has expired")


async def test_token_signed_with_another_secret_is_401(client, db):
    claims = _claims(str(await _admin_id(db)))
    token = jwt.encode(claims, "not-the-server-secret-" + "x" * 40, algorithm="HS256")
    await _assert_unauthenticated(await _ask(client, VIEWER, token), "signature")


async def test_token_with_a_changed_subject_is_401(client, db):
    header, _, signature = issue_token(await _admin_id(db), SETTINGS).split(".")
    forged = _unsigned({"alg": "HS256", "typ": "JWT"}, _claims("1")).split(".")[1]
    token = f"{header}.{forged}.{signature}"
    await _assert_unauthenticated(await _ask(client, VIEWER, token), "signature")


async def test_alg_none_token_is_401(client, db):
    token = _unsigned({"alg": "none", "typ": "JWT"}, _claims(str(await _admin_id(db)))) + "."
    await _assert_unauthenticated(await _ask(client, VIEWER, token), "'none' is not accepted")


@pytest.mark.parametrize(
    "overrides",
    [
        {"iss": "someone-else"},
        {"aud": "another-api"},
        {"exp": None},
        {"sub": None},
        {"sub": "admin"},
        {"nbf": datetime.now(UTC) + timedelta(hours=1)},
    ],
    ids=["issuer", "audience", "no-exp", "no-sub", "non-numeric-sub", "not-yet-valid"],
)
async def test_token_with_wrong_claims_is_401(client, db, overrides):
    claims = _claims(str(await _admin_id(db)), **overrides)
    token = jwt.encode(claims, SETTINGS.jwt_secret, algorithm="HS256")
    await _assert_unauthenticated(await _ask(client, VIEWER, token), "invalid")


async def test_token_living_longer_than_the_cap_is_401(client, db):
    # Validly signed, but a century long: a stolen copy would never stop working.
    now = datetime.now(UTC)
    claims = _claims(str(await _admin_id(db)), exp=now + timedelta(days=36_500))
    token = jwt.encode(claims, SETTINGS.jwt_secret, algorithm="HS256")
    await _assert_unauthenticated(await _ask(client, VIEWER, token), "lifetime exceeds")
    # At the cap it is still accepted.
    at_cap = _claims(
        str(await _admin_id(db)), exp=now + timedelta(seconds=SETTINGS.max_token_ttl_seconds)
    )
    response = await _ask(client, VIEWER, jwt.encode(at_cap, SETTINGS.jwt_secret, "HS256"))
    assert response.json()["data"] == {"viewer": {"username": "admin"}}


def test_tokens_longer_than_the_cap_are_not_issued():
    with pytest.raises(ValueError, match="at most"):
        issue_token(1, SETTINGS, ttl=timedelta(seconds=SETTINGS.max_token_ttl_seconds + 1))


async def test_garbage_token_and_other_schemes_are_401(client):
    await _assert_unauthenticated(await _ask(client, VIEWER, "not.a.jwt"), "malformed")
    basic = await client.post(
        "/graphql", json={"query": VIEWER}, headers={"Authorization": "Basic YWRtaW46eA=="}
    )
    await _assert_unauthenticated(basic, "Bearer <token>")


async def test_rs256_token_without_a_configured_jwks_is_401(client):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = jwt.encode(_claims("anyone"), key, algorithm="RS256", headers={"kid": "k1"})
    await _assert_unauthenticated(await _ask(client, VIEWER, token), "not accepted")


async def test_token_of_unknown_locked_or_inactive_account_reads_nothing(client, accounts):
    locked_id, _ = await accounts(locked=True, role="district_admin")
    inactive_id, _ = await accounts(active=False, role="district_admin")
    for user_id in (2**40, locked_id, inactive_id):
        token = issue_token(user_id, SETTINGS)
        viewer = await _ask(client, VIEWER, token)
        assert viewer.status_code == 200
        assert viewer.json()["data"] == {"viewer": None}
        students = await _ask(client, STUDENTS, token)
        assert students.status_code == 200
        assert students.json()["data"] is None
        assert students.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


# --- An identity provider's tokens, verified against its JWKS -------------------------------


@dataclasses.dataclass
class IdentityProvider:
    url: str
    rsa_key: rsa.RSAPrivateKey
    ec_key: ec.EllipticCurvePrivateKey

    def token(
        self,
        sub: str,
        *,
        algorithm: str = "RS256",
        kid: str | None = None,
        key: Any = None,
        **claims: Any,
    ) -> str:
        if key is None:
            key = self.rsa_key if algorithm == "RS256" else self.ec_key
        kid = kid or ("rsa-1" if algorithm == "RS256" else "ec-1")
        return jwt.encode(_claims(sub, **claims), key, algorithm=algorithm, headers={"kid": kid})


class _JWKSHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps(self.server.jwks).encode()  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # quiet test output
        pass


@pytest.fixture(scope="module")
def identity_provider() -> Iterator[IdentityProvider]:
    """A real HTTP server on 127.0.0.1 publishing an RSA and an EC public key as a JWKS."""
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    rsa_jwk = RSAAlgorithm.to_jwk(rsa_key.public_key(), as_dict=True)
    ec_jwk = ECAlgorithm.to_jwk(ec_key.public_key(), as_dict=True)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _JWKSHandler)
    server.jwks = {  # type: ignore[attr-defined]
        "keys": [
            {**rsa_jwk, "kid": "rsa-1", "use": "sig", "alg": "RS256"},
            {**ec_jwk, "kid": "ec-1", "use": "sig", "alg": "ES256"},
        ]
    }
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        yield IdentityProvider(f"http://{host!s}:{port}/jwks.json", rsa_key, ec_key)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture(scope="module")
async def idp_client(
    database_url: str, identity_provider: IdentityProvider
) -> AsyncIterator[httpx.AsyncClient]:
    """A server configured with `SCHOOLGRAPH_JWKS_URL` pointing at the identity provider (one
    for the module: building an app compiles the policy, which takes seconds)."""
    settings = dataclasses.replace(SETTINGS, jwks_url=identity_provider.url)
    application = create_app(settings, database_url=database_url)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://schoolgraph.test") as c:
            yield c


@pytest.mark.parametrize("algorithm", ["RS256", "ES256"])
async def test_identity_provider_token_is_accepted(
    idp_client, identity_provider, accounts, algorithm
):
    subject = f"idp|{uuid.uuid4().hex}"
    _, username = await accounts(external_subject=subject, password=None)
    response = await _ask(idp_client, VIEWER, identity_provider.token(subject, algorithm=algorithm))
    assert response.status_code == 200, response.text
    assert response.json()["data"] == {"viewer": {"username": username}}


async def test_identity_provider_token_for_an_unknown_subject_reads_nothing(
    idp_client, identity_provider
):
    response = await _ask(idp_client, VIEWER, identity_provider.token(f"idp|{uuid.uuid4().hex}"))
    assert response.status_code == 200
    assert response.json()["data"] == {"viewer": None}


async def test_token_signed_by_a_key_not_in_the_jwks_is_401(
    idp_client, identity_provider, accounts
):
    subject = f"idp|{uuid.uuid4().hex}"
    await accounts(external_subject=subject, password=None)
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    # Same key id as the provider's key, different key: the signature must not verify.
    same_kid = identity_provider.token(subject, key=stranger)
    await _assert_unauthenticated(await _ask(idp_client, VIEWER, same_kid), "invalid")
    unknown_kid = identity_provider.token(subject, key=stranger, kid="rsa-unknown")
    await _assert_unauthenticated(await _ask(idp_client, VIEWER, unknown_kid), "invalid")


async def test_identity_provider_token_living_longer_than_the_cap_is_401(
    idp_client, identity_provider, accounts
):
    subject = f"idp|{uuid.uuid4().hex}"
    await accounts(external_subject=subject, password=None)
    token = identity_provider.token(subject, exp=datetime.now(UTC) + timedelta(days=36_500))
    await _assert_unauthenticated(await _ask(idp_client, VIEWER, token), "lifetime exceeds")


async def test_hs256_token_keyed_with_the_public_key_is_401(
    idp_client, identity_provider, accounts
):
    # Algorithm confusion: an HMAC "signed" with the provider's public key must not pass.
    subject = f"idp|{uuid.uuid4().hex}"
    await accounts(external_subject=subject, password=None)
    public_pem = identity_provider.rsa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    signing_input = _unsigned({"alg": "HS256", "typ": "JWT", "kid": "rsa-1"}, _claims(subject))
    signature = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    token = f"{signing_input}.{_b64(signature)}"
    await _assert_unauthenticated(await _ask(idp_client, VIEWER, token), "invalid")


# --- The login mutation ---------------------------------------------------------------------


async def test_demo_login_returns_a_token_that_works(client, db):
    # `support` reads no student; its login leaves an activity event, removed after.
    last_event = await db.fetchval("SELECT coalesce(max(id), 0) FROM activity_event")
    try:
        payload = await _login(client, "support", DEMO_PASSWORD)
        assert payload["userErrors"] == []
        assert payload["token"]
        expires = datetime.fromisoformat(payload["expiresAt"])
        assert (
            timedelta(0)
            < expires - datetime.now(UTC)
            <= timedelta(seconds=SETTINGS.token_ttl_seconds)
        )
        response = await _ask(client, VIEWER, payload["token"])
        assert response.json()["data"] == {"viewer": {"username": "support"}}
        events = await db.fetch(
            "SELECT u.username, e.kind FROM activity_event e JOIN app_user u ON u.id = e.user_id"
            " WHERE e.id > $1",
            last_event,
        )
        assert [(e["username"], e["kind"]) for e in events] == [("support", "login")]
    finally:
        await db.execute(
            "DELETE FROM activity_event WHERE id > $1 AND user_id ="
            " (SELECT id FROM app_user WHERE username = 'support')",
            last_event,
        )


async def test_wrong_password_does_not_say_whether_the_user_exists(client, db, accounts):
    user_id, username = await accounts()
    wrong = await _login(client, username, STRONG_PASSWORD + "-not")
    unknown = await _login(client, f"nobody-{uuid.uuid4().hex}", STRONG_PASSWORD)
    assert wrong["token"] is None and unknown["token"] is None
    assert wrong["userErrors"] == unknown["userErrors"]
    [error] = wrong["userErrors"]
    assert error["code"] == "LOGIN_FAILED"
    assert username not in error["message"]
    assert await login_state(db, user_id) == (1, False)


async def test_success_resets_the_failure_count(client, db, accounts):
    user_id, username = await accounts()
    for _ in range(SETTINGS.lockout_threshold - 1):
        assert (await _login(client, username, "Wrong-password-9"))["token"] is None
    assert await login_state(db, user_id) == (SETTINGS.lockout_threshold - 1, False)
    assert (await _login(client, username, STRONG_PASSWORD))["token"]
    assert await login_state(db, user_id) == (0, False)


async def test_account_locks_after_too_many_failures(client, db, accounts):
    user_id, username = await accounts()
    token = (await _login(client, username, STRONG_PASSWORD))["token"]
    assert (await _ask(client, VIEWER, token)).json()["data"] == {"viewer": {"username": username}}
    for attempt in range(1, SETTINGS.lockout_threshold + 1):
        assert (await _login(client, username, "Wrong-password-9"))["token"] is None
        assert await login_state(db, user_id) == (attempt, attempt >= SETTINGS.lockout_threshold)
    # Locked: even the right password fails, with the same answer as a wrong one.
    refused = await _login(client, username, STRONG_PASSWORD)
    assert refused["token"] is None
    assert [e["code"] for e in refused["userErrors"]] == ["LOGIN_FAILED"]
    assert await login_state(db, user_id) == (SETTINGS.lockout_threshold, True)
    # The lock stops sign-ins only: anyone can cause one, so it does not end the owner's work.
    assert (await _ask(client, VIEWER, token)).json()["data"] == {"viewer": {"username": username}}


async def test_login_input_must_be_complete(client):
    response = await client.post(
        "/graphql",
        json={"query": LOGIN, "variables": {"username": "admin"}},
        headers={"Accept": "application/graphql-response+json"},
    )
    assert response.status_code == 400
    assert "data" not in response.json()
    assert "$password" in response.json()["errors"][0]["message"]


# --- Passwords ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "password",
    [STRONG_PASSWORD, "lowercase-and-1234", "UPPER lower words x", "correcthorsebatterystaple"],
)
def test_acceptable_passwords(password):
    assert password_problems(password) == []


@pytest.mark.parametrize(
    ("password", "problem"),
    [
        ("Sh0rt-pw", "at least 12 characters"),
        ("", "at least 12 characters"),
        ("password123", "at least 12 characters"),
        ("password1234", "very common password"),
        ("123456789012345", "too easy to guess"),
        ("qwertyuiop123", "too easy to guess"),
        (DEMO_PASSWORD, "published demo password"),
        ("x" * 300, "at most 256 characters"),
    ],
)
def test_weak_passwords_are_explained(password, problem):
    problems = password_problems(password)
    assert any(problem in p for p in problems), problems


def test_password_hashes_are_argon2id_and_verify():
    hashed = hash_password(STRONG_PASSWORD)
    assert hashed.startswith("$argon2id$")
    assert STRONG_PASSWORD not in hashed
    assert hashed != hash_password(STRONG_PASSWORD)  # salted
    assert verify_password(hashed, STRONG_PASSWORD)
    assert not verify_password(hashed, STRONG_PASSWORD + "x")
    assert not verify_password(None, STRONG_PASSWORD)
    assert not verify_password("not a hash", STRONG_PASSWORD)
