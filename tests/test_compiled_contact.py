"""A Student's `guardians` and `portfolio` compile to the resolvers' answer: the same guardians in
the same order, the same portfolio items released by visibility and by the COPPA rule, the same
withheld fields, errors and disclosure rows, the same datetimes to the microsecond; in one SELECT
(and the record's INSERT)."""

from __future__ import annotations

import datetime
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import httpx
import pytest

from schema.relay import to_global_id
from tests.test_compiled import ACCOUNTS, Post, _same
from tests.test_compiled import post as post
from tests.test_compiled import reference as reference

CONTACT = """
  id displayName email
  guardians { id linkId firstName lastName relationship legalGuardian email phone __typename }
  portfolio {
    id headline __typename
    items { id kind title body visibility createdAt updatedAt erasedAt __typename }
  }
"""
LIST = f"query ($n: Int) {{ students(first: $n) {{ edges {{ node {{ {CONTACT} }} }} }} }}"
ONE = f"query ($id: ID!) {{ student(id: $id) {{ {CONTACT} }} }}"
NODE = """
query ($id: ID!) {
  node(id: $id) {
    __typename
    ... on Student {
      family: guardians { ...guardian lastName }
      guardians @include(if: true) { id }
      ...folio
    }
  }
}
fragment guardian on Guardian { ... on Node { id } firstName legalGuardian phone }
fragment folio on Node {
  ... on Student {
    portfolio {
      ... on Node { id }
      items { ...item }
      shown: items { ... on PortfolioItem { createdAt } }
    }
  }
}
fragment item on PortfolioItem { __typename visibility title createdAt erasedAt updatedAt }
"""

GRANT = """
mutation ($input: GrantLegitimateInterestInput!) {
  grantLegitimateInterest(input: $input) { grant { id } userErrors { message } }
}
"""
REVOKE = (
    "mutation ($id: ID!) { revokeLegitimateInterest(input: {id: $id}) { userErrors { code } } }"
)

Gql = Callable[..., Awaitable[Any]]


async def _student_of(db: asyncpg.Connection, username: str) -> int:
    pk: int = await db.fetchval(
        "SELECT s.id FROM student s JOIN app_user u ON u.id = s.user_id WHERE u.username = $1",
        username,
    )
    return pk


async def _targets(db: asyncpg.Connection) -> list[int]:
    """The demo student, the guardian's children, a student with items of every visibility, an
    under-13 student, and nobody."""
    found = [await _student_of(db, "student")]
    found += [
        r[0]
        for r in await db.fetch(
            "SELECT gl.student_id FROM guardian_link gl JOIN app_user u"
            " ON u.id = gl.guardian_user_id WHERE u.username = 'guardian' ORDER BY 1"
        )
    ]
    found.append(
        await db.fetchval(
            "SELECT student_id FROM portfolio_item GROUP BY student_id"
            " HAVING count(DISTINCT visibility) = 3 ORDER BY student_id LIMIT 1"
        )
    )
    found.append(
        await db.fetchval(
            "SELECT id FROM student WHERE date_of_birth > current_date - interval '13 years'"
            " ORDER BY id LIMIT 1"
        )
    )
    return [*dict.fromkeys(found), 2**62]


@pytest.mark.parametrize("user", ACCOUNTS)
async def test_a_list_of_students_with_guardians_and_portfolio_compiles(
    user: str,
    client: httpx.AsyncClient,
    reference: httpx.AsyncClient,
    db: asyncpg.Connection,
    post: Post,
) -> None:
    await _same(post, client, reference, db, LIST, user, {"n": 60})


@pytest.mark.parametrize("user", ACCOUNTS)
async def test_one_student_with_guardians_and_portfolio_compiles(
    user: str,
    client: httpx.AsyncClient,
    reference: httpx.AsyncClient,
    db: asyncpg.Connection,
    post: Post,
) -> None:
    for pk in await _targets(db):
        target = {"id": to_global_id("Student", pk)}
        await _same(post, client, reference, db, ONE, user, target)
        await _same(post, client, reference, db, NODE, user, target)


@pytest.fixture
async def coordinator_grant(gql: Gql, db: asyncpg.Connection) -> AsyncIterator[int]:
    """A legitimate-interest grant of the coordinator to themselves, for the demo student."""
    pupil = await _student_of(db, "student")
    coordinator = await db.fetchval("SELECT id FROM app_user WHERE username = 'coordinator'")
    granted = await gql(
        GRANT,
        as_user="coordinator",
        variables={
            "input": {
                "granteeId": to_global_id("StaffMember", coordinator),
                "scope": "STUDENT",
                "targetId": to_global_id("Student", pupil),
                "purpose": "compiled contact test",
                "expiresAt": (
                    datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=1)
                ).isoformat(),
            }
        },
    )
    grant = granted.ok()["grantLegitimateInterest"]["grant"]["id"]
    try:
        yield pupil
    finally:
        await gql(REVOKE, as_user="coordinator", variables={"id": grant})


