"""The termly access review: `accessReview`, `markAccountReviewed` and
`schoolgraph access-review`; each flag provoked, and the statements bounded."""

from __future__ import annotations

import csv
import datetime
import io
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg

from schema.relay import to_global_id
from tests import test_accounts
from tests.helpers import GraphQLResponse
from tests.test_accounts import DEACTIVATE, _school, create
from tests.test_cli import _run
from tests.test_policy import GRANT, REVOKE

Gql = Callable[..., Awaitable[GraphQLResponse]]
made = test_accounts.made  # the fixture: accounts a test creates, removed after it

REVIEW = """
query ($school: ID) {
  accessReview(schoolId: $school) {
    schoolId
    accounts {
      userId username isActive lastSignInAt reviewedAt reviewedBy flags
      roles { role schoolId schoolName teaching }
      grants { id scope expiresAt expiring }
    }
    studentAccounts { studentId username enrollmentStatus flags }
    flagCounts { flag count }
  }
}
"""
MARK = """
mutation ($input: MarkAccountReviewedInput!) {
  markAccountReviewed(input: $input) { user { reviewedAt } userErrors { code field } }
}
"""


def _by_name(review: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {a["username"]: a for a in review["accounts"]}


async def test_review_lists_staff_with_flags(gql: Gql, db: asyncpg.Connection, made) -> None:
    _, school = await _school(db)
    # A teacher account at the school that teaches nothing and never signed in.
    payload, idle = await create(
        gql, "admin", made, roles=[{"role": "TEACHER", "schoolId": school}]
    )
    # A grant to the designee ending in a week (GRANT_EXPIRING), revoked afterwards.
    designee = await db.fetchval("SELECT id FROM app_user WHERE username = 'designee'")
    soon = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=7)
    granted = (
        await gql(
            GRANT,
            as_user="principal",
            variables={
                "input": {
                    "granteeId": to_global_id("StaffMember", designee),
                    "scope": "SCHOOL",
                    "targetId": school,
                    "purpose": "Termly review test",
                    "expiresAt": soon.isoformat(),
                }
            },
        )
    ).ok()["grantLegitimateInterest"]["grant"]
    # The teacher signed in yesterday.
    await db.execute(
        "INSERT INTO activity_event (district_id, user_id, kind, occurred_at)"
        " SELECT district_id, id, 'login', now() - interval '1 day' FROM app_user"
        " WHERE username = 'teacher'"
    )
    try:
        review = (await gql(REVIEW, as_user="principal", variables={"school": school})).ok()[
            "accessReview"
        ]
        accounts = _by_name(review)
        assert review["schoolId"] == school
        # Staff and vendors only: no student or guardian account.
        assert {"teacher", "coordinator", "designee", "principal", idle} <= set(accounts)
        assert "student" not in accounts and "guardian" not in accounts
        assert accounts[idle]["flags"] == ["NO_SIGN_IN_90_DAYS", "ROLE_WITHOUT_TEACHING"]
        assert accounts[idle]["roles"][0]["teaching"] is False
        teacher = accounts["teacher"]
        assert teacher["lastSignInAt"] is not None
        assert "NO_SIGN_IN_90_DAYS" not in teacher["flags"]
        assert "ROLE_WITHOUT_TEACHING" not in teacher["flags"]
        assert teacher["roles"][0]["teaching"] is True
        grant = next(g for g in accounts["designee"]["grants"] if g["id"] == granted["id"])
        assert grant["expiring"] is True and grant["scope"] == "SCHOOL"
        assert "GRANT_EXPIRING" in accounts["designee"]["flags"]
        counts = {c["flag"]: c["count"] for c in review["flagCounts"]}
        assert counts["ROLE_WITHOUT_TEACHING"] == sum(
            "ROLE_WITHOUT_TEACHING" in a["flags"] for a in review["accounts"]
        )
        # A deactivated account stays listed, without flags.
        await gql(DEACTIVATE, as_user="admin", variables={"id": payload["user"]["id"]})
        review = (await gql(REVIEW, as_user="principal", variables={"school": school})).ok()[
            "accessReview"
        ]
        assert _by_name(review)[idle]["isActive"] is False
        assert _by_name(review)[idle]["flags"] == []
    finally:
        await gql(REVOKE, as_user="principal", variables={"id": granted["id"]})


async def test_student_account_active_for_a_record_that_is_not(
    gql: Gql, db: asyncpg.Connection
) -> None:
    _, school = await _school(db)
    student = await db.fetchrow(
        "SELECT s.id, u.username FROM student s JOIN app_user u ON u.id = s.user_id"
        " WHERE s.school_id = 1 AND u.is_active AND s.enrollment_status = 'active'"
        " AND u.username <> 'student' ORDER BY s.id DESC LIMIT 1"
    )
    await db.execute(
        "UPDATE student SET enrollment_status = 'withdrawn' WHERE id = $1", student["id"]
    )
    try:
        review = (await gql(REVIEW, as_user="admin", variables={"school": school})).ok()[
            "accessReview"
        ]
        listed = {s["username"]: s for s in review["studentAccounts"]}
        assert listed[student["username"]]["flags"] == ["DEACTIVATED_STUDENT_ACCOUNT_ACTIVE"]
        assert listed[student["username"]]["enrollmentStatus"] == "withdrawn"
        counts = {c["flag"]: c["count"] for c in review["flagCounts"]}
        assert counts["DEACTIVATED_STUDENT_ACCOUNT_ACTIVE"] == len(review["studentAccounts"])
        # The district's review has it too; a review of another school does not.
        district = (await gql(REVIEW, as_user="admin")).ok()["accessReview"]
        assert student["username"] in {s["username"] for s in district["studentAccounts"]}
    finally:
        await db.execute(
            "UPDATE student SET enrollment_status = 'active' WHERE id = $1", student["id"]
        )


