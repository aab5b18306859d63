"""Amendments over HTTP as the demo accounts: proposed values checked when filed, applied when an
administrator completes the request (audited with before and after), and after a denial the
requester's statement, shown wherever the contested field is disclosed.

Every amendment that changes `student`'s record is undone by another one before the test ends.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg

from app.encryption import KEYS_SQL, Keyring, MasterKey, data_keys
from schema.relay import from_global_id, to_global_id
from tests.helpers import GraphQLResponse, assert_forbidden

Gql = Callable[..., Awaitable[GraphQLResponse]]

FILE = """
mutation ($id: ID!, $kind: DataRequestKind!, $changes: [ProposedChangeInput!]) {
  fileDataRequest(input: {studentId: $id, kind: $kind, changes: $changes}) {
    dataRequest { id kind status changes { field value currentValue } }
    userErrors { message code field }
  }
}
"""
RESOLVE = """
mutation ($id: ID!, $status: DataRequestStatus!, $resolution: String!) {
  resolveDataRequest(input: {id: $id, status: $status, resolution: $resolution}) {
    dataRequest { id status } userErrors { message code field }
  }
}
"""
STATEMENT = """
mutation ($id: ID!, $body: String!) {
  addStatement(input: {dataRequestId: $id, body: $body}) {
    statement { id fields body createdAt dataRequestId } userErrors { message code field }
  }
}
"""
STUDENT = """
query ($id: ID!) { student(id: $id) { phone dateOfBirth statements { id fields body } } }
"""
PHONE = "+1 512 555 0199"


async def _student(db: asyncpg.Connection) -> tuple[int, str]:
    pk = await db.fetchval(
        "SELECT s.id FROM student s JOIN app_user u ON u.id = s.user_id"
        " WHERE u.username = 'student'"
    )
    return pk, to_global_id("Student", pk)


async def _ring(db: asyncpg.Connection) -> Keyring:
    return Keyring.unwrap(MasterKey.from_settings(), data_keys(await db.fetch(KEYS_SQL)))


async def _file(gql: Gql, student: str, changes: Any, *, kind: str = "AMEND") -> dict[str, Any]:
    response = await gql(
        FILE,
        as_user="guardian",
        variables={"id": student, "kind": kind, "changes": changes},
    )
    return dict(response.ok()["fileDataRequest"])


async def _resolve(gql: Gql, request: str, status: str, as_user: str = "admin") -> Any:
    response = await gql(
        RESOLVE,
        as_user=as_user,
        variables={"id": request, "status": status, "resolution": f"{status.lower()} after review"},
    )
    return response.ok()["resolveDataRequest"]


async def _amend(gql: Gql, student: str, field: str, value: str | None) -> None:
    """File and complete an amendment (to put the record back)."""
    filed = await _file(gql, student, [{"field": field, "value": value}])
    assert not filed["userErrors"], filed
    done = await _resolve(gql, filed["dataRequest"]["id"], "COMPLETED")
    assert not done["userErrors"], done


async def _phone(gql: Gql, student: str) -> str | None:
    return (await gql(STUDENT, as_user="guardian", variables={"id": student})).ok()["student"][
        "phone"
    ]


async def test_an_amend_request_changes_the_phone_number(gql: Gql, db: asyncpg.Connection) -> None:
    pk, student = await _student(db)
    before = await _phone(gql, student)
    assert before != PHONE
    filed = await _file(gql, student, [{"field": "PHONE", "value": f"  {PHONE} "}])
    assert not filed["userErrors"]
    request = filed["dataRequest"]
    assert request["kind"] == "AMEND" and request["status"] == "OPEN"
    assert request["changes"] == [{"field": "PHONE", "value": PHONE, "currentValue": before}]
    # The proposal is stored encrypted.
    stored = await db.fetchval(
        "SELECT changes FROM data_request WHERE id = $1", from_global_id(request["id"])[1]
    )
    assert stored is not None and PHONE.encode() not in bytes(stored)
    # Filing changed nothing yet.
    assert await _phone(gql, student) == before

    done = await _resolve(gql, request["id"], "COMPLETED")
    assert not done["userErrors"] and done["dataRequest"]["status"] == "COMPLETED"
    assert await _phone(gql, student) == PHONE
    # The student reads it too, and the record stores it encrypted.
    own = await gql(STUDENT, as_user="student", variables={"id": student})
    assert own.ok()["student"]["phone"] == PHONE
    assert PHONE.encode() not in bytes(
        await db.fetchval("SELECT phone FROM student WHERE id = $1", pk)
    )

    # Audited: the event names the field, the values sit encrypted beside it.
    event = await db.fetchrow(
        "SELECT id, target_type, target_id, details FROM audit_event"
        " WHERE action = 'amend_student_record' ORDER BY id DESC LIMIT 1"
    )
    assert (event["target_type"], event["target_id"]) == ("Student", pk)
    details = json.loads(event["details"])
    assert details["fields"] == ["phone"]
    assert "0199" not in event["details"] and "512" not in event["details"]
    change = await db.fetchrow(
        "SELECT id, student_id, field, before, after FROM audit_change WHERE audit_event_id = $1",
        event["id"],
    )
    assert (change["student_id"], change["field"]) == (pk, "phone")
    assert PHONE.encode() not in bytes(change["after"])
    ring = await _ring(db)
    assert ring.decrypt("audit_change", "after", change["id"], change["after"]) == PHONE
    assert ring.decrypt("audit_change", "before", change["id"], change["before"]) == before

    # An administrator reads the before and after in the audit.
    audit = await gql(
        """{ auditEvents(action: "amend_student_record", first: 1) { edges { node {
             targetId details changes { field before after } } } } }""",
        as_user="admin",
    )
    node = audit.ok()["auditEvents"]["edges"][0]["node"]
    assert node["targetId"] == student
    assert node["changes"] == [{"field": "phone", "before": before, "after": PHONE}]

    await _amend(gql, student, "PHONE", before)
    assert await _phone(gql, student) == before


async def test_invalid_proposals_are_refused_and_nothing_is_stored(
    gql: Gql, db: asyncpg.Connection
) -> None:
    _, student = await _student(db)
    count = await db.fetchval("SELECT count(*) FROM data_request")
    cases = [
        ([{"field": "EMAIL", "value": "not-an-email"}], "INVALID_EMAIL"),
        ([{"field": "PHONE", "value": "call me maybe"}], "INVALID_PHONE"),
        ([{"field": "PHONE", "value": "12"}], "INVALID_PHONE"),
        ([{"field": "DATE_OF_BIRTH", "value": "2999-01-01"}], "FUTURE_DATE"),
        ([{"field": "DATE_OF_BIRTH", "value": "01/02/2010"}], "INVALID_DATE"),
        ([{"field": "DATE_OF_BIRTH", "value": "1900-01-01"}], "IMPLAUSIBLE_AGE"),
        ([{"field": "GENDER", "value": "banana"}], "NOT_ALLOWED"),
        ([{"field": "FIRST_NAME", "value": None}], "REQUIRED"),
        ([{"field": "LAST_NAME", "value": "x" * 101}], "TOO_LONG"),
        ([{"field": "PREFERRED_NAME", "value": "Al\u0007"}], "INVALID_CHARACTERS"),
        ([], "CHANGES_REQUIRED"),
        (None, "CHANGES_REQUIRED"),
        (
            [{"field": "PHONE", "value": "512 555 0100"}, {"field": "PHONE", "value": None}],
            "DUPLICATE_FIELD",
        ),
    ]
    for changes, code in cases:
        filed = await _file(gql, student, changes)
        assert filed["dataRequest"] is None, (changes, filed)
        assert [e["code"] for e in filed["userErrors"]] == [code], (changes, filed)
    # One error per refused value, each naming its entry; a valid one beside them is not kept.
    filed = await _file(
        gql,
        student,
        [
            {"field": "EMAIL", "value": "a@b"},
            {"field": "GENDER", "value": "Unspecified"},
            {"field": "DATE_OF_BIRTH", "value": "3000-12-31"},
        ],
    )
    errors = filed["userErrors"]
    assert [(e["code"], e["field"]) for e in errors] == [
        ("INVALID_EMAIL", ["changes", "0", "value"]),
        ("FUTURE_DATE", ["changes", "2", "value"]),
    ]
    assert errors[0]["message"].startswith("email:")
    # Changes belong to amendments only.
    inspect = await _file(gql, student, [{"field": "PHONE", "value": PHONE}], kind="INSPECT")
    assert [e["code"] for e in inspect["userErrors"]] == ["CHANGES_NOT_ALLOWED"]
    # A field that is not amendable is not in the schema's vocabulary.
    unknown = await gql(
        FILE,
        as_user="guardian",
        variables={
            "id": student,
            "kind": "AMEND",
            "changes": [{"field": "STUDENT_NUMBER", "value": "1"}],
        },
    )
    assert unknown.errors and unknown.data is None
    assert await db.fetchval("SELECT count(*) FROM data_request") == count


async def test_a_proposal_the_record_moved_away_from_is_refused_whole(
    gql: Gql, db: asyncpg.Connection
) -> None:
    pk, student = await _student(db)
    before = await db.fetchrow("SELECT gender, preferred_name FROM student WHERE id = $1", pk)
    phone = await _phone(gql, student)
    first = await _file(gql, student, [{"field": "PHONE", "value": "(512) 555-0101"}])
    second = await _file(
        gql,
        student,
        [
            {"field": "PREFERRED_NAME", "value": "Sunny"},
            {"field": "PHONE", "value": "512-555-0102"},
        ],
    )
    assert not first["userErrors"] and not second["userErrors"]
    assert not (await _resolve(gql, first["dataRequest"]["id"], "COMPLETED"))["userErrors"]
    refused = await _resolve(gql, second["dataRequest"]["id"], "COMPLETED")
    assert [e["code"] for e in refused["userErrors"]] == ["CHANGED_SINCE_FILING"]
    # Nothing of the second proposal was applied, and it is still open.
    after = await db.fetchrow("SELECT gender, preferred_name FROM student WHERE id = $1", pk)
    assert after == before
    assert await _phone(gql, student) == "(512) 555-0101"
    status = await db.fetchval(
        "SELECT status FROM data_request WHERE id = $1",
        from_global_id(second["dataRequest"]["id"])[1],
    )
    assert status == "open"
    assert not (await _resolve(gql, second["dataRequest"]["id"], "DENIED"))["userErrors"]
    await _amend(gql, student, "PHONE", phone)


async def _classmate(db: asyncpg.Connection, pk: int) -> str:
    """The username of a student enrolled with `pk` today."""
    return str(
        await db.fetchval(
            """
            SELECT u.username FROM enrollment a JOIN enrollment b ON b.class_id = a.class_id
            JOIN student s ON s.id = b.student_id JOIN app_user u ON u.id = s.user_id
            WHERE a.student_id = $1 AND b.student_id <> $1 AND NOT s.directory_opt_out
              AND a.begins_on <= CURRENT_DATE AND (a.ends_on IS NULL OR a.ends_on >= CURRENT_DATE)
              AND b.begins_on <= CURRENT_DATE AND (b.ends_on IS NULL OR b.ends_on >= CURRENT_DATE)
            ORDER BY u.username LIMIT 1
            """,
            pk,
        )
    )


async def _statements(gql: Gql, student: str, as_user: str) -> GraphQLResponse:
    return await gql(
        STUDENT.replace("phone dateOfBirth ", ""), as_user=as_user, variables={"id": student}
    )


async def test_after_a_denial_the_statement_goes_wherever_the_field_is_disclosed(
    gql: Gql, db: asyncpg.Connection
) -> None:
    pk, student = await _student(db)
    filed = await _file(gql, student, [{"field": "PHONE", "value": "(512) 555-0177"}])
    request = filed["dataRequest"]["id"]
    body = "The school's number is an old one; the family's phone is (512) 555-0177."

    # Not before the request is denied.
    early = (await gql(STATEMENT, as_user="guardian", variables={"id": request, "body": body})).ok()
    assert [e["code"] for e in early["addStatement"]["userErrors"]] == ["NOT_A_DENIED_AMENDMENT"]
    assert not (await _resolve(gql, request, "DENIED"))["userErrors"]
    assert await _phone(gql, student) != "(512) 555-0177"

    for text, code in (("   ", "BODY_REQUIRED"), ("x" * 5001, "TOO_LONG")):
        bad = await gql(STATEMENT, as_user="guardian", variables={"id": request, "body": text})
        assert [e["code"] for e in bad.ok()["addStatement"]["userErrors"]] == [code]
    # Only whoever may file requests for the student adds one.
    teacher = await gql(STATEMENT, as_user="teacher", variables={"id": request, "body": body})
    assert [e["extensions"]["code"] for e in teacher.errors] == ["FORBIDDEN"]
    assert not await db.fetchval(
        "SELECT count(*) FROM student_statement WHERE student_id = $1 AND data_request_id = $2",
        pk,
        from_global_id(request)[1],
    )

    added = (await gql(STATEMENT, as_user="guardian", variables={"id": request, "body": body})).ok()
    statement = added["addStatement"]["statement"]
    assert added["addStatement"]["userErrors"] == []
    assert statement["fields"] == ["phone"] and statement["body"] == body
    assert statement["dataRequestId"] == request
    row = await db.fetchrow(
        "SELECT body, fields FROM student_statement WHERE student_id = $1 ORDER BY id DESC LIMIT 1",
        pk,
    )
    assert body.encode() not in bytes(row["body"]) and row["fields"] == ["phone"]
    audit = await db.fetchval(
        "SELECT details FROM audit_event WHERE action = 'add_statement' ORDER BY id DESC LIMIT 1"
    )
    assert "0177" not in audit and "old one" not in audit

    # Wherever the phone is disclosed: the guardian, the student, the teacher (contact) ...
    for account in ("guardian", "student", "teacher", "admin"):
        shown = (await _statements(gql, student, account)).ok()["student"]["statements"]
        assert statement["id"] in [s["id"] for s in shown], account
    # ... and nowhere else: a coordinator without a grant reads directory information only, a
    # classmate not even the field.
    coordinator = (await _statements(gql, student, "coordinator")).ok()["student"]["statements"]
    assert statement["id"] not in [s["id"] for s in coordinator]
    classmate = await _statements(gql, student, await _classmate(db, pk))
    assert classmate.data["student"]["statements"] is None
    assert_forbidden(classmate, "student.statements", "directory")

    # The teacher's read of the statement is recorded as a read of contact information.
    teacher_id = await db.fetchval("SELECT id FROM app_user WHERE username = 'teacher'")
    recorded = await db.fetchval(
        "SELECT count(*) FROM disclosure WHERE viewer_user_id = $1 AND student_id = $2"
        " AND 'contact' = ANY(field_classes)",
        teacher_id,
        pk,
    )
    await _statements(gql, student, "teacher")
    assert (
        await db.fetchval(
            "SELECT count(*) FROM disclosure WHERE viewer_user_id = $1 AND student_id = $2"
            " AND 'contact' = ANY(field_classes)",
            teacher_id,
            pk,
        )
        == recorded + 1
    )

    # A completed request takes no statement.
    done = await _file(gql, student, [{"field": "PREFERRED_NAME", "value": "Sunny"}])
    preferred = await db.fetchval("SELECT preferred_name FROM student WHERE id = $1", pk)
    assert not (await _resolve(gql, done["dataRequest"]["id"], "COMPLETED"))["userErrors"]
    late = await gql(
        STATEMENT, as_user="guardian", variables={"id": done["dataRequest"]["id"], "body": body}
    )
    assert [e["code"] for e in late.ok()["addStatement"]["userErrors"]] == [
        "NOT_A_DENIED_AMENDMENT"
    ]
    await _amend(gql, student, "PREFERRED_NAME", preferred)


async def test_a_statement_on_a_demographic_field_stays_with_those_who_read_it(
    gql: Gql, db: asyncpg.Connection
) -> None:
    pk, student = await _student(db)
    filed = await _file(gql, student, [{"field": "DATE_OF_BIRTH", "value": "2010-06-01"}])
    request = filed["dataRequest"]["id"]
    assert filed["dataRequest"]["changes"][0]["currentValue"] == str(
        await db.fetchval("SELECT date_of_birth FROM student WHERE id = $1", pk)
    )
    assert not (await _resolve(gql, request, "DENIED"))["userErrors"]
    added = await gql(
        STATEMENT, as_user="guardian", variables={"id": request, "body": "Born in June."}
    )
    statement = added.ok()["addStatement"]["statement"]
    assert statement["fields"] == ["dateOfBirth"]
    guardian = (await _statements(gql, student, "guardian")).ok()["student"]["statements"]
    assert statement["id"] in [s["id"] for s in guardian]
    # Newest first.
    assert guardian[0]["id"] == statement["id"]
    teacher = (await _statements(gql, student, "teacher")).ok()["student"]["statements"]
    assert statement["id"] not in [s["id"] for s in teacher]


async def test_a_request_of_another_family_takes_no_statement(
    gql: Gql, db: asyncpg.Connection
) -> None:
    other = await db.fetchval(
        "INSERT INTO data_request (district_id, student_id, requester_user_id, kind, status,"
        " due_on) SELECT s.district_id, s.id, (SELECT id FROM app_user WHERE username = 'admin'),"
        " 'amend', 'denied', CURRENT_DATE FROM student s WHERE s.id NOT IN (SELECT gl.student_id"
        " FROM guardian_link gl JOIN app_user u ON u.id = gl.guardian_user_id"
        " WHERE u.username = 'guardian') ORDER BY s.id LIMIT 1 RETURNING id"
    )
    try:
        response = await gql(
            STATEMENT,
            as_user="guardian",
            variables={"id": to_global_id("DataRequest", other), "body": "Not mine."},
        )
    finally:
        await db.execute("DELETE FROM data_request WHERE id = $1", other)
    errors = response.ok()["addStatement"]["userErrors"]
    assert [(e["code"], e["field"]) for e in errors] == [("NOT_FOUND", ["dataRequestId"])]


async def test_several_fields_are_applied_together_as_the_data_holds_them(
    gql: Gql, db: asyncpg.Connection
) -> None:
    pk, student = await _student(db)
    before = await db.fetchrow(
        "SELECT preferred_name, gender, ethnicity, date_of_birth FROM student WHERE id = $1", pk
    )
    gender = "nonbinary" if before["gender"] != "nonbinary" else "female"
    ethnicity = "Asian" if before["ethnicity"] != "Asian" else "White"
    born = before["date_of_birth"].replace(day=1 if before["date_of_birth"].day != 1 else 2)
    filed = await _file(
        gql,
        student,
        [
            {"field": "PREFERRED_NAME", "value": " Sam "},
            {"field": "GENDER", "value": gender.upper()},
            {"field": "ETHNICITY", "value": ethnicity.lower()},
            {"field": "DATE_OF_BIRTH", "value": born.isoformat()},
        ],
    )
    assert not filed["userErrors"]
    assert [c["value"] for c in filed["dataRequest"]["changes"]] == [
        "Sam",
        gender,
        ethnicity,
        born.isoformat(),
    ]
    try:
        assert not (await _resolve(gql, filed["dataRequest"]["id"], "COMPLETED"))["userErrors"]
        after = await db.fetchrow(
            "SELECT preferred_name, gender, ethnicity, date_of_birth FROM student WHERE id = $1", pk
        )
        assert tuple(after) == ("Sam", gender, ethnicity, born)
        event = await db.fetchval(
            "SELECT id FROM audit_event WHERE action = 'amend_student_record'"
            " ORDER BY id DESC LIMIT 1"
        )
        fields = await db.fetch(
            "SELECT field FROM audit_change WHERE audit_event_id = $1 ORDER BY field", event
        )
        assert [r["field"] for r in fields] == [
            "dateOfBirth",
            "ethnicity",
            "gender",
            "preferredName",
        ]
        # An administrator reads the demographic values before and after too.
        audit = await gql(
            """{ auditEvents(action: "amend_student_record", first: 1) { edges { node {
                 changes { field before after } } } } }""",
            as_user="admin",
        )
        changes = audit.ok()["auditEvents"]["edges"][0]["node"]["changes"]
        assert {c["field"]: c["after"] for c in changes}["dateOfBirth"] == born.isoformat()
    finally:
        await db.execute(
            "UPDATE student SET preferred_name = $2, gender = $3, ethnicity = $4,"
            " date_of_birth = $5 WHERE id = $1",
            pk,
            *before,
        )


async def test_a_corrected_name_follows_to_the_students_account(
    gql: Gql, db: asyncpg.Connection
) -> None:
    pk, student = await _student(db)
    names = "SELECT s.first_name, u.first_name FROM student s JOIN app_user u ON u.id = s.user_id"
    was = await db.fetchrow(f"{names} WHERE s.id = $1", pk)
    await _amend(gql, student, "FIRST_NAME", "Ana-María")
    assert tuple(await db.fetchrow(f"{names} WHERE s.id = $1", pk)) == ("Ana-María", "Ana-María")
    await _amend(gql, student, "FIRST_NAME", was[0])
    assert tuple(await db.fetchrow(f"{names} WHERE s.id = $1", pk)) == (was[0], was[0])
    assert was[0] == was[1]


async def test_statements_and_audit_changes_cost_the_same_for_any_number_of_rows(
    gql: Gql, db: asyncpg.Connection
) -> None:
    """One statement per kind of thing asked for, not per student or per event (SPEC §7)."""
    # `email` so that both record disclosures (one batched insert either way).
    students = "{ students(first: %d) { edges { node { id email statements { id body } } } } }"
    few = await gql(students % 3, as_user="admin")
    many = await gql(students % 300, as_user="admin")
    assert len(few.ok()["students"]["edges"]) == 3
    assert len(many.ok()["students"]["edges"]) == 300
    assert few.statements == many.statements
    # The newest events change contact information: reading them is recorded on every page.
    _, student = await _student(db)
    phone = await _phone(gql, student)
    await _amend(gql, student, "PHONE", "512 555 0188")
    await _amend(gql, student, "PHONE", phone)
    events = """{ auditEvents(first: %d, action: "amend_student_record") { edges { node { id
                  changes { field before after } } } } }"""
    small = await gql(events % 1, as_user="admin")
    large = await gql(events % 200, as_user="admin")
    assert len(large.ok()["auditEvents"]["edges"]) >= 2
    assert small.ok() and large.ok()
    assert small.statements == large.statements
