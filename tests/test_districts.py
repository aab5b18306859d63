"""A district's settings (over HTTP and the command line) and a school's cancellation."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import pytest

from app.auth import hash_password
from tests.factories import STRONG_PASSWORD, other_district_id
from tests.helpers import GraphQLResponse, assert_forbidden
from tests.test_cli import _run

Gql = Callable[..., Awaitable[GraphQLResponse]]

SETTINGS = """
{ viewer { district { id name dataRequestDays contractEndsOn subscriptionEndsOn
                      consentNoticeDays } } }
"""
UPDATE = """
mutation ($input: UpdateDistrictSettingsInput!) {
  updateDistrictSettings(input: $input) {
    district { dataRequestDays contractEndsOn subscriptionEndsOn consentNoticeDays }
    userErrors { code field message }
  }
}
"""
LOGIN = """
mutation ($u: String!, $p: String!) {
  login(input: {username: $u, password: $p}) { token userErrors { code } }
}
"""
_COLUMNS = "data_request_days, contract_ends_on, subscription_ends_on, consent_notice_days"


@pytest.fixture
async def demo_district(db: asyncpg.Connection) -> AsyncIterator[int]:
    """The demo district's id; its settings are put back after the test."""
    district = int(await db.fetchval("SELECT district_id FROM app_user WHERE username = 'admin'"))
    before = await db.fetchrow(f"SELECT {_COLUMNS} FROM district WHERE id = $1", district)
    yield district
    await db.execute(
        "UPDATE district SET data_request_days = $2, contract_ends_on = $3,"
        " subscription_ends_on = $4, consent_notice_days = $5 WHERE id = $1",
        district,
        *before.values(),
    )


async def test_district_admins_read_the_settings_others_do_not(
    gql: Gql, demo_district: int
) -> None:
    district = (await gql(SETTINGS, as_user="admin")).ok()["viewer"]["district"]
    assert district["dataRequestDays"] == 45 and district["consentNoticeDays"] == 30
    assert district["contractEndsOn"] is None and district["subscriptionEndsOn"] is None
    for account in ("principal", "coordinator", "teacher", "guardian"):
        response = await gql(SETTINGS, as_user=account)
        district = response.data["viewer"]["district"]
        assert district["name"], account
        assert district["dataRequestDays"] is None and district["consentNoticeDays"] is None
        assert_forbidden(response, "viewer.district.dataRequestDays", "settings")


async def test_a_district_admin_changes_the_settings(
    gql: Gql, db: asyncpg.Connection, demo_district: int
) -> None:
    variables = {
        "input": {"dataRequestDays": 30, "contractEndsOn": "2026-06-30", "consentNoticeDays": 14}
    }
    payload = (await gql(UPDATE, as_user="admin", variables=variables)).ok()
    assert payload["updateDistrictSettings"] == {
        "district": {
            "dataRequestDays": 30,
            "contractEndsOn": "2026-06-30",
            "subscriptionEndsOn": None,
            "consentNoticeDays": 14,
        },
        "userErrors": [],
    }
    stored = await db.fetchrow(f"SELECT {_COLUMNS} FROM district WHERE id = $1", demo_district)
    assert stored["data_request_days"] == 30 and str(stored["contract_ends_on"]) == "2026-06-30"
    audit = await db.fetchrow(
        "SELECT * FROM audit_event WHERE action = 'update_district_settings'"
        " ORDER BY id DESC LIMIT 1"
    )
    details = json.loads(audit["details"])
    assert details["before"]["dataRequestDays"] == 45 and details["after"]["dataRequestDays"] == 30
    assert details["after"]["contractEndsOn"] == "2026-06-30"
    assert audit["actor_user_id"] == await db.fetchval(
        "SELECT id FROM app_user WHERE username = 'admin'"
    )
    # Null clears a date; a setting not given stays.
    cleared = (
        await gql(UPDATE, as_user="admin", variables={"input": {"contractEndsOn": None}})
    ).ok()["updateDistrictSettings"]["district"]
    assert cleared["contractEndsOn"] is None and cleared["dataRequestDays"] == 30


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"dataRequestDays": 46}, "dataRequestDays"),
        ({"dataRequestDays": 0}, "dataRequestDays"),
        ({"dataRequestDays": None}, "dataRequestDays"),
        ({"consentNoticeDays": 366}, "consentNoticeDays"),
        ({"consentNoticeDays": -1}, "consentNoticeDays"),
        ({"subscriptionEndsOn": "1999-12-31"}, "subscriptionEndsOn"),
    ],
)
async def test_settings_out_of_range_are_refused(
    gql: Gql, db: asyncpg.Connection, demo_district: int, change: dict[str, Any], field: str
) -> None:
    before = await db.fetchrow(f"SELECT {_COLUMNS} FROM district WHERE id = $1", demo_district)
    payload = (await gql(UPDATE, as_user="admin", variables={"input": change})).ok()
    errors = payload["updateDistrictSettings"]["userErrors"]
    assert [(e["code"], e["field"]) for e in errors] == [("OUT_OF_RANGE", [field])]
    assert payload["updateDistrictSettings"]["district"] is None
    after = await db.fetchrow(f"SELECT {_COLUMNS} FROM district WHERE id = $1", demo_district)
    assert after == before


