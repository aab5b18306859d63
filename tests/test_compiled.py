"""The compiled path answers the hot read shapes exactly as the resolvers do: the same data, the
same grouped FORBIDDEN errors in the same order, the same disclosure rows; in one SELECT (and the
record's INSERT); and anything it does not cover falls back whole."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import httpx
import pytest

from app.config import get_settings
from app.seed.accounts import DEMO_ACCOUNTS
from schema.relay import to_global_id
from tests.helpers import app_client

ACCOUNTS = [account.username for account in DEMO_ACCOUNTS]

DIRECTORY = "{ students(first: 1000) { edges { node { id firstName lastName email } } } }"
EVERYTHING = """
query Everything($n: Int, $withCount: Boolean!, $hideSchool: Boolean = false) {
  __typename
  list: students(first: $n) {
    total: totalCount @include(if: $withCount)
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor __typename }
    edges {
      cursor
      node {
        ...card
        ... on Student { gradeLevel dateOfBirth gender ethnicity }
        school @skip(if: $hideSchool) { id name __typename }
      }
    }
  }
}
fragment card on Student {
  __typename id firstName lastName preferredName displayName studentNumber email phone
  mail: email
}
"""
ORDERED = """
query ($order: StudentOrder, $after: String) {
  students(first: 4, orderBy: $order, after: $after) {
    totalCount pageInfo { hasNextPage endCursor } edges { cursor node { id displayName } }
  }
}
"""

Post = Callable[[httpx.AsyncClient, str, str | None, dict[str, Any]], Awaitable[dict[str, Any]]]


@pytest.fixture
async def reference(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    settings = dataclasses.replace(get_settings(), compiled_execution=False)
    async with app_client(settings, database_url) as client:
        yield client


@pytest.fixture
def post(token_for: Callable[[str], Awaitable[str]]) -> Post:
    async def run(
        client: httpx.AsyncClient, query: str, user: str | None, variables: dict[str, Any]
    ) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {await token_for(user)}"} if user else {}
        response = await client.post(
            "/graphql", json={"query": query, "variables": variables}, headers=headers
        )
        body: dict[str, Any] = response.json()
        body["status"] = response.status_code
        return body

    return run


async def _disclosed(db: asyncpg.Connection, request_id: str) -> list[tuple[Any, ...]]:
    rows = await db.fetch(
        "SELECT student_id, basis, grant_id, field_classes, purpose, viewer_user_id"
        " FROM disclosure WHERE request_id = $1 ORDER BY student_id, basis",
        request_id,
    )
    return [tuple(r) for r in rows]


async def _same(
    post: Post,
    client: httpx.AsyncClient,
    reference: httpx.AsyncClient,
    db: asyncpg.Connection,
    query: str,
    user: str | None,
    variables: dict[str, Any],
    *,
    selects: int = 1,
) -> dict[str, Any]:
    """The compiled answer, once it is the same as the resolvers'; in at most `selects` SELECTs
    (one per root field that reads rows, in the shapes above)."""
    compiled = await post(client, query, user, variables)
    resolved = await post(reference, query, user, variables)
    assert compiled["extensions"]["compiled"] is True, compiled
    assert resolved["extensions"]["compiled"] is False
    assert compiled["status"] == resolved["status"]
    assert compiled.get("data") == resolved.get("data")
    assert compiled.get("errors") == resolved.get("errors")
    disclosed = await _disclosed(db, compiled["extensions"]["requestId"])
    assert disclosed == await _disclosed(db, resolved["extensions"]["requestId"])
    # Up to `selects` SELECTs (none when the viewer's scope is empty), and the record's INSERT
    # when something was disclosed, beyond the viewer's load (the statements of
    # `{ viewer { id } }`).
    baseline = (await post(client, "{ viewer { id } }", user, {}))["extensions"]["sqlStatements"]
    extra = compiled["extensions"]["sqlStatements"] - baseline - bool(disclosed)
    assert extra in range(bool(disclosed), selects + 1)
    return compiled


@pytest.mark.parametrize("user", ACCOUNTS)
async def test_the_directory_screen_compiles_to_the_resolvers_answer(
    user: str,
    client: httpx.AsyncClient,
    reference: httpx.AsyncClient,
    db: asyncpg.Connection,
    post: Post,
) -> None:
    await _same(post, client, reference, db, DIRECTORY, user, {})


@pytest.mark.parametrize("user", ACCOUNTS)
@pytest.mark.parametrize(
    "variables",
    [
        {"n": 7, "withCount": True},
        {"n": 0, "withCount": True, "hideSchool": True},
        {"withCount": False},
    ],
)
async def test_every_covered_field_compiles_to_the_resolvers_answer(
    user: str,
    variables: dict[str, Any],
    client: httpx.AsyncClient,
    reference: httpx.AsyncClient,
    db: asyncpg.Connection,
    post: Post,
) -> None:
    await _same(post, client, reference, db, EVERYTHING, user, variables)


@pytest.mark.parametrize("user", ACCOUNTS)
@pytest.mark.parametrize("order", ["NAME", "DISPLAY_NAME", "ID", "DATE_OF_BIRTH", "GRADE_LEVEL"])
async def test_orders_and_pages_compile_to_the_resolvers_answer(
    user: str,
    order: str,
    client: httpx.AsyncClient,
    reference: httpx.AsyncClient,
    db: asyncpg.Connection,
    post: Post,
    token_for: Callable[[str], Awaitable[str]],
) -> None:
    resolved = await post(reference, ORDERED, user, {"order": order})
    if resolved.get("errors"):
        # A refused order falls back: the resolvers say why.
        compiled = await post(client, ORDERED, user, {"order": order})
        assert compiled["extensions"]["compiled"] is False
        assert compiled.get("errors") == resolved["errors"]
        return
    first = await _same(post, client, reference, db, ORDERED, user, {"order": order})
    after = first["data"]["students"]["pageInfo"]["endCursor"]
    if after is not None:
        await _same(post, client, reference, db, ORDERED, user, {"order": order, "after": after})


ONE = """
query ($id: ID!) {
  student(id: $id) {
    __typename id firstName lastName displayName gradeLevel studentNumber email phone
    dateOfBirth gender ethnicity school { id name code level }
  }
}
"""


NODE = """
query ($id: ID!) {
  node(id: $id) { id __typename ... on Student { email displayName ...more } }
}
fragment more on Node { ... on Student { gender school { name } } }
"""


@pytest.mark.parametrize("user", ACCOUNTS)
async def test_one_student_compiles_to_the_resolvers_answer(
    user: str,
    client: httpx.AsyncClient,
    reference: httpx.AsyncClient,
    db: asyncpg.Connection,
    post: Post,
) -> None:
    # Someone the viewer is related to (if anyone), someone they are not, and nobody at all.
    ids = [r["id"] for r in await db.fetch("SELECT id FROM student ORDER BY id LIMIT 40")]
    listed = await post(client, "{ students(first: 1) { edges { node { id } } } }", user, {})
    targets = [e["node"]["id"] for e in listed["data"]["students"]["edges"]]
    targets += [to_global_id("Student", ids[-1]), to_global_id("Student", 2**62)]
    for target in targets:
        await _same(post, client, reference, db, ONE, user, {"id": target})
        await _same(post, client, reference, db, NODE, user, {"id": target})


async def test_withheld_fields_are_reported_in_document_order(
    client: httpx.AsyncClient, reference: httpx.AsyncClient, db: asyncpg.Connection, post: Post
) -> None:
    query = "{ students(first: 50) { edges { node { school { id } dateOfBirth email } } } }"
    body = await _same(post, client, reference, db, query, "student", {})
    assert body["errors"], "a student reads no classmate's date of birth"
    fields = [e["extensions"]["pathPattern"].split(".")[-1] for e in body["errors"]]
    order = ["school", "dateOfBirth", "email"]
    assert fields == sorted(fields, key=order.index)


async def test_what_the_compiler_does_not_cover_falls_back_whole(
    client: httpx.AsyncClient, reference: httpx.AsyncClient, post: Post
) -> None:
    for query, variables in [
        ("{ students(first: 2) { edges { node { id marks { score class { id } } } } } }", {}),
        ("{ students(first: 2) { totalCount } viewer { sessions { id } } }", {}),
        ("query ($n: Int) { students(first: $n) { totalCount } }", {"n": "x"}),
        ("{ students(first: 100000) { totalCount } }", {}),
        ('{ students(first: 2, after: "nope") { totalCount } }', {}),
        ('{ student(id: "U3R1ZGVudDox") { id consents { kind } } }', {}),
        ('{ student(id: "bm9wZQ") { id } }', {}),
        ('{ node(id: "U2Nob29sOjE=") { id ... on School { name } } }', {}),
        ('{ node(id: "VGVybTox") { id } }', {}),
        ('{ node(id: "Q2xhc3M6MQ==") { id ... on Term { name } } }', {}),
    ]:
        compiled = await post(client, query, "teacher", variables)
        resolved = await post(reference, query, "teacher", variables)
        assert compiled["extensions"]["compiled"] is False, query
        assert compiled.get("data") == resolved.get("data")
        assert compiled.get("errors") == resolved.get("errors")