async def test_review_scope(gql: Gql, db: asyncpg.Connection) -> None:
    _, school = await _school(db)
    other = to_global_id(
        "School",
        await db.fetchval(
            "SELECT id FROM school WHERE district_id = 1 AND id <> 1 ORDER BY id LIMIT 1"
        ),
    )
    # The principal reviews their school (the default for them), not another.
    own = (await gql(REVIEW, as_user="principal")).ok()["accessReview"]
    assert own["schoolId"] == school
    response = await gql(REVIEW, as_user="principal", variables={"school": other})
    assert response.errors[0]["extensions"]["code"] == "FORBIDDEN"
    for account in ("teacher", "coordinator", "reporter", "support", "guardian"):
        response = await gql(REVIEW, as_user=account, variables={"school": school})
        assert response.errors[0]["extensions"]["code"] == "FORBIDDEN", account
    # The district's review holds district-wide accounts (admin, reporter, support) too.
    district = _by_name((await gql(REVIEW, as_user="admin")).ok()["accessReview"])
    assert {"admin", "reporter", "support", "teacher"} <= set(district)
    assert "student" not in district


async def test_mark_account_reviewed(gql: Gql, db: asyncpg.Connection) -> None:
    teacher = await db.fetchval("SELECT id FROM app_user WHERE username = 'teacher'")
    before = await db.fetchval("SELECT reviewed_at FROM app_user WHERE id = $1", teacher)
    marked = (
        await gql(
            MARK,
            as_user="principal",
            variables={
                "input": {"userId": to_global_id("StaffMember", teacher), "note": "still teaches"}
            },
        )
    ).ok()["markAccountReviewed"]
    try:
        assert marked["userErrors"] == [] and marked["user"]["reviewedAt"] is not None
        review = _by_name((await gql(REVIEW, as_user="principal")).ok()["accessReview"])
        assert review["teacher"]["reviewedAt"] == marked["user"]["reviewedAt"]
        assert review["teacher"]["reviewedBy"] == "principal"
        event = await db.fetchrow(
            "SELECT details->>'note' AS note FROM audit_event WHERE action ="
            " 'mark_account_reviewed' AND target_id = $1 ORDER BY id DESC LIMIT 1",
            teacher,
        )
        assert event["note"] == "still teaches"
        # Not the principal's: the admin's account.
        admin = to_global_id(
            "StaffMember", await db.fetchval("SELECT id FROM app_user WHERE username = 'admin'")
        )
        refused = (
            await gql(MARK, as_user="principal", variables={"input": {"userId": admin}})
        ).ok()["markAccountReviewed"]
        assert refused["userErrors"][0]["code"] == "NOT_FOUND"
        response = await gql(
            MARK, as_user="teacher", variables={"input": {"userId": admin, "note": "x"}}
        )
        assert response.errors[0]["extensions"]["code"] == "FORBIDDEN"
    finally:
        await db.execute(
            "UPDATE app_user SET reviewed_at = $2, reviewed_by = NULL WHERE id = $1",
            teacher,
            before,
        )


async def test_review_statements_do_not_grow_with_accounts(
    gql: Gql, db: asyncpg.Connection
) -> None:
    _, school = await _school(db)
    small = await gql(REVIEW, as_user="admin", variables={"school": school})
    large = await gql(REVIEW, as_user="admin")
    small_accounts = len(small.ok()["accessReview"]["accounts"])
    large_accounts = len(large.ok()["accessReview"]["accounts"])
    assert large_accounts > 3 * small_accounts > 0
    # The school's check adds one look-up; the review itself is the same two statements.
    assert large.statements <= small.statements


async def test_cli_prints_the_review_as_csv(database_url: str, gql: Gql) -> None:
    result = _run(database_url, "access-review", "--school", "H001", "--csv")
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    by_name = {r["username"]: r for r in rows}
    assert {"teacher", "coordinator", "principal"} <= set(by_name)
    assert by_name["teacher"]["kind"] == "staff" and "teacher@" in by_name["teacher"]["roles"]
    assert "student" not in by_name
    # The same accounts as the query's review of the school.
    review = (await gql(REVIEW, as_user="principal")).ok()["accessReview"]
    staff = [r for r in rows if r["kind"] == "staff"]
    assert [r["username"] for r in staff] == [a["username"] for a in review["accounts"]]
    for account in review["accounts"]:
        assert by_name[account["username"]]["flags"].split() == account["flags"]
    table = _run(database_url, "access-review", "--district")
    assert table.returncode == 0, table.stderr
    assert "NO_SIGN_IN_90_DAYS" in table.stdout and "admin" in table.stdout
    missing = _run(database_url, "access-review", "--school", "NOPE")
    assert missing.returncode == 2 and "no school" in missing.stderr
