"""District records over HTTP: administrators create and change students, classes, enrollments,
teaching assignments and guardian links of their scope; a teacher switches the visibility of a
class they teach and nothing else. Each test undoes what it made (the demo district's own rows),
or works in the second district as an administrator made for it (tests/factories.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import pytest

from schema.relay import to_global_id
from tests.factories import PrivacyDistrict, make_privacy_district, sealing_keyring
from tests.helpers import GraphQLResponse, nodes

Gql = Callable[..., Awaitable[GraphQLResponse]]

USER_ERRORS = "userErrors { message code field }"
CREATE_CLASS = f"""
mutation ($input: CreateClassInput!) {{
  createClass(input: $input) {{ class {{ id title code subject gradeLevels visibility }}
    {USER_ERRORS} }} }}
"""
UPDATE_CLASS = f"""
mutation ($input: UpdateClassInput!) {{
  updateClass(input: $input) {{ class {{ id title visibility }} {USER_ERRORS} }} }}
"""
ENROLL = f"""
mutation ($input: EnrollInput!) {{
  enroll(input: $input) {{ enrollment {{ beginsOn endsOn active class {{ id }} }}
    student {{ id firstName }} {USER_ERRORS} }} }}
"""
UNENROLL = f"""
mutation ($input: UnenrollInput!) {{
  unenroll(input: $input) {{ enrollment {{ endsOn active }} {USER_ERRORS} }} }}
"""
ASSIGN = f"""
mutation ($input: AssignTeacherInput!) {{
  assignTeacher(input: $input) {{ assignment {{ teacherId startsOn endsOn active }}
    class {{ teachers {{ id }} }} {USER_ERRORS} }} }}
"""
UNASSIGN = f"""
mutation ($input: UnassignTeacherInput!) {{
  unassignTeacher(input: $input) {{ assignment {{ endsOn active }} {USER_ERRORS} }} }}
"""
CREATE_STUDENT = f"""
mutation ($input: CreateStudentInput!) {{
  createStudent(input: $input) {{
    student {{ id studentNumber firstName lastName gradeLevel dateOfBirth email phone
               school {{ id }} }}
    {USER_ERRORS} }} }}
"""
UPDATE_STUDENT = f"""
mutation ($input: UpdateStudentInput!) {{
  updateStudent(input: $input) {{ student {{ id gradeLevel email }} {USER_ERRORS} }} }}
"""
LINK = f"""
mutation ($input: LinkGuardianInput!) {{
  linkGuardian(input: $input) {{
    link {{ id guardianId studentId relationship legalGuardian dataAccess startsOn endsOn }}
    {USER_ERRORS} }} }}
"""
UPDATE_LINK = f"""
mutation ($input: UpdateGuardianLinkInput!) {{
  updateGuardianLink(input: $input) {{ link {{ id dataAccess legalGuardian }} {USER_ERRORS} }} }}
"""
ROSTER = """
query ($id: ID!) { class(id: $id) { title students(first: 50) { edges { node {
  id firstName email } } } } }
"""
AUDIT = """
query ($action: String!) { auditEvents(action: $action, first: 5) { edges { node {
  action targetType targetId details changes { field before after } } } } }
"""


async def _user_id(db: asyncpg.Connection, username: str) -> int:
    return int(await db.fetchval("SELECT id FROM app_user WHERE username = $1", username))


async def _student_of(db: asyncpg.Connection, username: str) -> asyncpg.Record:
    return await db.fetchrow(
        "SELECT s.id, s.school_id FROM student s JOIN app_user u ON u.id = s.user_id"
        " WHERE u.username = $1",
        username,
    )


async def _current_term(db: asyncpg.Connection, district_id: int) -> int:
    return int(
        await db.fetchval(
            "SELECT id FROM term WHERE district_id = $1 AND starts_on <= CURRENT_DATE"
            " AND ends_on >= CURRENT_DATE ORDER BY ends_on - starts_on LIMIT 1",
            district_id,
        )
    )


async def _lakeview(db: asyncpg.Connection) -> int:
    return int(await db.fetchval("SELECT id FROM school WHERE name = 'Lakeview High School'"))


def _payload(response: GraphQLResponse, name: str) -> dict[str, Any]:
    return dict(response.ok()[name])


def _refused(response: GraphQLResponse, name: str) -> str:
    """The code a mutation was refused with: a FORBIDDEN error, or the payload's userError."""
    if response.errors:
        codes = {e["extensions"]["code"] for e in response.errors}
        assert codes == {"FORBIDDEN"}, response.errors
        assert response.data is None or response.data[name] is None
        return "FORBIDDEN"
    payload = response.data[name]
    assert len(payload["userErrors"]) == 1, payload
    assert all(v is None for k, v in payload.items() if k != "userErrors"), payload
    return str(payload["userErrors"][0]["code"])


