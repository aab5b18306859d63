"""Breach investigation: `Query.disclosures` filtered and naming the student, `Query.auditEvents`,
and `schoolgraph audit report`."""

from __future__ import annotations

import csv
import datetime
import io
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg
import pytest

from schema.relay import to_global_id
from tests.helpers import GraphQLResponse, nodes
from tests.test_cli import _run
from tests.test_policy import _student_of, _user_id, sid
from tests.test_writes import RECORD_MARK, _teacher_class_and_pupil

Gql = Callable[..., Awaitable[GraphQLResponse]]

DISCLOSURES = """
query ($student: ID, $viewer: ID, $from: DateTime, $to: DateTime, $class: String,
       $first: Int = 50, $after: String) {
  disclosures(first: $first, after: $after, studentId: $student, viewerId: $viewer,
              from: $from, to: $to, fieldClass: $class) {
    totalCount
    edges { node { id studentId studentName student { id lastName } fieldClasses basis
                   viewerName requestId disclosedAt } }
    pageInfo { hasNextPage endCursor }
  }
}
"""

AUDIT = """
query ($actor: ID, $action: String, $type: String, $target: ID, $from: DateTime, $to: DateTime,
       $first: Int = 50, $after: String) {
  auditEvents(first: $first, after: $after, actorId: $actor, action: $action,
              targetType: $type, targetId: $target, from: $from, to: $to) {
    totalCount
    edges { node { id actorUsername actorName action targetType targetId details requestId at } }
    pageInfo { hasNextPage endCursor }
  }
}
"""


def staff(pk: int) -> str:
    return to_global_id("StaffMember", pk)


async def _now(db: asyncpg.Connection) -> str:
    return (await db.fetchval("SELECT clock_timestamp()")).isoformat()


async def _read(gql: Gql, user: str, student: int, fields: str) -> None:
    response = await gql(
        f"query ($id: ID!) {{ student(id: $id) {{ {fields} }} }}",
        as_user=user,
        variables={"id": sid(student)},
    )
    assert response.ok()["student"] is not None


async def _principal_school(db: asyncpg.Connection) -> int:
    return int(
        await db.fetchval(
            "SELECT ra.school_id FROM role_assignment ra JOIN app_user u ON u.id = ra.user_id"
            " WHERE u.username = 'principal' AND ra.role = 'school_admin'"
        )
    )


# --- disclosures ----------------------------------------------------------------------------


async def test_each_disclosure_names_the_student(gql: Gql, db: asyncpg.Connection) -> None:
    child = await _student_of(db, "student")
    since = await _now(db)
    await _read(gql, "guardian", child, "email")
    guardian = to_global_id("Guardian", await _user_id(db, "guardian"))
    response = await gql(
        DISCLOSURES, as_user="admin", variables={"viewer": guardian, "from": since}
    )
    (entry,) = nodes(response.ok()["disclosures"])
    row = await db.fetchrow("SELECT first_name, last_name FROM student WHERE id = $1", child)
    assert entry["studentId"] == sid(child)
    assert entry["student"] == {"id": sid(child), "lastName": row["last_name"]}
    assert entry["studentName"] == f"{row['first_name']} {row['last_name'][0]}."
    assert entry["fieldClasses"] == ["contact"]
    assert entry["basis"] == "guardian_of"


async def test_filters_by_reader_time_and_field_class(gql: Gql, db: asyncpg.Connection) -> None:
    child = await _student_of(db, "student")
    admin = staff(await _user_id(db, "admin"))
    since = await _now(db)
    await _read(gql, "admin", child, "email")
    await _read(gql, "admin", child, "dateOfBirth")
    await _read(gql, "admin", child, "email gender")
    until = await _now(db)
    await _read(gql, "admin", child, "gender")  # after the range

    async def classes(**variables: object) -> list[list[str]]:
        response = await gql(DISCLOSURES, as_user="admin", variables=variables)
        found = response.ok()["disclosures"]
        assert found["totalCount"] == len(found["edges"])
        return [sorted(n["fieldClasses"]) for n in nodes(found)]

    window = {"viewer": admin, "student": sid(child), "from": since, "to": until}
    assert await classes(**window) == [["contact", "demographic"], ["demographic"], ["contact"]]
    assert await classes(**window, **{"class": "demographic"}) == [
        ["contact", "demographic"],
        ["demographic"],
    ]
    assert await classes(**window, **{"class": "portfolio"}) == []
    assert len(await classes(viewer=admin, student=sid(child), **{"from": since})) == 4


