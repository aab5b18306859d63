"""Relay plumbing: global ids, the `Node` interface, cursor connections with a page cap."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, TypeVar

import strawberry

from schema.errors import BadInput

T = TypeVar("T")
# Keys are PostgreSQL bigints; a larger number in an id is malformed, not a lookup.
_MAX_KEY = 2**63 - 1


def _key(text: str) -> int:
    # ASCII digits only: `int` also reads other scripts' digits, which would give one key
    # several spellings.
    if not (text.isascii() and text.isdigit()):
        raise ValueError(text)
    value = int(text)
    if not 0 < value <= _MAX_KEY:
        raise ValueError(text)
    return value


def to_global_id(type_name: str, pk: int) -> strawberry.ID:
    return strawberry.ID(base64.urlsafe_b64encode(f"{type_name}:{pk}".encode()).decode())


def from_global_id(global_id: str, expected: str | None = None) -> tuple[str, int]:
    """`(type name, primary key)`; a malformed id, or one of another type, is bad input."""
    try:
        type_name, _, pk = base64.urlsafe_b64decode(global_id.encode()).decode().partition(":")
        value = _key(pk)
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise BadInput(f"{global_id!r} is not a valid id") from exc
    if expected is not None and type_name != expected:
        raise BadInput(f"{global_id!r} is not the id of a {expected}")
    return type_name, value


@strawberry.interface(description="An object with a global id, fetchable with `Query.node`.")
class Node:
    id: strawberry.ID


def page_size(first: int | None, cap: int, default: int = 50) -> int:
    size = default if first is None else first
    if not 0 <= size <= cap:
        raise BadInput(f"`first` must be between 0 and {cap}", argument="first", maximum=cap)
    return size


@strawberry.type
class Edge(Generic[T]):
    # Sealed only when asked for (a page of a thousand edges may never ask).
    cursor: str = strawberry.field(resolver=lambda root: root.sealed())
    node: T
    _seal: strawberry.Private[Callable[[T], str]]

    def sealed(self) -> str:
        return self._seal(self.node)


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    _edges: strawberry.Private[Sequence[Edge[Any]]]

    @strawberry.field
    def start_cursor(self) -> str | None:
        return self._edges[0].sealed() if self._edges else None

    @strawberry.field
    def end_cursor(self) -> str | None:
        return self._edges[-1].sealed() if self._edges else None


@strawberry.type
class Connection(Generic[T]):
    edges: list[Edge[T]]
    page_info: PageInfo
    _count: strawberry.Private[Callable[[], Awaitable[int]] | None] = None

    @strawberry.field(description="All rows the viewer may see that match the filter.")
    async def total_count(self) -> int:
        # Counted only when asked for: a second statement with the same scope and filter.
        return len(self.edges) if self._count is None else await self._count()


def build_connection(
    rows: Sequence[T],
    *,
    first: int,
    after: object | None,
    cursor: Callable[[T], str],
    count: Callable[[], Awaitable[int]] | None = None,
) -> Connection[T]:
    """A page from `first + 1` fetched rows (the extra one only says there is a next page);
    `cursor` seals a node's cursor (`schema.cursors`), `after` is the key the page follows."""
    edges = [Edge(node=node, _seal=cursor) for node in rows[:first]]
    return Connection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=len(rows) > first, has_previous_page=after is not None, _edges=edges
        ),
        _count=count,
    )
