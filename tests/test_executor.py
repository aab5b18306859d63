"""Work that a bubbling error abandons is dropped, not run after the response (schema/executor.py):
it would read, disclose and withhold for a response that does not contain it."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import pytest
from graphql import ExecutionResult, GraphQLSchema, build_schema, execute, parse

from schema.executor import Executor
from schema.loaders import Loader

SDL = """
type Parent { slow: String  late: String  failing: String! }
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

    def failing(source: dict[str, bool], *_: Any) -> str:
        if source["ok"]:
            return "ok"
        raise ValueError("no")

    parent = schema.type_map["Parent"]
    parent.fields["slow"].resolve = slow  # type: ignore[attr-defined]
    parent.fields["late"].resolve = late  # type: ignore[attr-defined]
    parent.fields["failing"].resolve = failing  # type: ignore[attr-defined]
    query = schema.query_type
    assert query is not None
    query.fields["parent"].resolve = lambda *_: {"ok": False}
    # The first item completes (its fields pending), the second fails: the list is null.
    query.fields["parents"].resolve = lambda *_: [{"ok": True}, {"ok": False}]
    return schema


DOCUMENTS = {
    "parent": "{ parent { slow late failing } }",
    "parents": "{ parents { slow late failing } }",
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


@pytest.mark.parametrize("root", DOCUMENTS)
async def test_siblings_of_a_failed_non_null_field_do_not_run_after_the_response(
    root: str,
) -> None:
    ran: list[str] = []
    result = await _run(Executor, ran, root)
    assert result.data == {root: None}
    failed = [root, 1, "failing"] if root == "parents" else [root, "failing"]
    assert [e.path for e in result.errors or []] == [failed]
    assert ran == []


@pytest.mark.parametrize("root", DOCUMENTS)
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
