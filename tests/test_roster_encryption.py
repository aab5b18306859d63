"""OneRoster import under encryption at rest: contact details are stored encrypted for their own
row, read back as imported, and a re-import of the same files changes nothing."""

from __future__ import annotations

import uuid

import asyncpg
import pytest

from app.encryption import ENCRYPTED, Keyring, MasterKey, data_keys
from app.roster.importer import import_roster
from tests.test_roster_import import _set_11, _write

CONTACT = "{ students(first: 50) { edges { node { firstName email phone } } } }"


@pytest.fixture
def tag() -> str:
    return "e" + uuid.uuid4().hex[:8]


def _with_contacts(tag: str) -> dict[str, str]:
    """The small 1.1 set, with a student's and a teacher's email and phone."""
    files = _set_11(tag)
    users = files["users.csv"].replace(
        f"Ann,Student,,{tag}-1001,,,,", f"Ann,Student,,{tag}-1001,ann.{tag}@example.org,,555-0101,"
    )
    users = users.replace("t@example.org,,,", f"tess.{tag}@example.org,,555-0199,")
    assert users != files["users.csv"] and f"ann.{tag}@" in users and "555-0199" in users
    files["users.csv"] = users
    return files


async def _ring(db: asyncpg.Connection) -> Keyring:
    keys = await db.fetch(
        "SELECT id, wrapped, master_fingerprint FROM data_key WHERE retired_at IS NULL"
    )
    return Keyring.unwrap(MasterKey.from_settings(), data_keys(keys))


async def test_imported_contact_details_are_stored_encrypted_for_their_row(
    owner_database_url, db, tmp_path, tag, gql
):
    report = await import_roster(owner_database_url, _write(tmp_path / "set", _with_contacts(tag)))
    assert report.ok, report.lines()
    ring = await _ring(db)
    expected = {
        "student": {"email": f"ann.{tag}@example.org", "phone": "555-0101"},
        "app_user": {"email": f"tess.{tag}@example.org", "phone": "555-0199"},
    }
    sourced = {"student": f"{tag}-u4", "app_user": f"{tag}-u1"}
    for table, values in expected.items():
        assert set(values) <= set(ENCRYPTED[table])
        row = await db.fetchrow(
            f"SELECT id, email, phone FROM {table} WHERE sourced_id = $1",
            sourced[table],
        )
        for column, plain in values.items():
            stored = bytes(row[column])
            # No plain text in the table: only a ciphertext bound to this row's id.
            assert plain.encode() not in stored
            assert ring.decrypt(table, column, row["id"], stored) == plain
    # Every imported value of an encrypted column is a ciphertext (none left as text).
    for table in ("student", "app_user"):
        texts = await db.fetchval(
            f"SELECT count(*) FROM {table} WHERE sourced_id LIKE $1"
            " AND (email IS NOT NULL AND get_byte(email, 0) <> 1"
            "      OR phone IS NOT NULL AND get_byte(phone, 0) <> 1)",
            f"{tag}-%",
        )
        assert texts == 0, table
    seen = await gql(CONTACT, as_user=f"{tag}.principal")
    assert not seen.errors, seen.errors
    ann = [e["node"] for e in seen.data["students"]["edges"] if e["node"]["firstName"] == "Ann"]
    assert ann == [{"firstName": "Ann", "email": f"ann.{tag}@example.org", "phone": "555-0101"}]


async def test_a_reimport_of_encrypted_values_changes_nothing_and_an_edit_one_row(
    owner_database_url, db, tmp_path, tag
):
    files = _with_contacts(tag)
    folder = _write(tmp_path / "set", files)
    first = await import_roster(owner_database_url, folder)
    assert first.ok, first.lines()
    stored = await db.fetchval("SELECT email FROM student WHERE sourced_id = $1", f"{tag}-u4")
    again = await import_roster(owner_database_url, folder)
    assert again.ok
    for entity, counts in again.totals().items():
        assert counts["inserted"] == 0 and counts["updated"] == 0, entity
    # The ciphertext is kept, not re-encrypted under a new nonce.
    assert (
        await db.fetchval("SELECT email FROM student WHERE sourced_id = $1", f"{tag}-u4") == stored
    )
    files["users.csv"] = files["users.csv"].replace("555-0101", "555-0102")
    _write(folder, files)
    edited = await import_roster(owner_database_url, folder)
    totals = edited.totals()
    # Ann's phone is on her account and on her student record.
    assert totals["students"]["updated"] == 1 and totals["users"]["updated"] == 1
    assert sum(c["updated"] + c["inserted"] for c in totals.values()) == 2
    ring = await _ring(db)
    row = await db.fetchrow("SELECT id, phone FROM student WHERE sourced_id = $1", f"{tag}-u4")
    assert ring.decrypt("student", "phone", row["id"], bytes(row["phone"])) == "555-0102"
