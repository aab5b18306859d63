"""Authentication: passwords, JWT bearer tokens, and the login flow with lockout.

Two kinds of token are accepted:
- HS256 tokens that SchoolGraph issues itself (`login`, `schoolgraph token`); `sub` is the user id.
- RS256/ES256 tokens from an external identity provider, verified against its JWKS
  (`SCHOOLGRAPH_JWKS_URL`); `sub` is matched to `app_user.external_subject`.

Anything else — `alg: none`, an algorithm the key type does not match, a bad signature, an expired
token, a wrong issuer or audience — is rejected with `InvalidToken`.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

import jwt
import jwt.types
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import text
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app import metrics
from app.config import Settings
from app.login_limits import client_key
from app.offload import WorkerPool
from app.passwords import rehash
from app.passwords.rules import MIN_PASSWORD_LENGTH as MIN_PASSWORD_LENGTH
from app.passwords.rules import password_problems as password_problems
from app.signin import demo, lockout, totp

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
# Verified when the username is unknown, so that a miss takes as long as a wrong password.
_DUMMY_HASH = _hasher.hash("an unknown user's password")

LOCAL_ALGORITHM = "HS256"
EXTERNAL_ALGORITHMS = ("RS256", "ES256")


class InvalidToken(Exception):
    """The bearer token cannot be trusted; the message is safe to show to the caller."""


class LoginFailed(Exception):
    """Wrong credentials or a locked account; the message is safe to show to the caller."""


@dataclass(frozen=True)
class TokenSubject:
    """Who a verified token speaks for: a local user id or an external subject."""

    user_id: int | None
    external_subject: str | None
    # The sign-in (`user_session.id`) a token issued by `login` names; None for an external
    # identity provider's token and for tokens issued without a session (docs/sessions.md).
    session_id: str | None = None


# --- Passwords --------------------------------------------------------------------------------
# What a new password must be (`password_problems`, kept importable from here), and setting one:
# app/passwords/.


def hash_password(password: str) -> str:
    """Blocks for about 0.1 s of CPU: in a request, use `hash_password_in(pool, ...)`."""
    return _hasher.hash(password)


def needs_rehash(password_hash: str) -> bool:
    """Was this hash made with other parameters than the ones hashes are made with now?"""
    try:
        return _hasher.check_needs_rehash(password_hash)
    except InvalidHashError:
        return False


def verify_password(password_hash: str | None, password: str) -> bool:
    """Blocks for about 0.1 s of CPU: in a request, use `verify_password_in(pool, ...)`."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


async def hash_password_in(pool: WorkerPool, password: str) -> str:
    """`hash_password` in one of the pool's threads (argon2 releases the GIL while it works)."""
    return await pool.run(hash_password, password)


async def verify_password_in(pool: WorkerPool, password_hash: str | None, password: str) -> bool:
    """`verify_password` in one of the pool's threads; raises `PoolBusy` when its queue is full."""
    result = await pool.run(verify_password, password_hash, password)
    metrics.add("schoolgraph_password_verifications_total")
    return result


# --- Tokens -----------------------------------------------------------------------------------


def token_lifetime(settings: Settings, ttl: timedelta | None = None) -> timedelta:
    """`ttl` (or the default lifetime), refused when longer than the longest one accepted."""
    lifetime = ttl or timedelta(seconds=settings.token_ttl_seconds)
    if lifetime.total_seconds() > settings.max_token_ttl_seconds:
        raise ValueError(
            f"a token lives at most {settings.max_token_ttl_seconds // 3600} hours"
            " (SCHOOLGRAPH_MAX_TOKEN_TTL)"
        )
    return lifetime


def issue_token(
    user_id: int,
    settings: Settings,
    *,
    ttl: timedelta | None = None,
    session_id: str | None = None,
    issued_at: datetime | None = None,
) -> str:
    """A signed token for `user_id`; `ttl` may not exceed the longest lifetime accepted.
    With `session_id`, the token names its sign-in (`sid`): revoking the session ends it."""
    lifetime = token_lifetime(settings, ttl)
    now = issued_at or datetime.now(UTC)
    claims: dict[str, object] = {
        "sub": str(user_id),
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "iat": now,
        "exp": now + lifetime,
        "jti": uuid.uuid4().hex,
    }
    if session_id is not None:
        claims["sid"] = session_id
    return jwt.encode(claims, settings.jwt_secret, algorithm=LOCAL_ALGORITHM)