async def test_a_coordinator_with_a_grant_reads_contact_and_coordinator_items_compiled(
    coordinator_grant: int,
    client: httpx.AsyncClient,
    reference: httpx.AsyncClient,
    db: asyncpg.Connection,
    post: Post,
) -> None:
    target = {"id": to_global_id("Student", coordinator_grant)}
    body = await _same(post, client, reference, db, ONE, "coordinator", target)
    assert body["data"]["student"]["guardians"], "the grant releases contact"
    items = body["data"]["student"]["portfolio"]["items"]
    assert items, "and the portfolio's COORDINATOR items"
    assert {i["visibility"] for i in items} == {"COORDINATOR"}
    await _same(post, client, reference, db, NODE, "coordinator", target)
    await _same(post, client, reference, db, LIST, "coordinator", {"n": 200})


@pytest.fixture
async def microseconds(db: asyncpg.Connection) -> AsyncIterator[int]:
    """The demo student's portfolio items with datetimes that have microseconds (some with
    trailing zeros, which PostgreSQL's JSON drops) and an erased one; restored afterwards."""
    pupil = await _student_of(db, "student")
    saved = await db.fetch(
        "SELECT id, created_at, updated_at, erased_at FROM portfolio_item WHERE student_id = $1",
        pupil,
    )
    assert saved, "the demo student has portfolio items"
    base = datetime.datetime(2024, 3, 5, 10, 11, 12, tzinfo=datetime.UTC)
    for n, row in enumerate(saved):
        at = base + datetime.timedelta(days=n, microseconds=[123456, 120000, 5, 0][n % 4])
        await db.execute(
            "UPDATE portfolio_item SET created_at = $2, updated_at = $3, erased_at = $4"
            " WHERE id = $1",
            row["id"],
            at,
            at + datetime.timedelta(seconds=1, microseconds=999999),
            at + datetime.timedelta(hours=1) if n == 0 else None,
        )
    try:
        yield pupil
    finally:
        for row in saved:
            await db.execute(
                "UPDATE portfolio_item SET created_at = $2, updated_at = $3, erased_at = $4"
                " WHERE id = $1",
                *row,
            )


@pytest.mark.parametrize("user", ["student", "guardian", "teacher"])
async def test_portfolio_datetimes_compile_to_the_resolvers_text(
    user: str,
    microseconds: int,
    client: httpx.AsyncClient,
    reference: httpx.AsyncClient,
    db: asyncpg.Connection,
    post: Post,
) -> None:
    target = {"id": to_global_id("Student", microseconds)}
    body = await _same(post, client, reference, db, ONE, user, target)
    if user != "teacher":
        items = body["data"]["student"]["portfolio"]["items"]
        assert any(".123456+00:00" in i["createdAt"] for i in items)
        assert any(".120000+00:00" in i["createdAt"] for i in items)
        assert any(i["erasedAt"] for i in items)


@pytest.fixture
async def coppa(db: asyncpg.Connection) -> AsyncIterator[tuple[int, list[str]]]:
    """An under-13 student with portfolio items whose parental consent to collection is withdrawn
    (restored afterwards); with the accounts that read their record: the student, a guardian and
    the teachers of their classes."""
    pupil = await db.fetchval(
        "SELECT s.id FROM student s WHERE s.coppa_consent AND s.user_id IS NOT NULL"
        " AND s.date_of_birth > current_date - interval '12 years'"
        " AND EXISTS (SELECT FROM portfolio_item i WHERE i.student_id = s.id"
        "             AND i.visibility = 'TEACHERS')"
        " AND EXISTS (SELECT FROM guardian_link gl WHERE gl.student_id = s.id)"
        " ORDER BY s.id LIMIT 1"
    )
    assert pupil is not None, "the demo data has an under-13 student with items"
    readers = [
        r[0]
        for r in await db.fetch(
            """
            (SELECT u.username FROM student s JOIN app_user u ON u.id = s.user_id
             WHERE s.id = $1)
            UNION ALL (SELECT u.username FROM guardian_link gl
                       JOIN app_user u ON u.id = gl.guardian_user_id
                       WHERE gl.student_id = $1 ORDER BY gl.id LIMIT 1)
            UNION ALL (SELECT DISTINCT u.username FROM enrollment e
                       JOIN teaching_assignment ta ON ta.class_id = e.class_id
                       JOIN app_user u ON u.id = ta.staff_user_id WHERE e.student_id = $1)
            """,
            pupil,
        )
    ]
    await db.execute("UPDATE student SET coppa_consent = false WHERE id = $1", pupil)
    try:
        yield pupil, readers
    finally:
        await db.execute("UPDATE student SET coppa_consent = true WHERE id = $1", pupil)


async def test_an_under_13_students_portfolio_without_consent_compiles(
    coppa: tuple[int, list[str]],
    client: httpx.AsyncClient,
    reference: httpx.AsyncClient,
    db: asyncpg.Connection,
    post: Post,
) -> None:
    pupil, readers = coppa
    target = {"id": to_global_id("Student", pupil)}
    shown = []
    for user in readers:
        body = await _same(post, client, reference, db, ONE, user, target)
        if body["data"]["student"] and body["data"]["student"]["portfolio"]:
            shown.append(len(body["data"]["student"]["portfolio"]["items"]))
        await _same(post, client, reference, db, NODE, user, target)
        await _same(post, client, reference, db, LIST, user, {"n": 100})
    # The student and the guardian still see the items; the teachers, none.
    assert shown[0] and shown[1] and 0 in shown[2:], shown
