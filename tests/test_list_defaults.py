"""Every list of the schema, with its default arguments, as every demo account.

The lists are found by walking the schema (every field of `Query` and of the types reachable
from it whose type is a list or a connection), so a list added later is covered without a change
here. Each is reached along every path of at most three hops, every field on the way with only
its required arguments, filled with something the account itself was shown (its own student, a
class it lists, a saved report it lists). An answer must never fail as a whole: `data` is never
null, and a list is either there or null with a `FORBIDDEN` error at its own path — a field the
policy withholds from the account, never a refusal of the arguments the schema chose for it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLField,
    GraphQLNonNull,
    GraphQLObjectType,
    Undefined,
    get_named_type,
)

from tests.helpers import GraphQLResponse
from tests.test_filter_scope import ACCOUNTS, SCHEMA, is_list, item_type
from tests.test_filter_scope import _is_connection as is_connection

DEPTH = 3
PARENT = 2  # rows of a list the probe goes through to reach another


# Required arguments, by `Type.field(argument)` or by argument name: what the account was shown.
def _required(f: GraphQLField, coordinate: str, ids: dict[str, str]) -> str | None:
    """The required arguments of `f`, filled in; None when there is nothing sensible to give."""
    parts = []
    for name, arg in f.args.items():
        if not isinstance(arg.type, GraphQLNonNull) or arg.default_value is not Undefined:
            continue
        named = get_named_type(arg.type)
        if isinstance(named, GraphQLEnumType):
            parts.append(f"{name}: {next(iter(named.values))}")
        elif named.name == "ID":
            kind = get_named_type(f.type).name if name == "id" else name
            if kind not in ids or kind == "Node":
                return None
            parts.append(f'{name}: "{ids[kind]}"')
        elif coordinate == "Query.explainAccess" and name == "field":
            parts.append('field: "email"')
        else:
            return None
    return ", ".join(parts)


def _select(f: GraphQLField, call: str, selection: str) -> str:
    if is_connection(f.type):
        selection = f"totalCount edges {{ node {{ {selection} }} }}"
    return f"{call} {{ {selection} }}" if selection else call


def paths(ids: dict[str, str]) -> Iterator[tuple[str, list[str], str]]:
    """(list coordinate, field names from the root, query) for every path of at most `DEPTH`
    hops to a list field."""
    query = SCHEMA.query_type
    assert query is not None

    def walk(
        owner: GraphQLObjectType, wrap: Any, names: list[str], seen: frozenset[str], depth: int
    ) -> Any:
        for name, f in owner.fields.items():
            coordinate = f"{owner.name}.{name}"
            args = _required(f, coordinate, ids)
            if args is None:
                continue
            call = f"{name}({args})" if args else name
            inner = item_type(f.type)
            keep = "id " if isinstance(inner, GraphQLObjectType) and "id" in inner.fields else ""

            if is_list(f.type):
                leaf = keep or ("__typename" if isinstance(inner, GraphQLObjectType) else "")
                yield coordinate, [*names, name], wrap(_select(f, call, leaf))
            if isinstance(inner, GraphQLObjectType) and inner.name not in seen and depth > 1:
                # A list on the way is only how the probe reaches the one under test: a short
                # page of it keeps the probe within the query cost limit (docs/limits.md).
                through = call
                if is_list(f.type) and "first" in f.args:
                    through = f"{name}({', '.join(filter(None, (args, f'first: {PARENT}')))})"
                yield from walk(
                    inner,
                    lambda s, f=f, through=through, keep=keep: wrap(_select(f, through, keep + s)),
                    [*names, name],
                    seen | {inner.name},
                    depth - 1,
                )

    yield from walk(query, lambda s: "{ " + s + " }", [], frozenset({"Query"}), DEPTH)


async def _shown(gql: Any, account: str) -> dict[str, str]:
    """Ids the account is shown, for the fields that take one."""
    data = (
        await gql(
            "{ viewer { student { id } } students(first: 1) { edges { node { id } } }"
            " classes(first: 1) { edges { node { id } } } }",
            as_user=account,
        )
    ).data
    ids: dict[str, str] = {}
    student = (data["viewer"] or {}).get("student") or next(
        (e["node"] for e in data["students"]["edges"]), None
    )
    if student:
        ids["Student"] = ids["studentId"] = student["id"]
    klass = next((e["node"] for e in data["classes"]["edges"]), None)
    if klass:
        ids["Class"] = klass["id"]
    saved = await gql("{ savedReports(first: 1) { edges { node { id } } } }", as_user=account)
    report = next((e["node"] for e in ((saved.data or {}).get("savedReports") or {"edges": []})
                   ["edges"]), None)  # fmt: skip
    if report:
        ids["SavedReport"] = report["id"]
    return ids


def _value_at(data: Any, path: list[Any]) -> Any:
    for key in path:
        data = data[key]
    return data


def _lists_in(data: Any, names: list[str], path: list[Any]) -> Iterator[tuple[list[Any], Any]]:
    """(path, value) of the field named by the last of `names`, under every row on the way."""
    if data is None:
        return
    if isinstance(data, list):
        for i, row in enumerate(data):
            yield from _lists_in(row, names, [*path, i])
        return
    if "edges" in data and names and names[0] not in data:
        for i, edge in enumerate(data["edges"]):
            yield from _lists_in(edge["node"], names, [*path, "edges", i, "node"])
        return
    name, *rest = names
    value = data.get(name)
    if not rest:
        yield [*path, name], value
    else:
        yield from _lists_in(value, rest, [*path, name])


def check(coordinate: str, names: list[str], query: str, response: GraphQLResponse) -> None:
    where = f"{coordinate}: {query}"
    assert response.status == 200, (where, response.body)
    assert response.data is not None, (where, response.errors)
    refused = set()
    for error in response.errors:
        extensions = error.get("extensions") or {}
        assert extensions.get("code") == "FORBIDDEN", (where, error)
        refused.add(tuple(error.get("path") or ()))
        if "pathPattern" not in extensions:
            # A refusal of one field, by the policy: the field itself is null, nothing else.
            assert error.get("path"), (where, error)
            assert _value_at(response.data, error["path"]) is None, (where, error)
    owner, name = coordinate.split(".")
    described = SCHEMA.get_type(owner).fields[name].description or ""  # type: ignore[union-attr]
    for path, value in _lists_in(response.data, names, []):
        if value is None and "null" in described.lower():
            continue  # a null the field documents ("null for other kinds"): not a withholding
        if value is None:
            # Withheld: a redaction (its pattern names the path) or a refusal at the path.
            pattern = ".".join("*" if isinstance(p, int) else str(p) for p in path)
            patterns = {
                e["extensions"].get("pathPattern")
                for e in response.errors
                if e["extensions"].get("pathPattern")
            }
            assert pattern in patterns or any(tuple(path[: len(r)]) == r for r in refused), (
                where,
                path,
                response.errors,
            )


def test_the_walk_finds_every_list() -> None:
    found = {coordinate for coordinate, _, _ in paths({"Student": "x", "Class": "x"})}
    for expected in ("Query.students", "Class.students", "Student.marks", "Portfolio.items"):
        assert expected in found


@pytest.mark.parametrize("account", ACCOUNTS)
async def test_every_list_answers_with_its_defaults(gql: Any, account: str) -> None:
    ids = await _shown(gql, account)
    probed, failures = 0, []
    for coordinate, names, query in paths(ids):
        try:
            check(coordinate, names, query, await gql(query, as_user=account))
        except AssertionError as exc:
            failures.append(str(exc)[:400])
        probed += 1
    assert not failures, "\n".join(failures)
    assert probed > 40


STUDENTS = """
query ($order: StudentOrder) {
  students(first: 100, orderBy: $order) {
    totalCount edges { node { id firstName displayName } }
  }
}
"""


async def test_the_student_lists_classmates_with_the_default_order(gql: Any) -> None:
    """Classmates may not read each other's last names: without `orderBy` the list goes by
    display name, the order a classmate may use; asking for NAME is refused and says why."""
    listed = (await gql(STUDENTS, as_user="student")).ok()["students"]
    rows = [e["node"] for e in listed["edges"]]
    me = (await gql("{ viewer { student { id } } }", as_user="student")).ok()["viewer"]["student"]
    assert me["id"] in {r["id"] for r in rows} and len(rows) > 1
    by_display = await gql(STUDENTS, as_user="student", variables={"order": "DISPLAY_NAME"})
    assert by_display.ok()["students"] == listed
    refused = await gql(STUDENTS, as_user="student", variables={"order": "NAME"})
    [error] = refused.errors
    assert error["extensions"]["code"] == "FORBIDDEN"
    assert "lastName" in error["message"]
    assert error["extensions"]["fieldClass"] == "directory"


async def test_an_account_that_reads_names_keeps_the_order_by_name(gql: Any) -> None:
    default = (await gql(STUDENTS, as_user="teacher")).ok()["students"]
    by_name = (await gql(STUDENTS, as_user="teacher", variables={"order": "NAME"})).ok()
    assert default == by_name["students"]
    by_id = (await gql(STUDENTS, as_user="teacher", variables={"order": "ID"})).ok()
    assert [e["node"]["id"] for e in by_id["students"]["edges"]] != [
        e["node"]["id"] for e in default["edges"]
    ]
