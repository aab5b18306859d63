"""The issue's acceptance query, end to end over HTTP."""

from __future__ import annotations

from tests.helpers import nodes

FIRST_QUERY = "{ students(first: 5) { edges { node { firstName lastName school { name } } } } }"


async def test_admin_reads_five_students(gql):
    data = (await gql(FIRST_QUERY, as_user="admin")).ok()
    students = nodes(data["students"])
    assert len(students) == 5
    assert all(s["firstName"] and s["lastName"] and s["school"]["name"] for s in students)


async def test_anonymous_sees_nothing(gql):
    response = await gql(FIRST_QUERY)
    assert response.data is None or response.data.get("students") is None
    assert response.errors
