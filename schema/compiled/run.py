"""Answer an operation through its compiled plan, or say it must fall back (None).

Per request: the same checks the resolver makes before its statements (page size, order,
cursor) — any refusal falls back, so the resolver reports it in its own words — then one
statement, then the post-pass over its JSON: each row's relation mask, each field decided with
`Context.allows` (which records the disclosure) or withheld with `Context.redact_at`, exactly as
the resolvers do, encrypted columns decrypted, cursors sealed.
"""

from __future__ import annotations

import datetime
import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from graphql import (
    DocumentNode,
    EnumValueNode,
    GraphQLSchema,
    IntValueNode,
    NullValueNode,
    StringValueNode,
    ValueNode,
    VariableNode,
)
from graphql.execution.values import get_variable_values

from app import reads
from app.database import cached_text
from app.disclosures import Batch
from app.encryption import ENCRYPTED, DecryptionFailed, Keyring, _unknown_key, keyring
from schema import reveals
from schema.compiled.plan import plan_for
from schema.compiled.shape import Selected, operation_of
from schema.compiled.sql import STUDENT_COLUMNS, StudentsStatement, student_by_id
from schema.context import Context
from schema.cursors import Cursors
from schema.relay import from_global_id, page_size, to_global_id

_WITHHELD = "no policy line allows this relation to read it"
_SECRET = frozenset(ENCRYPTED["student"])
_MISSING = object()


class _Fallback(Exception):
    """The resolvers answer this one."""


@dataclass
class _Student:
    """What `Context.allows` needs of a row (a `StudentRef`)."""

    pk: int
    school_id: int
    mask: int


async def answer(
    context: Context,
    schema: GraphQLSchema,
    query: str,
    document: DocumentNode,
    variables: dict[str, Any],
    operation_name: str | None,
) -> dict[str, Any] | None:
    """The operation's `data`, with its redactions and disclosures added to `context`; None when
    the compiler does not cover the operation (the resolvers answer it)."""
    operation = operation_of(document, operation_name)
    if operation is None:
        return None
    values = get_variable_values(schema, operation.variable_definitions or (), variables)
    if isinstance(values, list):
        return None  # the resolvers report the bad variables
    coerced = values.coerced
    plan = plan_for(query, document, operation_name, coerced)
    if plan is None:
        return None
    roots = [s for s in plan.roots.values() if s.name != "__typename"]
    if len(roots) != 1:
        return None
    if await context.viewer() is None:
        return None
    try:
        root = roots[0]
        value: dict[str, Any] | None
        if root.name == "students":
            value = await _students(context, root, coerced)
        else:
            value = await _student_by_id(context, root, coerced)
    except (_Fallback, DecryptionFailed):
        context.redactions.clear()
        context.disclosures = Batch()
        return None
    data: dict[str, Any] = {}
    for key, selected in plan.roots.items():
        data[key] = "Query" if selected.name == "__typename" else value
    return data


def _argument(node: ValueNode | None, variables: dict[str, Any]) -> Any:
    if node is None or isinstance(node, NullValueNode):
        return None
    if isinstance(node, VariableNode):
        return variables.get(node.name.value)
    if isinstance(node, IntValueNode):
        return int(node.value)
    if isinstance(node, StringValueNode | EnumValueNode):
        return node.value
    raise _Fallback("argument")


async def _students(
    context: Context, selected: Selected, variables: dict[str, Any]
) -> dict[str, Any]:
    viewer = await context.require_viewer()
    first = _argument(selected.arguments.get("first"), variables)
    after = _argument(selected.arguments.get("after"), variables)
    order_by = _argument(selected.arguments.get("orderBy"), variables)
    if isinstance(order_by, enum.Enum):
        order_by = order_by.name
    try:
        # The resolver's checks, in its order; a refusal is its to report.
        size = page_size(first, context.settings.max_page_size)
        order = reveals.default_order(context) if order_by is None else str(order_by)
        keyset, _ = reads.STUDENT_ORDERS[order]
        cursors = Cursors.of(context, "students", order, viewer)
        key = cursors.open(after, len(keyset.columns))
        reveals.require_order(context, order)
    except Exception as refused:
        raise _Fallback("refused") from refused

    connection_fields = selected.children
    edges = [s for s in connection_fields.values() if s.name == "edges"]
    page_infos = [s for s in connection_fields.values() if s.name == "pageInfo"]
    nodes = [n for e in edges for n in e.children.values() if n.name == "node"]
    cursor_wanted = any(c.name == "cursor" for e in edges for c in e.children.values()) or any(
        c.name in ("startCursor", "endCursor") for p in page_infos for c in p.children.values()
    )
    columns = _columns(nodes)
    if cursor_wanted:
        columns += [f"key:{c.attribute}" for c in keyset.columns]
    statement = StudentsStatement(
        order=order,
        columns=tuple(columns),
        rows=bool(edges or page_infos),
        count=any(s.name == "totalCount" for s in connection_fields.values()),
    )
    params: dict[str, Any] = {"limit": size + 1}
    scope = context.scope(viewer)
    sql = statement.text(scope, key, params)
    result, rows, ring = await _fetch(context, sql, params, columns, lambda r: r.get("rows") or [])

    position = {c: i for i, c in enumerate(columns)}
    page = rows[:size]
    sealed: dict[int, str] = {}

    def cursor(index: int) -> str:
        if index not in sealed:
            row = page[index]
            values = []
            for c in keyset.columns:
                value = row[position[f"key:{c.attribute}"]]
                if c.attribute == "date_of_birth" and value is not None:
                    value = datetime.date.fromisoformat(value)
                values.append(value)
            sealed[index] = cursors.seal(tuple(values))
        return sealed[index]

    refs = [_Student(row[0], row[1], context.student_mask(row[0], row[1])) for row in page]
    out: dict[str, Any] = {}
    for response_key, field in connection_fields.items():
        path: list[str | int] = [selected.key, response_key]
        if field.name == "__typename":
            out[response_key] = "StudentConnection"
        elif field.name == "totalCount":
            out[response_key] = int(result.get("total") or 0)
        elif field.name == "pageInfo":
            info: dict[str, Any] = {}
            # Each value only when asked: a cursor is sealed from key columns selected only
            # when some cursor is asked for.
            page_info: dict[str, Callable[[], Any]] = {
                "__typename": lambda: "PageInfo",
                "hasNextPage": lambda: len(rows) > size,
                "hasPreviousPage": lambda: key is not None,
                "startCursor": lambda: cursor(0) if page else None,
                "endCursor": lambda: cursor(len(page) - 1) if page else None,
            }
            for k, f in field.children.items():
                info[k] = page_info[f.name]()
            out[response_key] = info
        else:  # edges
            listed = []
            for index, row in enumerate(page):
                edge: dict[str, Any] = {}
                for k, f in field.children.items():
                    if f.name == "__typename":
                        edge[k] = "StudentEdge"
                    elif f.name == "cursor":
                        edge[k] = cursor(index)
                    else:
                        edge[k] = _student(
                            context, f, row, refs[index], position, ring, [*path, index, k]
                        )
                listed.append(edge)
            out[response_key] = listed
    return out


