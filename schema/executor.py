"""The executor: graphql-core's, except that a failed field's siblings are neither cancelled
mid-statement nor run after the response.

graphql-core 3.3 handles a failed field two ways, and both hurt a request that is one
transaction with a record of what it disclosed:

- A sibling still *running* when a field fails is cancelled (`gather_with_cancel`). Cancelled
  inside a statement, it spoils the request's transaction: every later statement fails,
  the record's INSERT included, and the whole response turns into a 503. Here siblings are
  settled instead: each finishes, then the first failure (in field order) is raised, as
  graphql-core 3.2 did. What they disclosed is recorded like any read the request made.
- A sibling *not yet started* when a field fails synchronously (a non-null field nulling its
  parent) would be run "in the background", after the response — reading rows, recording
  disclosures and withholding fields the response does not contain, after the request's
  connection has gone back to the pool and its record has been written. Here it is closed
  instead: it has done nothing yet. Its resolver's coroutine, created but not started either,
  waits among its arguments or in the field map it closes over (graphql-core wraps it to
  complete its value) and is closed with it, or it would be reported as never awaited.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable
from inspect import CORO_CREATED, getcoroutinestate, iscoroutine
from types import CoroutineType
from typing import Any

import graphql.execution.executor as graphql_executor
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext


async def gather_settled(*awaitables: Awaitable[Any]) -> list[Any]:
    """Every awaitable's result once all have finished; the first failure, in their order,
    raised once all have finished."""
    results = await asyncio.gather(*awaitables, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results


# graphql-core's executor looks this name up in its module at every call.
graphql_executor.gather_with_cancel = gather_settled  # type: ignore[attr-defined]


def _close_unstarted(coroutine: CoroutineType[Any, Any, Any]) -> None:
    """Close `coroutine` and the unstarted coroutines it holds: in its arguments and the
    variables it closes over, directly or in a dict or list (graphql-core's field maps)."""
    frame = coroutine.cr_frame
    for value in frame.f_locals.values() if frame is not None else ():
        items = value.values() if isinstance(value, dict) else value
        for item in items if isinstance(items, Iterable) and not isinstance(items, str) else ():
            _close_if_unstarted(item)
        _close_if_unstarted(value)
    coroutine.close()


def _close_if_unstarted(value: Any) -> bool:
    if iscoroutine(value) and getcoroutinestate(value) == CORO_CREATED:
        _close_unstarted(value)
        return True
    return False


class Executor(StrawberryGraphQLCoreExecutionContext):
    def settle_in_background(self, awaitables: list[Awaitable[Any]]) -> None:
        running = []
        for awaitable in awaitables:
            if not _close_if_unstarted(awaitable):
                running.append(awaitable)
        if running:
            super().settle_in_background(running)
