"""The default policy over HTTP: a truth table transcribed from SPEC §5, for every demo role and
relation and every field class, plus the ways a value could leak around it."""

from __future__ import annotations

import datetime
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import pytest

from app.policy import CASBIN_CALLS
from schema.relay import to_global_id
from tests.helpers import GraphQLResponse, forbidden_errors, nodes

Gql = Callable[..., Awaitable[GraphQLResponse]]

# SPEC §5, by hand: "yes", "no", the classmate's names only, the teacher's own classes only,
# or the portfolio item visibilities released.
Y, N, NAMES, OWN = "yes", "no", "names", "own"
ALL_ITEMS = frozenset({"PRIVATE", "TEACHERS", "COORDINATOR"})
SPEC_TABLE: dict[str, dict[str, Any]] = {
    "self": dict(directory=Y, contact=Y, demographic=Y, academic=Y, portfolio=ALL_ITEMS,
                 disclosures=Y),
    "guardian_of": dict(directory=Y, contact=Y, demographic=Y, academic=Y, portfolio=ALL_ITEMS,
                        disclosures=Y),
    "teacher_of": dict(directory=Y, contact=Y, demographic=N, academic=OWN,
                       portfolio=frozenset({"TEACHERS", "COORDINATOR"}), disclosures=N),
    "classmate": dict(directory=NAMES, contact=N, demographic=N, academic=N, portfolio=N,
                      disclosures=N),
    "school_official": dict(directory=Y, contact=N, demographic=N, academic=N, portfolio=N,
                            disclosures=N),
    "legitimate_interest": dict(directory=Y, contact=Y, demographic=Y, academic=Y,
                                portfolio=frozenset({"COORDINATOR"}), disclosures=N),
    "admin": dict(directory=Y, contact=Y, demographic=Y, academic=Y, portfolio=N,
                  disclosures=Y),
}  # fmt: skip

FIELDS = {
    "directory": ("firstName", "lastName", "preferredName", "displayName", "gradeLevel", "school"),
    "contact": ("studentNumber", "email", "phone", "guardians"),
    "demographic": ("dateOfBirth", "gender", "ethnicity"),
    "academic": ("marks", "readiness", "classes"),
    "portfolio": ("portfolio",),
    "disclosures": ("disclosures",),
}
STUDENT_QUERY = """
query ($id: ID!) {
  student(id: $id) {
    id firstName lastName preferredName displayName gradeLevel school { name }
    studentNumber email phone guardians { firstName }
    dateOfBirth gender ethnicity
    marks { class { id } } readiness { indicator } classes { id }
    portfolio { items { visibility } }
    disclosures { basis }
  }
}
"""


def sid(pk: int) -> str:
    return to_global_id("Student", pk)


async def _student_of(db: asyncpg.Connection, username: str) -> int:
    return int(
        await db.fetchval(
            "SELECT s.id FROM student s JOIN app_user u ON u.id = s.user_id WHERE u.username = $1",
            username,
        )
    )


async def _user_id(db: asyncpg.Connection, username: str) -> int:
    return int(await db.fetchval("SELECT id FROM app_user WHERE username = $1", username))


async def _school_a(db: asyncpg.Connection) -> int:
    return int(
        await db.fetchval(
            "SELECT school_id FROM role_assignment ra JOIN app_user u ON u.id = ra.user_id"
            " WHERE u.username = 'coordinator'"
        )
    )


_ACTIVE = "e.begins_on <= CURRENT_DATE AND (e.ends_on IS NULL OR e.ends_on >= CURRENT_DATE)"
_TAUGHT_BY = f"""
    SELECT DISTINCT e.student_id FROM enrollment e
    JOIN teaching_assignment ta ON ta.class_id = e.class_id
    JOIN app_user u ON u.id = ta.staff_user_id
    WHERE u.username = 'teacher' AND {_ACTIVE}
      AND ta.starts_on <= CURRENT_DATE AND (ta.ends_on IS NULL OR ta.ends_on >= CURRENT_DATE)
"""
# Students with items of every visibility come first, so that portfolio checks can fail.
_BY_PORTFOLIO = """
    ORDER BY (SELECT count(DISTINCT visibility) FROM portfolio_item p
              WHERE p.student_id = s.id) DESC, s.id
"""