async def test_total_count_is_every_matching_row(gql: Gql, db: asyncpg.Connection) -> None:
    teacher = await _user_id(db, "teacher")
    response = await gql("{ students(first: 30) { edges { node { email } } } }", as_user="teacher")
    assert response.ok()
    expected = await db.fetchval(
        "SELECT count(*) FROM disclosure WHERE viewer_user_id = $1", teacher
    )
    assert expected > 2
    seen: list[str] = []
    after = None
    while True:
        page = await gql(
            DISCLOSURES,
            as_user="admin",
            variables={"viewer": staff(teacher), "first": 7, "after": after},
        )
        found = page.ok()["disclosures"]
        assert found["totalCount"] == expected
        seen += [n["id"] for n in nodes(found)]
        if not found["pageInfo"]["hasNextPage"]:
            break
        after = found["pageInfo"]["endCursor"]
    assert len(seen) == len(set(seen)) == expected


async def test_a_school_admin_reads_only_their_schools_record(
    gql: Gql, db: asyncpg.Connection
) -> None:
    school = await _principal_school(db)
    outsider = int(
        await db.fetchval(
            "SELECT id FROM student WHERE school_id <> $1 AND district_id ="
            " (SELECT district_id FROM school WHERE id = $1) ORDER BY id LIMIT 1",
            school,
        )
    )
    insider = await _student_of(db, "student")
    since = await _now(db)
    await _read(gql, "admin", outsider, "email")
    await _read(gql, "admin", insider, "email")
    admin = staff(await _user_id(db, "admin"))
    window = {"viewer": admin, "from": since}
    everything = await gql(DISCLOSURES, as_user="admin", variables=window)
    assert {n["studentId"] for n in nodes(everything.ok()["disclosures"])} == {
        sid(outsider),
        sid(insider),
    }
    mine = (await gql(DISCLOSURES, as_user="principal", variables=window)).ok()["disclosures"]
    assert [n["studentId"] for n in nodes(mine)] == [sid(insider)]
    assert mine["totalCount"] == 1
    other = await gql(DISCLOSURES, as_user="principal", variables={"student": sid(outsider)})
    assert other.ok()["disclosures"] == {
        "totalCount": 0,
        "edges": [],
        "pageInfo": {"hasNextPage": False, "endCursor": None},
    }


@pytest.mark.parametrize(
    ("variables", "argument"),
    [
        ({"class": "secrets"}, "fieldClass"),
        ({"from": "2026-02-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"}, "to"),
        ({"viewer": sid(1)}, None),
    ],
)
async def test_bad_filters_are_bad_input(
    gql: Gql, variables: dict[str, str], argument: str | None
) -> None:
    response = await gql(DISCLOSURES, as_user="admin", variables=variables)
    (error,) = response.errors
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"].get("argument") == argument


# --- the write audit ------------------------------------------------------------------------


async def test_audit_events_show_who_changed_what(gql: Gql, db: asyncpg.Connection) -> None:
    klass, pupil = await _teacher_class_and_pupil(db)
    since = await _now(db)
    for score in ("71", "93"):
        variables = {
            "input": {
                "studentId": sid(pupil),
                "classId": to_global_id("Class", klass),
                "score": score,
            }
        }
        payload = (await gql(RECORD_MARK, as_user="teacher", variables=variables)).ok()
        assert payload["recordMark"]["userErrors"] == []
    teacher = staff(await _user_id(db, "teacher"))
    response = await gql(
        AUDIT, as_user="admin", variables={"actor": teacher, "action": "record_mark", "from": since}
    )
    found = response.ok()["auditEvents"]
    assert found["totalCount"] == 2
    newest, older = nodes(found)
    assert newest["actorUsername"] == "teacher" and newest["action"] == "record_mark"
    assert newest["targetType"] == "Mark"
    assert newest["details"]["score"] == "93" and older["details"]["score"] == "71"
    assert newest["requestId"] and newest["requestId"] != older["requestId"]
    assert newest["at"] >= older["at"]
    # The same mark both times: its id finds both events, and the page turns with a cursor.
    assert newest["targetId"] == older["targetId"]
    first = await gql(AUDIT, as_user="admin", variables={"target": newest["targetId"], "first": 1})
    page = first.ok()["auditEvents"]
    assert page["totalCount"] >= 2 and page["pageInfo"]["hasNextPage"]
    second = await gql(
        AUDIT,
        as_user="admin",
        variables={
            "target": newest["targetId"],
            "first": 1,
            "after": page["pageInfo"]["endCursor"],
        },
    )
    assert nodes(second.ok()["auditEvents"]) != nodes(page)
    count = await db.fetchval(
        "SELECT count(*) FROM audit_event WHERE target_type = 'Mark' AND target_id ="
        " (SELECT target_id FROM audit_event WHERE action = 'record_mark' ORDER BY id DESC LIMIT 1)"
    )
    assert page["totalCount"] == count


