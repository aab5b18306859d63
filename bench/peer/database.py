"""The peer's own copy of the benchmark's database, and the tokens it accepts.

`prepare(template_url)` copies the template (SchoolGraph's copy stays untouched), then, as the
superuser: makes schema `peer` with a table `students` holding what the peer serves — the
students' ids, school, district, names and email in plain text — and loads `rls.sql` (roles,
the helpers over SchoolGraph's relationship tables, the policy, the grants).

Why a plain-text table: SchoolGraph stores email encrypted at rest (docs/encryption.md) and
decrypts it for every request that shows it. PostGraphile has no way to decrypt, so the set-up
does it once, here, with SchoolGraph's keyring. The peer is spared that work on every request;
the comparison counts it against SchoolGraph.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import jwt

from app.database import asyncpg_dsn
from app.encryption import KEYS_SQL, Keyring, MasterKey, data_keys
from bench import database

RLS_SQL = Path(__file__).with_name("rls.sql")
JWT_SECRET = "peer-bench-jwt-secret-0123456789abcdef"  # noqa: S105 (a loopback benchmark's)
AUTHENTICATOR = ("peer_authenticator", "peer")  # the only role PostGraphile connects as

_TABLE = """
CREATE SCHEMA peer;
CREATE TABLE peer.students (
  id          bigint PRIMARY KEY,
  district_id bigint NOT NULL,
  school_id   bigint NOT NULL,
  first_name  text NOT NULL,
  last_name   text NOT NULL,
  email       text
);
"""
_INDEXES = """
CREATE INDEX ON peer.students (district_id);
CREATE INDEX ON peer.students (school_id);
ANALYZE peer.students;
"""


def authenticator_url(url: str) -> str:
    """`url` (a superuser's) logging in as the authenticator: never a superuser or the table's
    owner, which would bypass row-level security."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    user, password = AUTHENTICATOR
    return urlunsplit(parts._replace(netloc=f"{user}:{password}@{host}"))


async def _load(url: str) -> int:
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        ring = Keyring.unwrap(
            MasterKey.from_settings(), data_keys(await connection.fetch(KEYS_SQL))
        )
        rows = await connection.fetch(
            "SELECT id, district_id, school_id, first_name, last_name, email FROM student"
        )
        plain = [(*r[:5], ring.decrypt("student", "email", r["id"], r["email"])) for r in rows]
        async with connection.transaction():
            await connection.execute(_TABLE)
            await connection.copy_records_to_table(
                "students",
                schema_name="peer",
                records=plain,
                columns=["id", "district_id", "school_id", "first_name", "last_name", "email"],
            )
            await connection.execute(_INDEXES)
            await connection.execute(RLS_SQL.read_text())
        return len(plain)
    finally:
        await connection.close()


def prepare(template_url: str) -> str:
    """A copy of the template set up for the peer; returns its superuser URL (drop it with
    `bench.database.drop_database`)."""
    started = time.perf_counter()
    url = database.copy_database(template_url, suffix="peer")
    try:
        count = asyncio.run(_load(url))
    except BaseException:
        database.drop_database(url)
        raise
    print(
        f"peer database: {count:,} students copied, email decrypted, row-level security in"
        f" {time.perf_counter() - started:.1f} s",
        flush=True,
    )
    return url


def token(user_id: int, *, hours: float = 6.0) -> str:
    """A token PostGraphile accepts for SchoolGraph's account `user_id` (the peer's claims)."""
    claims = {
        "role": "peer_user",
        "user_id": user_id,
        "aud": "postgraphile",
        "exp": int(time.time() + hours * 3600),
    }
    return jwt.encode(claims, JWT_SECRET, algorithm="HS256")