async def _pick(db: asyncpg.Connection, where: str, *args: Any) -> int:
    pk = await db.fetchval(
        f"SELECT s.id FROM student s WHERE {where} {_BY_PORTFOLIO} LIMIT 1", *args
    )
    assert pk is not None, where
    return int(pk)


async def _visibilities(db: asyncpg.Connection, student: int) -> set[str]:
    rows = await db.fetch(
        "SELECT DISTINCT visibility FROM portfolio_item WHERE student_id = $1", student
    )
    return {r["visibility"] for r in rows}


async def check_row(
    db: asyncpg.Connection, response: GraphQLResponse, student: int, row: dict[str, Any],
    *, teacher: str | None = None,
) -> None:  # fmt: skip
    """The response releases exactly what one SPEC §5 row says."""
    assert response.status == 200, response.body
    data = response.data["student"]
    assert data is not None, f"student hidden; errors: {response.errors}"
    denied = forbidden_errors(response)
    for cls, expected in row.items():
        for field in FIELDS[cls]:
            pattern = f"student.{field}"
            if expected == Y or (isinstance(expected, frozenset) and expected):
                assert pattern not in denied, f"{field} ({cls}) should be released"
            elif expected == NAMES:
                released = field in ("firstName", "displayName")
                assert (pattern not in denied) == released, f"{field} for a classmate"
            elif expected == OWN:
                assert (pattern not in denied) == (field != "readiness"), field
            else:
                assert pattern in denied, f"{field} ({cls}) should be FORBIDDEN"
                assert denied[pattern]["fieldClass"] == cls
                assert data[field] is None
    portfolio = row["portfolio"]
    if isinstance(portfolio, frozenset):
        shown = {item["visibility"] for item in (data["portfolio"] or {"items": []})["items"]}
        assert shown == await _visibilities(db, student) & portfolio
    if row["academic"] == OWN:
        taught = await db.fetch(
            "SELECT ta.class_id FROM teaching_assignment ta JOIN app_user u"
            " ON u.id = ta.staff_user_id WHERE u.username = $1 AND ta.ends_on IS NULL",
            teacher,
        )
        own = {to_global_id("Class", r["class_id"]) for r in taught}
        marks_in_own = await db.fetchval(
            "SELECT count(*) FROM mark WHERE student_id = $1 AND class_id = ANY($2::bigint[])",
            student,
            [r["class_id"] for r in taught],
        )
        assert {m["class"]["id"] for m in data["marks"]} <= own
        assert len(data["marks"]) == marks_in_own
        assert {c["id"] for c in data["classes"]} <= own


async def test_self(gql: Gql, db: asyncpg.Connection) -> None:
    me = await _student_of(db, "student")
    response = await gql(STUDENT_QUERY, as_user="student", variables={"id": sid(me)})
    await check_row(db, response, me, SPEC_TABLE["self"])


async def test_guardian_of(gql: Gql, db: asyncpg.Connection) -> None:
    child = await _student_of(db, "student")
    response = await gql(STUDENT_QUERY, as_user="guardian", variables={"id": sid(child)})
    await check_row(db, response, child, SPEC_TABLE["guardian_of"])


async def test_teacher_of(gql: Gql, db: asyncpg.Connection) -> None:
    me = await _student_of(db, "student")
    pupil = await _pick(db, f"s.id IN ({_TAUGHT_BY}) AND s.id <> $1", me)
    response = await gql(STUDENT_QUERY, as_user="teacher", variables={"id": sid(pupil)})
    await check_row(db, response, pupil, SPEC_TABLE["teacher_of"], teacher="teacher")


async def _classmate(db: asyncpg.Connection) -> int:
    me = await _student_of(db, "student")
    return await _pick(
        db,
        f"""s.id <> $1 AND NOT s.directory_opt_out AND s.id IN (
            SELECT e.student_id FROM enrollment e WHERE {_ACTIVE} AND e.class_id IN (
              SELECT e.class_id FROM enrollment e WHERE e.student_id = $1 AND {_ACTIVE}))
            AND s.id NOT IN (SELECT student_id FROM guardian_link gl JOIN app_user u
                             ON u.id = gl.guardian_user_id WHERE u.username = 'guardian')""",
        me,
    )


