"""The compiled path answers classes as the resolvers do: `classes`, `class(id)`, `node(id)` of a
Class, and a Student's `classes` and `enrollments` — the same data, errors and disclosure rows, in
one SELECT per root field (and the record's INSERT), however many classes and rosters the answer
holds; and what it does not cover falls back whole."""

from __future__ import annotations

from typing import Any

import asyncpg
import httpx
import pytest

from schema.relay import to_global_id
from tests import test_compiled as shared
from tests.test_compiled import ACCOUNTS, Post, _same

# The reference application (compiled execution off) and the poster, as `test_compiled` has them.
reference = shared.reference
post = shared.post

# The teacher's dashboard: their classes, each with its teachers and roster.
DASHBOARD = """
query Dashboard($roster: Int = 50) {
  classes(mine: true) {
    totalCount
    edges {
      node {
        id title code subject gradeLevels visibility __typename
        school { id name } term { name startsOn endsOn }
        teachers { id firstName lastName email __typename }
        students(first: $roster) {
          totalCount
          pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
          edges { cursor node { id displayName email gradeLevel dateOfBirth } }
        }
      }
    }
  }
}
"""
LIST = """
query ($first: Int, $after: String, $school: ID) {
  classes(first: $first, after: $after, schoolId: $school) {
    totalCount pageInfo { hasNextPage hasPreviousPage endCursor }
    edges { cursor node { id title visibility students(first: 2) { totalCount } } }
  }
}
"""
ONE = """
query ($id: ID!, $after: String) {
  class(id: $id) {
    id title
    ...Roster
  }
}
fragment Roster on Class {
  students(first: 3, after: $after) {
    totalCount pageInfo { hasNextPage hasPreviousPage endCursor }
    edges { cursor node { id firstName lastName phone } }
  }
}
"""
NODE = """
query ($id: ID!) {
  node(id: $id) {
    __typename id
    ... on Class { title teachers { lastName } students(first: 2) { edges { node { id } } } }
    ... on Student { displayName classes { title } }
    ...onNode
  }
}
fragment onNode on Node { ... on Class { code } ... on Student { gradeLevel } }
"""
# A student's classes and enrollment history, their classes' rosters nested once more.
ENROLLED = """
query ($n: Int) {
  students(first: $n) {
    edges {
      node {
        id
        classes {
          id title teachers { email }
          students(first: 2) { totalCount edges { node { id displayName classes { code } } } }
        }
        history: enrollments {
          beginsOn endsOn active __typename class { title code } other: class { subject }
        }
      }
    }
  }
}
"""
STUDENT = """
query ($id: ID!) {
  student(id: $id) { id enrollments { active class { id term { name } } } classes { title } }
}
"""


async def _classes(db: asyncpg.Connection) -> list[str]:
    """A class the teacher teaches, the student's, one of another school, and a missing one."""
    taught = await db.fetchval(
        "SELECT ta.class_id FROM teaching_assignment ta JOIN app_user u"
        " ON u.id = ta.staff_user_id WHERE u.username = 'teacher' ORDER BY 1 LIMIT 1"
    )
    attended = await db.fetchval(
        "SELECT e.class_id FROM enrollment e JOIN student s ON s.id = e.student_id"
        " JOIN app_user u ON u.id = s.user_id WHERE u.username = 'student' ORDER BY 1 DESC LIMIT 1"
    )
    other = await db.fetchval("SELECT max(id) FROM class_section")
    return [to_global_id("Class", pk) for pk in (taught, attended, other, 10_000_000)]


@pytest.mark.parametrize("user", ACCOUNTS)
async def test_the_teacher_dashboard_compiles_to_one_statement(
    user: str,
    client: httpx.AsyncClient,
    reference: httpx.AsyncClient,
    db: asyncpg.Connection,
    post: Post,
) -> None:
    # `_same` bounds the statements: one SELECT and the record's INSERT, not one per class.
    body = await _same(post, client, reference, db, DASHBOARD, user, {})
    for roster in (2, 0):
        await _same(post, client, reference, db, DASHBOARD, user, {"roster": roster})
    if user == "teacher":
        classes = body["data"]["classes"]["edges"]
        assert len(classes) > 1
        assert all(c["node"]["students"]["edges"] for c in classes)
        assert all(t["email"] for c in classes for t in c["node"]["teachers"])
        # Beyond the viewer's load: the one SELECT of `classes` and the record's INSERT.
        baseline = await post(client, "{ viewer { id } }", user, {})
        statements = body["extensions"]["sqlStatements"]
        assert statements - baseline["extensions"]["sqlStatements"] == 2


