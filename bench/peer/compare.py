"""A PostGraphile answer (`allStudents { nodes }`, integer ids) and a SchoolGraph answer
(`students { edges { node } }`, global ids) as the same thing: the set of rows, each a tuple of
its id and values. Order is not compared (each server sorts by its own default)."""

from __future__ import annotations

from typing import Any

from schema.relay import from_global_id

Rows = frozenset[tuple[Any, ...]]


def schoolgraph_rows(data: dict[str, Any]) -> Rows:
    rows = set()
    for edge in data["students"]["edges"]:
        node = dict(edge["node"])
        node["id"] = from_global_id(node["id"], "Student")[1]
        rows.add(tuple(sorted(node.items())))
    return frozenset(rows)


def peer_rows(data: dict[str, Any]) -> Rows:
    rows = set()
    for node in data["allStudents"]["nodes"]:
        node = dict(node)
        node["id"] = int(node["id"])  # PostGraphile's BigInt is a string in JSON
        rows.add(tuple(sorted(node.items())))
    return frozenset(rows)
