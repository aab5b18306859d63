"""`updateMyContact` over HTTP: a student or guardian corrects their own email and phone,
checked like an amendment, audited with before and after; each test puts the values back."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg

from app.encryption import KEYS_SQL, Keyring, MasterKey, data_keys
from schema.relay import to_global_id
from tests.helpers import GraphQLResponse

Gql = Callable[..., Awaitable[GraphQLResponse]]

UPDATE = """
mutation ($input: UpdateMyContactInput!) {
  updateMyContact(input: $input) {
    contact { email phone studentId } userErrors { message code field }
  }
}
"""
AUDIT = """
query ($action: String!) { auditEvents(action: $action, first: 5) { edges { node {
  targetType targetId changes { field before after } } } } }
"""


async def _ring(db: asyncpg.Connection) -> Keyring:
    return Keyring.unwrap(MasterKey.from_settings(), data_keys(await db.fetch(KEYS_SQL)))


async def _contact(db: asyncpg.Connection, table: str, row_id: int) -> tuple[str | None, ...]:
    row = await db.fetchrow(f"SELECT email, phone FROM {table} WHERE id = $1", row_id)
    ring = await _ring(db)
    return tuple(ring.decrypt(table, c, row_id, row[c]) for c in ("email", "phone"))


async def _update(gql: Gql, as_user: str, **values: Any) -> dict[str, Any]:
    response = await gql(UPDATE, as_user=as_user, variables={"input": values})
    return dict(response.ok()["updateMyContact"])


async def test_a_guardian_corrects_their_own_phone(gql: Gql, db: asyncpg.Connection) -> None:
    user_id = await db.fetchval("SELECT id FROM app_user WHERE username = 'guardian'")
    email, phone = await _contact(db, "app_user", user_id)
    events = await db.fetchval("SELECT count(*) FROM audit_event")

    updated = await _update(gql, "guardian", phone=" +1 (512) 555-0142 ")
    assert updated["userErrors"] == []
    assert updated["contact"] == {"email": email, "phone": "+1 (512) 555-0142", "studentId": None}
    assert await _contact(db, "app_user", user_id) == (email, "+1 (512) 555-0142")
    stored = bytes(await db.fetchval("SELECT phone FROM app_user WHERE id = $1", user_id))
    assert b"0142" not in stored

    event = await db.fetchrow(
        "SELECT id, target_type, target_id, details FROM audit_event"
        " WHERE action = 'update_my_contact' ORDER BY id DESC LIMIT 1"
    )
    assert (event["target_type"], event["target_id"]) == ("User", user_id)
    assert "0142" not in event["details"]
    change = await db.fetchrow(
        "SELECT id, user_id, student_id, field, before, after FROM audit_change"
        " WHERE audit_event_id = $1",
        event["id"],
    )
    assert (change["user_id"], change["student_id"], change["field"]) == (user_id, None, "phone")
    ring = await _ring(db)
    assert ring.decrypt("audit_change", "before", change["id"], change["before"]) == phone
    assert ring.decrypt("audit_change", "after", change["id"], change["after"]) == (
        "+1 (512) 555-0142"
    )
    # District administrators read the before and after of an account's correction.
    audit = (await gql(AUDIT, as_user="admin", variables={"action": "update_my_contact"})).ok()
    node = audit["auditEvents"]["edges"][0]["node"]
    assert node["targetType"] == "User"
    assert node["changes"] == [{"field": "phone", "before": phone, "after": "+1 (512) 555-0142"}]

    # Put it back (null clears, as a blank does).
    back = await _update(gql, "guardian", phone=phone)
    assert back["userErrors"] == [] and back["contact"]["phone"] == phone
    assert await db.fetchval("SELECT count(*) FROM audit_event") == events + 2


async def test_a_student_corrects_their_account_and_record(
    gql: Gql, db: asyncpg.Connection
) -> None:
    row = await db.fetchrow(
        "SELECT s.id, s.user_id, s.email, s.phone, u.email AS account_email,"
        " u.phone AS account_phone FROM student s JOIN app_user u ON u.id = s.user_id"
        " WHERE u.username = 'student'"
    )
    try:
        await _student_corrects(gql, db, row["id"], row["user_id"])
    finally:
        # The stored values put back as they were (each is bound to its row and column).
        await db.execute(
            "UPDATE student SET email = $2, phone = $3 WHERE id = $1",
            row["id"],
            row["email"],
            row["phone"],
        )
        await db.execute(
            "UPDATE app_user SET email = $2, phone = $3 WHERE id = $1",
            row["user_id"],
            row["account_email"],
            row["account_phone"],
        )


async def _student_corrects(gql: Gql, db: asyncpg.Connection, pk: int, user_id: int) -> None:
    updated = await _update(gql, "student", email="me@example.org", phone="512.555.0123")
    assert updated["userErrors"] == []
    assert updated["contact"] == {
        "email": "me@example.org",
        "phone": "512.555.0123",
        "studentId": to_global_id("Student", pk),
    }
    assert await _contact(db, "student", pk) == ("me@example.org", "512.555.0123")
    assert await _contact(db, "app_user", user_id) == ("me@example.org", "512.555.0123")
    # The guardian and the teacher read the corrected record.
    query = "query ($id: ID!) { student(id: $id) { email phone } }"
    for viewer in ("guardian", "teacher"):
        seen = await gql(query, as_user=viewer, variables={"id": updated["contact"]["studentId"]})
        assert seen.ok()["student"] == {"email": "me@example.org", "phone": "512.555.0123"}
    # The record's change is audited against the student, the account's against the user.
    audit = (await gql(AUDIT, as_user="admin", variables={"action": "update_my_contact"})).ok()
    by_target = {e["node"]["targetType"]: e["node"] for e in audit["auditEvents"]["edges"][:2]}
    assert by_target["Student"]["targetId"] == to_global_id("Student", pk)
    assert {c["field"]: c["after"] for c in by_target["Student"]["changes"]} == {
        "email": "me@example.org",
        "phone": "512.555.0123",
    }
    assert {c["field"] for c in by_target["User"]["changes"]} <= {"email", "phone"}
    student_event = await db.fetchval(
        "SELECT e.id FROM audit_event e WHERE e.action = 'update_my_contact'"
        " AND e.target_type = 'Student' ORDER BY e.id DESC LIMIT 1"
    )
    assert await db.fetchval(
        "SELECT array_agg(student_id) FROM audit_change WHERE audit_event_id = $1", student_event
    ) == [pk, pk]
    # Only what is given changes; null removes.
    phone_only = await _update(gql, "student", phone=None)
    assert phone_only["contact"] == {
        "email": "me@example.org",
        "phone": None,
        "studentId": to_global_id("Student", pk),
    }


async def test_bad_input_is_refused_and_changes_nothing(gql: Gql, db: asyncpg.Connection) -> None:
    user_id = await db.fetchval("SELECT id FROM app_user WHERE username = 'guardian'")
    before = await _contact(db, "app_user", user_id)
    events = await db.fetchval("SELECT count(*) FROM audit_event")
    bad = await _update(gql, "guardian", email="nobody at example", phone="12")
    assert [(e["code"], e["field"]) for e in bad["userErrors"]] == [
        ("INVALID_EMAIL", ["email"]),
        ("INVALID_PHONE", ["phone"]),
    ]
    assert bad["contact"] is None
    nothing = await _update(gql, "guardian")
    assert [e["code"] for e in nothing["userErrors"]] == ["NOTHING_TO_CHANGE"]
    assert await _contact(db, "app_user", user_id) == before
    assert await db.fetchval("SELECT count(*) FROM audit_event") == events


async def test_a_guardian_asks_for_the_childs_record_to_be_amended(
    gql: Gql, db: asyncpg.Connection
) -> None:
    child = await db.fetchval(
        "SELECT s.id FROM student s JOIN app_user u ON u.id = s.user_id"
        " WHERE u.username = 'student'"
    )
    response = await gql(
        UPDATE,
        as_user="guardian",
        variables={"input": {"phone": "512 555 0100", "studentId": to_global_id("Student", child)}},
    )
    assert [e["extensions"]["code"] for e in response.errors] == ["FORBIDDEN"]
    # A student corrects no one else's record.
    other = await db.fetchval(
        "SELECT gl.student_id FROM guardian_link gl JOIN app_user u ON u.id = gl.guardian_user_id"
        " WHERE u.username = 'guardian' AND gl.student_id <> $1 LIMIT 1",
        child,
    )
    refused = await gql(
        UPDATE,
        as_user="student",
        variables={"input": {"phone": "512 555 0100", "studentId": to_global_id("Student", other)}},
    )
    errors = refused.ok()["updateMyContact"]["userErrors"]
    assert [(e["code"], e["field"]) for e in errors] == [("NOT_FOUND", ["studentId"])]


async def test_a_child_without_parental_consent_gives_no_contact_details(
    gql: Gql, db: asyncpg.Connection
) -> None:
    child = await db.fetchrow(
        "SELECT s.id, s.user_id, u.username, s.email, u.email AS account_email FROM student s"
        " JOIN app_user u ON u.id = s.user_id WHERE s.date_of_birth > CURRENT_DATE -"
        " interval '12 years' AND NOT s.coppa_consent AND s.email IS NOT NULL ORDER BY s.id LIMIT 1"
    )
    before = await _contact(db, "student", child["id"])
    refused = await _update(gql, child["username"], email="kid@example.org")
    assert [e["code"] for e in refused["userErrors"]] == ["COPPA_CONSENT_REQUIRED"]
    assert await _contact(db, "student", child["id"]) == before
    # Removing what was collected is not collecting.
    try:
        removed = await _update(gql, child["username"], email=None)
        assert removed["userErrors"] == [] and removed["contact"]["email"] is None
        assert (await _contact(db, "student", child["id"]))[0] is None
    finally:
        await db.execute("UPDATE student SET email = $2 WHERE id = $1", child["id"], child["email"])
        await db.execute(
            "UPDATE app_user SET email = $2 WHERE id = $1", child["user_id"], child["account_email"]
        )