async def test_a_bad_date_is_a_clear_error(gql: Gql, demo_district: int) -> None:
    response = await gql(UPDATE, as_user="admin", variables={"input": {"contractEndsOn": "soon"}})
    assert response.status == 200 or 400 <= response.status < 500
    assert response.errors and not response.data


@pytest.mark.parametrize("account", ["principal", "coordinator", "guardian", "support"])
async def test_only_district_admins_change_the_settings(
    gql: Gql, db: asyncpg.Connection, demo_district: int, account: str
) -> None:
    before = await db.fetchrow(f"SELECT {_COLUMNS} FROM district WHERE id = $1", demo_district)
    response = await gql(UPDATE, as_user=account, variables={"input": {"dataRequestDays": 10}})
    assert response.data is None or response.data["updateDistrictSettings"] is None
    assert [e["extensions"]["code"] for e in response.errors] == ["FORBIDDEN"]
    after = await db.fetchrow(f"SELECT {_COLUMNS} FROM district WHERE id = $1", demo_district)
    assert after == before


def test_the_settings_command_prints_and_changes(
    database_url: str, admin_database_url: str, demo_district: int
) -> None:
    shown = _run(database_url, "district", "settings", "--district", str(demo_district))
    assert shown.returncode == 0, shown.stderr
    assert "dataRequestDays" in shown.stdout and "45" in shown.stdout
    changed = _run(
        database_url, "district", "settings", "--district", str(demo_district),
        "--data-request-days", "20", "--subscription-ends", "2025-01-31",
        "--consent-notice-days", "7",
    )  # fmt: skip
    assert changed.returncode == 0, changed.stderr
    assert "2025-01-31" in changed.stdout and "changed:" in changed.stdout
    cleared = _run(
        database_url, "district", "settings", "--district", str(demo_district),
        "--subscription-ends", "none",
    )  # fmt: skip
    assert cleared.returncode == 0, cleared.stderr
    refused = _run(
        database_url, "district", "settings", "--district", str(demo_district),
        "--data-request-days", "60",
    )  # fmt: skip
    assert refused.returncode == 2 and "1 to 45" in refused.stdout
    bad = _run(database_url, "district", "settings", "--contract-ends", "tomorrow")
    assert bad.returncode == 2 and "YYYY-MM-DD" in bad.stdout


