"""A failed field's siblings (schema/executor.py): one already running finishes (cancelled inside
a statement, it would spoil the request's transaction); one not started is dropped, not run
after the response (it would read, disclose and withhold for a response without it)."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from graphql import ExecutionResult, GraphQLSchema, build_schema, execute, parse

from schema.executor import Executor
from schema.loaders import Loader

SDL = """
type Parent {
  slow: String  late: String  failing: String!  statement: String  failingLater: String!
}
type Query { parent: Parent  parents: [Parent!] }
"""


def _schema(ran: list[str]) -> GraphQLSchema:
    schema = build_schema(SDL)

    async def slow(*_: Any) -> str:
        ran.append("slow")
        return "slow"

    async def late(*_: Any) -> str:
        await asyncio.sleep(0)
        ran.append("late")
        return "late"

    async def statement(*_: Any) -> str:
        await asyncio.sleep(0.01)  # a statement in flight when its sibling fails
        ran.append("statement")
        return "done"

    async def failing_later(*_: Any) -> str:
        await asyncio.sleep(0)
        raise ValueError("no")

    def failing(source: dict[str, bool], *_: Any) -> str:
        if source["ok"]:
            return "ok"
        raise ValueError("no")

    parent = schema.type_map["Parent"]
    parent.fields["slow"].resolve = slow  # type: ignore[attr-defined]
    parent.fields["late"].resolve = late  # type: ignore[attr-defined]
    parent.fields["failing"].resolve = failing  # type: ignore[attr-defined]
    parent.fields["statement"].resolve = statement  # type: ignore[attr-defined]
    parent.fields["failingLater"].resolve = failing_later  # type: ignore[attr-defined]
    query = schema.query_type
    assert query is not None
    query.fields["parent"].resolve = lambda *_: {"ok": False}
    # The first item completes (its fields pending), the second fails: the list is null.
    query.fields["parents"].resolve = lambda *_: [{"ok": True}, {"ok": False}]
    return schema


DOCUMENTS = {
    "parent": "{ parent { slow late failing } }",
    "parents": "{ parents { slow late failing } }",
    "running": "{ parent { statement failingLater } }",
}


async def _run(executor: type | None, ran: list[str], root: str) -> ExecutionResult:
    document = parse(DOCUMENTS[root])
    result = execute(_schema(ran), document, executor_class=executor)
    if not isinstance(result, ExecutionResult):
        result = await result
    for _ in range(5):  # give anything left in the background its chance to run
        await asyncio.sleep(0)
    gc.collect()  # an abandoned coroutine never closed would warn here (warnings are errors)
    return result


async def test_a_sibling_running_when_a_field_fails_finishes() -> None:
    ran: list[str] = []
    result = await _run(Executor, ran, "running")
    assert result.data == {"parent": None}
    assert [e.path for e in result.errors or []] == [["parent", "failingLater"]]
    assert ran == ["statement"]


@pytest.mark.parametrize("root", ["parent", "parents"])
async def test_siblings_of_a_failed_non_null_field_do_not_run_after_the_response(
    root: str,
) -> None:
    ran: list[str] = []
    result = await _run(Executor, ran, root)
    assert result.data == {root: None}
    failed = [root, 1, "failing"] if root == "parents" else [root, "failing"]
    assert [e.path for e in result.errors or []] == [failed]
    assert ran == []


@pytest.mark.parametrize("root", ["parent", "parents"])
async def test_graphql_cores_own_executor_would_run_them(root: str) -> None:
    ran: list[str] = []
    result = await _run(None, ran, root)
    assert result.data == {root: None}
    assert set(ran) == {"late", "slow"}


async def test_a_cancelled_caller_does_not_cancel_the_load_others_await() -> None:
    async def load(keys: Any) -> list[str]:
        await asyncio.sleep(0.01)
        return [f"row {k}" for k in keys]

    loader: Loader[int, str] = Loader(load_fn=load)
    abandoned = asyncio.ensure_future(loader.load(1))
    kept = asyncio.ensure_future(loader.load(1))
    await asyncio.sleep(0)
    abandoned.cancel()  # as graphql-core cancels the siblings of a failed field
    assert await kept == "row 1"
    assert abandoned.cancelled()


MIXED = """
{
  a: students(first: 50) { edges { node { id email marks { score } guardians { email } } } }
  b: students(first: 5, after: "not-a-cursor") { totalCount }
  c: classes(first: 20) { edges { node { id title teachers { email } } } }
}
"""


async def test_a_failed_root_field_leaves_the_request_whole(
    client: httpx.AsyncClient, token_for: Callable[[str], Awaitable[str]]
) -> None:
    """Its siblings' statements finish: the refusal is the only error, never a spoiled
    transaction's 503 (asked several times: a statement is cut off only when it is in flight)."""
    headers = {"Authorization": f"Bearer {await token_for('teacher')}"}
    for _ in range(8):
        response = await client.post("/graphql", json={"query": MIXED}, headers=headers)
        body = response.json()
        assert response.status_code == 200, body
        assert body["data"] is None
        assert [(e["path"], e["extensions"]["code"]) for e in body["errors"]] == [
            (["b"], "BAD_USER_INPUT")
        ]
