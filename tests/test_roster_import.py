"""OneRoster import (as the database owner, like `import-oneroster`): hand-written 1.1 and 1.2
sets, idempotence, all-or-nothing, deltas, the public sample sets, and what an imported teacher
sees over HTTP."""

# ruff: noqa: E501 - the CSV fixtures are written line for line as the files are

from __future__ import annotations

import asyncio
import uuid
from datetime import date, timedelta
from pathlib import Path

import asyncpg
import pytest

from app import migrate
from app.database import asyncpg_dsn, setup_roles, with_database
from app.roles import OWNER_ROLE, with_user
from app.roster.importer import import_roster

SAMPLES = Path("/work/shared/oneroster-samples")
TODAY = date.today()
START = (TODAY - timedelta(days=30)).isoformat()
END = (TODAY + timedelta(days=120)).isoformat()

STUDENTS_QUERY = "{ students(first: 50) { edges { node { firstName lastName } } } }"


def _write(folder: Path, files: dict[str, str], *, crlf: bool = False, bom: bool = False) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        body = text.strip("\n") + "\n"
        if crlf:
            body = body.replace("\n", "\r\n")
        (folder / name).write_bytes(("\ufeff" if bom else "").encode() + body.encode())
    return folder


def _set_11(tag: str, *, mode: str = "bulk", enrollments: str | None = None) -> dict[str, str]:
    """A small 1.1 set: a district, two schools, a term, two classes, a teacher, an aide,
    a principal, three students (one with demographics naming two races), a parent."""
    manifest = "propertyName,value\nmanifest.version,1.0\noneroster.version,1.1\n" + "".join(
        f"file.{f},{mode}\n"
        for f in (
            "orgs",
            "academicSessions",
            "courses",
            "classes",
            "users",
            "enrollments",
            "demographics",
        )
    )
    return {
        "manifest.csv": manifest,
        # Header in another order and case, a vendor column.
        "orgs.csv": f"""SourcedId,name,Type,identifier,parentSourcedId,status,dateLastModified,x_vendor
{tag}-d,{tag} District,district,,,,,v
{tag}-s1,"Oak High School, North",school,OAK,{tag}-d,,,v
{tag}-s2,Elm Elementary,school,ELM,{tag}-d,,,v
""",
        "academicSessions.csv": f"""sourcedId,status,dateLastModified,title,type,startDate,endDate,parentSourcedId,schoolYear
{tag}-t1,,,Fall,term,{START},{END},,2026
""",
        "courses.csv": f"""sourcedId,status,dateLastModified,schoolYearSourcedId,title,courseCode,grades,orgSourcedId,subjects,subjectCodes
{tag}-c1,,,,Algebra I,ALG1,09,{tag}-s1,Mathematics,
""",
        "classes.csv": f"""sourcedId,status,dateLastModified,title,grades,courseSourcedId,classCode,classType,location,schoolSourcedId,termSourcedIds,subjects,subjectCodes,periods
{tag}-k1,,,Algebra I - 1,09,{tag}-c1,ALG1-1,scheduled,,{tag}-s1,{tag}-t1,,,"1,2"
{tag}-k2,,,"Homeroom, Room 4",KG,,HR4,homeroom,,{tag}-s2,{tag}-t1,,,
""",
        "users.csv": f"""sourcedId,status,dateLastModified,enabledUser,orgSourcedIds,role,username,userIds,givenName,familyName,middleName,identifier,email,sms,phone,agentSourcedIds,grades,password
{tag}-u1,,,true,{tag}-s1,teacher,{tag}.teacher,,Tess,Teach,,,t@example.org,,,,,secret
{tag}-u2,,,true,{tag}-s1,aide,{tag}.aide,,Ada,Aide,,,,,,,,
{tag}-u3,,,true,{tag}-s1,administrator,{tag}.principal,,Pat,Principal,,,,,,,,
{tag}-u4,,,true,{tag}-s1,student,{tag}.ann,,Ann,Student,,{tag}-1001,,,,{tag}-u7,09,
{tag}-u5,,,true,{tag}-s1,student,{tag}.bob,,Bob,Student,,{tag}-1002,,,,,09,
{tag}-u6,,,true,{tag}-s2,student,{tag}.cy,,Cy,Young,,{tag}-1003,,,,,KG,
{tag}-u7,,,true,{tag}-s1,parent,{tag}.parent,,Paula,Student,,,,,,"{tag}-u5,{tag}-u6",,
""",
        "demographics.csv": f"""sourcedId,status,dateLastModified,birthDate,sex,americanIndianOrAlaskaNative,asian,blackOrAfricanAmerican,nativeHawaiianOrOtherPacificIslander,white,demographicRaceTwoOrMoreRaces,hispanicOrLatinoEthnicity
{tag}-u4,,,2011-02-03,female,false,true,false,false,true,false,false
{tag}-u5,,,2011-05-06,male,,,,,,,true
""",
        "enrollments.csv": enrollments
        or f"""sourcedId,status,dateLastModified,classSourcedId,schoolSourcedId,userSourcedId,role,primary,beginDate,endDate
{tag}-e1,,,{tag}-k1,{tag}-s1,{tag}-u1,teacher,true,,
{tag}-e2,,,{tag}-k1,{tag}-s1,{tag}-u2,aide,false,,
{tag}-e3,,,{tag}-k1,{tag}-s1,{tag}-u4,student,,{START},
{tag}-e4,,,{tag}-k1,{tag}-s1,{tag}-u5,student,,,
{tag}-e5,,,{tag}-k2,{tag}-s2,{tag}-u6,student,,,
""",
    }