async def test_the_settings_command_is_audited(
    database_url: str, db: asyncpg.Connection, demo_district: int
) -> None:
    result = _run(
        database_url, "district", "settings", "--district", str(demo_district),
        "--data-request-days", "21",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert (
        await db.fetchval("SELECT data_request_days FROM district WHERE id = $1", demo_district)
        == 21
    )
    audit = await db.fetchrow(
        "SELECT * FROM audit_event WHERE action = 'update_district_settings'"
        " ORDER BY id DESC LIMIT 1"
    )
    details = json.loads(audit["details"])
    assert audit["actor_user_id"] is None and details["by"]
    assert details["after"]["dataRequestDays"] == 21


# --- a school's cancellation ---------------------------------------------------------------------


@pytest.fixture
async def small_school(db: asyncpg.Connection) -> AsyncIterator[dict[str, Any]]:
    """A school of the second district with one class: a teacher, a student and their guardian
    (both able to log in), an enrollment, a mark and a class-scoped grant."""
    district = await other_district_id(db)
    tag = uuid.uuid4().hex[:8]
    school = await db.fetchval(
        "INSERT INTO school (district_id, name, code, level) VALUES ($1, $2, $3, 'elementary')"
        " RETURNING id",
        district,
        f"Closing Elementary {tag}",
        f"CE-{tag}",
    )
    term = await db.fetchval(
        "SELECT id FROM term WHERE district_id = $1 ORDER BY ends_on DESC LIMIT 1", district
    )
    password = hash_password(STRONG_PASSWORD)
    users = {}
    for name in ("teacher", "student", "guardian"):
        users[name] = await db.fetchval(
            "INSERT INTO app_user (district_id, username, first_name, last_name, password_hash)"
            " VALUES ($1, $2, 'Test', $3, $4) RETURNING id",
            district,
            f"{name}-{tag}",
            name.title(),
            password,
        )
        role_school = None if name == "guardian" else school
        await db.execute(
            "INSERT INTO role_assignment (district_id, user_id, role, school_id)"
            " VALUES ($1, $2, $3, $4)",
            district,
            users[name],
            name,
            role_school,
        )
    student = await db.fetchval(
        "INSERT INTO student (district_id, school_id, user_id, student_number, first_name,"
        " last_name, grade_level, date_of_birth, gender, ethnicity, enrollment_status)"
        " VALUES ($1, $2, $3, $4, 'Test', 'Student', 4, '2016-05-01', 'female', 'White',"
        " 'active') RETURNING id",
        district,
        school,
        users["student"],
        f"N-{tag}",
    )
    link = await db.fetchval(
        "INSERT INTO guardian_link (district_id, guardian_user_id, student_id, relationship,"
        " legal_guardian, data_access, starts_on) VALUES ($1, $2, $3, 'parent', true, true,"
        " CURRENT_DATE - 30) RETURNING id",
        district,
        users["guardian"],
        student,
    )
    klass = await db.fetchval(
        "INSERT INTO class_section (district_id, school_id, term_id, title, code, subject,"
        " grade_levels, visibility) VALUES ($1, $2, $3, 'Grade 4 Math', $4, 'Math', '{4}',"
        " 'PRIVATE') RETURNING id",
        district,
        school,
        term,
        f"M4-{tag}",
    )
    await db.execute(
        "INSERT INTO enrollment (district_id, class_id, student_id, begins_on)"
        " VALUES ($1, $2, $3, CURRENT_DATE - 30)",
        district,
        klass,
        student,
    )
    await db.execute(
        "INSERT INTO teaching_assignment (district_id, class_id, staff_user_id, starts_on)"
        " VALUES ($1, $2, $3, CURRENT_DATE - 30)",
        district,
        klass,
        users["teacher"],
    )
    await db.execute(
        "INSERT INTO mark (district_id, student_id, class_id, term_id, score, letter)"
        " VALUES ($1, $2, $3, $4, 91, 'A')",
        district,
        student,
        klass,
        term,
    )
    grant = await db.fetchval(
        "INSERT INTO legitimate_interest_grant (district_id, grantee_user_id, scope, class_id,"
        " school_id, purpose, granted_by, starts_at, expires_at) VALUES ($1, $2, 'class', $3, $4,"
        " 'Reading support', $2, now(), now() + interval '30 days') RETURNING id",
        district,
        users["teacher"],
        klass,
        school,
    )
    yield {
        "school": school, "code": f"CE-{tag}", "class": klass, "student": student,
        "link": link, "grant": grant, "users": users, "tag": tag,
    }  # fmt: skip
    await db.execute("DELETE FROM legitimate_interest_grant WHERE id = $1", grant)
    for table in ("mark", "enrollment", "teaching_assignment"):
        await db.execute(f"DELETE FROM {table} WHERE class_id = $1", klass)
    await db.execute("DELETE FROM class_section WHERE id = $1", klass)
    await db.execute("DELETE FROM guardian_link WHERE id = $1", link)
    await db.execute(
        "DELETE FROM activity_event WHERE user_id = ANY($1) OR student_id = $2",
        list(users.values()),
        student,
    )
    await db.execute("DELETE FROM student WHERE id = $1", student)
    await db.execute("DELETE FROM role_assignment WHERE user_id = ANY($1)", list(users.values()))
    await db.execute("DELETE FROM user_session WHERE user_id = ANY($1)", list(users.values()))
    await db.execute("DELETE FROM app_user WHERE id = ANY($1)", list(users.values()))
    await db.execute("DELETE FROM school WHERE id = $1", school)


async def _count(db: asyncpg.Connection, sql: str, *args: Any) -> int:
    return int(await db.fetchval(sql, *args))


async def test_a_dry_run_changes_nothing(
    database_url: str, db: asyncpg.Connection, small_school: dict[str, Any]
) -> None:
    result = _run(database_url, "school", "cancel", small_school["code"], "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "removes classes" in result.stdout and "dry run" in result.stdout
    assert (
        await _count(db, "SELECT count(*) FROM class_section WHERE id = $1", small_school["class"])
        == 1
    )


async def test_a_cancelled_school_keeps_its_students_and_guardians(
    gql: Gql, database_url: str, db: asyncpg.Connection, small_school: dict[str, Any]
) -> None:
    school, klass = small_school["school"], small_school["class"]
    result = _run(database_url, "school", "cancel", str(school), "--yes")
    assert result.returncode == 0, result.stderr
    assert "1 classes and 1 enrollments removed" in result.stdout
    assert await _count(db, "SELECT count(*) FROM class_section WHERE school_id = $1", school) == 0
    for table in ("enrollment", "teaching_assignment", "mark"):
        assert await _count(db, f"SELECT count(*) FROM {table} WHERE class_id = $1", klass) == 0
    # The class grant was revoked first, and outlives its class in the record.
    grant = await db.fetchrow(
        "SELECT revoked_at, class_id FROM legitimate_interest_grant WHERE id = $1",
        small_school["grant"],
    )
    assert grant["revoked_at"] is not None and grant["class_id"] is None
    # Accounts, the student record and the guardian link stay; both can still log in.
    assert (
        await _count(db, "SELECT count(*) FROM student WHERE id = $1", small_school["student"]) == 1
    )
    assert (
        await _count(db, "SELECT count(*) FROM guardian_link WHERE id = $1", small_school["link"])
        == 1
    )
    for name in ("student", "guardian"):
        variables = {"u": f"{name}-{small_school['tag']}", "p": STRONG_PASSWORD}
        payload = (await gql(LOGIN, variables=variables)).ok()["login"]
        assert payload["userErrors"] == [] and payload["token"], name
    audit = await db.fetchrow(
        "SELECT * FROM audit_event WHERE action = 'cancel_school' AND target_id = $1", school
    )
    details = json.loads(audit["details"])
    assert details["classes"] == 1 and details["enrollments"] == 1 and details["marks"] == 1
    assert details["grants_revoked"] == 1 and details["by"]


def test_cancelling_an_unknown_school_is_a_clear_error(database_url: str) -> None:
    result = _run(database_url, "school", "cancel", "NO-SUCH-SCHOOL", "--yes")
    assert result.returncode == 2 and "no school" in result.stdout


async def test_a_code_used_in_several_districts_needs_the_district(
    database_url: str, db: asyncpg.Connection
) -> None:
    code, district = await db.fetchrow(
        "SELECT code, min(district_id) FROM school GROUP BY code"
        " HAVING count(DISTINCT district_id) > 1 ORDER BY code LIMIT 1"
    )
    ambiguous = _run(database_url, "school", "cancel", code, "--dry-run")
    assert ambiguous.returncode == 2 and "--district" in ambiguous.stdout
    classes = await db.fetchval("SELECT count(*) FROM class_section")
    named = _run(database_url, "school", "cancel", code, "--district", str(district), "--dry-run")
    assert named.returncode == 0, named.stderr
    name = await db.fetchval(
        "SELECT name FROM school WHERE code = $1 AND district_id = $2", code, district
    )
    assert name in named.stdout and "dry run" in named.stdout
    assert await db.fetchval("SELECT count(*) FROM class_section") == classes
