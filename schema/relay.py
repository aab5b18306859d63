"""Relay plumbing: global ids, the `Node` interface, cursor connections with a page cap."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

import strawberry

from schema.errors import BadInput

T = TypeVar("T")
# Keys are PostgreSQL bigints; a larger number in an id or cursor is malformed, not a lookup.
_MAX_KEY = 2**63 - 1


def _key(text: str) -> int:
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


# Cursors are opaque: they name the last row's id, never a value of it (a cursor must not reveal
# a field the viewer may not read).
def encode_cursor(pk: int) -> str:
    return base64.urlsafe_b64encode(f"c:{pk}".encode()).decode()


def decode_cursor(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    try:
        prefix, _, pk = base64.urlsafe_b64decode(cursor.encode()).decode().partition(":")
        if prefix != "c":
            raise ValueError(prefix)
        return _key(pk)
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise BadInput(f"{cursor!r} is not a valid cursor") from exc


def page_size(first: int | None, cap: int, default: int = 50) -> int:
    size = default if first is None else first
    if not 0 <= size <= cap:
        raise BadInput(f"`first` must be between 0 and {cap}", argument="first", maximum=cap)
    return size


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@strawberry.type
class Edge(Generic[T]):
    cursor: str
    node: T


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
    after: int | None,
    key: Callable[[T], int],
    count: Callable[[], Awaitable[int]] | None = None,
) -> Connection[T]:
    """A page from `first + 1` fetched rows (the extra one only says there is a next page)."""
    page = list(rows[:first])
    edges = [Edge(cursor=encode_cursor(key(node)), node=node) for node in page]
    return Connection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=len(rows) > first,
            has_previous_page=after is not None,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        ),
        _count=count,
    )
