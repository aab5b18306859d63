"""Mutations over HTTP: each is allowed only as SPEC §5 says, checks its input, and is audited."""

from __future__ import annotations

import datetime
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import pytest

from schema.relay import to_global_id
from tests.helpers import GraphQLResponse
from tests.test_encryption import plain
from tests.test_policy import _TAUGHT_BY, _pick, _student_of, _user_id, sid

Gql = Callable[..., Awaitable[GraphQLResponse]]

RECORD_MARK = """
mutation ($input: RecordMarkInput!) {
  recordMark(input: $input) { mark { score letter class { id } } userErrors { code field } }
}
"""


async def _audits(db: asyncpg.Connection, action: str) -> int:
    return int(await db.fetchval("SELECT count(*) FROM audit_event WHERE action = $1", action))


async def _teacher_class_and_pupil(db: asyncpg.Connection) -> tuple[int, int]:
    row = await db.fetchrow(
        """
        SELECT e.class_id, e.student_id FROM enrollment e
        JOIN teaching_assignment ta ON ta.class_id = e.class_id
        JOIN app_user u ON u.id = ta.staff_user_id
        WHERE u.username = 'teacher' AND ta.ends_on IS NULL AND e.ends_on IS NULL
        ORDER BY e.id LIMIT 1
        """
    )
    return row["class_id"], row["student_id"]


async def test_teacher_records_a_mark_for_their_class(gql: Gql, db: asyncpg.Connection) -> None:
    klass, pupil = await _teacher_class_and_pupil(db)
    before = await _audits(db, "record_mark")
    variables = {
        "input": {
            "studentId": sid(pupil),
            "classId": to_global_id("Class", klass),
            "score": "87.5",
            "comment": "Strong quiz",
        }
    }
    payload = (await gql(RECORD_MARK, as_user="teacher", variables=variables)).ok()["recordMark"]
    assert payload["userErrors"] == []
    assert payload["mark"]["letter"] == "B"
    stored = await db.fetchrow(
        "SELECT id, score FROM mark WHERE student_id = $1 AND class_id = $2", pupil, klass
    )
    assert float(stored["score"]) == 87.5
    assert await plain(db, "mark", "comment", stored["id"]) == "Strong quiz"
    assert await _audits(db, "record_mark") == before + 1


async def test_mark_refusals(gql: Gql, db: asyncpg.Connection) -> None:
    klass, pupil = await _teacher_class_and_pupil(db)
    other_class = await db.fetchval(
        "SELECT e.class_id FROM enrollment e WHERE e.student_id = $1 AND e.ends_on IS NULL"
        " AND e.class_id NOT IN (SELECT class_id FROM teaching_assignment ta JOIN app_user u"
        " ON u.id = ta.staff_user_id WHERE u.username = 'teacher') LIMIT 1",
        pupil,
    )
    outsider = await _pick(db, f"s.id NOT IN ({_TAUGHT_BY})")

    async def codes(student: int, class_id: int, score: str, user: str = "teacher") -> Any:
        variables = {
            "input": {
                "studentId": sid(student),
                "classId": to_global_id("Class", class_id),
                "score": score,
            }
        }
        return await gql(RECORD_MARK, as_user=user, variables=variables)

    def user_errors(response: GraphQLResponse) -> list[str]:
        return [e["code"] for e in response.ok()["recordMark"]["userErrors"]]

    assert user_errors(await codes(pupil, other_class, "90")) == ["NOT_YOUR_CLASS"]
    assert user_errors(await codes(pupil, klass, "101")) == ["OUT_OF_RANGE"]
    assert user_errors(await codes(outsider, klass, "90")) == ["NOT_FOUND"]
    # A guardian is related to their child but may not write marks.
    child = await _student_of(db, "student")
    refused = await codes(child, klass, "90", user="guardian")
    assert refused.errors[0]["extensions"]["code"] == "FORBIDDEN"


ADD_ITEM = """
mutation ($input: AddPortfolioItemInput!) {
  addPortfolioItem(input: $input) { item { id title visibility } userErrors { code } }
}
"""
UPDATE_ITEM = """
mutation ($input: UpdatePortfolioItemInput!) {
  updatePortfolioItem(input: $input) { item { title visibility } userErrors { code } }
}
"""