async def _forget_class(db: asyncpg.Connection, class_id: int) -> None:
    await db.execute("DELETE FROM enrollment WHERE class_id = $1", class_id)
    await db.execute("DELETE FROM teaching_assignment WHERE class_id = $1", class_id)
    await db.execute("DELETE FROM class_section WHERE id = $1", class_id)


@pytest.fixture
async def new_class(gql: Gql, db: asyncpg.Connection) -> AsyncIterator[dict[str, Any]]:
    """A class `admin` created at `student`'s school this term; removed after the test."""
    me = await _student_of(db, "student")
    district = await db.fetchval("SELECT district_id FROM school WHERE id = $1", me["school_id"])
    created = _payload(
        await gql(
            CREATE_CLASS,
            as_user="admin",
            variables={
                "input": {
                    "schoolId": to_global_id("School", me["school_id"]),
                    "termId": to_global_id("Term", await _current_term(db, district)),
                    "title": "  Robotics   Lab ",
                    "code": "ROB-101",
                    "subject": "Engineering",
                    "gradeLevels": [11, 9, 10, 9],
                }
            },
        ),
        "createClass",
    )
    assert created["userErrors"] == []
    klass = created["class"]
    pk = int(await db.fetchval("SELECT max(id) FROM class_section"))
    assert to_global_id("Class", pk) == klass["id"]
    try:
        yield {"id": klass["id"], "pk": pk, "class": klass, "student": me}
    finally:
        await _forget_class(db, pk)


# --- the done-when: admin builds a class; its teacher sees the student with email -------------


async def test_admin_creates_a_class_enrolls_student_assigns_teacher_who_then_sees_them(
    gql: Gql, db: asyncpg.Connection, new_class: dict[str, Any]
) -> None:
    klass = new_class["class"]
    assert klass["title"] == "Robotics Lab"
    assert klass["gradeLevels"] == [9, 10, 11]
    assert klass["visibility"] == "PRIVATE"
    student_id = to_global_id("Student", new_class["student"]["id"])
    teacher = await _user_id(db, "teacher")

    # Before: the teacher cannot even find the private class.
    assert (await gql(ROSTER, as_user="teacher", variables={"id": new_class["id"]})).ok() == {
        "class": None
    }

    enrolled = _payload(
        await gql(
            ENROLL,
            as_user="admin",
            variables={"input": {"studentId": student_id, "classId": new_class["id"]}},
        ),
        "enroll",
    )
    assert enrolled["userErrors"] == []
    assert enrolled["enrollment"]["active"] is True
    assert enrolled["enrollment"]["endsOn"] is None
    assert enrolled["enrollment"]["class"]["id"] == new_class["id"]
    assert enrolled["student"]["id"] == student_id

    again = await gql(
        ENROLL,
        as_user="admin",
        variables={"input": {"studentId": student_id, "classId": new_class["id"]}},
    )
    assert _refused(again, "enroll") == "ALREADY_ENROLLED"

    assigned = _payload(
        await gql(
            ASSIGN,
            as_user="admin",
            variables={
                "input": {
                    "classId": new_class["id"],
                    "teacherId": to_global_id("StaffMember", teacher),
                }
            },
        ),
        "assignTeacher",
    )
    assert assigned["userErrors"] == []
    assert assigned["assignment"]["active"] is True
    assert assigned["class"]["teachers"] == [{"id": to_global_id("StaffMember", teacher)}]

    roster = (await gql(ROSTER, as_user="teacher", variables={"id": new_class["id"]})).ok()
    assert roster["class"]["title"] == "Robotics Lab"
    students = nodes(roster["class"]["students"])
    assert [s["id"] for s in students] == [student_id]
    email = await db.fetchval("SELECT email FROM student WHERE id = $1", new_class["student"]["id"])
    assert email is not None
    assert students[0]["email"] and "@" in students[0]["email"]

    # Every step is in the write audit, with its target.
    for action, target in (
        ("create_class", new_class["id"]),
        ("enroll", student_id),
        ("assign_teacher", new_class["id"]),
    ):
        audit = (await gql(AUDIT, as_user="admin", variables={"action": action})).ok()
        assert nodes(audit["auditEvents"])[0]["targetId"] == target, action

    # Ending the enrollment and the assignment without a date ends them at once: both began
    # today, so both are removed, and the roster is empty.
    ended = _payload(
        await gql(
            UNENROLL,
            as_user="admin",
            variables={"input": {"studentId": student_id, "classId": new_class["id"]}},
        ),
        "unenroll",
    )
    assert ended["userErrors"] == [] and ended["enrollment"] is None
    unassigned = _payload(
        await gql(
            UNASSIGN,
            as_user="admin",
            variables={
                "input": {
                    "classId": new_class["id"],
                    "teacherId": to_global_id("StaffMember", teacher),
                }
            },
        ),
        "unassignTeacher",
    )
    assert unassigned["userErrors"] == [] and unassigned["assignment"] is None
    roster = (await gql(ROSTER, as_user="admin", variables={"id": new_class["id"]})).ok()
    assert nodes(roster["class"]["students"]) == []


