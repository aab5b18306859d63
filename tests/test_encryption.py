"""Encryption at rest (docs/encryption.md): what `psql` shows, what the API shows, keys.

The `db` fixture reads the tables as `psql` would; the API goes through the real HTTP layer.
"""

from __future__ import annotations

import asyncio
import logging
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from app import keys, migrate
from app.database import asyncpg_dsn, create_engine, with_database
from app.encryption import (
    ENCRYPTED,
    KEYS_SQL,
    DecryptionFailed,
    EncryptionError,
    Keyring,
    MasterKey,
    data_keys,
    load_keyring,
    new_master_key_text,
    parse_master_key,
)
from app.reports.catalogue import DIMENSIONS
from schema.relay import from_global_id, to_global_id
from tests.factories import STRONG_PASSWORD, create_user, delete_user
from tests.helpers import GraphQLResponse

Gql = Callable[..., Awaitable[GraphQLResponse]]

# As `admin`; the portfolios as `teacher` (administrators do not read portfolios).
EVERYTHING = """
{ students(first: 400) { edges { node { id email phone guardians { email phone }
    marks { comment } } } } }
"""
PORTFOLIOS = """
{ students(first: 400) { edges { node { id portfolio { headline items { id title body } } } } } }
"""


async def _everything(gql: Gql) -> list[dict[str, Any]]:
    """What admin and teacher read of every encrypted column, student by student."""
    admin = (await gql(EVERYTHING, as_user="admin")).ok()["students"]["edges"]
    teacher = (await gql(PORTFOLIOS, as_user="teacher")).ok()["students"]["edges"]
    portfolios = {e["node"]["id"]: e["node"]["portfolio"] for e in teacher}
    return [{**e["node"], "portfolio": portfolios.get(e["node"]["id"])} for e in admin]


async def stored_keyring(db: asyncpg.Connection) -> Keyring:
    """The test database's data keys, unwrapped with the configured master key."""
    return Keyring.unwrap(MasterKey.from_settings(), data_keys(await db.fetch(KEYS_SQL)))


async def plain(db: asyncpg.Connection, table: str, column: str, row_id: int) -> str | None:
    """The stored value of `table.column` in row `row_id`, decrypted."""
    blob = await db.fetchval(f"SELECT {column} FROM {table} WHERE id = $1", row_id)
    return (await stored_keyring(db)).decrypt(table, column, row_id, blob)


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


async def _data_request(gql: Gql, db: asyncpg.Connection) -> tuple[str, str]:
    """A data request filed and resolved through the API: (details, resolution)."""
    child = await db.fetchval(
        "SELECT gl.student_id FROM guardian_link gl JOIN app_user u ON u.id = gl.guardian_user_id"
        " WHERE u.username = 'guardian' ORDER BY gl.student_id LIMIT 1"
    )
    details, resolution = f"Records of {uuid.uuid4().hex}", f"Mailed {uuid.uuid4().hex}"
    filed = await gql(
        """mutation ($id: ID!, $d: String) { fileDataRequest(input: {studentId: $id,
           kind: INSPECT, details: $d}) { dataRequest { id details } } }""",
        as_user="guardian",
        variables={"id": to_global_id("Student", child), "d": details},
    )
    request = filed.ok()["fileDataRequest"]["dataRequest"]
    assert request["details"] == details
    done = await gql(
        """mutation ($id: ID!, $r: String!) { resolveDataRequest(input: {id: $id,
           status: COMPLETED, resolution: $r}) { dataRequest { resolution } } }""",
        as_user="principal",
        variables={"id": request["id"], "r": resolution},
    )
    assert done.ok()["resolveDataRequest"]["dataRequest"]["resolution"] == resolution
    # Completing an inspection stored its bundle (data_export.content, the zip in base64).
    stored = await db.fetchval(
        "SELECT x.content FROM data_export x JOIN data_request r ON r.id = x.data_request_id"
        " WHERE r.id = $1",
        from_global_id(request["id"], "DataRequest")[1],
    )
    assert stored is not None and len(stored) > 1000
    return details, resolution