async def _district_rows(db: asyncpg.Connection, district_id: int) -> dict[str, int]:
    out = {}
    for table in ("school", "term", "class_section", "app_user", "student", "enrollment",
                  "teaching_assignment", "guardian_link", "role_assignment"):  # fmt: skip
        out[table] = await db.fetchval(
            f"SELECT count(*) FROM {table} WHERE district_id = $1", district_id
        )
    return out


def _errors(report) -> list[str]:
    return [str(m) for m in report.messages.shown if m.severity == "error"]


@pytest.fixture
def tag() -> str:
    return "r" + uuid.uuid4().hex[:8]


async def test_a_11_set_imports_every_mapping_rule(owner_database_url, db, tmp_path, tag):
    folder = _write(tmp_path / "set", _set_11(tag), crlf=True, bom=True)
    report = await import_roster(owner_database_url, folder)
    assert report.ok, report.lines()
    district_id = report.district_id
    assert await db.fetchval("SELECT name FROM district WHERE id = $1", district_id) == (
        f"{tag} District"
    )
    rows = await _district_rows(db, district_id)
    assert rows["school"] == 2 and rows["term"] == 1 and rows["class_section"] == 2
    assert rows["student"] == 3 and rows["enrollment"] == 3 and rows["teaching_assignment"] == 2
    roles = dict(
        await db.fetch(
            "SELECT u.username, ra.role FROM role_assignment ra JOIN app_user u"
            " ON u.id = ra.user_id WHERE ra.district_id = $1",
            district_id,
        )
    )
    assert roles[f"{tag}.teacher"] == "teacher"
    assert roles[f"{tag}.aide"] == "teacher"
    assert roles[f"{tag}.principal"] == "school_admin"
    assert roles[f"{tag}.parent"] == "guardian"
    assert roles[f"{tag}.ann"] == "student"
    # No password, ever.
    assert (
        await db.fetchval(
            "SELECT count(*) FROM app_user WHERE district_id = $1 AND password_hash IS NOT NULL",
            district_id,
        )
        == 0
    )
    ann = await db.fetchrow(
        "SELECT * FROM student WHERE district_id = $1 AND student_number = $2",
        district_id,
        f"{tag}-1001",
    )
    assert ann["date_of_birth"] == date(2011, 2, 3) and ann["gender"] == "female"
    assert ann["ethnicity"] == "Two or More Races" and ann["grade_level"] == 9
    bob = await db.fetchrow(
        "SELECT * FROM student WHERE district_id = $1 AND sourced_id = $2", district_id, f"{tag}-u5"
    )
    assert bob["ethnicity"] == "Hispanic or Latino"
    cy = await db.fetchrow(
        "SELECT * FROM student WHERE district_id = $1 AND sourced_id = $2", district_id, f"{tag}-u6"
    )
    assert cy["grade_level"] == 0 and cy["date_of_birth"] is None
    # Links both ways: Ann names her parent, the parent names Bob.
    links = await db.fetch(
        "SELECT s.first_name, gl.relationship FROM guardian_link gl JOIN student s"
        " ON s.id = gl.student_id WHERE gl.district_id = $1 ORDER BY 1",
        district_id,
    )
    assert [(r[0], r[1]) for r in links] == [("Ann", "parent"), ("Bob", "parent"), ("Cy", "parent")]
    klass = await db.fetchrow(
        "SELECT * FROM class_section WHERE district_id = $1 AND sourced_id = $2",
        district_id,
        f"{tag}-k1",
    )
    assert klass["subject"] == "Mathematics" and klass["periods"] == ["1", "2"]
    assert klass["class_type"] == "scheduled" and klass["grade_levels"] == [9]
    primary = await db.fetch(
        "SELECT is_primary FROM teaching_assignment WHERE district_id = $1 ORDER BY sourced_id",
        district_id,
    )
    assert [r[0] for r in primary] == [True, False]
    texts = [str(m) for m in report.messages.shown]
    assert "users.csv:2: password: passwords are never imported" in texts
    assert "orgs.csv:1: x_vendor: not a OneRoster column; ignored" in texts


