"""`export-oneroster`: a complete set the importer accepts, audited, and the round trip —
importing an export into an empty district and exporting again gives the same files (modulo row
order); importing it back into the district it came from changes nothing."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from app import migrate
from app.database import asyncpg_dsn, with_database
from app.roles import OWNER_ROLE, with_user
from app.roster.export import RosterExportError, export_roster
from app.roster.importer import import_roster
from tests.test_cli import _run
from tests.test_roster_import import _set_11, _write

VERSIONS = ("1.1", "1.2")


@pytest.fixture
def tag() -> str:
    return "x" + uuid.uuid4().hex[:8]


def _with_contacts(files: dict[str, str], tag: str) -> dict[str, str]:
    users = files["users.csv"].replace(
        f"Ann,Student,,{tag}-1001,,,,", f"Ann,Student,,{tag}-1001,ann.{tag}@example.org,,555-0101,"
    )
    assert users != files["users.csv"]
    return {**files, "users.csv": users}


def _files(path: Path) -> dict[str, tuple[list[str], list[list[str]]]]:
    """{file: (header, sorted rows)} of a zip: the same set whatever the order of its rows."""
    out = {}
    with zipfile.ZipFile(path) as z:
        for name in z.namelist():
            rows = list(csv.reader(io.TextIOWrapper(z.open(name), encoding="utf-8", newline="")))
            out[name] = (rows[0], sorted(rows[1:]))
    return out


async def _imported(url: str, tmp_path: Path, tag: str) -> int:
    report = await import_roster(url, _write(tmp_path / "set", _with_contacts(_set_11(tag), tag)))
    assert report.ok, report.lines()
    assert report.district_id is not None
    return report.district_id


@pytest.fixture(scope="module")
def empty_database_url(admin_database_url: str) -> Iterator[str]:
    """A second database, migrated and empty: an export's round trip needs one where no
    district holds its usernames and sourcedIds yet."""
    name = os.environ.get("SCHOOLGRAPH_TEST_DATABASE", "schoolgraph_test") + "_roundtrip"
    url = with_database(admin_database_url, name)

    async def recreate(drop_only: bool = False) -> None:
        admin = await asyncpg.connect(asyncpg_dsn(with_database(admin_database_url, "postgres")))
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            if not drop_only:
                await admin.execute(f'CREATE DATABASE "{name}" OWNER "{OWNER_ROLE}"')
        finally:
            await admin.close()

    asyncio.run(recreate())
    owner = with_user(url, OWNER_ROLE)
    migrate.upgrade(owner)
    yield owner
    asyncio.run(recreate(drop_only=True))


@pytest.mark.parametrize("version", VERSIONS)
async def test_export_is_a_set_the_importer_accepts_without_warnings(
    owner_database_url, tmp_path, tag, version
):
    district = await _imported(owner_database_url, tmp_path, tag)
    out = tmp_path / "export.zip"
    summary = await export_roster(owner_database_url, out, version=version, district=str(district))
    files = _files(out)
    assert files["manifest.csv"][1].count(["oneroster.version", version]) == 1
    expected = {"orgs.csv", "academicSessions.csv", "courses.csv", "classes.csv", "users.csv",
                "demographics.csv", "enrollments.csv", "manifest.csv"}  # fmt: skip
    assert set(files) == expected | ({"roles.csv"} if version == "1.2" else set())
    assert summary.rows["users.csv"] == len(files["users.csv"][1]) > 0
    # Contact details are decrypted for the export, never written as ciphertext.
    users = "\n".join(",".join(row) for row in files["users.csv"][1])
    assert f"ann.{tag}@example.org" in users and "555-0101" in users
    # A dry run of the importer on the export: accepted, and nothing to warn about.
    check = await import_roster(owner_database_url, out, district=str(district), dry_run=True)
    assert check.ok, check.lines()
    assert check.messages.warnings_total == 0, check.lines()


@pytest.mark.parametrize("version", VERSIONS)
async def test_importing_an_export_back_changes_nothing(owner_database_url, tmp_path, tag, version):
    district = await _imported(owner_database_url, tmp_path, tag)
    out = tmp_path / "export.zip"
    await export_roster(owner_database_url, out, version=version, district=str(district))
    again = await import_roster(owner_database_url, out, district=str(district))
    assert again.ok, again.lines()
    assert again.district_id == district
    for entity, counts in again.totals().items():
        assert (entity, counts["inserted"], counts["updated"], counts["ended"]) == (
            entity, 0, 0, 0,
        )  # fmt: skip
    assert sum(c["unchanged"] for c in again.totals().values()) > 0


@pytest.mark.parametrize("version", VERSIONS)
async def test_export_import_export_into_an_empty_district_gives_the_same_files(
    owner_database_url, empty_database_url, tmp_path, tag, version
):
    district = await _imported(owner_database_url, tmp_path, tag)
    first = tmp_path / "first.zip"
    await export_roster(owner_database_url, first, version=version, district=str(district))
    loaded = await import_roster(empty_database_url, first)
    assert loaded.ok, loaded.lines()
    assert loaded.messages.warnings_total == 0, loaded.lines()
    second = tmp_path / "second.zip"
    await export_roster(
        empty_database_url, second, version=version, district=str(loaded.district_id)
    )
    assert _files(second) == _files(first)


async def test_an_export_is_audited(owner_database_url, db, tmp_path, tag):
    district = await _imported(owner_database_url, tmp_path, tag)
    out = tmp_path / "audited.zip"
    summary = await export_roster(
        owner_database_url, out, version="1.2", district=str(district), actor="ops"
    )
    row = await db.fetchrow(
        "SELECT actor_user_id, target_type, target_id, details, at FROM audit_event"
        " WHERE district_id = $1 AND action = 'roster.export' ORDER BY id DESC LIMIT 1",
        district,
    )
    assert row is not None and row["at"] is not None
    assert (row["actor_user_id"], row["target_type"], row["target_id"]) == (
        None, "district", district,
    )  # fmt: skip
    details = json.loads(row["details"])
    assert details["by"] == "ops" and details["version"] == "1.2"
    assert details["rows"] == summary.rows


async def test_one_school_exports_only_its_people(owner_database_url, db, tmp_path, tag):
    district = await _imported(owner_database_url, tmp_path, tag)
    schools = await db.fetch(
        "SELECT id, sourced_id FROM school WHERE district_id = $1 ORDER BY id", district
    )
    assert len(schools) >= 2
    out = tmp_path / "school.zip"
    await export_roster(
        owner_database_url, out, version="1.2", district=str(district), school=schools[0]["id"]
    )
    files = _files(out)
    orgs = {row[0] for row in files["orgs.csv"][1] if row[4] == "school"}
    assert orgs == {schools[0]["sourced_id"]}
    assert all(row[9] == schools[0]["sourced_id"] for row in files["classes.csv"][1])
    check = await import_roster(owner_database_url, out, district=str(district), dry_run=True)
    assert check.ok, check.lines()


async def test_rows_without_a_sourced_id_get_stable_generated_ones(owner_database_url, tmp_path):
    """The seeded district has no sourcedIds: two exports name its rows the same way."""
    db = await asyncpg.connect(asyncpg_dsn(owner_database_url))
    try:
        district = await db.fetchval(
            "SELECT id FROM district WHERE sourced_id IS NULL ORDER BY id LIMIT 1"
        )
        school = await db.fetchval(
            "SELECT id FROM school WHERE district_id = $1 ORDER BY id LIMIT 1", district
        )
    finally:
        await db.close()
    one, two = tmp_path / "one.zip", tmp_path / "two.zip"
    for out in (one, two):
        await export_roster(
            owner_database_url, out, version="1.2", district=str(district), school=school
        )
    assert _files(one) == _files(two)
    assert f"sg-school-{school}" in {row[0] for row in _files(one)["orgs.csv"][1]}


async def test_an_unknown_district_or_version_is_refused(owner_database_url, tmp_path):
    with pytest.raises(RosterExportError, match="version"):
        await export_roster(owner_database_url, tmp_path / "a.zip", version="1.0")
    with pytest.raises(RosterExportError, match="no district"):
        await export_roster(owner_database_url, tmp_path / "a.zip", district="999999")
    assert not (tmp_path / "a.zip").exists()


def test_the_command_writes_the_set_and_refuses_an_ambiguous_district(
    database_url, tmp_path: Path, tag
):
    folder = _write(tmp_path / "set", _set_11(tag))
    assert _run(database_url, "import-oneroster", str(folder)).returncode == 0
    out = tmp_path / "cli.zip"
    # The test database holds several districts: the command will not guess which one.
    vague = _run(database_url, "export-oneroster", str(out))
    assert vague.returncode == 2 and "--district" in vague.stdout, vague.stdout + vague.stderr
    done = _run(
        database_url, "export-oneroster", str(out), "--district", f"{tag} District",
        "--version", "1.1",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "users.csv" in done.stdout
    assert _files(out)["manifest.csv"][1].count(["oneroster.version", "1.1"]) == 1


async def test_a_seeded_district_round_trips_through_its_generated_sourced_ids(
    owner_database_url, empty_database_url, tmp_path
):
    """The seed's rows have no sourcedId: the export generates them, the importer keeps them,
    and the next export names every row the same way again, in either version (one import:
    the usernames may be loaded once in the empty database)."""
    db = await asyncpg.connect(asyncpg_dsn(owner_database_url))
    try:
        district = await db.fetchval(
            "SELECT id FROM district WHERE sourced_id IS NULL ORDER BY id LIMIT 1"
        )
    finally:
        await db.close()
    first = {v: tmp_path / f"seeded-{v}.zip" for v in VERSIONS}
    for version, out in first.items():
        summary = await export_roster(
            owner_database_url, out, version=version, district=str(district)
        )
        assert summary.rows["enrollments.csv"] > 0 and summary.rows["demographics.csv"] > 0
    loaded = await import_roster(empty_database_url, first["1.1"], district="seeded")
    assert loaded.ok, loaded.lines()
    assert loaded.messages.warnings_total == 0, loaded.lines()
    for version, out in first.items():
        again = tmp_path / f"again-{version}.zip"
        await export_roster(
            empty_database_url, again, version=version, district=str(loaded.district_id)
        )
        assert _files(again) == _files(out), version