AMEND = """mutation ($id: ID!, $changes: [ProposedChangeInput!]) { fileDataRequest(input: {
    studentId: $id, kind: AMEND, changes: $changes}) { dataRequest { id changes { value } } } }"""
RESOLVE = """mutation ($id: ID!, $status: DataRequestStatus!) { resolveDataRequest(input: {
    id: $id, status: $status, resolution: "Reviewed"}) { dataRequest { status } } }"""


async def _amendments(gql: Gql, db: asyncpg.Connection) -> list[str]:
    """Amendments filed, applied and undone, one denied and answered by a statement: the
    personal values they put in `data_request.changes`, `audit_change` and
    `student_statement`."""
    child = await db.fetchval(
        "SELECT gl.student_id FROM guardian_link gl JOIN app_user u ON u.id = gl.guardian_user_id"
        " WHERE u.username = 'guardian' ORDER BY gl.student_id LIMIT 1"
    )
    student = to_global_id("Student", child)
    was = (
        await gql(
            "query ($id: ID!) { student(id: $id) { phone } }",
            as_user="guardian",
            variables={"id": student},
        )
    ).ok()["student"]["phone"]
    digits = f"{uuid.uuid4().int % 10**4:04d}"
    applied, denied = f"+1 512 555 {digits}", f"+1 737 555 {digits}"
    body = f"The family's number is {denied}, statement {uuid.uuid4().hex}"
    for value, status in ((applied, "COMPLETED"), (was, "COMPLETED"), (denied, "DENIED")):
        filed = await gql(
            AMEND,
            as_user="guardian",
            variables={"id": student, "changes": [{"field": "PHONE", "value": value}]},
        )
        request = filed.ok()["fileDataRequest"]["dataRequest"]
        assert request["changes"] == [{"value": value}]
        done = await gql(
            RESOLVE, as_user="principal", variables={"id": request["id"], "status": status}
        )
        assert done.ok()["resolveDataRequest"]["dataRequest"]["status"] == status
    statement = await gql(
        """mutation ($id: ID!, $body: String!) { addStatement(input: {dataRequestId: $id,
           body: $body}) { statement { body } } }""",
        as_user="guardian",
        variables={"id": request["id"], "body": body},
    )
    assert statement.ok()["addStatement"]["statement"]["body"] == body
    return [applied, denied, body]


async def _second_factor(gql: Gql, db: asyncpg.Connection, username: str) -> str:
    """An account begins enrolling a second factor: the secret the API returns, once."""
    begun = await gql(
        "mutation ($p: String!) { beginTotpEnrollment(input: {password: $p})"
        " { secret otpauthUri userErrors { code } } }",
        as_user=username,
        variables={"p": STRONG_PASSWORD},
    )
    secret = str(begun.ok()["beginTotpEnrollment"]["secret"])
    assert len(secret) >= 16
    return secret


async def test_psql_shows_no_plaintext_of_what_the_api_returns(
    gql: Gql, db: asyncpg.Connection
) -> None:
    user_id, username = await create_user(db)
    try:
        await _everything_encrypted(gql, db, await _second_factor(gql, db, username))
    finally:
        await db.execute("DELETE FROM audit_event WHERE actor_user_id = $1", user_id)
        await delete_user(db, user_id)