async def test_a_guardian_sees_their_imported_children_even_without_a_birth_date(
    owner_database_url, tmp_path, tag, gql
):
    report = await import_roster(owner_database_url, _write(tmp_path / "set", _set_11(tag)))
    assert report.ok, report.lines()
    seen = await gql(STUDENTS_QUERY, as_user=f"{tag}.parent")
    # Cy has no demographics: an unknown age counts as a minor's, so the parent keeps access.
    assert sorted(e["node"]["firstName"] for e in seen.data["students"]["edges"]) == [
        "Ann",
        "Bob",
        "Cy",
    ]


async def test_the_same_set_twice_changes_nothing_and_an_edit_changes_one_row(
    owner_database_url, tmp_path, tag
):
    files = _set_11(tag)
    folder = _write(tmp_path / "set", files)
    first = await import_roster(owner_database_url, folder)
    assert first.ok, first.lines()
    again = await import_roster(owner_database_url, folder)
    assert again.ok
    for entity, counts in again.totals().items():
        assert counts["inserted"] == 0 and counts["updated"] == 0, entity
    files["users.csv"] = files["users.csv"].replace("Bob,Student", "Robert,Student")
    _write(folder, files)
    edited = await import_roster(owner_database_url, folder)
    totals = edited.totals()
    assert totals["students"]["updated"] == 1 and totals["users"]["updated"] == 1
    assert sum(c["updated"] + c["inserted"] for c in totals.values()) == 2


async def test_a_bad_row_in_the_last_file_leaves_the_database_untouched(
    owner_database_url, db, tmp_path, tag
):
    files = _set_11(tag)
    files["enrollments.csv"] += f"{tag}-e9,,,{tag}-k1,{tag}-s1,{tag}-nobody,student,,,\n"
    before = await db.fetchval("SELECT count(*) FROM app_user")
    districts = await db.fetchval("SELECT count(*) FROM district")
    report = await import_roster(owner_database_url, _write(tmp_path / "set", files))
    assert not report.ok
    assert _errors(report) == [f"enrollments.csv:7: userSourcedId: no such user: '{tag}-nobody'"]
    assert await db.fetchval("SELECT count(*) FROM app_user") == before
    assert await db.fetchval("SELECT count(*) FROM district") == districts


@pytest.mark.parametrize(
    ("file", "edit", "expected"),
    [
        ("users.csv", lambda t: t.replace("Tess,Teach", ",Teach"), "users.csv:2: givenName: required value missing"),
        ("academicSessions.csv", lambda t: t.replace(START, "someday"), "academicSessions.csv:2: startDate: 'someday' is not a date (YYYY-MM-DD)"),
        ("users.csv", lambda t: t + t.splitlines()[1].replace("Tess", "Tessa") + "\n", "users.csv:9: sourcedId: duplicate sourcedId"),
        ("classes.csv", lambda t: t.replace("-t1,,,\"1,2\"", "-t9,,,\"1,2\""), "classes.csv:2: termSourcedIds: no such academic session"),
        ("orgs.csv", lambda t: t.replace(",school,ELM", ",campus,ELM"), "orgs.csv:4: type: 'campus' is not one of"),
    ],
)  # fmt: skip
async def test_one_malformed_set_per_error_class(
    owner_database_url, tmp_path, tag, file, edit, expected
):
    files = _set_11(tag)
    files[file] = edit(files[file])
    report = await import_roster(owner_database_url, _write(tmp_path / "set", files))
    assert not report.ok
    assert any(str(m).startswith(expected) for m in report.messages.shown), report.lines()