async def test_student_keeps_their_portfolio(gql: Gql, db: asyncpg.Connection) -> None:
    item = {"kind": "goal", "title": "Finish Algebra II with a B", "visibility": "TEACHERS"}
    added = (await gql(ADD_ITEM, as_user="student", variables={"input": item})).ok()
    created = added["addPortfolioItem"]["item"]
    assert created["visibility"] == "TEACHERS"
    updated = await gql(
        UPDATE_ITEM,
        as_user="student",
        variables={"input": {"id": created["id"], "visibility": "PRIVATE"}},
    )
    assert updated.ok()["updatePortfolioItem"]["item"] == {
        "title": "Finish Algebra II with a B",
        "visibility": "PRIVATE",
    }
    # Someone else's item cannot be edited, even by its guardian.
    other = await gql(
        UPDATE_ITEM, as_user="guardian", variables={"input": {"id": created["id"], "title": "x"}}
    )
    assert other.errors[0]["extensions"]["code"] == "FORBIDDEN"
    me = await _student_of(db, "student")
    events = await db.fetchval(
        "SELECT count(*) FROM activity_event WHERE student_id = $1 AND kind LIKE 'portfolio_item_%'"
        " AND occurred_at > now() - interval '1 minute'",
        me,
    )
    assert events == 2


async def test_under_13_without_coppa_consent_is_refused(gql: Gql, db: asyncpg.Connection) -> None:
    child = await db.fetchrow(
        "SELECT s.id, u.username FROM student s JOIN app_user u ON u.id = s.user_id"
        " WHERE NOT s.coppa_consent AND s.date_of_birth > CURRENT_DATE - interval '13 years'"
        " ORDER BY s.id LIMIT 1"
    )
    item = {"input": {"kind": "interest", "title": "Robots"}}
    items = "SELECT count(*) FROM portfolio_item WHERE student_id = $1"
    before = await db.fetchval(items, child["id"])
    response = await gql(ADD_ITEM, as_user=child["username"], variables=item)
    codes = [e["code"] for e in response.ok()["addPortfolioItem"]["userErrors"]]
    assert codes == ["COPPA_CONSENT_REQUIRED"]
    assert await db.fetchval(items, child["id"]) == before

    # The guardian records consent; then the same write goes through.
    parent = await db.fetchval(
        "SELECT u.username FROM guardian_link gl JOIN app_user u ON u.id = gl.guardian_user_id"
        " WHERE gl.student_id = $1 AND gl.data_access LIMIT 1",
        child["id"],
    )
    consent = await gql(
        """mutation ($id: ID!) { recordConsent(input: {studentId: $id, kind: COPPA_COLLECTION,
           granted: true}) { consent { kind granted } userErrors { code } } }""",
        as_user=parent,
        variables={"id": sid(child["id"])},
    )
    assert consent.ok()["recordConsent"]["consent"] == {"kind": "COPPA_COLLECTION", "granted": True}
    response = await gql(ADD_ITEM, as_user=child["username"], variables=item)
    assert response.ok()["addPortfolioItem"]["item"]["title"] == "Robots"


async def test_a_minor_cannot_exercise_their_own_rights(gql: Gql, db: asyncpg.Connection) -> None:
    me = await _student_of(db, "student")
    response = await gql(
        """mutation ($id: ID!) { fileDataRequest(input: {studentId: $id, kind: INSPECT}) {
           dataRequest { id } } }""",
        as_user="student",
        variables={"id": sid(me)},
    )
    assert response.errors[0]["extensions"]["code"] == "FORBIDDEN"
    assert "18" in response.errors[0]["message"]