async def test_enrollment_and_assignment_dates_are_checked(
    gql: Gql, db: asyncpg.Connection, new_class: dict[str, Any]
) -> None:
    student_id = to_global_id("Student", new_class["student"]["id"])
    cases = (
        ({"beginsOn": "2026-05-01", "endsOn": "2026-04-01"}, "INVALID_PERIOD"),
        ({"beginsOn": "1926-05-01"}, "IMPLAUSIBLE_DATE"),
    )
    for dates, code in cases:
        response = await gql(
            ENROLL,
            as_user="admin",
            variables={"input": {"studentId": student_id, "classId": new_class["id"], **dates}},
        )
        assert _refused(response, "enroll") == code
    # Someone who is not a teacher at the class's school cannot be assigned to teach it.
    response = await gql(
        ASSIGN,
        as_user="admin",
        variables={
            "input": {
                "classId": new_class["id"],
                "teacherId": to_global_id("StaffMember", await _user_id(db, "coordinator")),
            }
        },
    )
    assert _refused(response, "assignTeacher") == "NOT_A_TEACHER"
    response = await gql(
        UNENROLL,
        as_user="admin",
        variables={"input": {"studentId": student_id, "classId": new_class["id"]}},
    )
    assert _refused(response, "unenroll") == "NOT_ENROLLED"
    # A class's own values are checked too.
    for change, code in (
        ({"gradeLevels": [9, 13]}, "OUT_OF_RANGE"),
        ({"title": "   "}, "REQUIRED"),
        ({"code": "x" * 41}, "TOO_LONG"),
    ):
        response = await gql(
            UPDATE_CLASS, as_user="admin", variables={"input": {"id": new_class["id"], **change}}
        )
        assert _refused(response, "updateClass") == code
    # Nobody but an administrator enrolls: a guardian (of this very student) is refused outright.
    response = await gql(
        ENROLL,
        as_user="guardian",
        variables={"input": {"studentId": student_id, "classId": new_class["id"]}},
    )
    assert _refused(response, "enroll") == "FORBIDDEN"
    assert (
        await db.fetchval("SELECT count(*) FROM enrollment WHERE class_id = $1", new_class["pk"])
        == 0
    )


# --- a teacher switches their own class's visibility, and nothing else ------------------------