async def test_classmate(gql: Gql, db: asyncpg.Connection) -> None:
    mate = await _classmate(db)
    response = await gql(STUDENT_QUERY, as_user="student", variables={"id": sid(mate)})
    await check_row(db, response, mate, SPEC_TABLE["classmate"])


@pytest.mark.parametrize("official", ["coordinator", "designee"])
async def test_school_official_without_grant(
    gql: Gql, db: asyncpg.Connection, official: str
) -> None:
    pupil = await _pick(db, "s.school_id = $1", await _school_a(db))
    response = await gql(STUDENT_QUERY, as_user=official, variables={"id": sid(pupil)})
    await check_row(db, response, pupil, SPEC_TABLE["school_official"])


@pytest.mark.parametrize("admin", ["principal", "admin"])
async def test_admins(gql: Gql, db: asyncpg.Connection, admin: str) -> None:
    pupil = await _pick(db, "s.school_id = $1", await _school_a(db))
    response = await gql(STUDENT_QUERY, as_user=admin, variables={"id": sid(pupil)})
    await check_row(db, response, pupil, SPEC_TABLE["admin"])


@pytest.mark.parametrize("account", ["reporter", "support", "teacher"])
async def test_no_relation_sees_nothing(gql: Gql, db: asyncpg.Connection, account: str) -> None:
    """Reporting, support without a grant and a teacher outside their classes: the student
    does not exist for them, in `student`, `node` and `students`."""
    school = await _school_a(db)
    pupil = await _pick(db, f"s.school_id = $1 AND s.id NOT IN ({_TAUGHT_BY})", school)
    for query in (STUDENT_QUERY, "query ($id: ID!) { node(id: $id) { id } }"):
        response = await gql(query, as_user=account, variables={"id": sid(pupil)})
        assert response.status == 200
        assert not response.errors
        assert next(iter(response.data.values())) is None
    listed = await gql("{ students(first: 1000) { edges { node { id } } } }", as_user=account)
    assert sid(pupil) not in {n["id"] for n in nodes(listed.ok()["students"])}


# --- legitimate interest --------------------------------------------------------------------

GRANT = """
mutation ($input: GrantLegitimateInterestInput!) {
  grantLegitimateInterest(input: $input) {
    grant { id active purpose grantee { id } }
    userErrors { code message field }
  }
}
"""
REVOKE = """
mutation ($id: ID!) {
  revokeLegitimateInterest(input: {id: $id}) { grant { active } userErrors { code } }
}
"""


def _in(days: int) -> str:
    return (datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=days)).isoformat()


def grant_input(grantee: int, student: int, **extra: Any) -> dict[str, Any]:
    return {
        "input": {
            "granteeId": to_global_id("StaffMember", grantee),
            "scope": "STUDENT",
            "targetId": sid(student),
            "purpose": "Section 504 plan review",
            "expiresAt": _in(30),
            **extra,
        }
    }


@pytest.mark.parametrize("grantee", ["coordinator", "designee"])
async def test_legitimate_interest_until_revoked(
    gql: Gql, db: asyncpg.Connection, grantee: str
) -> None:
    pupil = await _pick(db, "s.school_id = $1 AND s.id % 7 = 3", await _school_a(db))
    granted = await gql(
        GRANT, as_user="coordinator", variables=grant_input(await _user_id(db, grantee), pupil)
    )
    payload = granted.ok()["grantLegitimateInterest"]
    assert payload["userErrors"] == []
    assert payload["grant"]["active"] is True
    response = await gql(STUDENT_QUERY, as_user=grantee, variables={"id": sid(pupil)})
    await check_row(db, response, pupil, SPEC_TABLE["legitimate_interest"])

    # The read is on record with the grant's purpose.
    disclosed = await db.fetchrow(
        "SELECT basis, purpose, field_classes FROM disclosure WHERE student_id = $1"
        " AND viewer_user_id = $2 ORDER BY id DESC LIMIT 1",
        pupil,
        await _user_id(db, grantee),
    )
    assert disclosed["basis"] == "legitimate_interest"
    assert disclosed["purpose"] == "Section 504 plan review"
    assert {"contact", "demographic", "academic"} <= set(disclosed["field_classes"])

    revoked = await gql(REVOKE, as_user="coordinator", variables={"id": payload["grant"]["id"]})
    assert revoked.ok()["revokeLegitimateInterest"]["grant"]["active"] is False
    response = await gql(STUDENT_QUERY, as_user=grantee, variables={"id": sid(pupil)})
    await check_row(db, response, pupil, SPEC_TABLE["school_official"])
    audited = await db.fetchval(
        "SELECT count(*) FROM audit_event WHERE target_type = 'LegitimateInterestGrant'"
        " AND target_id = $1",
        int(await db.fetchval("SELECT max(id) FROM legitimate_interest_grant")),
    )
    assert audited == 2  # granted, revoked