async def test_strict_turns_warnings_into_errors_and_dry_run_writes_nothing(
    owner_database_url, db, tmp_path, tag
):
    folder = _write(tmp_path / "set", _set_11(tag))
    strict = await import_roster(owner_database_url, folder, strict=True)
    assert not strict.ok and strict.messages.warnings_total == 0
    dry = await import_roster(owner_database_url, folder, dry_run=True)
    assert dry.ok and dry.totals()["students"]["inserted"] == 3
    assert (
        await db.fetchval("SELECT count(*) FROM district WHERE name = $1", f"{tag} District") == 0
    )


async def test_after_import_a_teacher_sees_exactly_their_students_and_a_delta_ends_one(
    owner_database_url, db, tmp_path, tag, gql
):
    report = await import_roster(owner_database_url, _write(tmp_path / "bulk", _set_11(tag)))
    assert report.ok, report.lines()
    seen = await gql(STUDENTS_QUERY, as_user=f"{tag}.teacher")
    names = sorted(e["node"]["firstName"] for e in seen.data["students"]["edges"])
    assert names == ["Ann", "Bob"]
    delta = {
        "manifest.csv": "propertyName,value\nmanifest.version,1.0\noneroster.version,1.1\n"
        "file.enrollments,delta\n",
        "enrollments.csv": "sourcedId,status,dateLastModified,classSourcedId,schoolSourcedId,"
        "userSourcedId,role,primary,beginDate,endDate\n"
        f"{tag}-e4,tobedeleted,2026-01-02T00:00:00Z,{tag}-k1,{tag}-s1,{tag}-u5,student,,,\n",
    }
    ended = await import_roster(
        owner_database_url, _write(tmp_path / "delta", delta), district=str(report.district_id)
    )
    assert ended.ok, ended.lines()
    assert ended.totals()["enrollments"]["ended"] == 1
    seen = await gql(STUDENTS_QUERY, as_user=f"{tag}.teacher")
    assert [e["node"]["firstName"] for e in seen.data["students"]["edges"]] == ["Ann"]


async def test_a_bulk_file_ends_what_it_no_longer_lists(owner_database_url, db, tmp_path, tag):
    files = _set_11(tag)
    folder = _write(tmp_path / "set", files)
    first = await import_roster(owner_database_url, folder)
    files["enrollments.csv"] = "\n".join(
        line for line in files["enrollments.csv"].splitlines() if f"{tag}-e5" not in line
    )
    _write(folder, files)
    second = await import_roster(owner_database_url, folder)
    assert second.totals()["enrollments"]["ended"] == 1
    ends = await db.fetchval(
        "SELECT ends_on FROM enrollment WHERE district_id = $1 AND sourced_id = $2",
        first.district_id,
        f"{tag}-e5",
    )
    assert ends < TODAY


async def test_a_12_set_with_roles_file_imports(owner_database_url, db, tmp_path, tag):
    files = _set_11(tag)
    files["manifest.csv"] = (
        files["manifest.csv"].replace("oneroster.version,1.1", "oneroster.version,1.2")
        + "file.roles,bulk\n"
    )
    users = files["users.csv"].splitlines()
    header = "sourcedId,status,dateLastModified,enabledUser,username,givenName,familyName,identifier,agentSourcedIds,grades,primaryOrgSourcedId,prefferedGivenName"
    rows, roles = (
        [header],
        [
            "sourcedId,status,dateLastModified,userSourcedId,roleType,role,beginDate,endDate,orgSourcedId"
        ],
    )
    for line in users[1:]:
        c = line.split(",")
        rows.append(
            ",".join([c[0], "", "", "true", c[6], c[8], c[9], c[11], c[15], c[16], c[4], ""])
        )
        role = {"administrator": "principal"}.get(c[5], c[5])
        roles.append(",".join([c[0] + "-r", "", "", c[0], "primary", role, "", "", c[4]]))
    files["users.csv"] = "\n".join(rows)
    files["roles.csv"] = "\n".join(roles)
    report = await import_roster(owner_database_url, _write(tmp_path / "set", files))
    assert report.ok, report.lines()
    assert report.version == "1.2"
    rows_in = await _district_rows(db, report.district_id)
    assert rows_in["student"] == 3 and rows_in["enrollment"] == 3
    assert (
        await db.fetchval(
            "SELECT role FROM role_assignment ra JOIN app_user u ON u.id = ra.user_id"
            " WHERE u.username = $1",
            f"{tag}.principal",
        )
        == "school_admin"
    )