async def test_a_teacher_switches_only_the_visibility_of_a_class_they_teach(
    gql: Gql, db: asyncpg.Connection
) -> None:
    teacher = await _user_id(db, "teacher")
    own = await db.fetchrow(
        "SELECT c.id, c.visibility, c.title FROM class_section c"
        " JOIN teaching_assignment ta ON ta.class_id = c.id"
        " WHERE ta.staff_user_id = $1 AND ta.starts_on <= CURRENT_DATE"
        " AND (ta.ends_on IS NULL OR ta.ends_on >= CURRENT_DATE) ORDER BY c.id LIMIT 1",
        teacher,
    )
    other = await db.fetchrow(
        "SELECT c.id, c.visibility FROM class_section c WHERE c.visibility = 'PUBLIC'"
        " AND c.district_id = (SELECT district_id FROM app_user WHERE id = $1)"
        " AND NOT EXISTS (SELECT 1 FROM teaching_assignment ta WHERE ta.class_id = c.id"
        " AND ta.staff_user_id = $1) ORDER BY c.id LIMIT 1",
        teacher,
    )
    own_id = to_global_id("Class", own["id"])
    flipped = "PUBLIC" if own["visibility"] == "PRIVATE" else "PRIVATE"
    try:
        switched = _payload(
            await gql(
                UPDATE_CLASS,
                as_user="teacher",
                variables={"input": {"id": own_id, "visibility": flipped}},
            ),
            "updateClass",
        )
        assert switched["userErrors"] == []
        assert switched["class"] == {"id": own_id, "title": own["title"], "visibility": flipped}
        assert await db.fetchval(
            "SELECT visibility FROM class_section WHERE id = $1", own["id"]
        ) == (flipped)
        audit = (await gql(AUDIT, as_user="admin", variables={"action": "update_class"})).ok()
        event = nodes(audit["auditEvents"])[0]
        assert event["targetId"] == own_id
        assert event["details"]["visibility"] == [own["visibility"], flipped]

        # Anything else of their own class is the administrators'.
        retitled = await gql(
            UPDATE_CLASS,
            as_user="teacher",
            variables={"input": {"id": own_id, "title": "Mine now", "visibility": flipped}},
        )
        assert _refused(retitled, "updateClass") == "FORBIDDEN"
        # Another teacher's class: not theirs to change at all.
        elsewhere = await gql(
            UPDATE_CLASS,
            as_user="teacher",
            variables={
                "input": {"id": to_global_id("Class", other["id"]), "visibility": "PRIVATE"}
            },
        )
        assert _refused(elsewhere, "updateClass") == "NOT_FOUND"
        assert await db.fetchval(
            "SELECT visibility FROM class_section WHERE id = $1", other["id"]
        ) == ("PUBLIC")
        # Nor may a teacher create classes.
        created = await gql(
            CREATE_CLASS,
            as_user="teacher",
            variables={
                "input": {
                    "schoolId": to_global_id("School", 1),
                    "termId": to_global_id("Term", 1),
                    "title": "x",
                    "code": "x",
                    "subject": "x",
                }
            },
        )
        assert _refused(created, "createClass") == "FORBIDDEN"
        assert (
            await db.fetchval("SELECT title FROM class_section WHERE id = $1", own["id"])
            == (own["title"])
        )
    finally:
        await db.execute(
            "UPDATE class_section SET visibility = $2 WHERE id = $1", own["id"], own["visibility"]
        )


# --- the principal's scope is their school ----------------------------------------------------