async def test_expired_grant_releases_nothing(gql: Gql, db: asyncpg.Connection) -> None:
    pupil = await _pick(db, "s.school_id = $1 AND s.id % 7 = 4", await _school_a(db))
    coordinator = await _user_id(db, "coordinator")
    await db.execute(
        "INSERT INTO legitimate_interest_grant (district_id, grantee_user_id, scope, student_id,"
        " school_id, purpose, granted_by, starts_at, expires_at)"
        " SELECT district_id, $1, 'student', id, school_id, 'expired review', $1,"
        " now() - interval '2 days', now() - interval '1 second' FROM student WHERE id = $2",
        coordinator,
        pupil,
    )
    response = await gql(STUDENT_QUERY, as_user="coordinator", variables={"id": sid(pupil)})
    await check_row(db, response, pupil, SPEC_TABLE["school_official"])


@pytest.mark.parametrize(
    ("account", "grantee", "extra", "code"),
    [
        ("coordinator", "teacher", {}, "INELIGIBLE_GRANTEE"),
        ("coordinator", "designee", {"purpose": "   "}, "PURPOSE_REQUIRED"),
        ("coordinator", "designee", {"expiresAt": _in(400)}, "TOO_LONG"),
        ("principal", "support", {"expiresAt": _in(-1)}, "INVALID_PERIOD"),
        # A grant cannot cover reads made before it was recorded.
        ("coordinator", "designee", {"startsAt": "2000-01-01T00:00:00Z"}, "BACKDATED"),
        ("principal", "support", {"startsAt": _in(-1)}, "BACKDATED"),
        ("coordinator", "designee", {"startsAt": _in(400), "expiresAt": _in(401)}, "TOO_FAR_AHEAD"),
        # An account that does not exist is answered like an ineligible one.
        ("coordinator", 2**62, {}, "INELIGIBLE_GRANTEE"),
    ],
)
async def test_grant_refusals(
    gql: Gql,
    db: asyncpg.Connection,
    account: str,
    grantee: str | int,
    extra: dict[str, Any],
    code: str,
) -> None:
    pupil = await _pick(db, "s.school_id = $1", await _school_a(db))
    before = await db.fetchval("SELECT count(*) FROM legitimate_interest_grant")
    grantee_id = grantee if isinstance(grantee, int) else await _user_id(db, grantee)
    variables = grant_input(grantee_id, pupil, **extra)
    payload = (await gql(GRANT, as_user=account, variables=variables)).ok()
    assert [e["code"] for e in payload["grantLegitimateInterest"]["userErrors"]] == [code]
    assert await db.fetchval("SELECT count(*) FROM legitimate_interest_grant") == before


@pytest.mark.parametrize("account", ["teacher", "guardian", "reporter", "designee"])
async def test_only_officials_grant(gql: Gql, db: asyncpg.Connection, account: str) -> None:
    pupil = await _pick(db, "s.school_id = $1", await _school_a(db))
    variables = grant_input(await _user_id(db, account), pupil)
    response = await gql(GRANT, as_user=account, variables=variables)
    assert response.data is None or response.data["grantLegitimateInterest"] is None
    assert response.errors[0]["extensions"]["code"] == "FORBIDDEN"


