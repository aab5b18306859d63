"""`node(id)` for every type that implements `Node`: the same object, fields and redactions as
the path a client takes to it, and null (with no error) for one the viewer may not see.

The types are read from the schema, so a new `Node` type fails here until it has a case.
"""

from __future__ import annotations

import datetime
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest
from graphql import GraphQLInterfaceType

from schema.relay import to_global_id
from tests.helpers import forbidden_errors
from tests.test_list_defaults import SCHEMA


@dataclass(frozen=True)
class Case:
    account: str
    query: str  # the normal path; `$mark` is where the object is, with `fields`
    fields: str
    # Who may not see the object: an account (the same id), or `other district` (the id of an
    # object of the same type in the other district, as the account).
    hidden: str = "support"


ORG = "other district"
CASES: dict[str, Case] = {
    "Student": Case(
        "teacher", "{ students(first: 1) { edges { node { $mark } } } }",
        "firstName lastName email dateOfBirth",
    ),
    "Class": Case("teacher", "{ classes(first: 1, mine: true) { edges { node { $mark } } } }",
                  "title code subject", ORG),
    "School": Case("teacher", "{ schools { $mark } }", "name code level", ORG),
    "District": Case("teacher", "{ viewer { district { $mark } } }", "name", ORG),
    "Term": Case("teacher", "{ classes(first: 1) { edges { node { term { $mark } } } } }",
                 "name startsOn endsOn", ORG),
    "StaffMember": Case(
        "teacher", "{ classes(first: 1, mine: true) { edges { node { teachers { $mark } } } } }",
        "firstName lastName email", ORG,
    ),
    "Guardian": Case("guardian", "{ viewer { children { guardians { $mark } } } }",
                     "firstName lastName relationship email"),
    "Mark": Case("guardian", "{ viewer { children { marks { $mark } } } }",
                 "score letter comment class { id } term { id }"),
    "ReadinessIndicator": Case("admin", "{ students(first: 100) { edges { node {"
                               " readiness { $mark } } } } }", "indicator category met value"),
    "Portfolio": Case("guardian", "{ viewer { children { portfolio { $mark } } } }",
                      "headline items { id title }"),
    "PortfolioItem": Case("guardian", "{ viewer { children { portfolio { items { $mark } } } } }",
                          "kind title body visibility"),
    "Consent": Case("guardian", "{ viewer { children { consents { $mark } } } }",
                    "kind granted current studentId"),
    "Statement": Case("guardian", "{ viewer { children { statements { $mark } } } }",
                      "fields body dataRequestId"),
    "Disclosure": Case("guardian", "{ viewer { children { disclosures { $mark } } } }",
                       "basis fieldClasses studentId studentName"),
    "DataRequest": Case("guardian", "{ dataRequests { $mark } }", "kind status studentId"),
    "LegitimateInterestGrant": Case(
        "designee", "{ legitimateInterestGrants(activeOnly: false) { $mark } }",
        "scope purpose targetId",
    ),
    "AuditEvent": Case("admin", "{ auditEvents(first: 1) { edges { node { $mark } } } }",
                       "action targetType targetId", "principal"),
}  # fmt: skip
NODE = "query ($id: ID!) { node(id: $id) { __typename ... on %s { id %s } } }"
OTHER_DISTRICT = {  # the table of each organisational type
    "Class": "class_section",
    "School": "school",
    "District": "district",
    "Term": "term",
    "StaffMember": "app_user",
}


def test_every_node_type_has_a_case() -> None:
    node = SCHEMA.get_type("Node")
    assert isinstance(node, GraphQLInterfaceType)
    implementations = {t.name for t in SCHEMA.get_implementations(node).objects}
    assert implementations == set(CASES)


def _first(data: Any) -> Any:
    """The first object below `data` that has an `id` (depth first)."""
    if isinstance(data, list):
        for item in data:
            if (found := _first(item)) is not None:
                return found
        return None
    if isinstance(data, dict):
        if "id" in data and "nodeMark" in data:
            return data
        for value in data.values():
            if (found := _first(value)) is not None:
                return found
    return None


GRANT = """
mutation ($input: GrantLegitimateInterestInput!) {
  grantLegitimateInterest(input: $input) { grant { id } userErrors { message } }
}
"""
REVOKE = (
    "mutation ($id: ID!) { revokeLegitimateInterest(input: {id: $id}) { userErrors { code } } }"
)
FILE = """
mutation ($id: ID!) {
  fileDataRequest(input: {studentId: $id, kind: AMEND,
                          changes: [{field: PHONE, value: "+1 512 555 0142"}]}) {
    dataRequest { id } userErrors { message }
  }
}
"""
RESOLVE = """
mutation ($id: ID!) {
  resolveDataRequest(input: {id: $id, status: DENIED, resolution: "the record is right"}) {
    userErrors { message }
  }
}
"""
STATEMENT = """
mutation ($id: ID!) {
  addStatement(input: {dataRequestId: $id, body: "The phone number is out of date."}) {
    statement { id } userErrors { message }
  }
}
"""


@pytest.fixture(scope="module")
def made() -> dict[str, Any]:
    return {}