async def test_the_principal_cannot_touch_the_other_high_school(
    gql: Gql, db: asyncpg.Connection
) -> None:
    lakeview = await _lakeview(db)
    mine = await _student_of(db, "student")
    assert mine["school_id"] != lakeview
    pupil = await db.fetchrow(
        "SELECT id FROM student WHERE school_id = $1 ORDER BY id LIMIT 1", lakeview
    )
    klass = await db.fetchrow(
        "SELECT id, term_id FROM class_section WHERE school_id = $1 ORDER BY id LIMIT 1", lakeview
    )
    public = await db.fetchval(
        "SELECT id FROM class_section WHERE school_id = $1 AND visibility = 'PUBLIC'"
        " ORDER BY id LIMIT 1",
        lakeview,
    )
    own_class = await db.fetchval(
        "SELECT id FROM class_section WHERE school_id = $1 ORDER BY id LIMIT 1", mine["school_id"]
    )
    link = await db.fetchrow(
        "SELECT id, guardian_user_id FROM guardian_link WHERE student_id = $1 LIMIT 1", pupil["id"]
    )
    teacher = await db.fetchval(
        "SELECT staff_user_id FROM teaching_assignment WHERE class_id = $1 LIMIT 1", klass["id"]
    )
    enrolled = await db.fetchval(
        "SELECT student_id FROM enrollment WHERE class_id = $1 LIMIT 1", klass["id"]
    )
    school, student = to_global_id("School", lakeview), to_global_id("Student", pupil["id"])
    lakeview_class = to_global_id("Class", klass["id"])
    attempts = [
        (
            CREATE_STUDENT,
            "createStudent",
            {"schoolId": school, "studentNumber": "X-1", "firstName": "A", "lastName": "B"},
        ),
        (UPDATE_STUDENT, "updateStudent", {"id": student, "gradeLevel": 9}),
        (
            CREATE_CLASS,
            "createClass",
            {
                "schoolId": school,
                "termId": to_global_id("Term", klass["term_id"]),
                "title": "t",
                "code": "c",
                "subject": "s",
            },
        ),
        (UPDATE_CLASS, "updateClass", {"id": lakeview_class, "title": "Taken over"}),
        (
            UPDATE_CLASS,
            "updateClass",
            {"id": to_global_id("Class", public), "visibility": "PRIVATE"},
        ),
        (ENROLL, "enroll", {"studentId": student, "classId": to_global_id("Class", own_class)}),
        (
            ENROLL,
            "enroll",
            {"studentId": to_global_id("Student", mine["id"]), "classId": lakeview_class},
        ),
        (
            UNENROLL,
            "unenroll",
            {"studentId": to_global_id("Student", enrolled), "classId": lakeview_class},
        ),
        (
            ASSIGN,
            "assignTeacher",
            {
                "classId": lakeview_class,
                "teacherId": to_global_id("StaffMember", await _user_id(db, "teacher")),
            },
        ),
        (
            UNASSIGN,
            "unassignTeacher",
            {"classId": lakeview_class, "teacherId": to_global_id("StaffMember", teacher)},
        ),
        (
            LINK,
            "linkGuardian",
            {
                "guardianId": to_global_id("Guardian", await _user_id(db, "guardian")),
                "studentId": student,
                "relationship": "RELATIVE",
            },
        ),
        (
            UPDATE_LINK,
            "updateGuardianLink",
            {"id": to_global_id("GuardianLink", link["id"]), "dataAccess": False},
        ),
    ]
    events = await db.fetchval("SELECT count(*) FROM audit_event")
    for query, name, values in attempts:
        response = await gql(query, as_user="principal", variables={"input": values})
        assert _refused(response, name) in ("NOT_FOUND", "FORBIDDEN"), (name, values)
    assert await db.fetchval("SELECT count(*) FROM audit_event") == events
    assert (
        await db.fetchval("SELECT data_access FROM guardian_link WHERE id = $1", link["id"]) is True
    )
    # The administrator of the district may: the same change to the Lakeview student is made
    # (and put back).
    grade = await db.fetchval("SELECT grade_level FROM student WHERE id = $1", pupil["id"])
    changed = _payload(
        await gql(
            UPDATE_STUDENT,
            as_user="admin",
            variables={"input": {"id": student, "gradeLevel": 12 if grade != 12 else 11}},
        ),
        "updateStudent",
    )
    try:
        assert changed["userErrors"] == []
        assert changed["student"]["gradeLevel"] == (12 if grade != 12 else 11)
    finally:
        await db.execute("UPDATE student SET grade_level = $2 WHERE id = $1", pupil["id"], grade)


# --- students: validated, unique numbers, audited with before and after ------------------------


@pytest.fixture
async def district(db: asyncpg.Connection) -> PrivacyDistrict:
    """A district of its own (never removed: the record of disclosures is append-only)."""
    return await make_privacy_district(db, students=4)


