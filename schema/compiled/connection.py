"""A page of a connection (`students`, `classes`, `Class.students`) in the response: `edges`,
`pageInfo`, `totalCount` and `__typename`, each only as selected, as `schema.relay` answers them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from schema.compiled.shape import Selected

Path = list[str | int]


@dataclass
class Page:
    """One page of rows: how many, whether more follow or precede it, its count (when the
    statement counted), each row's cursor (sealed when asked for) and each row's node as a
    selection asks for it (`node(index, selected, path)`)."""

    size: int
    has_next: bool
    has_previous: bool
    total: int | None
    cursor: Callable[[int], str]
    node: Callable[[int, Selected, Path], Any]


def wanted(selected: Selected) -> tuple[list[Selected], bool, bool, bool]:
    """What a connection's selection needs of the statement: the node selections, whether any
    cursor is asked for, whether rows are (edges or pageInfo), and whether the count is."""
    edges = [s for s in selected.children.values() if s.name == "edges"]
    page_infos = [s for s in selected.children.values() if s.name == "pageInfo"]
    nodes = [n for e in edges for n in e.children.values() if n.name == "node"]
    cursor = any(c.name == "cursor" for e in edges for c in e.children.values()) or any(
        c.name in ("startCursor", "endCursor") for p in page_infos for c in p.children.values()
    )
    counted = any(s.name == "totalCount" for s in selected.children.values())
    return nodes, cursor, bool(edges or page_infos), counted


def render(selected: Selected, type_name: str, page: Page, path: Path) -> dict[str, Any]:
    """The connection `selected` asks for (`type_name`: `StudentConnection`, ...)."""
    out: dict[str, Any] = {}
    for response_key, field in selected.children.items():
        if field.name == "__typename":
            out[response_key] = type_name
        elif field.name == "totalCount":
            out[response_key] = page.total or 0
        elif field.name == "pageInfo":
            # Each value only when asked: a cursor is sealed from key columns selected only
            # when some cursor is asked for.
            page_info: dict[str, Callable[[], Any]] = {
                "__typename": lambda: "PageInfo",
                "hasNextPage": lambda: page.has_next,
                "hasPreviousPage": lambda: page.has_previous,
                "startCursor": lambda: page.cursor(0) if page.size else None,
                "endCursor": lambda: page.cursor(page.size - 1) if page.size else None,
            }
            out[response_key] = {k: page_info[f.name]() for k, f in field.children.items()}
        else:  # edges
            edge_type = type_name.removesuffix("Connection") + "Edge"
            listed = []
            for index in range(page.size):
                edge: dict[str, Any] = {}
                for k, f in field.children.items():
                    if f.name == "__typename":
                        edge[k] = edge_type
                    elif f.name == "cursor":
                        edge[k] = page.cursor(index)
                    else:
                        edge[k] = page.node(index, f, [*path, response_key, index, k])
                listed.append(edge)
            out[response_key] = listed
    return out