def _columns(nodes: list[Selected]) -> list[str]:
    """The row columns the selected Student fields are made of, `id` and `school_id` first."""
    columns = ["id", "school_id"]
    for node in nodes:
        for selected in node.children.values():
            name = selected.name
            for column in STUDENT_COLUMNS.get(name, ("school",) if name == "school" else ()):
                if column not in columns:
                    columns.append(column)
    return columns


async def _fetch(
    context: Context, sql: str, params: dict[str, Any], columns: list[str], rows_of: Any
) -> tuple[Any, list[list[Any]], Keyring | None]:
    """Run the statement; its JSON, its rows, and the keyring their encrypted columns need."""
    async with context.db() as connection:
        raw = (await connection.execute(cached_text(sql), params)).scalar_one()
        result = orjson.loads(raw)
        rows: list[list[Any]] = rows_of(result)
        ring = None
        if rows and _SECRET & set(columns):
            ring = await keyring(connection)
            secret = [columns.index(c) for c in columns if c in _SECRET]
            if any(_unknown_key(ring, _blob(row[i])) for row in rows for i in secret):
                ring = await keyring(connection, fresh=True)
    return result, rows, ring


async def _student_by_id(
    context: Context, selected: Selected, variables: dict[str, Any]
) -> dict[str, Any] | None:
    # `student(id)` refuses an id of another type; `node(id)` answers it, on the resolver path.
    try:
        expected = "Student" if selected.name == "student" else None
        kind, pk = from_global_id(_argument(selected.arguments.get("id"), variables), expected)
    except Exception as refused:
        raise _Fallback("refused") from refused
    if kind != "Student":
        raise _Fallback(kind)
    viewer = await context.require_viewer()
    columns = _columns([selected])
    params: dict[str, Any] = {"id": pk}
    scope = context.scope(viewer)
    if scope.empty:
        return None
    sql = student_by_id(tuple(columns), scope, params)
    _, rows, ring = await _fetch(context, sql, params, columns, lambda r: r)
    if not rows:
        return None
    row = rows[0]
    ref = _Student(row[0], row[1], context.student_mask(row[0], row[1]))
    position = {c: i for i, c in enumerate(columns)}
    return _student(context, selected, row, ref, position, ring, [selected.key])


def _blob(value: Any) -> bytes | None:
    return None if value is None else bytes.fromhex(value[2:])


def _student(
    context: Context,
    selected: Selected,
    row: list[Any],
    ref: _Student,
    position: dict[str, int],
    ring: Keyring | None,
    path: list[str | int],
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, field in selected.children.items():
        name = field.name
        if name == "__typename":
            out[key] = "Student"
        elif name == "id":
            out[key] = to_global_id("Student", ref.pk)
        elif not context.allows(ref, f"Student.{name}"):
            context.redact_at([*path, key], f"Student.{name}", _WITHHELD)
            out[key] = None
        elif name == "school":
            out[key] = _school(field, row[position["school"]])
        elif name == "displayName":
            preferred = row[position["preferred_name"]]
            first = row[position["first_name"]]
            out[key] = f"{preferred or first} {row[position['last_name']][:1]}."
        else:
            (column,) = STUDENT_COLUMNS[name]
            value = row[position[column]]
            if column in _SECRET and ring is not None:
                value = ring.decrypt("student", column, ref.pk, _blob(value))
            out[key] = value
    return out


def _school(selected: Selected, school: list[Any] | None) -> dict[str, Any] | None:
    if school is None:
        return None
    pk, name, code, level = school
    values = {"__typename": "School", "name": name, "code": code, "level": level}
    return {
        key: to_global_id("School", pk) if f.name == "id" else values[f.name]
        for key, f in selected.children.items()
    }