async def _everything_encrypted(gql: Gql, db: asyncpg.Connection, totp_secret: str) -> None:
    students = await _everything(gql)
    # The API returns the plain text of every kind of encrypted value.
    assert any("@" in (s["email"] or "") for s in students)
    assert any(s["phone"] for s in students)
    assert any(g["email"] and g["phone"] for s in students for g in s["guardians"] or [])
    assert any(m["comment"] for s in students for m in s["marks"] or [])
    items = [i for s in students if s["portfolio"] for i in s["portfolio"]["items"]]
    assert any(i["title"] for i in items) and any(i["body"] for i in items)
    assert any(s["portfolio"] and s["portfolio"]["headline"] for s in students)
    details, resolution = await _data_request(gql, db)
    amended = await _amendments(gql, db)

    needles = {
        s.encode()
        for s in [*_strings(students), details, resolution, *amended, totp_secret]
        if len(s) >= 6 and not s.startswith(("U3R1", "UG9y"))  # global ids are not secret
    }
    needles.add(b"UEsDB")  # how a zip (PK\x03\x04) starts in base64: the bundle is encrypted
    assert len(needles) > 100
    for table, columns in ENCRYPTED.items():
        for column in columns:
            values = [
                bytes(v)
                for (v,) in await db.fetch(
                    f"SELECT {column} FROM {table} WHERE {column} IS NOT NULL"
                )
            ]
            assert values, f"{table}.{column} holds nothing to check"
            assert all(v[0] == 1 and len(v) >= 5 + 12 + 16 for v in values), (table, column)
            leaks = [n for n in needles for v in values if n in v]
            assert not leaks, (table, column, leaks[:3])


async def test_the_stored_value_decrypts_to_what_the_api_returns(
    gql: Gql, db: asyncpg.Connection
) -> None:
    row = await db.fetchrow(
        "SELECT id FROM student WHERE email IS NOT NULL AND phone IS NOT NULL ORDER BY id LIMIT 1"
    )
    node = (
        await gql(
            "query ($id: ID!) { node(id: $id) { ... on Student { email phone } } }",
            as_user="admin",
            variables={"id": to_global_id("Student", row["id"])},
        )
    ).ok()["node"]
    assert node["email"] == await plain(db, "student", "email", row["id"])
    assert node["phone"] == await plain(db, "student", "phone", row["id"])


async def test_a_value_moved_to_another_row_does_not_decrypt(
    gql: Gql, db: asyncpg.Connection, caplog: pytest.LogCaptureFixture
) -> None:
    rows = await db.fetch(
        "SELECT id, email FROM student WHERE email IS NOT NULL ORDER BY id LIMIT 2"
    )
    (a, a_email), (b, b_email) = rows
    ring = await stored_keyring(db)
    secret = ring.decrypt("student", "email", a, a_email)
    with pytest.raises(DecryptionFailed):
        ring.decrypt("student", "email", b, a_email)
    with pytest.raises(DecryptionFailed):
        ring.decrypt("student", "phone", a, a_email)  # nor to another column

    await db.execute("UPDATE student SET email = $2 WHERE id = $1", b, a_email)
    try:
        with caplog.at_level(logging.ERROR):
            response = await gql(
                "query ($id: ID!) { node(id: $id) { ... on Student { email } } }",
                as_user="admin",
                variables={"id": to_global_id("Student", b)},
            )
    finally:
        await db.execute("UPDATE student SET email = $2 WHERE id = $1", b, b_email)
    assert secret and secret not in str(response.body)
    assert [e["extensions"]["code"] for e in response.errors] == ["INTERNAL_SERVER_ERROR"]
    assert "decryption failed" in caplog.text and f"row {b}" in caplog.text
    assert secret not in caplog.text


async def test_a_tampered_value_is_a_masked_error(
    gql: Gql, db: asyncpg.Connection, caplog: pytest.LogCaptureFixture
) -> None:
    portfolios = (await gql(PORTFOLIOS, as_user="teacher")).ok()["students"]["edges"]
    item_id = next(
        from_global_id(i["id"], "PortfolioItem")[1]
        for e in portfolios
        if e["node"]["portfolio"]
        for i in e["node"]["portfolio"]["items"]
        if i["body"]
    )
    row = await db.fetchrow(
        "SELECT id, student_id, body FROM portfolio_item WHERE id = $1", item_id
    )
    flipped = bytearray(row["body"])
    flipped[-1] ^= 1
    await db.execute("UPDATE portfolio_item SET body = $2 WHERE id = $1", row["id"], flipped)
    try:
        with caplog.at_level(logging.ERROR):
            response = await gql(
                "query ($id: ID!) { node(id: $id) { ... on Student { portfolio { items { body } }"
                " } } }",
                as_user="teacher",
                variables={"id": to_global_id("Student", row["student_id"])},
            )
    finally:
        await db.execute(
            "UPDATE portfolio_item SET body = $2 WHERE id = $1", row["id"], row["body"]
        )
    assert [e["extensions"]["code"] for e in response.errors] == ["INTERNAL_SERVER_ERROR"]
    assert f"portfolio_item.body of row {row['id']} does not decrypt" in caplog.text