@lru_cache(maxsize=4)
def _jwks_client(url: str) -> jwt.PyJWKClient:
    return jwt.PyJWKClient(url, cache_keys=True, lifespan=300)


def _check_lifetime(claims: dict[str, object], settings: Settings) -> None:
    """Refuse a token that claims to live longer than the deployment allows (a 100-year `exp`
    would outlive every revocation)."""
    issued, expires = claims["iat"], claims["exp"]
    if not isinstance(issued, int | float) or not isinstance(expires, int | float):
        raise InvalidToken("token signature or claims are invalid")
    if expires - issued > settings.max_token_ttl_seconds:
        raise InvalidToken(
            f"token lifetime exceeds {settings.max_token_ttl_seconds} seconds: sign in again"
        )


# Ids are PostgreSQL bigints: a `sub` outside their range names no one (and must not reach SQL).
_MAX_ID = 2**63 - 1


def _user_id(sub: object) -> int:
    if not isinstance(sub, str) or not sub.isascii() or not sub.isdigit():
        raise ValueError("the subject is not a user id")
    user_id = int(sub)
    if not 0 < user_id <= _MAX_ID:
        raise ValueError("the subject is not a user id")
    return user_id


# A session id is 43 URL-safe characters (`secrets.token_urlsafe(32)`); anything else names none.
_SESSION_ID = re.compile(r"[A-Za-z0-9_-]{16,64}")


def _session_id(sid: object) -> str | None:
    if sid is None:
        return None
    if not isinstance(sid, str) or not _SESSION_ID.fullmatch(sid):
        raise ValueError("the session id is malformed")
    return sid


def verify_token(token: str, settings: Settings) -> TokenSubject:
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise InvalidToken("malformed token") from exc
    algorithm = header.get("alg")
    options: jwt.types.Options = {"require": ["exp", "sub", "iat"]}
    try:
        if algorithm == LOCAL_ALGORITHM:
            claims = jwt.decode(
                token,
                settings.jwt_secret,
                algorithms=[LOCAL_ALGORITHM],
                issuer=settings.jwt_issuer,
                audience=settings.jwt_audience,
                options=options,
            )
            _check_lifetime(claims, settings)
            return TokenSubject(
                user_id=_user_id(claims["sub"]),
                external_subject=None,
                session_id=_session_id(claims.get("sid")),
            )
        if algorithm in EXTERNAL_ALGORITHMS and settings.jwks_url:
            key = _jwks_client(settings.jwks_url).get_signing_key_from_jwt(token)
            claims = jwt.decode(
                token,
                key.key,
                algorithms=[algorithm],
                issuer=settings.jwt_issuer,
                audience=settings.jwt_audience,
                options=options,
            )
            _check_lifetime(claims, settings)
            return TokenSubject(user_id=None, external_subject=str(claims["sub"]))
    except jwt.ExpiredSignatureError as exc:
        raise InvalidToken("token has expired") from exc
    except (jwt.PyJWTError, ValueError) as exc:
        raise InvalidToken("token signature or claims are invalid") from exc
    raise InvalidToken(f"token algorithm {algorithm!r} is not accepted")


# --- Login ------------------------------------------------------------------------------------

# The one answer to every refused sign-in: it says nothing of which usernames exist, which are
# locked, or which passwords were right.
LOGIN_FAILED = "invalid username or password, or the account is locked"


