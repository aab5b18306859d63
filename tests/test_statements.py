"""No N+1: the SQL statements of a request, and its calls into Casbin, depend on the shape of
the query, not on the number of rows (SPEC §7, §10)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from tests.helpers import GraphQLResponse, nodes

Gql = Callable[..., Awaitable[GraphQLResponse]]

# Admin: a page of students with every kind of nested list, and fields that are disclosed.
ADMIN_STUDENTS = """
query ($n: Int) {
  students(first: $n) {
    totalCount
    edges { node {
      id firstName email dateOfBirth
      school { name }
      classes { title school { name } term { name } teachers { lastName } }
      guardians { firstName relationship }
      marks { score letter class { title } term { name } }
      readiness { __typename }
    } }
  }
}
"""

# Teacher: the rosters of the classes they teach, with contact and marks.
TEACHER_ROSTERS = """
query ($n: Int) {
  classes(mine: true) {
    edges { node {
      title
      students(first: $n) {
        edges { node { firstName lastName email marks { score class { title } } } }
      }
    } }
  }
}
"""


async def _casbin_calls(client: httpx.AsyncClient) -> int:
    for line in (await client.get("/metrics")).text.splitlines():
        if line.startswith("schoolgraph_casbin_calls_total "):
            return int(line.split()[1])
    raise AssertionError("/metrics has no schoolgraph_casbin_calls_total")


async def _measure(
    gql: Gql, client: httpx.AsyncClient, query: str, user: str, n: int
) -> tuple[int, int, Any]:
    """(SQL statements, Casbin calls, data) of one request."""
    before = await _casbin_calls(client)
    response = await gql(query, as_user=user, variables={"n": n})
    data = response.ok()
    return response.statements, await _casbin_calls(client) - before, data


def _count(students: list[dict[str, Any]], field: str) -> int:
    return sum(len(s[field] or []) for s in students)


async def test_admin_student_page_statements_do_not_grow_with_rows(gql, client):
    small_sql, small_casbin, small = await _measure(gql, client, ADMIN_STUDENTS, "admin", 10)
    large_sql, large_casbin, large = await _measure(gql, client, ADMIN_STUDENTS, "admin", 100)
    students = nodes(large["students"])
    # The larger page really is larger, and every nested list has rows to load.
    assert len(nodes(small["students"])) == 10 and len(students) == 100
    for field in ("classes", "guardians", "marks"):
        assert _count(students, field) > _count(nodes(small["students"]), field) > 0, field
    assert large_sql == small_sql
    assert large_casbin == small_casbin


async def test_teacher_rosters_statements_do_not_grow_with_rows(gql, client):
    small_sql, small_casbin, small = await _measure(gql, client, TEACHER_ROSTERS, "teacher", 2)
    large_sql, large_casbin, large = await _measure(gql, client, TEACHER_ROSTERS, "teacher", 40)
    classes = nodes(large["classes"])
    assert len(classes) >= 2
    small_rows = sum(len(nodes(c["students"])) for c in nodes(small["classes"]))
    large_rows = sum(len(nodes(c["students"])) for c in classes)
    assert small_rows == 2 * len(classes)
    assert large_rows > 4 * small_rows
    assert large_sql == small_sql
    assert large_casbin == small_casbin


async def test_requests_do_not_call_casbin(gql, client):
    # The policy is compiled when the server starts; a request only looks decisions up.
    _, calls, _ = await _measure(gql, client, ADMIN_STUDENTS, "admin", 50)
    assert calls == 0


async def test_statement_count_is_deterministic(gql):
    counts = {
        (await gql(TEACHER_ROSTERS, as_user="teacher", variables={"n": 10})).statements
        for _ in range(3)
    }
    assert len(counts) == 1