async def test_a_wrong_master_key_fails_clearly(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            with pytest.raises(EncryptionError, match="is not the one that wrapped data key"):
                await load_keyring(connection, MasterKey(os.urandom(32)))
    finally:
        await engine.dispose()
    with pytest.raises(EncryptionError, match="32 random bytes"):
        parse_master_key("c2hvcnQ=", "SCHOOLGRAPH_ENCRYPTION_KEY")
    with pytest.raises(EncryptionError, match="not base64"):
        parse_master_key("!!!", "SCHOOLGRAPH_ENCRYPTION_KEY")


@pytest.fixture
async def engine(owner_database_url: str) -> AsyncIterator[AsyncEngine]:
    """As the owner: data keys are made, rotated and retired by `schoolgraph keys` as the owner
    (the server's role may only read them)."""
    engine = create_engine(owner_database_url)
    try:
        yield engine
    finally:
        await engine.dispose()


async def _under(db: asyncpg.Connection) -> dict[int, int]:
    """How many stored values each data key holds."""
    counts: dict[int, int] = {}
    for table, columns in ENCRYPTED.items():
        for column in columns:
            for (blob,) in await db.fetch(
                f"SELECT {column} FROM {table} WHERE {column} IS NOT NULL"
            ):
                key_id = int.from_bytes(bytes(blob)[1:5], "big")
                counts[key_id] = counts.get(key_id, 0) + 1
    return counts


async def test_rotation_re_encrypts_everything_in_resumable_batches(
    gql: Gql, db: asyncpg.Connection, engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = await _everything(gql)
    old = await _under(db)
    total = sum(old.values())
    monkeypatch.setattr(keys, "BATCH", 50)

    # A rotation interrupted after a few batches: values under two keys, and reads go on.
    class Interrupted(Exception):
        pass

    seen: list[tuple[str, int]] = []

    def stop_soon(table: str, done: int, _values: int) -> None:
        seen.append((table, done))
        if done >= 150:
            raise Interrupted

    with pytest.raises(Interrupted):
        await keys.rotate(engine, progress=stop_soon)
    new = max(s.id for s in await keys.status(engine))
    mixed = await _under(db)
    assert 150 <= mixed.get(new, 0) < total and sum(mixed.values()) == total
    assert await _everything(gql) == before

    key_id, changed = await keys.rotate(engine, resume=True)
    assert key_id == new and changed == total - mixed[new]
    assert await _under(db) == {new: total}
    assert await _everything(gql) == before

    retired = await keys.retire(engine)
    assert retired and new not in retired and set(old) <= set(retired)
    assert [s.id for s in await keys.status(engine) if s.retired_at is None] == [new]
    assert (
        await db.fetchval(
            "SELECT count(*) FROM data_key WHERE id = ANY($1) AND wrapped <> ''", retired
        )
        == 0
    )
    assert await _everything(gql) == before
    # Writes after the rotation are under the new key.
    details, _ = await _data_request(gql, db)
    blob = await db.fetchval("SELECT details FROM data_request ORDER BY id DESC LIMIT 1")
    assert int.from_bytes(bytes(blob)[1:5], "big") == new
    assert (await stored_keyring(db)).decrypt(
        "data_request", "details", await db.fetchval("SELECT max(id) FROM data_request"), blob
    ) == details


async def test_the_master_key_is_rotated_by_rewrapping(
    gql: Gql, db: asyncpg.Connection, engine: AsyncEngine
) -> None:
    before = await db.fetch("SELECT id, email FROM student ORDER BY id LIMIT 20")
    current = MasterKey.from_settings()
    new = MasterKey(os.urandom(32))
    assert await keys.rewrap(engine, new) >= 1
    try:
        async with engine.connect() as connection:
            with pytest.raises(EncryptionError):
                await load_keyring(connection, current)
            ring = await load_keyring(connection, new)
        for row in before:
            assert ring.decrypt("student", "email", row["id"], row["email"])
        # The values themselves were not touched.
        assert await db.fetch("SELECT id, email FROM student ORDER BY id LIMIT 20") == before
    finally:
        await keys.rewrap(engine, current, old_master=new)


def test_reports_never_group_by_an_encrypted_column() -> None:
    # Grouping keys are of the student (`s.`); labels are of their own table (`{t}.`).
    for name, dimension in DIMENSIONS.items():
        for column in ENCRYPTED["student"]:
            assert f"s.{column}" not in dimension.key, name
        if dimension.label is not None:
            table, expression = dimension.label
            for column in ENCRYPTED.get(table, ()):
                assert f"{{t}}.{column}" not in expression, name


async def test_the_migration_encrypts_what_is_there_and_decrypts_on_the_way_down(
    admin_database_url: str,
) -> None:
    name = f"sg_encryption_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(asyncpg_dsn(with_database(admin_database_url, "postgres")))
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = with_database(admin_database_url, name)
    try:
        await asyncio.to_thread(migrate.upgrade, url, "0002")
        # No statement cache: the columns change type under this connection.
        connection = await asyncpg.connect(asyncpg_dsn(url), statement_cache_size=0)
        try:
            await connection.execute("INSERT INTO district (id, name) VALUES (1, 'D')")
            await connection.execute(
                "INSERT INTO app_user (id, district_id, username, email, first_name, last_name)"
                " VALUES (7, 1, 'u', 'someone@example.org', 'A', 'B')"
            )
            await asyncio.to_thread(migrate.upgrade, url, "head")
            blob = await connection.fetchval("SELECT email FROM app_user WHERE id = 7")
            assert b"someone" not in bytes(blob)
            ring = await stored_keyring(connection)
            assert ring.decrypt("app_user", "email", 7, blob) == "someone@example.org"
            await asyncio.to_thread(migrate.downgrade, url, "0002")
            assert (
                await connection.fetchval("SELECT email FROM app_user WHERE id = 7")
                == "someone@example.org"
            )
        finally:
            await connection.close()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def test_the_master_key_comes_from_the_environment_or_a_file_and_production_needs_one(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    from app.config import get_settings

    key = new_master_key_text()
    path = tmp_path / "master.key"
    path.write_text(key + "\n")
    monkeypatch.setenv("SCHOOLGRAPH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SCHOOLGRAPH_JWT_SECRET", "x" * 48)
    monkeypatch.setenv("SCHOOLGRAPH_AUDIT_KEY", "y" * 64)  # production needs it too
    monkeypatch.delenv("SCHOOLGRAPH_ENCRYPTION_KEY", raising=False)
    monkeypatch.setenv("SCHOOLGRAPH_ENCRYPTION_KEY_FILE", str(path))
    get_settings.cache_clear()
    try:
        assert get_settings().encryption_key == key
        assert key not in repr(get_settings())
        monkeypatch.setenv("SCHOOLGRAPH_ENV", "production")
        monkeypatch.delenv("SCHOOLGRAPH_ENCRYPTION_KEY_FILE")
        get_settings.cache_clear()
        with pytest.raises(RuntimeError, match="SCHOOLGRAPH_ENCRYPTION_KEY"):
            get_settings()
        # Never generated in production: nothing was written under SCHOOLGRAPH_HOME.
        assert not (tmp_path / "home" / "encryption-key").exists()
    finally:
        get_settings.cache_clear()


async def test_a_server_with_the_wrong_master_key_refuses_to_start(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.asgi import create_app
    from app.config import get_settings

    monkeypatch.setenv("SCHOOLGRAPH_ENCRYPTION_KEY", new_master_key_text())
    get_settings.cache_clear()
    try:
        application = create_app(database_url=database_url)
        with pytest.raises(EncryptionError, match="is not the one that wrapped"):
            async with application.router.lifespan_context(application):
                pass
    finally:
        get_settings.cache_clear()
