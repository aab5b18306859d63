"""Work that a bubbling error abandons is dropped, not run after the response (schema/executor.py):
it would read, disclose and withhold for a response that does not contain it."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

from graphql import ExecutionResult, GraphQLSchema, build_schema, execute, parse

from schema.executor import Executor

SDL = """
type Parent { slow: String  late: String  failing: String! }
type Query { parent: Parent }
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

    def failing(*_: Any) -> str:
        raise ValueError("no")

    parent = schema.type_map["Parent"]
    parent.fields["slow"].resolve = slow  # type: ignore[attr-defined]
    parent.fields["late"].resolve = late  # type: ignore[attr-defined]
    parent.fields["failing"].resolve = failing  # type: ignore[attr-defined]
    schema.query_type.fields["parent"].resolve = lambda *_: {}  # type: ignore[union-attr]
    return schema


async def _run(executor: type | None, ran: list[str]) -> ExecutionResult:
    document = parse("{ parent { slow late failing } }")
    result = execute(_schema(ran), document, executor_class=executor)
    if not isinstance(result, ExecutionResult):
        result = await result
    for _ in range(5):  # give anything left in the background its chance to run
        await asyncio.sleep(0)
    gc.collect()  # an abandoned coroutine never closed would warn here (warnings are errors)
    return result


async def test_siblings_of_a_failed_non_null_field_do_not_run_after_the_response() -> None:
    ran: list[str] = []
    result = await _run(Executor, ran)
    assert result.data == {"parent": None}
    assert [e.path for e in result.errors or []] == [["parent", "failing"]]
    assert ran == []


async def test_graphql_cores_own_executor_would_run_them() -> None:
    ran: list[str] = []
    result = await _run(None, ran)
    assert result.data == {"parent": None}
    assert sorted(ran) == ["late", "slow"]
