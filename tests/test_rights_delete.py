"""A DELETE request, end to end over HTTP: filed by a guardian, previewed and confirmed by an
administrator, and then no trace of the student's identity anywhere in the database, while the
district's report totals and the record of disclosures stay.

Each test makes its own district (tests/factories.py): de-identification cannot be undone.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg

from app.rights.deidentify import REMOVED_FIRST_NAME
from schema.relay import to_global_id
from tests.factories import identity_traces, make_privacy_district
from tests.helpers import GraphQLResponse

Gql = Callable[..., Awaitable[GraphQLResponse]]

FILE = """mutation ($id: ID!, $kind: DataRequestKind!, $details: String,
                   $changes: [ProposedChangeInput!]) {
  fileDataRequest(input: {studentId: $id, kind: $kind, details: $details, changes: $changes}) {
    dataRequest { id status } userErrors { code message } } }"""
RESOLVE = """mutation ($id: ID!, $confirm: Boolean!) {
  resolveDataRequest(input: {id: $id, status: COMPLETED, resolution: "Done as asked",
                             confirm: $confirm}) {
    dataRequest { status } userErrors { code field message } } }"""
PREVIEW = """query { dataRequests(status: OPEN) { id kind
  deletionPreview { what rows action } } }"""
READ = """query ($id: ID!) { student(id: $id) { firstName lastName studentNumber email
  dateOfBirth phone } }"""
DISCLOSURES = """query ($id: ID!) { disclosures(studentId: $id, first: 100) {
  edges { node { id basis student { firstName lastName } } } } }"""
REPORT = """query ($metric: ReportMetric!, $groupBy: [ReportDimension!]!) {
  report(metric: $metric, groupBy: $groupBy) {
    cells { dimensions { value } value studentCount suppressed }
    total { value studentCount suppressed } } }"""
REPORTS = (
    ("STUDENT_COUNT", ["SCHOOL", "GENDER"]),
    ("PORTFOLIO_ITEMS", ["SCHOOL"]),
    ("AVERAGE_MARK", ["SCHOOL"]),
    ("READINESS_RATE", []),
)


async def _reports(gql: Gql, admin: str) -> list[Any]:
    out = []
    for metric, group_by in REPORTS:
        data = (
            await gql(REPORT, as_user=admin, variables={"metric": metric, "groupBy": group_by})
        ).ok()
        out.append((metric, data["report"]))
    return out


async def test_a_delete_request_leaves_no_trace_and_the_totals_stand(
    gql: Gql, db: asyncpg.Connection
) -> None:
    district = await make_privacy_district(db)
    subject = to_global_id("Student", district.subject)
    admin, guardian = district.admin, district.guardian

    # Reads recorded before: the guardian and the admin saw her record.
    seen = (await gql(READ, as_user=guardian, variables={"id": subject})).ok()["student"]
    assert seen["email"] == district.email and seen["firstName"] == district.first_name
    (await gql(READ, as_user=admin, variables={"id": subject})).ok()
    before_disclosures = (await gql(DISCLOSURES, as_user=admin, variables={"id": subject})).ok()[
        "disclosures"
    ]["edges"]
    assert len(before_disclosures) >= 2
    totals = await _reports(gql, admin)
    assert await identity_traces(db, district), "the scan finds the identity before"

    # An amendment filed before the deletion cannot be carried out after it.
    phone = [{"field": "PHONE", "value": "+1 512 555 0142"}]
    amend = (
        await gql(
            FILE, as_user=guardian, variables={"id": subject, "kind": "AMEND", "changes": phone}
        )
    ).ok()["fileDataRequest"]["dataRequest"]
    filed = (
        await gql(
            FILE,
            as_user=guardian,
            variables={
                "id": subject,
                "kind": "DELETE",
                "details": f"Please delete everything about {district.first_name}"
                f" {district.last_name}, born {district.born.isoformat()}",
            },
        )
    ).ok()["fileDataRequest"]
    assert filed["userErrors"] == []
    request = filed["dataRequest"]["id"]

    # The preview: administrators only, a line per kind of row.
    listed = (await gql(PREVIEW, as_user=admin)).ok()["dataRequests"]
    mine = next(r for r in listed if r["id"] == request)
    assert mine["kind"] == "DELETE"
    preview = {line["what"]: line for line in mine["deletionPreview"]}
    assert {line["action"] for line in preview.values()} == {"REMOVED", "REPLACED", "KEPT"}
    items = next(v for k, v in preview.items() if k.startswith("portfolio items"))
    assert items == {"what": items["what"], "rows": 2, "action": "REMOVED"}
    record = next(v for k, v in preview.items() if k.startswith("record of disclosures"))
    assert record["action"] == "KEPT" and record["rows"] >= 2
    amend_row = next(r for r in listed if r["id"] == amend["id"])
    assert amend_row["deletionPreview"] is None  # not a deletion
    by_guardian = (await gql(PREVIEW, as_user=guardian)).ok()["dataRequests"]
    assert next(r for r in by_guardian if r["id"] == request)["deletionPreview"] is None

    # Completing without confirming changes nothing.
    refused = (await gql(RESOLVE, as_user=admin, variables={"id": request, "confirm": False})).ok()[
        "resolveDataRequest"
    ]
    assert [(e["code"], e["field"]) for e in refused["userErrors"]] == [
        ("CONFIRMATION_REQUIRED", ["confirm"])
    ]
    row = await db.fetchrow(
        "SELECT first_name, deidentified_at FROM student WHERE id = $1", district.subject
    )
    assert row["first_name"] == district.first_name and row["deidentified_at"] is None
    assert await db.fetchval("SELECT status FROM data_request WHERE id = $1", _pk(request)) == (
        "open"
    )

    done = (await gql(RESOLVE, as_user=admin, variables={"id": request, "confirm": True})).ok()[
        "resolveDataRequest"
    ]
    assert done == {"dataRequest": {"status": "COMPLETED"}, "userErrors": []}

    assert await identity_traces(db, district) == []
    assert await _reports(gql, admin) == totals

    # The record of disclosures stays, and names the pseudonym.
    after = (await gql(DISCLOSURES, as_user=admin, variables={"id": subject})).ok()
    edges = after["disclosures"]["edges"]
    assert {e["node"]["id"] for e in before_disclosures} <= {e["node"]["id"] for e in edges}
    names = {(e["node"]["student"]["firstName"], e["node"]["student"]["lastName"]) for e in edges}
    assert len(names) == 1
    first, last = names.pop()
    assert first == REMOVED_FIRST_NAME and last.startswith("Student ")
    shown = (await gql(READ, as_user=admin, variables={"id": subject})).ok()["student"]
    assert shown["email"] is None and shown["dateOfBirth"] is None and shown["phone"] is None
    assert shown["studentNumber"] == "removed-" + last.removeprefix("Student ").lower()

    # Guardian links ended; the guardian's account and other child stay.
    assert (await gql(READ, as_user=guardian, variables={"id": subject})).ok()["student"] is None
    sibling = to_global_id("Student", district.students[1])
    assert (await gql(READ, as_user=guardian, variables={"id": sibling})).ok()["student"]
    account = await db.fetchrow(
        "SELECT username, is_active, password_hash, email FROM app_user WHERE id = $1",
        district.subject_user,
    )
    assert not account["is_active"] and account["password_hash"] is None
    assert account["email"] is None and account["username"].startswith("removed-")
    assert not await db.fetchval(
        "SELECT count(*) FROM role_assignment WHERE user_id = $1", district.subject_user
    )

    # What stays and what went, row by row.
    counts = await db.fetchrow(
        "SELECT (SELECT count(*) FROM portfolio_item WHERE student_id = $1) AS items,"
        " (SELECT count(*) FROM portfolio_item WHERE student_id = $1 AND body IS NULL"
        "   AND erased_at IS NOT NULL) AS erased,"
        " (SELECT count(*) FROM student_statement WHERE student_id = $1) AS statements,"
        " (SELECT count(*) FROM audit_change WHERE student_id = $1) AS values,"
        " (SELECT count(*) FROM data_export WHERE student_id = $1 AND content IS NULL"
        "   AND purged_at IS NOT NULL) AS purged,"
        " (SELECT count(*) FROM mark WHERE student_id = $1 AND comment IS NULL"
        "   AND score IS NOT NULL) AS marks,"
        " (SELECT count(*) FROM enrollment WHERE student_id = $1) AS enrollments,"
        " (SELECT count(*) FROM consent WHERE student_id = $1) AS consents",
        district.subject,
    )
    assert dict(counts) == {
        "items": 2,
        "erased": 2,
        "statements": 0,
        "values": 0,
        "purged": 1,
        "marks": 1,
        "enrollments": 1,
        "consents": 1,
    }
    messages = await db.fetchval(
        "SELECT warnings FROM roster_import WHERE district_id = $1", district.id
    )
    assert messages[1] == "users.csv:9: givenName: an Annual note stays"

    # Audited with counts only.
    details = await db.fetchval(
        "SELECT details FROM audit_event WHERE action = 'deidentify_student' AND target_id = $1",
        district.subject,
    )
    assert '"portfolio_items": 2' in details and '"students": 1' in details

    # Irreversible: completing again, or the amendment filed before, is refused.
    again = (await gql(RESOLVE, as_user=admin, variables={"id": request, "confirm": True})).ok()[
        "resolveDataRequest"
    ]
    assert [e["code"] for e in again["userErrors"]] == ["ALREADY_RESOLVED"]
    late = (
        await gql(RESOLVE, as_user=admin, variables={"id": amend["id"], "confirm": False})
    ).ok()["resolveDataRequest"]
    assert [e["code"] for e in late["userErrors"]] == ["DEIDENTIFIED"]


async def test_a_second_deletion_of_the_same_student_is_refused(
    gql: Gql, db: asyncpg.Connection
) -> None:
    district = await make_privacy_district(db, students=4)
    subject = to_global_id("Student", district.subject)
    ids = []
    statements = []
    for _ in range(2):
        filed = await gql(
            FILE, as_user=district.guardian, variables={"id": subject, "kind": "DELETE"}
        )
        ids.append(filed.ok()["fileDataRequest"]["dataRequest"]["id"])
        listed = await gql(PREVIEW, as_user=district.admin)
        assert all(r["deletionPreview"] for r in listed.ok()["dataRequests"])
        statements.append(listed.statements)
    # The previews of any number of requests are one statement.
    assert statements[0] == statements[1]
    first = await gql(RESOLVE, as_user=district.admin, variables={"id": ids[0], "confirm": True})
    assert first.ok()["resolveDataRequest"]["userErrors"] == []
    second = await gql(RESOLVE, as_user=district.admin, variables={"id": ids[1], "confirm": True})
    assert [e["code"] for e in second.ok()["resolveDataRequest"]["userErrors"]] == ["DEIDENTIFIED"]
    assert (
        await db.fetchval(
            "SELECT count(*) FROM audit_event WHERE action = 'deidentify_student'"
            " AND target_id = $1",
            district.subject,
        )
        == 1
    )


def _pk(global_id: str) -> int:
    from schema.relay import from_global_id

    return from_global_id(global_id)[1]