async def test_audit_events_are_for_district_admins(gql: Gql) -> None:
    for account in ("principal", "teacher", "guardian", "reporter"):
        response = await gql("{ auditEvents { totalCount } }", as_user=account)
        assert response.errors[0]["extensions"]["code"] == "FORBIDDEN", account
    anonymous = await gql("{ auditEvents { totalCount } }")
    assert anonymous.errors[0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_audit_events_of_another_district_stay_out(gql: Gql, db: asyncpg.Connection) -> None:
    admin_district = await db.fetchval("SELECT district_id FROM app_user WHERE username = 'admin'")
    other = await db.fetchval("SELECT id FROM district WHERE id <> $1 LIMIT 1", admin_district)
    await db.execute(
        "INSERT INTO audit_event (district_id, action, target_type, target_id, details)"
        " VALUES ($1, 'breach_probe', 'Student', 1, '{}')",
        other,
    )
    response = await gql(AUDIT, as_user="admin", variables={"action": "breach_probe"})
    assert response.ok()["auditEvents"]["totalCount"] == 0


# --- the CSV report -------------------------------------------------------------------------


async def test_audit_report_by_reader_and_by_student(
    gql: Gql, db: asyncpg.Connection, database_url: str, tmp_path: Path
) -> None:
    child = await _student_of(db, "student")
    await _read(gql, "guardian", child, "email dateOfBirth")
    today = datetime.datetime.now(datetime.UTC).date().isoformat()
    out = tmp_path / "report.csv"
    result = _run(
        database_url, "audit", "report", "--viewer", "guardian", "--from", today, "--to", today,
        "--out", str(out),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(out.read_text(), newline="")))
    expected = await db.fetchval(
        "SELECT count(*) FROM disclosure d JOIN app_user u ON u.id = d.viewer_user_id"
        " WHERE u.username = 'guardian' AND d.disclosed_at >= CURRENT_DATE"
    )
    assert len(rows) == expected > 0
    assert f"{expected:,} disclosures" in result.stderr
    last = rows[-1]
    assert last["viewer_username"] == "guardian"
    assert last["student_id"] == sid(child)
    assert last["field_classes"] == "contact;demographic"
    assert last["basis"] == "guardian_of" and last["request_id"]
    number = await db.fetchval("SELECT student_number FROM student WHERE id = $1", child)
    assert last["student_number"] == number
    # By student number, to stdout; oldest first, and only that student.
    by_student = _run(database_url, "audit", "report", "--student", number)
    assert by_student.returncode == 0, by_student.stderr
    listed = list(csv.DictReader(io.StringIO(by_student.stdout)))
    total = await db.fetchval("SELECT count(*) FROM disclosure WHERE student_id = $1", child)
    assert len(listed) == total
    assert {r["student_id"] for r in listed} == {sid(child)}
    assert [r["disclosed_at"] for r in listed] == sorted(r["disclosed_at"] for r in listed)


def test_audit_report_refuses_unclear_requests(database_url: str) -> None:
    both = _run(database_url, "audit", "report", "--viewer", "admin", "--student", "1")
    assert both.returncode == 2 and "either --viewer or --student" in both.stdout
    nobody = _run(database_url, "audit", "report", "--viewer", "no-such-user")
    assert nobody.returncode == 1 and "no such user" in nobody.stdout
    backwards = _run(
        database_url, "audit", "report", "--viewer", "admin", "--from", "2026-02-01",
        "--to", "2026-01-01",
    )  # fmt: skip
    assert backwards.returncode == 2 and "--to is before --from" in backwards.stdout
