"""The record of disclosures against its own database owner, and on the request path.

Each attack runs as the superuser on a database of its own (so the test server's sealer never
touches it), after real disclosures were written, sealed and checkpointed; `schoolgraph audit
verify` must then fail with a line that says what is wrong.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import asyncpg
import pytest
from sqlalchemy.ext.asyncio import AsyncConnection

from app import disclosures, migrate
from app.config import get_settings
from app.encryption import new_master_key_text
from app.database import asyncpg_dsn, create_engine, setup_roles, with_database
from app.roles import OWNER_ROLE, with_user
from app.seed import seed
from tests.conftest import TEST_DATABASE
from tests.helpers import nodes

SCHOOLGRAPH = Path(sys.executable).with_name("schoolgraph")
RECORD_DATABASE = f"{TEST_DATABASE}_record"
REQUESTS = 6  # requests written before each attack, in transactions of their own
ROWS_PER_REQUEST = 40


@pytest.fixture(scope="module")
def record_url(admin_database_url: str) -> Iterator[str]:
    """A small district in a database of its own (the superuser's URL; migrated and seeded by
    the owner role, as deployed)."""
    url = with_database(admin_database_url, RECORD_DATABASE)

    async def recreate() -> None:
        admin = await asyncpg.connect(asyncpg_dsn(with_database(url, "postgres")))
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{RECORD_DATABASE}" WITH (FORCE)')
            await admin.execute(f'CREATE DATABASE "{RECORD_DATABASE}"')
        finally:
            await admin.close()

    asyncio.run(recreate())
    asyncio.run(setup_roles(url))
    migrate.upgrade(with_user(url, OWNER_ROLE))
    asyncio.run(seed(with_user(url, OWNER_ROLE), students=300, seed=3, progress=False))
    yield url


def _audit(url: str, checkpoints: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "SCHOOLGRAPH_CHECKPOINT_DIR": str(checkpoints),
        "SCHOOLGRAPH_AUDIT_KEY": get_settings().audit_key.decode(),
        "COLUMNS": "250",
        "NO_COLOR": "1",
    }
    return subprocess.run(  # noqa: S603 (our own executable, fixed arguments)
        [str(SCHOOLGRAPH), "audit", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def _write_requests(url: str, count: int, *, open_in: AsyncConnection | None = None) -> None:
    """`count` requests' disclosures through the application's own writer, one transaction each
    (or, with `open_in`, in that connection's open transaction)."""
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        district, viewer = await connection.fetchrow(
            "SELECT s.district_id, u.id FROM student s, app_user u"
            " WHERE u.username = 'admin' AND u.district_id = s.district_id LIMIT 1"
        )
        students = [
            r["id"]
            for r in await connection.fetch(
                "SELECT id FROM student WHERE district_id = $1 ORDER BY id LIMIT $2",
                district,
                ROWS_PER_REQUEST,
            )
        ]
    finally:
        await connection.close()
    signer = disclosures.signer_for(get_settings().audit_key)

    async def one(db: AsyncConnection) -> None:
        batch = disclosures.Batch()
        for student in students:
            batch.add(student, "contact", "school_official", None)
        await disclosures.write(
            db,
            batch,
            viewer=SimpleNamespace(district_id=district, user_id=viewer),  # type: ignore[arg-type]
            request_id=uuid.uuid4().hex,
            signer=signer,
        )

    if open_in is not None:
        await one(open_in)
        return
    engine = create_engine(url, get_settings())
    try:
        for _ in range(count):
            async with engine.begin() as db:
                await one(db)
    finally:
        await engine.dispose()


@pytest.fixture
async def owner(record_url: str) -> AsyncIterator[asyncpg.Connection]:
    """The database owner (the superuser here), with a record emptied for the test."""
    connection = await asyncpg.connect(asyncpg_dsn(record_url))
    try:
        await connection.execute("TRUNCATE disclosure, disclosure_seal")
    except asyncpg.InsufficientPrivilegeError:
        await _without_triggers(connection, "TRUNCATE disclosure, disclosure_seal")
    try:
        yield connection
    finally:
        await connection.close()


async def _without_triggers(connection: asyncpg.Connection, *statements: str) -> None:
    """What only the owner can do: run statements with the append-only triggers off."""
    async with connection.transaction():
        await connection.execute("ALTER TABLE disclosure DISABLE TRIGGER USER")
        await connection.execute("ALTER TABLE disclosure_seal DISABLE TRIGGER USER")
        for statement in statements:
            await connection.execute(statement)
        await connection.execute("ALTER TABLE disclosure ENABLE TRIGGER USER")
        await connection.execute("ALTER TABLE disclosure_seal ENABLE TRIGGER USER")


async def _seal_all_rows(owner: asyncpg.Connection, url: str, checkpoints: Path) -> None:
    """`audit seal` until every row is sealed: a seal stops at the oldest transaction running
    in the database, so it may take a few rounds."""
    for _ in range(200):
        result = _audit(url, checkpoints, "seal")
        assert result.returncode == 0, result.stdout + result.stderr
        sealed = await owner.fetchval("SELECT coalesce(sum(row_count), 0) FROM disclosure_seal")
        if sealed == await owner.fetchval("SELECT count(*) FROM disclosure"):
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the rows were never all sealed")


@pytest.fixture
async def sealed(owner: asyncpg.Connection, record_url: str, tmp_path: Path) -> Path:
    """Requests written, sealed and checkpointed; `audit verify` passes. Returns the checkpoint
    directory."""
    await _write_requests(record_url, REQUESTS)
    await _seal_all_rows(owner, record_url, tmp_path)
    result = _audit(record_url, tmp_path, "checkpoint")
    assert result.returncode == 0, result.stdout + result.stderr
    assert (await owner.fetchval("SELECT count(*) FROM disclosure_seal")) >= 1
    result = _audit(record_url, tmp_path, "verify")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{REQUESTS * ROWS_PER_REQUEST:,} disclosures" in result.stdout
    assert "the record is intact" in result.stdout
    return tmp_path


def _tampered(url: str, checkpoints: Path, expected: str) -> str:
    result = _audit(url, checkpoints, "verify")
    assert result.returncode != 0, result.stdout
    assert "the record has been tampered with" in result.stdout
    assert expected in result.stdout, result.stdout
    return result.stdout


# --- the six attacks --------------------------------------------------------------------------


async def test_deleting_the_last_100_rows_is_detected(
    owner: asyncpg.Connection, record_url: str, sealed: Path
) -> None:
    await _without_triggers(
        owner,
        "DELETE FROM disclosure WHERE id IN (SELECT id FROM disclosure ORDER BY id DESC LIMIT 100)",
    )
    _tampered(record_url, sealed, "sealed disclosures were deleted")


async def test_deleting_the_last_rows_and_their_seals_is_detected_by_the_checkpoint(
    owner: asyncpg.Connection, record_url: str, sealed: Path
) -> None:
    # Covering the tracks: no seal is left that counts the deleted rows, and the sealer seals
    # what remains afresh; only the checkpoint outside the database remembers.
    await _without_triggers(
        owner,
        "DELETE FROM disclosure WHERE id IN (SELECT id FROM disclosure ORDER BY id DESC LIMIT 100)",
        "DELETE FROM disclosure_seal",
    )
    assert _audit(record_url, sealed.parent / "elsewhere", "seal").returncode == 0
    _tampered(record_url, sealed, "which the database no longer holds")


async def test_deleting_every_row_is_detected(
    owner: asyncpg.Connection, record_url: str, sealed: Path
) -> None:
    await _without_triggers(owner, "DELETE FROM disclosure")
    out = _tampered(record_url, sealed, "sealed disclosures were deleted")
    assert "0 disclosures" in out
    await _without_triggers(owner, "DELETE FROM disclosure_seal")
    _tampered(record_url, sealed, "which the database no longer holds")


async def test_truncate_with_the_trigger_disabled_is_detected(
    owner: asyncpg.Connection, record_url: str, sealed: Path
) -> None:
    await _without_triggers(owner, "TRUNCATE disclosure, disclosure_seal")
    _tampered(
        record_url, sealed, "which the database no longer holds: sealed disclosures were deleted"
    )


def _plain_hash(row: Any) -> str:
    """What an owner without the key can compute: SHA-256 of the content, as before 0004."""
    content = "|".join(str(row[c]) for c in ("district_id", "student_id", "purpose", "request_id"))
    return hashlib.sha256(content.encode()).hexdigest()


async def test_editing_a_row_and_recomputing_the_hashes_is_detected(
    owner: asyncpg.Connection, record_url: str, sealed: Path
) -> None:
    target = await owner.fetchval("SELECT id FROM disclosure ORDER BY id OFFSET 50 LIMIT 1")
    await _without_triggers(
        owner, f"UPDATE disclosure SET purpose = 'nothing to see' WHERE id = {target}"
    )
    # ... and every hash from there on recomputed, without the key.
    for row in await owner.fetch("SELECT * FROM disclosure WHERE id >= $1 ORDER BY id", target):
        await _without_triggers(
            owner, f"UPDATE disclosure SET mac = '{_plain_hash(row)}' WHERE id = {row['id']}"
        )
    _tampered(record_url, sealed, f"disclosure {target} does not match its MAC")


async def test_deleting_a_middle_row_and_relinking_is_detected(
    owner: asyncpg.Connection, record_url: str, sealed: Path
) -> None:
    target = await owner.fetchval("SELECT id FROM disclosure ORDER BY id OFFSET 77 LIMIT 1")
    await _without_triggers(owner, f"DELETE FROM disclosure WHERE id = {target}")
    # Relink: the seal's count and digest recomputed over what is left (the digest is plain
    # SHA-256 over the rows' keyed MACs: anyone can recompute it; not the seal's keyed hash).
    rows = await owner.fetch("SELECT id, mac FROM disclosure ORDER BY txn, id")
    digest = hashlib.sha256("".join(f"{r['id']}:{r['mac']}\n" for r in rows).encode()).hexdigest()
    seal_id = await owner.fetchval("SELECT max(id) FROM disclosure_seal")
    await _without_triggers(
        owner,
        f"UPDATE disclosure_seal SET rows_digest = '{digest}', row_count = row_count - 1,"
        f" total_rows = total_rows - 1 WHERE id = {seal_id}",
    )
    out = _tampered(record_url, sealed, f"seal {seal_id} was changed")
    assert "which the database holds changed" in out  # and the checkpoint disagrees


async def test_a_forged_row_appended_with_a_plain_insert_is_detected(
    owner: asyncpg.Connection, record_url: str, sealed: Path
) -> None:
    forged = await owner.fetchval(
        """
        INSERT INTO disclosure (district_id, student_id, viewer_user_id, basis, grant_id, purpose,
                                field_classes, request_id, disclosed_at, mac)
        SELECT district_id, student_id, viewer_user_id, basis, grant_id, 'covering a read',
               field_classes, request_id, disclosed_at, mac
        FROM disclosure ORDER BY id DESC LIMIT 1
        RETURNING id
        """
    )
    # The server's sealer seals it like any other row: the MAC still gives it away.
    assert _audit(record_url, sealed, "seal").returncode == 0
    _tampered(record_url, sealed, f"disclosure {forged} does not match its MAC")
    bare = await owner.fetchval(
        "INSERT INTO disclosure (district_id, student_id, viewer_user_id, basis, field_classes,"
        " request_id) SELECT district_id, student_id, viewer_user_id, basis, field_classes,"
        " 'forged' FROM disclosure LIMIT 1 RETURNING id"
    )
    _tampered(record_url, sealed, f"disclosure {bare} carries no MAC")


# --- sealing ----------------------------------------------------------------------------------


async def test_a_row_committed_late_is_sealed_after_the_rows_written_after_it(
    owner: asyncpg.Connection, record_url: str, tmp_path: Path
) -> None:
    """A transaction that wrote first and commits last: no seal may close over its rows while
    it runs, or they would land behind the seal."""
    engine = create_engine(record_url, get_settings())
    try:
        async with engine.connect() as slow:
            await slow.begin()
            await _write_requests(record_url, 1, open_in=slow)  # takes the lower ids
            await _write_requests(record_url, 1)  # commits first
            result = _audit(record_url, tmp_path, "seal")
            assert result.returncode == 0, result.stdout + result.stderr
            assert await owner.fetchval("SELECT count(*) FROM disclosure_seal") == 0
            await slow.commit()
    finally:
        await engine.dispose()
    await _seal_all_rows(owner, record_url, tmp_path)
    assert (
        await owner.fetchval("SELECT sum(row_count) FROM disclosure_seal") == 2 * ROWS_PER_REQUEST
    )
    result = _audit(record_url, tmp_path, "checkpoint")
    assert result.returncode == 0, result.stdout + result.stderr
    result = _audit(record_url, tmp_path, "verify")
    assert result.returncode == 0, result.stdout
    assert f"{2 * ROWS_PER_REQUEST:,} sealed" in result.stdout
    assert "0 not sealed yet; 1 checkpoints" in result.stdout


async def test_the_checkpoint_is_not_overwritten_by_a_shorter_record(
    owner: asyncpg.Connection, record_url: str, sealed: Path
) -> None:
    await _without_triggers(owner, "DELETE FROM disclosure_seal")
    await _write_requests(record_url, 1)
    result = _audit(record_url, sealed, "checkpoint")
    assert result.returncode == 1
    assert "kept the old checkpoint" in result.stdout
    _tampered(record_url, sealed, "which the database no longer holds")


# --- the request path -------------------------------------------------------------------------

CONTACTS = "{ students(first: 1000) { edges { node { id firstName lastName email } } } }"
NAMES = "{ students(first: 1000) { edges { node { id firstName lastName } } } }"


async def test_recording_a_request_is_one_statement(gql: Any, db: asyncpg.Connection) -> None:
    before = await db.fetchval("SELECT count(*) FROM disclosure")
    names = await gql(NAMES, as_user="teacher")
    contacts = await gql(CONTACTS, as_user="teacher")
    students = len(nodes(contacts.ok()["students"]))
    assert students == len(nodes(names.ok()["students"])) > 1
    assert await db.fetchval("SELECT count(*) FROM disclosure") == before + students
    # The contact list differs from the names by its record: one INSERT, no lock, no read.
    assert contacts.statements == names.statements + 1


async def test_a_read_does_not_wait_for_an_uncommitted_disclosure(
    gql: Any, db: asyncpg.Connection, database_url: str
) -> None:
    """Another request of the same district has written its disclosures and not committed; a
    teacher's read that records disclosures either finishes or is seen waiting on a lock (which
    it did before: one lock per district, held until commit)."""
    district, viewer = await db.fetchrow(
        "SELECT district_id, id FROM app_user WHERE username = 'admin'"
    )
    student = await db.fetchval("SELECT id FROM student WHERE district_id = $1 LIMIT 1", district)
    engine = create_engine(database_url, get_settings())
    try:
        async with engine.connect() as holder:
            await holder.begin()
            batch = disclosures.Batch()
            batch.add(student, "contact", "school_official", None)
            await disclosures.write(
                holder,
                batch,
                viewer=SimpleNamespace(district_id=district, user_id=viewer),  # type: ignore[arg-type]
                request_id="held-open",
                signer=disclosures.signer_for(get_settings().audit_key),
            )
            watcher = await asyncpg.connect(asyncpg_dsn(database_url))
            read = asyncio.create_task(gql(CONTACTS, as_user="teacher"))
            while not read.done():
                waiting = await watcher.fetchval(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                    " AND wait_event_type = 'Lock' AND application_name = 'schoolgraph'"
                )
                assert waiting == 0, "the read waits on a lock held by the open transaction"
                await asyncio.sleep(0.05)
            await watcher.close()
            response = await read
            assert len(nodes(response.ok()["students"])) > 1
            await holder.rollback()
    finally:
        await engine.dispose()


def test_production_requires_an_audit_key_from_outside_the_database(tmp_path: Path) -> None:
    code = "from app.config import get_settings; get_settings()"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCHOOLGRAPH_AUDIT_KEY")} | {
        "SCHOOLGRAPH_ENV": "production",
        "SCHOOLGRAPH_JWT_SECRET": "x" * 48,
        "SCHOOLGRAPH_HOME": str(tmp_path),
        # Production needs the master key of encryption at rest too (docs/encryption.md).
        "SCHOOLGRAPH_ENCRYPTION_KEY": new_master_key_text(),
    }
    refused = subprocess.run(  # noqa: S603 (our own interpreter, fixed arguments)
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False
    )
    assert refused.returncode != 0
    assert "SCHOOLGRAPH_AUDIT_KEY" in refused.stderr
    assert not (tmp_path / "audit-key").exists()  # no key made up in production
    key_file = tmp_path / "key"
    key_file.write_text("0" * 64)
    env["SCHOOLGRAPH_AUDIT_KEY_FILE"] = str(key_file)
    accepted = subprocess.run(  # noqa: S603
        [sys.executable, "-c", code + "; print(get_settings().checkpoint_dir)"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert accepted.returncode == 0, accepted.stderr
    assert accepted.stdout.strip() == "None"  # exported only where production says