async def test_student_records_are_validated_and_audited_with_before_and_after(
    gql: Gql, db: asyncpg.Connection, district: PrivacyDistrict
) -> None:
    admin = district.admin
    taken = await db.fetchval(
        "SELECT student_number FROM student WHERE id = $1", district.students[0]
    )
    base = {
        "schoolId": to_global_id("School", district.schools[0]),
        "studentNumber": "T-900001",
        "firstName": "Ana",
        "lastName": "Ruiz",
        "gradeLevel": 9,
        "dateOfBirth": "2011-03-04",
        "email": "ana.ruiz@example.org",
        "phone": "+1 512 555 0100",
    }
    refusals = (
        ({"gradeLevel": 13}, "OUT_OF_RANGE", "gradeLevel"),
        ({"gradeLevel": -2}, "OUT_OF_RANGE", "gradeLevel"),
        ({"email": "not an email"}, "INVALID_EMAIL", "email"),
        ({"phone": "call me"}, "INVALID_PHONE", "phone"),
        ({"dateOfBirth": "2999-01-01"}, "FUTURE_DATE", "dateOfBirth"),
        ({"dateOfBirth": "1901-01-01"}, "IMPLAUSIBLE_AGE", "dateOfBirth"),
        ({"studentNumber": taken}, "DUPLICATE_STUDENT_NUMBER", "studentNumber"),
        ({"studentNumber": "  "}, "REQUIRED", "studentNumber"),
        ({"gender": "dragon"}, "NOT_ALLOWED", "gender"),
    )
    students = await db.fetchval("SELECT count(*) FROM student")
    for change, code, field in refusals:
        response = await gql(CREATE_STUDENT, as_user=admin, variables={"input": base | change})
        payload = _payload(response, "createStudent")
        assert payload["student"] is None
        assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [(code, [field])]
    # A date that is no date is refused by the schema itself (a request error, nothing written).
    response = await gql(
        CREATE_STUDENT, as_user=admin, variables={"input": base | {"dateOfBirth": "2011-02-30"}}
    )
    assert response.errors[0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "data" not in response.body
    assert await db.fetchval("SELECT count(*) FROM student") == students

    created = _payload(
        await gql(CREATE_STUDENT, as_user=admin, variables={"input": base}), "createStudent"
    )
    assert created["userErrors"] == []
    student = created["student"]
    assert student["studentNumber"] == "T-900001"
    assert student["email"] == "ana.ruiz@example.org"
    assert student["dateOfBirth"] == "2011-03-04"
    assert student["school"]["id"] == base["schoolId"]
    pk = int(await db.fetchval("SELECT id FROM student WHERE student_number = 'T-900001'"))
    stored = bytes(await db.fetchval("SELECT email FROM student WHERE id = $1", pk))
    assert b"ana.ruiz" not in stored
    # The same number again is a duplicate.
    again = _payload(
        await gql(CREATE_STUDENT, as_user=admin, variables={"input": base}), "createStudent"
    )
    assert again["userErrors"][0]["code"] == "DUPLICATE_STUDENT_NUMBER"

    updated = _payload(
        await gql(
            UPDATE_STUDENT,
            as_user=admin,
            variables={
                "input": {"id": student["id"], "gradeLevel": 10, "email": "ana@example.org"}
            },
        ),
        "updateStudent",
    )
    assert updated == {
        "student": {"id": student["id"], "gradeLevel": 10, "email": "ana@example.org"},
        "userErrors": [],
    }
    event = await db.fetchrow(
        "SELECT id, details FROM audit_event WHERE action = 'update_student'"
        " AND target_id = $1 ORDER BY id DESC LIMIT 1",
        pk,
    )
    assert "ana" not in event["details"]
    ring = await sealing_keyring(db)
    changes = {
        row["field"]: (
            ring.decrypt("audit_change", "before", row["id"], row["before"]),
            ring.decrypt("audit_change", "after", row["id"], row["after"]),
        )
        for row in await db.fetch(
            "SELECT id, field, before, after FROM audit_change WHERE audit_event_id = $1",
            event["id"],
        )
    }
    assert changes == {
        "email": ("ana.ruiz@example.org", "ana@example.org"),
        "gradeLevel": ("9", "10"),
    }
    audit = (await gql(AUDIT, as_user=admin, variables={"action": "update_student"})).ok()
    shown = nodes(audit["auditEvents"])[0]
    assert shown["targetId"] == student["id"]
    assert sorted(shown["changes"], key=lambda c: c["field"]) == [
        {"field": "email", "before": "ana.ruiz@example.org", "after": "ana@example.org"},
        {"field": "gradeLevel", "before": "9", "after": "10"},
    ]

    # A de-identified record cannot change.
    await db.execute("UPDATE student SET deidentified_at = now() WHERE id = $1", pk)
    refused = _payload(
        await gql(
            UPDATE_STUDENT,
            as_user=admin,
            variables={"input": {"id": student["id"], "gradeLevel": 11}},
        ),
        "updateStudent",
    )
    assert refused["userErrors"][0]["code"] == "DEIDENTIFIED"
    assert await db.fetchval("SELECT grade_level FROM student WHERE id = $1", pk) == 10


async def test_guardian_links_record_custody_and_end_access(
    gql: Gql, db: asyncpg.Connection, district: PrivacyDistrict
) -> None:
    admin = district.admin
    created = _payload(
        await gql(
            CREATE_STUDENT,
            as_user=admin,
            variables={
                "input": {
                    "schoolId": to_global_id("School", district.schools[0]),
                    "studentNumber": "T-900002",
                    "firstName": "Ben",
                    "lastName": "Okafor",
                }
            },
        ),
        "createStudent",
    )
    student = created["student"]["id"]
    guardian_name = district.guardian
    guardian = await db.fetchval("SELECT id FROM app_user WHERE username = $1", guardian_name)
    linked = _payload(
        await gql(
            LINK,
            as_user=admin,
            variables={
                "input": {
                    "guardianId": to_global_id("Guardian", guardian),
                    "studentId": student,
                    "relationship": "PARENT",
                }
            },
        ),
        "linkGuardian",
    )
    assert linked["userErrors"] == []
    link = linked["link"]
    assert (link["relationship"], link["legalGuardian"], link["dataAccess"]) == (
        "PARENT",
        True,
        True,
    )
    # The student's guardians carry the link's id, for the administrator's next change.
    listed = await gql(
        "query ($id: ID!) { student(id: $id) { guardians { id linkId } } }",
        as_user=admin,
        variables={"id": student},
    )
    assert listed.ok()["student"]["guardians"] == [
        {"id": to_global_id("Guardian", guardian), "linkId": link["id"]}
    ]
    mine = await gql(
        "query ($id: ID!) { student(id: $id) { firstName email } }",
        as_user=guardian_name,
        variables={"id": student},
    )
    assert mine.ok()["student"]["firstName"] == "Ben"

    twice = await gql(
        LINK,
        as_user=admin,
        variables={
            "input": {
                "guardianId": to_global_id("Guardian", guardian),
                "studentId": student,
                "relationship": "PARENT",
            }
        },
    )
    assert _refused(twice, "linkGuardian") == "ALREADY_LINKED"

    # A custody restriction: the link stays, the guardian sees nothing.
    restricted = _payload(
        await gql(
            UPDATE_LINK,
            as_user=admin,
            variables={"input": {"id": link["id"], "dataAccess": False}},
        ),
        "updateGuardianLink",
    )
    assert restricted == {
        "link": {"id": link["id"], "dataAccess": False, "legalGuardian": True},
        "userErrors": [],
    }
    gone = await gql(
        "query ($id: ID!) { student(id: $id) { firstName } }",
        as_user=guardian_name,
        variables={"id": student},
    )
    assert gone.ok()["student"] is None
    event = await db.fetchrow(
        "SELECT details FROM audit_event WHERE action = 'update_guardian_link'"
        " AND district_id = $1 ORDER BY id DESC LIMIT 1",
        district.id,
    )
    assert '"dataAccess": [true, false]' in event["details"]
    bad = await gql(
        UPDATE_LINK,
        as_user=admin,
        variables={"input": {"id": link["id"], "endsOn": "2000-01-01"}},
    )
    assert _refused(bad, "updateGuardianLink") in ("INVALID_PERIOD", "IMPLAUSIBLE_DATE")