@pytest.fixture
async def empty_url(admin_database_url: str):
    """A new, migrated database as its owner (who runs `import-oneroster`)."""
    name = f"sg_roster_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(asyncpg_dsn(with_database(admin_database_url, "postgres")))
    try:
        await setup_roles(with_database(admin_database_url, name))
        url = with_user(with_database(admin_database_url, name), OWNER_ROLE)
        await asyncio.to_thread(migrate.upgrade, url)
        yield url
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest.mark.parametrize(
    "sample",
    ["Test_full_data_set", "Test_minimal_data_set", "v1p2_full_dataset", "oneroster_test_data"],
)
async def test_each_public_sample_set_imports_twice_the_same(empty_url, sample):
    path = SAMPLES / f"{sample}.zip"
    if not path.exists():
        pytest.skip(f"{path} is absent")
    first = await import_roster(empty_url, path, district="Sample")
    assert first.ok, first.lines()
    assert first.totals()["students"]["inserted"] >= 1
    again = await import_roster(empty_url, path, district="Sample")
    assert again.ok
    assert all(c["inserted"] == 0 and c["updated"] == 0 for c in again.totals().values())


async def test_an_import_into_the_demo_district_leaves_its_people_as_they_were(
    owner_database_url, db, tmp_path, tag, gql
):
    demo = await db.fetchval("SELECT district_id FROM app_user WHERE username = 'teacher'")
    before = await gql("{ students(first: 1) { totalCount } }", as_user="teacher")
    files = _set_11(tag)
    # Into an existing district: its org row must not rename it.
    files["orgs.csv"] = files["orgs.csv"].replace(f"{tag}-d,{tag} District,district,,,,,v\n", "")
    files["orgs.csv"] = files["orgs.csv"].replace(f",{tag}-d,", ",,")
    report = await import_roster(
        owner_database_url, _write(tmp_path / "set", files), district=str(demo)
    )
    assert report.ok, report.lines()
    assert report.district_id == demo
    seen = await gql(STUDENTS_QUERY, as_user=f"{tag}.teacher")
    assert sorted(e["node"]["firstName"] for e in seen.data["students"]["edges"]) == ["Ann", "Bob"]
    after = await gql("{ students(first: 1) { totalCount } }", as_user="teacher")
    assert after.data == before.data
    untouched = await db.fetchval(
        "SELECT count(*) FROM student WHERE district_id = $1 AND sourced_id IS NULL", demo
    )
    assert untouched > 0


async def test_an_imported_student_without_a_birth_date_is_protected_as_a_child(
    owner_database_url, tmp_path, tag, gql
):
    report = await import_roster(owner_database_url, _write(tmp_path / "set", _set_11(tag)))
    assert report.ok, report.lines()
    response = await gql(
        "mutation ($input: AddPortfolioItemInput!) {"
        " addPortfolioItem(input: $input) { item { id } userErrors { code } } }",
        as_user=f"{tag}.cy",
        variables={"input": {"kind": "interest", "title": "Robots"}},
    )
    codes = [e["code"] for e in response.ok()["addPortfolioItem"]["userErrors"]]
    assert codes == ["COPPA_CONSENT_REQUIRED"]


async def test_imports_of_one_district_wait_for_each_other(owner_database_url, db, tmp_path, tag):
    """Two uploads at once would both insert the same sourced ids: the second waits for the
    first (a lock per district) and then finds its rows."""
    from app.roster.importer import _IMPORT_LOCK

    folder = _write(tmp_path / "set", _set_11(tag))
    first = await import_roster(owner_database_url, folder)
    assert first.ok, first.lines()
    async with db.transaction():
        await db.execute("SELECT pg_advisory_xact_lock($1, $2)", _IMPORT_LOCK, first.district_id)
        second = asyncio.create_task(import_roster(owner_database_url, folder))
        for _ in range(500):
            waiting = await db.fetchval(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
                " AND classid = $1 AND objid = $2",
                _IMPORT_LOCK,
                first.district_id,
            )
            if waiting:
                break
            await asyncio.sleep(0.02)
        assert waiting == 1 and not second.done()
    again = await second
    assert again.ok and again.district_id == first.district_id
    assert all(c["inserted"] == 0 and c["updated"] == 0 for c in again.totals().values())