@pytest.fixture
async def records(gql: Any, db: asyncpg.Connection, made: dict[str, Any]) -> AsyncIterator[None]:
    """What the demo district lacks until someone acts: a grant, a data request and its
    statement, reads on the record of disclosures, a write in the audit. Made once."""
    if made:
        yield
        return
    child = await db.fetchval(
        "SELECT s.id FROM student s JOIN app_user u ON u.id = s.user_id"
        " WHERE u.username = 'student'"
    )
    child_id = to_global_id("Student", child)
    # A teacher reads the child's contact details: the child's record of disclosures grows.
    (await gql("{ students(first: 100) { edges { node { email } } } }", as_user="teacher")).ok()
    filed = (await gql(FILE, as_user="guardian", variables={"id": child_id})).ok()
    request = filed["fileDataRequest"]["dataRequest"]["id"]
    assert not (await gql(RESOLVE, as_user="admin", variables={"id": request})).ok()[
        "resolveDataRequest"
    ]["userErrors"]
    assert (await gql(STATEMENT, as_user="guardian", variables={"id": request})).ok()[
        "addStatement"
    ]["statement"]
    designee = await db.fetchval("SELECT id FROM app_user WHERE username = 'designee'")
    granted = await gql(
        GRANT,
        as_user="coordinator",
        variables={
            "input": {
                "granteeId": to_global_id("StaffMember", designee),
                "scope": "STUDENT",
                "targetId": child_id,
                "purpose": "node test",
                "expiresAt": (
                    datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=1)
                ).isoformat(),
            }
        },
    )
    grant = granted.ok()["grantLegitimateInterest"]["grant"]["id"]
    made["grant"] = grant
    try:
        yield
    finally:
        await gql(REVOKE, as_user="coordinator", variables={"id": grant})


async def _other_district_id(db: asyncpg.Connection, type_name: str) -> str:
    table = OTHER_DISTRICT[type_name]
    column = "id" if table == "district" else "district_id"
    pk = await db.fetchval(f"SELECT id FROM {table} WHERE {column} <> 1 ORDER BY id LIMIT 1")
    return to_global_id(type_name, pk)


@pytest.mark.parametrize("type_name", sorted(CASES))
async def test_node_answers_as_the_path_to_it_does(
    gql: Any, db: asyncpg.Connection, records: None, type_name: str
) -> None:
    case = CASES[type_name]
    normal = await gql(
        case.query.replace("$mark", f"nodeMark: __typename id {case.fields}"), as_user=case.account
    )
    found = _first(normal.data)
    assert found is not None, (type_name, normal.body)
    found.pop("nodeMark")
    by_node = await gql(NODE % (type_name, case.fields), as_user=case.account,
                        variables={"id": found["id"]})  # fmt: skip
    node = by_node.data["node"]
    assert node.pop("__typename") == type_name
    assert node == found, type_name
    # The same fields are withheld on both paths, with the same field classes.
    withheld = {p.rsplit(".", 1)[-1]: e["fieldClass"] for p, e in forbidden_errors(normal).items()}
    on_node = {p.rsplit(".", 1)[-1]: e["fieldClass"] for p, e in forbidden_errors(by_node).items()}
    assert {k: v for k, v in withheld.items() if k in case.fields.split()} == on_node
    # Someone who may not see it gets null, with no error to tell it from a missing one.
    if case.hidden == ORG:
        hidden_id = await _other_district_id(db, type_name)
        hidden = await gql(NODE % (type_name, "id"), as_user=case.account,
                           variables={"id": hidden_id})  # fmt: skip
    else:
        hidden = await gql(NODE % (type_name, "id"), as_user=case.hidden,
                           variables={"id": found["id"]})  # fmt: skip
    assert hidden.status == 200 and hidden.data == {"node": None}, (type_name, hidden.body)
    assert hidden.errors == []


async def test_a_classmate_through_node_is_withheld_as_in_the_list(gql: Any) -> None:
    """The student account sees a classmate's first name only, on both paths."""
    listed = await gql(
        "{ students(first: 5) { edges { node { id firstName lastName } } } }", as_user="student"
    )
    me = (await gql("{ viewer { student { id } } }", as_user="student")).ok()["viewer"]
    mate = next(
        e["node"]
        for e in listed.data["students"]["edges"]
        if e["node"]["id"] != me["student"]["id"]
    )
    assert mate["firstName"] and mate["lastName"] is None
    by_node = await gql(NODE % ("Student", "firstName lastName"), as_user="student",
                        variables={"id": mate["id"]})  # fmt: skip
    assert by_node.data["node"] == {"__typename": "Student", **mate}
    assert forbidden_errors(by_node)["node.lastName"]["fieldClass"] == "directory"


async def test_a_mark_of_another_class_is_null_for_its_students_teacher(
    gql: Any, db: asyncpg.Connection
) -> None:
    """A teacher reads the marks of the classes they teach: another class's mark of the same
    student is as absent as a missing one."""
    row = await db.fetchrow(
        """
        SELECT m.id FROM mark m
        WHERE m.student_id IN (
            SELECT e.student_id FROM enrollment e JOIN teaching_assignment ta
              ON ta.class_id = e.class_id JOIN app_user u ON u.id = ta.staff_user_id
            WHERE u.username = 'teacher'
              AND e.begins_on <= CURRENT_DATE AND (e.ends_on IS NULL OR e.ends_on >= CURRENT_DATE))
          AND m.class_id NOT IN (
            SELECT ta.class_id FROM teaching_assignment ta JOIN app_user u
              ON u.id = ta.staff_user_id WHERE u.username = 'teacher')
        ORDER BY m.id LIMIT 1
        """
    )
    assert row is not None
    mark = to_global_id("Mark", row["id"])
    teacher = await gql(NODE % ("Mark", "score"), as_user="teacher", variables={"id": mark})
    assert teacher.data == {"node": None} and teacher.errors == []
    admin = await gql(NODE % ("Mark", "score"), as_user="admin", variables={"id": mark})
    assert admin.ok()["node"]["__typename"] == "Mark"
