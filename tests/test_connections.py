"""Every connection of the schema pages to its end: `first`, `after`, `totalCount` and
`pageInfo.hasNextPage` agree, and counting costs one statement however many parents ask.

The connections are found by walking the schema; each must have a way in below (an account that
sees several pages of it), so a new connection fails here until it is given one.
"""

from __future__ import annotations

import dataclasses
import datetime
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import pytest
from graphql import GraphQLObjectType

from app.config import get_settings
from tests.helpers import GraphQLResponse, app_client
from tests.test_list_defaults import SCHEMA, is_connection

PAGE = 3
# A list of hundreds of rows is paged more at a time, still through several pages.
# The record grows with every test that reads a recorded field before this one.
PAGES = {"Query.users": 100, "Query.disclosures": 50}
# Each connection: the account that pages through it, and the query (`$first`, `$after`; the
# connection answers at `path`).
CONNECTIONS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "Query.students": (
        "teacher",
        "query ($first: Int, $after: String) { c: students(first: $first, after: $after) {"
        " ...page } }",
        ("c",),
    ),
    "Query.classes": (
        "teacher",
        "query ($first: Int, $after: String) { c: classes(first: $first, after: $after) {"
        " ...page } }",
        ("c",),
    ),
    "Class.students": (
        "teacher",
        "query ($first: Int, $after: String, $class: ID!) { class(id: $class) {"
        " c: students(first: $first, after: $after) { ...page } } }",
        ("class", "c"),
    ),
    "Query.disclosures": (
        "admin",
        "query ($first: Int, $after: String) { c: disclosures(first: $first, after: $after) {"
        " ...page } }",
        ("c",),
    ),
    "Query.auditEvents": (
        "admin",
        "query ($first: Int, $after: String) { c: auditEvents(first: $first, after: $after) {"
        " ...page } }",
        ("c",),
    ),
    "Query.savedReports": (
        "admin",
        "query ($first: Int, $after: String) { c: savedReports(first: $first, after: $after) {"
        " ...page } }",
        ("c",),
    ),
    "Query.rosterImports": (
        "admin",
        "query ($first: Int, $after: String) { c: rosterImports(first: $first, after: $after) {"
        " ...page } }",
        ("c",),
    ),
    "Query.users": (
        "admin",
        "query ($first: Int, $after: String) { c: users(first: $first, after: $after) {"
        " ...page } }",
        ("c",),
    ),
    "Query.activeSessions": (
        "admin",
        "query ($first: Int, $after: String) { c: activeSessions(first: $first, after: $after) {"
        " ...page } }",
        ("c",),
    ),
}
FRAGMENT = """
fragment page on %s {
  totalCount
  edges { cursor node { id } }
  pageInfo { hasNextPage hasPreviousPage endCursor }
}
"""


def connections() -> set[str]:
    found = set()
    for name, t in SCHEMA.type_map.items():
        if isinstance(t, GraphQLObjectType) and not name.startswith("__"):
            for field_name, f in t.fields.items():
                if is_connection(f.type):
                    found.add(f"{name}.{field_name}")
    return found


def test_every_connection_is_paged_here() -> None:
    assert connections() == set(CONNECTIONS)


SAVE = """
mutation ($input: SaveReportInput!) {
  saveReport(input: $input) { savedReport { id } userErrors { message } }
}
"""
DELETE = "mutation ($id: ID!) { deleteReport(input: {id: $id}) { userErrors { message } } }"
LOGIN = """
mutation ($u: String!) { login(input: {username: $u, password: "demo-password-1"}) { token } }
"""


@pytest.fixture
async def several_pages(gql: Any, db: asyncpg.Connection) -> AsyncIterator[dict[str, Any]]:
    """Rows enough for several pages of each connection, made as users make them where that is
    cheap (reads, saved reports, sign-ins), else arranged in the database."""
    tag = uuid.uuid4().hex[:8]
    # Reads of contact fields are recorded: the record of disclosures grows.
    (await gql("{ students(first: 12) { edges { node { email } } } }", as_user="teacher")).ok()
    saved = []
    for i in range(2 * PAGE + 1):
        response = await gql(
            SAVE,
            as_user="admin",
            variables={"input": {"name": f"paging {tag} {i}", "metric": "STUDENT_COUNT"}},
        )
        saved.append(response.ok()["saveReport"]["savedReport"]["id"])
    # Sign-ins make sessions; only as many as are missing (sign-ins of one name are limited).
    active = await gql("{ activeSessions(first: 1) { totalCount } }", as_user="admin")
    missing = 2 * PAGE + 1 - active.ok()["activeSessions"]["totalCount"]
    for username in ("teacher", "coordinator", "designee", "principal", "guardian", "student",
                     "support", "reporter")[: max(0, missing)]:  # fmt: skip
        (await gql(LOGIN, variables={"u": username})).ok()
    now = datetime.datetime.now(datetime.UTC)
    imports = await db.fetch(
        "INSERT INTO roster_import (district_id, finished_at, dry_run, status)"
        " SELECT 1, $1, true, 'validated' FROM generate_series(1, $2) RETURNING id",
        now,
        2 * PAGE + 1,
    )
    klass = await db.fetchval(
        """
        SELECT ta.class_id FROM teaching_assignment ta
        JOIN app_user u ON u.id = ta.staff_user_id
        JOIN enrollment e ON e.class_id = ta.class_id
        WHERE u.username = 'teacher'
          AND e.begins_on <= CURRENT_DATE AND (e.ends_on IS NULL OR e.ends_on >= CURRENT_DATE)
        GROUP BY ta.class_id ORDER BY count(*) DESC LIMIT 1
        """
    )
    try:
        yield {"class": _global("Class", klass)}
    finally:
        await db.execute(
            "DELETE FROM roster_import WHERE id = ANY($1::bigint[])", [r["id"] for r in imports]
        )
        for saved_id in saved:
            (await gql(DELETE, as_user="admin", variables={"id": saved_id})).ok()