async def test_grant_target_elsewhere_is_answered_like_a_missing_one(
    gql: Gql, db: asyncpg.Connection
) -> None:
    """A coordinator learns nothing about ids outside their school: a student of another
    school, of another district and an id that was never used get the same answer."""
    school = await _school_a(db)
    designee = await _user_id(db, "designee")
    elsewhere = await _pick(
        db,
        "s.school_id <> $1 AND s.district_id = $2",
        school,
        await db.fetchval("SELECT district_id FROM school WHERE id = $1", school),
    )
    other_district = await _pick(
        db, "s.district_id <> (SELECT district_id FROM school WHERE id = $1)", school
    )
    answers = []
    for target in (elsewhere, other_district, 2**62):
        response = await gql(GRANT, as_user="coordinator", variables=grant_input(designee, target))
        answers.append(response.body)
    for body in answers:
        body.get("extensions", {}).pop("requestId", None)
    assert answers[0] == answers[1] == answers[2]
    assert answers[0]["data"]["grantLegitimateInterest"]["userErrors"][0]["code"] == "NOT_FOUND"


async def test_principal_grants_support_a_school(gql: Gql, db: asyncpg.Connection) -> None:
    """A school-wide grant to vendor support: directory, contact and academic records of the
    school's students who consent to disclosure to third parties, never demographics; a student
    of the school without that consent, and one of another school, stay invisible."""
    school = await _school_a(db)
    pupil = await _pick(db, "s.school_id = $1", school)
    without = await _pick(db, "s.school_id = $1 AND s.id <> $2", school, pupil)
    consent = await db.fetchval(
        "INSERT INTO consent (district_id, student_id, kind, granted, given_by)"
        " SELECT s.district_id, s.id, 'third_party_disclosure', true, u.id FROM student s,"
        " app_user u WHERE s.id = $1 AND u.username = 'admin' RETURNING id",
        pupil,
    )
    variables = {
        "input": {
            "granteeId": to_global_id("StaffMember", await _user_id(db, "support")),
            "scope": "SCHOOL",
            "targetId": to_global_id("School", school),
            "purpose": "Vendor support ticket 4411",
            "expiresAt": _in(2),
        }
    }
    payload = (await gql(GRANT, as_user="principal", variables=variables)).ok()
    grant = payload["grantLegitimateInterest"]["grant"]
    try:
        response = await gql(STUDENT_QUERY, as_user="support", variables={"id": sid(pupil)})
        row = dict(SPEC_TABLE["legitimate_interest"], demographic=N, portfolio=N)
        await check_row(db, response, pupil, row)
        elsewhere = await _pick(db, "s.school_id <> $1", school)
        for hidden in (without, elsewhere):
            response = await gql(STUDENT_QUERY, as_user="support", variables={"id": sid(hidden)})
            assert response.data["student"] is None
    finally:
        await gql(REVOKE, as_user="principal", variables={"id": grant["id"]})
        await db.execute("DELETE FROM consent WHERE id = $1", consent)


# --- relations that end ---------------------------------------------------------------------


async def _other_family(db: asyncpg.Connection) -> asyncpg.Record:
    """A generated guardian with one active, data-access link to one child."""
    return await db.fetchrow(
        """
        SELECT gl.id AS link, gl.student_id, u.username, s.date_of_birth
        FROM guardian_link gl JOIN app_user u ON u.id = gl.guardian_user_id
        JOIN student s ON s.id = gl.student_id
        WHERE gl.data_access AND u.password_hash IS NULL AND gl.ends_on IS NULL
          AND (SELECT count(*) FROM guardian_link g2 WHERE g2.guardian_user_id = u.id) = 1
          AND s.date_of_birth > CURRENT_DATE - interval '17 years'
        ORDER BY gl.id LIMIT 1
        """
    )


