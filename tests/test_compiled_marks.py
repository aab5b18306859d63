"""`Student.marks` and `Student.readiness` compile to the resolvers' answer, as every demo account:
the same rows in the same order (a teacher only their classes' marks, a guardian or a student
all of them), the same values as the resolvers' scalars write them, the same withheld fields and
disclosures; in the one statement of the root field. `Mark.class` falls back."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import asyncpg
import httpx
import pytest

from schema.relay import to_global_id
from tests import test_compiled as shared

ACCOUNTS = shared.ACCOUNTS
Post = shared.Post
_same = shared._same
# The fixtures of the compiled path's tests: the reference application and the poster.
reference = shared.reference
post = shared.post

MARK = "id score letter comment recordedAt term { id name startsOn endsOn __typename } __typename"
READINESS = "id indicator category met value achievedOn source __typename"
LIST = f"""
query ($n: Int) {{
  students(first: $n) {{
    totalCount
    edges {{ node {{ id displayName marks {{ {MARK} }} readiness {{ {READINESS} }} }} }}
  }}
}}
"""
ONE = f"""
query ($id: ID!) {{
  student(id: $id) {{
    __typename id email
    grades: marks {{ {MARK} }}
    marks {{ score }}
    readiness {{ {READINESS} }}
  }}
}}
"""
NODE = """
query ($id: ID!) {
  node(id: $id) { id ... on Student { marks { ...mark } ready: readiness { ...ready } } }
}
fragment mark on Node { ... on Mark { id letter recordedAt term { name } } }
fragment ready on ReadinessIndicator { met indicator }
"""


def _pk(global_id: str) -> int:
    return int(base64.urlsafe_b64decode(global_id + "=" * (-len(global_id) % 4)).split(b":")[1])


def _students(body: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for edge in body["data"]["students"]["edges"]:
        yield edge["node"]


@pytest.mark.parametrize("user", ACCOUNTS)
@pytest.mark.parametrize("n", [3, 150])
async def test_marks_and_readiness_of_a_page_compile_to_the_resolvers_answer(
    user: str,
    n: int,
    client: httpx.AsyncClient,
    reference: httpx.AsyncClient,
    db: asyncpg.Connection,
    post: Post,
) -> None:
    await _same(post, client, reference, db, LIST, user, {"n": n})


@pytest.mark.parametrize("user", ACCOUNTS)
async def test_marks_and_readiness_of_one_student_compile_to_the_resolvers_answer(
    user: str,
    client: httpx.AsyncClient,
    reference: httpx.AsyncClient,
    db: asyncpg.Connection,
    post: Post,
) -> None:
    # Someone the viewer is related to (if anyone), the demo student, someone far off, nobody.
    listed = await post(client, "{ students(first: 1) { edges { node { id } } } }", user, {})
    targets = [e["node"]["id"] for e in listed["data"]["students"]["edges"]]
    own = await _demo_student(db)
    last = await db.fetchval("SELECT max(id) FROM student")
    targets += [to_global_id("Student", pk) for pk in (own, last, 2**62)]
    for target in targets:
        await _same(post, client, reference, db, ONE, user, {"id": target})
        await _same(post, client, reference, db, NODE, user, {"id": target})


async def _taught_marks(db: asyncpg.Connection, student_ids: list[int]) -> set[int]:
    rows = await db.fetch(
        "SELECT m.id FROM mark m WHERE m.student_id = ANY($1::bigint[]) AND m.class_id IN ("
        " SELECT ta.class_id FROM teaching_assignment ta JOIN app_user u"
        " ON u.id = ta.staff_user_id WHERE u.username = 'teacher'"
        " AND ta.starts_on <= CURRENT_DATE AND (ta.ends_on IS NULL OR ta.ends_on >= CURRENT_DATE))",
        student_ids,
    )
    return {r["id"] for r in rows}


async def test_a_teacher_sees_only_their_classes_marks(
    client: httpx.AsyncClient,
    reference: httpx.AsyncClient,
    db: asyncpg.Connection,
    post: Post,
) -> None:
    body = await _same(post, client, reference, db, LIST, "teacher", {"n": 150})
    students = list(_students(body))
    assert students and all(s["marks"] is not None for s in students)
    shown = {_pk(m["id"]) for s in students for m in s["marks"]}
    ids = [_pk(s["id"]) for s in students]
    assert shown == await _taught_marks(db, ids)
    every = await db.fetchval("SELECT count(*) FROM mark WHERE student_id = ANY($1::bigint[])", ids)
    assert 0 < len(shown) < every, "their students have marks in other teachers' classes too"


@pytest.mark.parametrize("user", ["guardian", "student"])
async def test_a_guardian_and_a_student_see_every_mark(
    user: str,
    client: httpx.AsyncClient,
    reference: httpx.AsyncClient,
    db: asyncpg.Connection,
    post: Post,
) -> None:
    body = await _same(post, client, reference, db, LIST, user, {"n": 150})
    mine = [s for s in _students(body) if s["marks"] is not None]
    assert mine, "the viewer reads their own (or their children's) marks"
    for student in mine:
        expected = await db.fetch(
            "SELECT id FROM mark WHERE student_id = $1 ORDER BY term_id, class_id",
            _pk(student["id"]),
        )
        assert [_pk(m["id"]) for m in student["marks"]] == [r["id"] for r in expected]
    assert any(m["comment"] for s in mine for m in s["marks"]), "a comment, decrypted"


async def test_scores_and_times_are_written_as_the_resolvers_write_them(
    client: httpx.AsyncClient,
    reference: httpx.AsyncClient,
    db: asyncpg.Connection,
    post: Post,
) -> None:
    marks = await db.fetch(
        "SELECT m.id, m.score, m.recorded_at FROM mark m JOIN student s ON s.id = m.student_id"
        " JOIN app_user u ON u.id = s.user_id WHERE u.username = 'student'"
        " ORDER BY m.term_id, m.class_id LIMIT 3"
    )
    assert len(marks) == 3
    changes = [
        ("90", "2026-10-06 21:29:00.123456+00"),  # a whole score, microseconds
        (None, "2026-10-06 16:29:00.12-05"),  # no score, tenths in another offset
        ("7.5", "2026-10-06 21:29:05+00"),  # a score of one digit, whole seconds
    ]
    try:
        for mark, (score, at) in zip(marks, changes, strict=True):
            await db.execute(
                "UPDATE mark SET score = $2::text::numeric, recorded_at = $3::text::timestamptz"
                " WHERE id = $1",
                mark["id"],
                score,
                at,
            )
        one = "query ($id: ID!) { student(id: $id) { marks { id score recordedAt } } }"
        variables = {"id": to_global_id("Student", await _demo_student(db))}
        answer = await _same(post, client, reference, db, one, "student", variables)
        values = [(m["score"], m["recordedAt"]) for m in answer["data"]["student"]["marks"][:3]]
        assert values == [
            ("90.00", "2026-10-06T21:29:00.123456+00:00"),
            (None, "2026-10-06T21:29:00.120000+00:00"),
            ("7.50", "2026-10-06T21:29:05+00:00"),
        ]
    finally:
        for mark in marks:
            await db.execute(
                "UPDATE mark SET score = $2, recorded_at = $3 WHERE id = $1",
                mark["id"],
                mark["score"],
                mark["recorded_at"],
            )


async def _demo_student(db: asyncpg.Connection) -> int:
    """The student row of the `student` account."""
    pk: int = await db.fetchval(
        "SELECT s.id FROM student s JOIN app_user u ON u.id = s.user_id WHERE u.username = $1",
        "student",
    )
    return pk


async def test_a_marks_class_falls_back_whole(
    client: httpx.AsyncClient, reference: httpx.AsyncClient, post: Post
) -> None:
    query = "{ students(first: 3) { edges { node { marks { score class { id } } } } } }"
    for user in ("teacher", "guardian"):
        compiled = await post(client, query, user, {})
        resolved = await post(reference, query, user, {})
        assert compiled["extensions"]["compiled"] is False
        assert compiled.get("data") == resolved.get("data")
        assert compiled.get("errors") == resolved.get("errors")