async def test_data_request_filed_and_resolved(gql: Gql, db: asyncpg.Connection) -> None:
    child = await _student_of(db, "student")
    filed = await gql(
        """mutation ($id: ID!) { fileDataRequest(input: {studentId: $id, kind: INSPECT,
           details: "All records, please"}) {
             dataRequest { id status dueOn } userErrors { code } } }""",
        as_user="guardian",
        variables={"id": sid(child)},
    )
    request = filed.ok()["fileDataRequest"]["dataRequest"]
    assert request["status"] == "OPEN"
    due = datetime.date.fromisoformat(request["dueOn"])
    assert due == datetime.date.today() + datetime.timedelta(days=45)

    node = "query ($id: ID!) { node(id: $id) { ... on DataRequest { kind } } }"
    for account, visible in (("guardian", True), ("principal", True), ("teacher", False)):
        found = (await gql(node, as_user=account, variables={"id": request["id"]})).ok()["node"]
        assert (found == {"kind": "INSPECT"}) if visible else found is None, account
    listed = (await gql("{ dataRequests(status: OPEN) { id } }", as_user="principal")).ok()
    assert request["id"] in {r["id"] for r in listed["dataRequests"]}
    assert request["id"] not in {
        r["id"]
        for r in (await gql("{ dataRequests { id } }", as_user="teacher")).ok()["dataRequests"]
    }

    resolve = """mutation ($id: ID!, $as: DataRequestStatus!) {
        resolveDataRequest(input: {id: $id, status: $as, resolution: "Copies mailed"}) {
          dataRequest { status } userErrors { code } } }"""
    refused = await gql(
        resolve, as_user="teacher", variables={"id": request["id"], "as": "COMPLETED"}
    )
    assert [e["code"] for e in refused.ok()["resolveDataRequest"]["userErrors"]] == ["NOT_FOUND"]
    done = await gql(
        resolve, as_user="principal", variables={"id": request["id"], "as": "COMPLETED"}
    )
    assert done.ok()["resolveDataRequest"]["dataRequest"]["status"] == "COMPLETED"
    again = await gql(resolve, as_user="principal", variables={"id": request["id"], "as": "DENIED"})
    assert [e["code"] for e in again.ok()["resolveDataRequest"]["userErrors"]] == [
        "ALREADY_RESOLVED"
    ]


ASSIGN = """
mutation ($input: RoleInput!) { assignRole(input: $input) { role userErrors { code } } }
"""
REVOKE_ROLE = """
mutation ($input: RoleInput!) { revokeRole(input: $input) { role userErrors { code } } }
"""


async def test_admins_manage_roles(gql: Gql, db: asyncpg.Connection) -> None:
    teacher = await _user_id(db, "teacher")
    school = await db.fetchval(
        "SELECT school_id FROM role_assignment WHERE user_id = $1 AND role = 'teacher'", teacher
    )
    role = {
        "userId": to_global_id("StaffMember", teacher),
        "role": "COORDINATOR",
        "schoolId": to_global_id("School", school),
    }
    assigned = await gql(ASSIGN, as_user="principal", variables={"input": role})
    assert assigned.ok()["assignRole"]["role"] == "COORDINATOR"
    held = "SELECT count(*) FROM role_assignment WHERE user_id = $1 AND role = 'coordinator'"
    assert await db.fetchval(held, teacher) == 1
    revoked = await gql(REVOKE_ROLE, as_user="principal", variables={"input": role})
    assert revoked.ok()["revokeRole"]["userErrors"] == []
    assert await db.fetchval(held, teacher) == 0
    assert await _audits(db, "assign_role") >= 1
    assert await _audits(db, "revoke_role") >= 1


@pytest.mark.parametrize(
    ("account", "role", "district_wide"),
    [
        ("teacher", "COORDINATOR", False),
        ("principal", "DISTRICT_ADMIN", True),
        ("principal", "SCHOOL_ADMIN", False),
        ("coordinator", "DESIGNEE", False),
    ],
)
async def test_role_changes_beyond_ones_scope_are_forbidden(
    gql: Gql, db: asyncpg.Connection, account: str, role: str, district_wide: bool
) -> None:
    target = await _user_id(db, "designee")
    school = await db.fetchval("SELECT school_id FROM role_assignment WHERE user_id = $1", target)
    role_input: dict[str, Any] = {"userId": to_global_id("StaffMember", target), "role": role}
    if not district_wide:
        role_input["schoolId"] = to_global_id("School", school)
    before = await db.fetchval("SELECT count(*) FROM role_assignment")
    response = await gql(ASSIGN, as_user=account, variables={"input": role_input})
    assert response.errors[0]["extensions"]["code"] == "FORBIDDEN"
    assert await db.fetchval("SELECT count(*) FROM role_assignment") == before


async def test_anonymous_mutations_are_refused(gql: Gql, db: asyncpg.Connection) -> None:
    item = {"input": {"kind": "goal", "title": "x"}}
    response = await gql(ADD_ITEM, variables=item)
    assert response.errors[0]["extensions"]["code"] == "UNAUTHENTICATED"