async def test_guardian_access_ends_at_18_unless_the_student_consents(
    gql: Gql, db: asyncpg.Connection
) -> None:
    family = await _other_family(db)
    child, parent = family["student_id"], family["username"]
    query = "query ($id: ID!) { student(id: $id) { email } }"
    assert (await gql(query, as_user=parent, variables={"id": sid(child)})).ok()["student"]
    today = datetime.date.today()
    try:
        await db.execute(
            "UPDATE student SET date_of_birth = $2 WHERE id = $1",
            child,
            today.replace(year=today.year - 18) if (today.month, today.day) != (2, 29) else
            today.replace(year=today.year - 18, day=28),
        )  # fmt: skip
        response = await gql(query, as_user=parent, variables={"id": sid(child)})
        assert response.ok()["student"] is None
        await db.execute(
            "UPDATE student SET date_of_birth = $2 WHERE id = $1",
            child,
            today.replace(year=today.year - 18) + datetime.timedelta(days=1),
        )
        response = await gql(query, as_user=parent, variables={"id": sid(child)})
        assert response.ok()["student"] is not None  # the day before the 18th birthday
        await db.execute(
            "UPDATE student SET date_of_birth = $2 WHERE id = $1",
            child,
            today - datetime.timedelta(days=18 * 366),
        )
        await db.execute(
            "INSERT INTO consent (district_id, student_id, kind, granted, given_by)"
            " SELECT district_id, id, 'guardian_access', true, user_id FROM student WHERE id = $1",
            child,
        )
        response = await gql(query, as_user=parent, variables={"id": sid(child)})
        assert response.ok()["student"] is not None
    finally:
        await db.execute("DELETE FROM consent WHERE student_id = $1 AND kind = 'guardian_access'",
                         child)  # fmt: skip
        await db.execute(
            "UPDATE student SET date_of_birth = $2 WHERE id = $1", child, family["date_of_birth"]
        )


async def test_custody_restricted_guardian_sees_nothing(gql: Gql, db: asyncpg.Connection) -> None:
    family = await _other_family(db)
    child, parent = family["student_id"], family["username"]
    try:
        await db.execute("UPDATE guardian_link SET data_access = false WHERE id = $1",
                         family["link"])  # fmt: skip
        response = await gql(STUDENT_QUERY, as_user=parent, variables={"id": sid(child)})
        assert response.ok()["student"] is None
        viewer = (await gql("{ viewer { children { id } } }", as_user=parent)).ok()
        assert viewer["viewer"]["children"] == []
    finally:
        await db.execute("UPDATE guardian_link SET data_access = true WHERE id = $1",
                         family["link"])  # fmt: skip


OPT_OUT = """
mutation ($id: ID!, $optOut: Boolean!) {
  optOutOfDirectory(input: {studentId: $id, optOut: $optOut}) {
    directoryOptOut userErrors { code }
  }
}
"""


async def test_directory_opt_out_hides_the_classmate_view(gql: Gql, db: asyncpg.Connection) -> None:
    mate = await _classmate(db)
    parent = await db.fetchval(
        "SELECT u.username FROM guardian_link gl JOIN app_user u ON u.id = gl.guardian_user_id"
        " WHERE gl.student_id = $1 AND gl.data_access ORDER BY gl.id LIMIT 1",
        mate,
    )
    query = "query ($id: ID!) { student(id: $id) { firstName } }"
    assert (await gql(query, as_user="student", variables={"id": sid(mate)})).ok()["student"]
    opted = await gql(OPT_OUT, as_user=parent, variables={"id": sid(mate), "optOut": True})
    assert opted.ok()["optOutOfDirectory"]["directoryOptOut"] is True
    try:
        response = await gql(query, as_user="student", variables={"id": sid(mate)})
        assert response.ok()["student"] is None
        # Staff still see the student: the opt-out is about directory disclosure to peers.
        assert (await gql(query, as_user="principal", variables={"id": sid(mate)})).ok()["student"]
    finally:
        await gql(OPT_OUT, as_user=parent, variables={"id": sid(mate), "optOut": False})
    assert await db.fetchval(
        "SELECT count(*) FROM audit_event WHERE target_type = 'Student' AND target_id = $1"
        " AND action LIKE 'opt_%'",
        mate,
    ) == 2  # fmt: skip


# --- nothing leaks --------------------------------------------------------------------------


async def test_second_district_is_invisible(gql: Gql, db: asyncpg.Connection) -> None:
    admin_district = await db.fetchval("SELECT district_id FROM app_user WHERE username = 'admin'")
    other = await db.fetchval(
        "SELECT id FROM student WHERE district_id <> $1 ORDER BY id LIMIT 1", admin_district
    )
    response = await gql(STUDENT_QUERY, as_user="admin", variables={"id": sid(other)})
    assert response.ok()["student"] is None
    total = (await gql("{ students { totalCount } }", as_user="admin")).ok()
    own = await db.fetchval("SELECT count(*) FROM student WHERE district_id = $1", admin_district)
    assert total["students"]["totalCount"] == own
    schools = (await gql("{ schools { id } }", as_user="admin")).ok()["schools"]
    other_schools = await db.fetch("SELECT id FROM school WHERE district_id <> $1", admin_district)
    assert not {s["id"] for s in schools} & {to_global_id("School", r["id"]) for r in other_schools}


