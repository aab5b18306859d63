"""The executor: graphql-core's, except that work a bubbling error abandons is dropped, not run.

When a non-null field fails, graphql-core nulls its parent and, by default, still runs the
parent's other fields "in the background" to observe their errors. Here their values are never
sent, so running them would read rows, record disclosures and withhold fields the response does
not contain — after the request's connection has gone back to the pool and its record has been
written. So a sibling that has not started is closed instead: it has done nothing yet. Its
resolver's coroutine, created but not started either, waits among its arguments or in the field
map it closes over (graphql-core wraps it to complete its value) and is closed with it, or it
would be reported as never awaited.
Anything already running is left to graphql-core, which settles it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Iterable
from inspect import CORO_CREATED, getcoroutinestate, iscoroutine
from types import CoroutineType
from typing import Any

from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext


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