class AddressLocked(Exception):
    """Too many failed sign-ins from this client address; retry in `retry_after` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            f"too many failed sign-ins from this address; try again in {retry_after} s"
        )
        self.retry_after = retry_after


class SecondFactorNeeded(Exception):
    """The password was right, and a one-time code is needed: `MFA_REQUIRED` (give `otp`) or
    `MFA_ENROLLMENT_REQUIRED` (`enrollment` holds a new secret; sign in again with a code it
    makes, which enables it)."""

    def __init__(self, message: str, code: str, enrollment: totp.Enrollment | None = None):
        super().__init__(message)
        self.code = code
        self.enrollment = enrollment


async def login(
    request_db: Callable[[], AbstractAsyncContextManager[AsyncConnection]],
    username: str,
    password: str,
    settings: Settings,
    *,
    hashing: WorkerPool,
    accounts: AsyncEngine,
    address: str | None = None,
    otp: str | None = None,
) -> int:
    """Check credentials and return the user id (app/signin/lockout.py has the rules).

    1. Checks before the hash: an address over its failure limit is refused (`AddressLocked`).
    2. Verify the password (in `hashing`'s threads; a full queue raises `PoolBusy` first).
    3. Failure accounting: an unknown user, a wrong password, an inactive, locked or (in
       production) demo account, or a wrong code is counted on `accounts`, in a transaction of
       its own committed at once, and answers `LoginFailed` with the same message.
    4. Success: the counts reset; the sign-in is recorded on `request_db()` (the request's
       connection, opened only now: a login holds one connection at a time, none during the hash).
    """
    key = client_key(address)
    # 1. Checks.
    async with accounts.begin() as own:
        wait = await lockout.address_wait(own, key, settings)
        if wait:
            raise AddressLocked(wait)
        row = await lockout.account(own, username)
    # 2. Verify.
    ok = await verify_password_in(hashing, row.password_hash if row else None, password)
    refused = demo.refused(username, settings)
    if row is None or not ok or not lockout.may_sign_in(row) or refused:
        # 3. Failure accounting: only an account that may sign in has its count raised.
        admitted = row is not None and lockout.may_sign_in(row) and not refused
        async with accounts.begin() as own:
            await lockout.record_failure(own, key, row.id if row and admitted else None, settings)
        raise LoginFailed(LOGIN_FAILED)
    await _second_factor(accounts, row, otp, key, settings)
    # 4. Success.
    async with accounts.begin() as own:
        await lockout.record_success(own, row.id)
        await rehash.upgrade(own, hashing, row.id, row.password_hash, password)
    async with request_db() as connection:
        await connection.execute(
            text(
                "INSERT INTO activity_event (district_id, user_id, student_id, school_id, kind)"
                " SELECT u.district_id, u.id, s.id, s.school_id, 'login'"
                " FROM app_user u LEFT JOIN student s ON s.user_id = u.id WHERE u.id = :id"
            ),
            {"id": row.id},
        )
    return int(row.id)


async def _second_factor(
    accounts: AsyncEngine, row: Row[Any], otp: str | None, address: str, settings: Settings
) -> None:
    """After a right password: the code of an enabled second factor, or the enrolment a district
    requires. A wrong code counts as a failed attempt."""
    needed: SecondFactorNeeded | None = None
    accepted = False
    async with accounts.begin() as own:
        if not row.totp_enabled and not await totp.required(own, row.id):
            return
        if otp and row.totp_enabled:
            accepted = await _accepted(totp.check(own, row.id, otp))
        elif otp:
            accepted = await _accepted(totp.confirm(own, row.id, otp))
        elif row.totp_enabled:
            needed = SecondFactorNeeded("enter the code of your authenticator app", "MFA_REQUIRED")
        else:
            # Committed with this transaction: the secret waits for the code it makes.
            needed = SecondFactorNeeded(
                "your district requires a second factor: add this secret to an authenticator"
                " app and sign in again with the code it shows",
                "MFA_ENROLLMENT_REQUIRED",
                await totp.begin(own, row.id),
            )
    if needed is not None:
        raise needed
    if accepted:
        return
    async with accounts.begin() as own:
        await lockout.record_failure(own, address, row.id, settings)
    raise LoginFailed(LOGIN_FAILED)


async def _accepted(use: Awaitable[None]) -> bool:
    try:
        await use
    except totp.WrongCode:
        return False
    return True