async def test_missing_and_forbidden_nodes_answer_alike(gql: Gql, db: asyncpg.Connection) -> None:
    hidden = await _pick(db, f"s.id NOT IN ({_TAUGHT_BY})")
    missing = int(await db.fetchval("SELECT max(id) FROM student")) + 1000
    query = "query ($id: ID!) { node(id: $id) { id ... on Student { firstName } } }"
    a = await gql(query, as_user="teacher", variables={"id": sid(hidden)})
    b = await gql(query, as_user="teacher", variables={"id": sid(missing)})
    assert a.status == b.status == 200
    strip = lambda body: {k: v for k, v in body.items() if k != "extensions"}  # noqa: E731
    assert strip(a.body) == strip(b.body) == {"data": {"node": None}}
    # The same work for both: a timing difference would come from different statements.
    assert a.statements == b.statements


async def test_counts_follow_the_row_scope(gql: Gql, db: asyncpg.Connection) -> None:
    taught = await db.fetch(_TAUGHT_BY)
    response = await gql("{ students(first: 1) { totalCount } }", as_user="teacher")
    assert response.ok()["students"]["totalCount"] == len(taught)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ('{ students(filter: {gender: "female"}) { totalCount } }', "gender"),
        ('{ students(filter: {ethnicity: "Asian"}) { totalCount } }', "ethnicity"),
        ("{ students(orderBy: DATE_OF_BIRTH) { totalCount } }", "dateOfBirth"),
    ],
)
async def test_filtering_or_ordering_on_a_denied_field_is_refused(
    gql: Gql, query: str, field: str
) -> None:
    response = await gql(query, as_user="teacher")
    assert response.data is None or response.data.get("students") is None
    error = response.errors[0]
    assert error["extensions"]["code"] == "FORBIDDEN"
    assert field in error["message"]


async def test_redactions_are_one_error_per_path_with_a_count(gql: Gql) -> None:
    response = await gql(
        "{ students(first: 100) { edges { node { firstName gender } } } }", as_user="coordinator"
    )
    denied = forbidden_errors(response)
    listed = len(nodes(response.data["students"]))
    assert listed > 50
    assert list(denied) == ["students.edges.*.node.gender"]
    assert denied["students.edges.*.node.gender"]["count"] == listed
    assert denied["students.edges.*.node.gender"]["reason"]
    assert len(response.errors) == 1


async def test_casbin_is_not_called_per_request(gql: Gql) -> None:
    before = CASBIN_CALLS.calls
    response = await gql(
        "{ students(first: 200) { edges { node { firstName email gender marks { score } } } } }",
        as_user="admin",
    )
    assert len(nodes(response.ok()["students"])) == 200
    assert CASBIN_CALLS.calls == before


async def test_disclosures_are_written_in_one_batch(gql: Gql, db: asyncpg.Connection) -> None:
    query = "query ($n: Int!) { students(first: $n) { edges { node { email } } } }"
    small = await gql(query, as_user="principal", variables={"n": 5})
    large = await gql(query, as_user="principal", variables={"n": 80})
    assert small.statements == large.statements
    request = large.body["extensions"]["requestId"]
    rows = await db.fetch(
        "SELECT basis, field_classes FROM disclosure WHERE request_id = $1", request
    )
    assert len(rows) == 80
    assert {r["basis"] for r in rows} == {"school_official"}
    assert all(r["field_classes"] == ["contact"] for r in rows)


async def test_directory_reads_are_not_disclosures(gql: Gql, db: asyncpg.Connection) -> None:
    response = await gql(
        "{ students(first: 20) { edges { node { firstName } } } }", as_user="admin"
    )
    response.ok()
    request = response.body["extensions"]["requestId"]
    assert await db.fetchval("SELECT count(*) FROM disclosure WHERE request_id = $1", request) == 0
