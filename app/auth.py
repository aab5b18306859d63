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
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache

import jwt
import jwt.types
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.config import Settings

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


# --- Passwords --------------------------------------------------------------------------------

MIN_PASSWORD_LENGTH = 12


def password_problems(password: str) -> list[str]:
    """What a new password lacks; an empty list means it is acceptable."""
    problems = []
    if len(password) < MIN_PASSWORD_LENGTH:
        problems.append(f"must be at least {MIN_PASSWORD_LENGTH} characters long")
    classes = [r"[a-z]", r"[A-Z]", r"[0-9]", r"[^a-zA-Z0-9]"]
    if sum(bool(re.search(c, password)) for c in classes) < 3:
        problems.append(
            "must mix at least three of: lower-case letters, upper-case letters, digits, symbols"
        )
    return problems


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


# --- Tokens -----------------------------------------------------------------------------------


def issue_token(user_id: int, settings: Settings, *, ttl: timedelta | None = None) -> str:
    now = datetime.now(UTC)
    claims = {
        "sub": str(user_id),
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "iat": now,
        "exp": now + (ttl or timedelta(seconds=settings.token_ttl_seconds)),
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, settings.jwt_secret, algorithm=LOCAL_ALGORITHM)


@lru_cache(maxsize=4)
def _jwks_client(url: str) -> jwt.PyJWKClient:
    return jwt.PyJWKClient(url, cache_keys=True, lifespan=300)


# Ids are PostgreSQL bigints: a `sub` outside their range names no one (and must not reach SQL).
_MAX_ID = 2**63 - 1


def _user_id(sub: object) -> int:
    if not isinstance(sub, str) or not sub.isascii() or not sub.isdigit():
        raise ValueError("the subject is not a user id")
    user_id = int(sub)
    if not 0 < user_id <= _MAX_ID:
        raise ValueError("the subject is not a user id")
    return user_id


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
            return TokenSubject(user_id=_user_id(claims["sub"]), external_subject=None)
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
            return TokenSubject(user_id=None, external_subject=str(claims["sub"]))
    except jwt.ExpiredSignatureError as exc:
        raise InvalidToken("token has expired") from exc
    except (jwt.PyJWTError, ValueError) as exc:
        raise InvalidToken("token signature or claims are invalid") from exc
    raise InvalidToken(f"token algorithm {algorithm!r} is not accepted")


# --- Login ------------------------------------------------------------------------------------


async def login(
    connection: AsyncConnection, username: str, password: str, settings: Settings
) -> int:
    """Check credentials and return the user id; count failures and lock at the threshold.

    The same message answers an unknown user, a wrong password and a locked account, so the
    response does not reveal which usernames exist.
    """
    row = (
        await connection.execute(
            text(
                "SELECT id, district_id, password_hash, locked_at, is_active"
                " FROM app_user WHERE username = :username FOR UPDATE"
            ),
            {"username": username},
        )
    ).first()
    if row is None:
        verify_password(None, password)
        raise LoginFailed("invalid username or password, or the account is locked")
    ok = verify_password(row.password_hash, password)
    if row.locked_at is not None or not row.is_active:
        raise LoginFailed("invalid username or password, or the account is locked")
    if not ok:
        await connection.execute(
            text(
                "UPDATE app_user SET failed_logins = failed_logins + 1,"
                " locked_at = CASE WHEN failed_logins + 1 >= :threshold THEN now() END"
                " WHERE id = :id"
            ),
            {"id": row.id, "threshold": settings.lockout_threshold},
        )
        raise LoginFailed("invalid username or password, or the account is locked")
    await connection.execute(
        text("UPDATE app_user SET failed_logins = 0 WHERE id = :id"), {"id": row.id}
    )
    await connection.execute(
        text(
            "INSERT INTO activity_event (district_id, user_id, student_id, school_id, kind)"
            " SELECT u.district_id, u.id, s.id, s.school_id, 'login'"
            " FROM app_user u LEFT JOIN student s ON s.user_id = u.id WHERE u.id = :id"
        ),
        {"id": row.id},
    )
    return int(row.id)
