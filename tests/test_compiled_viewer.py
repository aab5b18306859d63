"""The compiled `viewer` root, and operations of several compiled root fields, answer as the
resolvers do: data, errors (FORBIDDEN groups in order, failures where the resolvers locate them),
disclosure rows; as every demo account and anonymously."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import httpx
import pytest

import tests.test_compiled as compiled_tests
from app.roles import APP_ROLE
from tests.helpers import compiled_and_reference
from tests.test_compiled import ACCOUNTS, Post, _same

# The reference application (compiled execution off) and the poster of test_compiled.
reference = compiled_tests.reference
post = compiled_tests.post

EVERYONE: list[str | None] = [*ACCOUNTS, None]

VIEWER = """
query Me($withRoles: Boolean = true) {
  __typename
  viewer {
    __typename id username firstName lastName
    roles @include(if: $withRoles) { __typename role schoolId }
    district { __typename id ... on Node { id } name }
    me: student { ...card school { id name } }
    children { ...card }
    again: children { id displayName }
  }
}
fragment card on Student {
  __typename id firstName lastName preferredName displayName gradeLevel studentNumber email phone
  dateOfBirth gender ethnicity
}
"""

# A dashboard's first request: who am I, and my students.
DASHBOARD = """
{
  viewer { firstName lastName roles { role schoolId } district { name } }
  students(first: 50) {
    totalCount
    edges { node { id displayName gradeLevel email dateOfBirth school { name } } }
  }
}
"""

# Withheld fields under three roots: their FORBIDDEN groups in document order, each at its first
# withheld value.
SEVERAL = """
{
  viewer { children { email dateOfBirth } student { gender } }
  first: students(first: 50) { edges { node { dateOfBirth phone } } }
  viewer2: viewer { username student { phone } }
  again: students(first: 7, orderBy: ID) { edges { node { ethnicity email } } }
}
"""


@pytest.mark.parametrize("user", EVERYONE)
@pytest.mark.parametrize("variables", [{}, {"withRoles": False}])
async def test_the_viewer_compiles_to_the_resolvers_answer(
    user: str | None,
    variables: dict[str, Any],
    client: httpx.AsyncClient,
    reference: httpx.AsyncClient,
    db: asyncpg.Connection,
    post: Post,
) -> None:
    # The district's row, and the students' (own and children) in one more.
    body = await _same(post, client, reference, db, VIEWER, user, variables, selects=2)
    if user is None:
        assert body["data"] == {"__typename": "Query", "viewer": None}


@pytest.mark.parametrize("user", ACCOUNTS)
async def test_the_viewers_own_fields_need_no_statement(
    user: str,
    client: httpx.AsyncClient,
    reference: httpx.AsyncClient,
    db: asyncpg.Connection,
    post: Post,
) -> None:
    query = "{ viewer { id username firstName lastName roles { role schoolId } } }"
    await _same(post, client, reference, db, query, user, {}, selects=0)


@pytest.mark.parametrize("user", ACCOUNTS)
async def test_a_dashboards_first_request_compiles_to_the_resolvers_answer(
    user: str,
    client: httpx.AsyncClient,
    reference: httpx.AsyncClient,
    db: asyncpg.Connection,
    post: Post,
) -> None:
    await _same(post, client, reference, db, DASHBOARD, user, {}, selects=2)


@pytest.mark.parametrize("user", ACCOUNTS)
async def test_withheld_fields_of_several_roots_are_reported_in_document_order(
    user: str,
    client: httpx.AsyncClient,
    reference: httpx.AsyncClient,
    db: asyncpg.Connection,
    post: Post,
) -> None:
    body = await _same(post, client, reference, db, SEVERAL, user, {}, selects=4)
    roots = [e["path"][0] for e in body.get("errors", [])]
    order = ["viewer", "first", "viewer2", "again"]
    assert roots == sorted(roots, key=order.index)
    if user in ("coordinator", "teacher", "student"):
        assert len(set(roots)) > 1, "these withhold under more than one root"


@pytest.mark.parametrize("user", EVERYONE)
@pytest.mark.parametrize(
    ("query", "variables"),
    [
        ("query ($x: Boolean!) { viewer @include(if: $x) { id } }", {"x": False}),
        (
            "{ v: viewer @skip(if: true) { id }"
            " s: students(first: 2) @skip(if: true) { totalCount } }",
            {},
        ),
        ("{ __typename viewer @skip(if: true) { id } }", {}),
    ],
)
async def test_no_root_left_after_include_and_skip(
    user: str | None,
    query: str,
    variables: dict[str, Any],
    client: httpx.AsyncClient,
    reference: httpx.AsyncClient,
    db: asyncpg.Connection,
    post: Post,
) -> None:
    await _same(post, client, reference, db, query, user, variables, selects=0)


async def test_an_anonymous_request_compiles_only_where_the_resolvers_answer_it(
    client: httpx.AsyncClient, reference: httpx.AsyncClient, post: Post
) -> None:
    for query in [
        "{ viewer { id } students(first: 2) { totalCount } }",
        '{ student(id: "U3R1ZGVudDox") { id } viewer { id } }',
    ]:
        compiled = await post(client, query, None, {})
        resolved = await post(reference, query, None, {})
        assert compiled["extensions"]["compiled"] is False, query
        assert compiled.get("data") == resolved.get("data")
        assert compiled.get("errors") == resolved.get("errors")


async def test_what_the_viewer_does_not_cover_falls_back_whole(
    client: httpx.AsyncClient, reference: httpx.AsyncClient, post: Post
) -> None:
    for query in [
        "{ viewer { id sessions { id } } }",
        "{ viewer { district { name dataRequestDays } } }",
        "{ viewer { children { id consents { kind } } } }",
    ]:
        compiled = await post(client, query, "guardian", {})
        resolved = await post(reference, query, "guardian", {})
        assert compiled["extensions"]["compiled"] is False, query
        assert compiled.get("data") == resolved.get("data")


# --- failing statements ---------------------------------------------------------------------------


@pytest.fixture
async def clients(database_url: str) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    """(compiled, reference), each its own application (no shared plan or pool state)."""
    async with compiled_and_reference(database_url) as pair:
        yield pair


@asynccontextmanager
async def _unreadable(db: asyncpg.Connection, table: str, readable: str) -> AsyncIterator[None]:
    """The application may read only the `readable` columns of `table` for a while: a statement
    that reads another fails (the viewer's own load reads only those)."""
    await db.execute(f"REVOKE SELECT ON {table} FROM {APP_ROLE}")
    if readable:
        await db.execute(f"GRANT SELECT ({readable}) ON {table} TO {APP_ROLE}")
    try:
        yield
    finally:
        if readable:
            await db.execute(f"REVOKE SELECT ({readable}) ON {table} FROM {APP_ROLE}")
        await db.execute(f"GRANT SELECT ON {table} TO {APP_ROLE}")


_STUDENT_KEYS = "id, user_id, district_id, school_id, date_of_birth, directory_opt_out"


# Roots of the cases below.
PAGE = "students(first: 5) { edges { node { id firstName } } }"
ONE = 'one: student(id: "ID") { firstName }'
TWO = 'two: student(id: "ID") { gender }'
ME = "me: student { id firstName }"


@pytest.mark.parametrize(
    ("user", "table", "query"),
    [
        # A non-null root fails: no data at all, and the roots after it are not run.
        ("teacher", "student", f"{{ viewer {{ username }} {PAGE} }}"),
        ("teacher", "student", f"{{ {ONE} {PAGE} }}"),
        ("teacher", "student", f"{{ {PAGE} {ONE} }}"),
        # A nullable one: null, the other roots answered (or failing too), before it and after.
        ("teacher", "student", f"{{ viewer {{ username }} {ONE} }}"),
        ("teacher", "student", f"{{ {ONE} viewer {{ username }} }}"),
        ("teacher", "student", f"{{ {ONE} {TWO} }}"),
        # Inside the viewer: the district's statement, then the students'; a non-null list
        # nulls the viewer.
        ("guardian", "student", "{ viewer { firstName children { firstName } } }"),
        ("guardian", "student", "{ viewer { children { firstName } kids: children { id } } }"),
        ("student", "student", f"{{ viewer {{ firstName district {{ name }} {ME} }} }}"),
        ("student", "district", f"{{ viewer {{ firstName district {{ name }} {ME} }} }}"),
        ("guardian", "district", "{ viewer { district { name } children { id } } }"),
        (
            "guardian",
            "district",
            "{ viewer { district { name } d: district { id } children { id } } }",
        ),
    ],
)
async def test_a_failing_statement_is_located_as_the_resolvers_locate_it(
    user: str,
    table: str,
    query: str,
    clients: tuple[httpx.AsyncClient, httpx.AsyncClient],
    db: asyncpg.Connection,
    post: Post,
) -> None:
    some = await db.fetchval("SELECT id FROM student ORDER BY id LIMIT 1")
    query = query.replace("ID", compiled_tests.to_global_id("Student", some))
    readable = _STUDENT_KEYS if table == "student" else ""
    async with _unreadable(db, table, readable):
        compiled = await post(clients[0], query, user, {})
        resolved = await post(clients[1], query, user, {})
    assert compiled["extensions"]["compiled"] is True, compiled
    assert resolved["extensions"]["compiled"] is False
    assert compiled["status"] == resolved["status"] == 500
    assert compiled.get("data") == resolved.get("data")
    assert compiled.get("errors") == resolved.get("errors")