@pytest.mark.parametrize("user", ACCOUNTS)
async def test_lists_of_classes_and_their_pages_compile_to_the_resolvers_answer(
    user: str,
    client: httpx.AsyncClient,
    reference: httpx.AsyncClient,
    db: asyncpg.Connection,
    post: Post,
) -> None:
    school = to_global_id("School", await db.fetchval("SELECT min(id) FROM school"))
    for variables in [{"first": 4}, {"first": 0}, {"first": 3, "school": school}, {}]:
        body = await _same(post, client, reference, db, LIST, user, variables)
        after = body["data"]["classes"]["pageInfo"]["endCursor"]
        if after is not None and variables:
            await _same(post, client, reference, db, LIST, user, {**variables, "after": after})


@pytest.mark.parametrize("user", ACCOUNTS)
async def test_one_class_and_its_roster_pages_compile_to_the_resolvers_answer(
    user: str,
    client: httpx.AsyncClient,
    reference: httpx.AsyncClient,
    db: asyncpg.Connection,
    post: Post,
) -> None:
    for target in await _classes(db):
        body = await _same(post, client, reference, db, ONE, user, {"id": target})
        await _same(post, client, reference, db, NODE, user, {"id": target})
        found = body["data"]["class"]
        after = found and found["students"]["pageInfo"]["endCursor"]
        if after:
            await _same(post, client, reference, db, ONE, user, {"id": target, "after": after})


@pytest.mark.parametrize("user", ACCOUNTS)
async def test_a_students_classes_and_enrollments_compile_to_the_resolvers_answer(
    user: str,
    client: httpx.AsyncClient,
    reference: httpx.AsyncClient,
    db: asyncpg.Connection,
    post: Post,
) -> None:
    await _same(post, client, reference, db, ENROLLED, user, {"n": 12})
    listed = await post(client, "{ students(first: 2) { edges { node { id } } } }", user, {})
    targets = [e["node"]["id"] for e in listed["data"]["students"]["edges"]]
    last = await db.fetchval("SELECT max(id) FROM student")
    for target in [*targets, to_global_id("Student", last)]:
        await _same(post, client, reference, db, STUDENT, user, {"id": target})
        await _same(post, client, reference, db, NODE, user, {"id": target})


async def test_a_student_reads_only_what_the_policy_releases_of_classes(
    client: httpx.AsyncClient, reference: httpx.AsyncClient, db: asyncpg.Connection, post: Post
) -> None:
    # A classmate's enrollments are withheld (one grouped FORBIDDEN error), the student's own are
    # not; the teacher reads only their own classes' enrollments of a student.
    body = await _same(post, client, reference, db, ENROLLED, "student", {"n": 30})
    assert any(e["path"][-1] in ("classes", "history") for e in body.get("errors", []))
    body = await _same(post, client, reference, db, ENROLLED, "teacher", {"n": 30})
    assert any(e["node"]["classes"] for e in body["data"]["students"]["edges"])


async def test_what_the_class_compiler_does_not_cover_falls_back_whole(
    client: httpx.AsyncClient,
    reference: httpx.AsyncClient,
    db: asyncpg.Connection,
    post: Post,
) -> None:
    target = (await _classes(db))[0]
    first = await post(client, ONE, "teacher", {"id": target})
    after: Any = first["data"]["class"]["students"]["pageInfo"]["endCursor"]
    assert after is not None
    school = to_global_id("School", await db.fetchval("SELECT min(id) FROM school"))
    for query, variables in [
        # A roster's cursor in a list of classes: the resolvers refuse it for the other classes.
        (
            "query ($a: String) { classes(first: 5) { edges { node {"
            " students(after: $a) { totalCount } } } } }",
            {"a": after},
        ),
        (
            "query ($id: ID!) { class(id: $id) { students(first: -1) { totalCount } } }",
            {"id": target},
        ),
        ('{ class(id: "not-an-id") { id } }', {}),
        ("query ($id: ID!) { class(id: $id) { id } }", {"id": school}),
        ("query ($id: ID!) { node(id: $id) { id } }", {"id": school}),
        ('{ classes(schoolId: "nope") { totalCount } }', {}),
        ('{ classes(after: "nope") { totalCount } }', {}),
        ("{ classes { totalCount } viewer { sessions { id } } }", {}),
        # Two refusals: which comes first depends on where each root waits for the viewer, so
        # the resolvers must find it unloaded, as they would without the compiled attempt.
        ('{ classes(after: "nope") { totalCount } a1: classes(first: -1) { totalCount } }', {}),
    ]:
        compiled = await post(client, query, "teacher", variables)
        resolved = await post(reference, query, "teacher", variables)
        assert compiled["extensions"]["compiled"] is False, query
        assert compiled.get("data") == resolved.get("data")
        assert compiled.get("errors") == resolved.get("errors")