def _global(type_name: str, pk: int) -> str:
    from schema.relay import to_global_id

    return str(to_global_id(type_name, pk))


def _at(data: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        data = data[key]
    return data


async def _walk(
    gql: Any, coordinate: str, variables: dict[str, Any]
) -> tuple[list[str], list[int]]:
    """(ids of every page, totalCount of every page), paging `PAGE` at a time."""
    account, query, path = CONNECTIONS[coordinate]
    connection_type = coordinate.split(".")[1]
    named = SCHEMA.get_type(coordinate.split(".")[0])
    assert isinstance(named, GraphQLObjectType)
    type_name = str(named.fields[connection_type].type).rstrip("!")
    document = query + FRAGMENT % type_name
    size = PAGES.get(coordinate, PAGE)
    seen: list[str] = []
    totals: list[int] = []
    after = None
    # As many pages as the first page's count calls for, not a constant: the record grows with
    # every request the tests before made.
    pages: int | None = None
    while pages is None or len(totals) < pages:
        response: GraphQLResponse = await gql(
            document, as_user=account, variables={**variables, "first": size, "after": after}
        )
        page = _at(response.ok(), path)
        totals.append(page["totalCount"])
        if pages is None:
            pages = page["totalCount"] // size + 2
        seen += [edge["node"]["id"] for edge in page["edges"]]
        assert page["pageInfo"]["hasPreviousPage"] is (after is not None), coordinate
        if not page["pageInfo"]["hasNextPage"]:
            assert len(page["edges"]) <= size
            return seen, totals
        assert len(page["edges"]) == size, coordinate
        after = page["pageInfo"]["endCursor"]
        assert after == page["edges"][-1]["cursor"]
    raise AssertionError(f"{coordinate}: no last page")


@pytest.mark.parametrize("coordinate", sorted(CONNECTIONS))
async def test_paging_to_the_end_gives_exactly_total_count_nodes(
    gql: Any, several_pages: dict[str, Any], coordinate: str
) -> None:
    seen, totals = await _walk(gql, coordinate, several_pages)
    size = PAGES.get(coordinate, PAGE)
    assert len(seen) > 2 * size, f"{coordinate}: too few rows to page ({len(seen)})"
    assert len(set(seen)) == len(seen), f"{coordinate}: a node twice"
    # The total is the whole list's, on every page, not the page's length.
    assert set(totals) == {len(seen)}, (coordinate, totals, len(seen))


CLASS_COUNTS = """
query ($n: Int) {
  classes(first: $n) { edges { node { students(first: 2) { totalCount edges { node { id } } } } } }
}
"""


@pytest.fixture
async def resolved(
    database_url: str, token_for: Callable[[str], Awaitable[str]]
) -> AsyncIterator[Callable[..., Awaitable[GraphQLResponse]]]:
    """`gql` on the resolver path (compiled execution off): its loaders' statements, not the
    one statement of a compiled answer."""
    settings = dataclasses.replace(get_settings(), compiled_execution=False)
    async with app_client(settings, database_url) as client:

        async def run(
            query: str, *, as_user: str, variables: dict[str, Any] | None = None
        ) -> GraphQLResponse:
            headers = {"Authorization": f"Bearer {await token_for(as_user)}"}
            response = await client.post(
                "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
            )
            return GraphQLResponse(response.status_code, response.json())

        yield run


async def test_roster_counts_cost_one_statement_for_any_number_of_classes(resolved: Any) -> None:
    gql = resolved
    few = await gql(CLASS_COUNTS, as_user="teacher", variables={"n": 3})
    many = await gql(CLASS_COUNTS, as_user="teacher", variables={"n": 30})
    rosters = [e["node"]["students"] for e in many.ok()["classes"]["edges"]]
    assert len(rosters) == 30
    assert few.statements == many.statements
    # A true count: beyond the page where the roster is longer than it.
    assert any(r["totalCount"] > len(r["edges"]) == 2 for r in rosters)
    without = await gql(
        CLASS_COUNTS.replace("totalCount ", ""), as_user="teacher", variables={"n": 30}
    )
    # Counted only when asked for.
    assert without.statements == many.statements - 1


async def test_a_roster_cursor_opens_only_on_its_own_roster(gql: Any) -> None:
    query = """
    query ($after: String) {
      classes(first: 2, mine: true) {
        edges { node { students(first: 1, after: $after) { pageInfo { endCursor } } } }
      }
    }
    """
    first = (await gql(query, as_user="teacher")).ok()["classes"]["edges"]
    cursor = first[0]["node"]["students"]["pageInfo"]["endCursor"]
    assert cursor
    reused = await gql(query, as_user="teacher", variables={"after": cursor})
    codes = {e["extensions"]["code"] for e in reused.errors}
    assert codes == {"BAD_USER_INPUT"}
    assert reused.errors[0]["path"][-1] == "students"
