"""What every compiled root needs: the signal to fall back, its arguments' values, and the run of
its statement."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from graphql import (
    BooleanValueNode,
    EnumValueNode,
    GraphQLError,
    IntValueNode,
    NullValueNode,
    StringValueNode,
    ValueNode,
    VariableNode,
)

from app.database import cached_text
from app.encryption import Keyring, keyring
from app.relations import Viewer
from schema.compiled.shape import Selected
from schema.context import Context
from schema.relay import from_global_id

# The reason a withheld Student field gives (the resolvers' `reveal` and `_own_classes_only`).
WITHHELD = "no policy line allows this relation to read it"

# A root field's answer: (context, its selection, the request's coerced variables) → its value.
Root = Callable[[Context, Selected, dict[str, Any]], Awaitable[Any]]


class Fallback(Exception):
    """The resolvers answer this operation (a refusal is theirs to report, in their words)."""


class Failed(Exception):
    """Statements of a root field failed (the transaction is lost): `value` is the root's answer
    with what they would have answered nulled as graphql-core nulls a failed field, `errors` the
    failures located where the resolvers' would be. A root that raises anything else failed as
    a whole, at its own path."""

    def __init__(self, value: Any, errors: list[GraphQLError]) -> None:
        super().__init__(errors[0].message if errors else "failed")
        self.value = value
        self.errors = errors


def argument(selected: Selected, name: str, variables: dict[str, Any]) -> Any:
    """The value of one of `selected`'s arguments (None when absent or null)."""
    node: ValueNode | None = selected.arguments.get(name)
    if node is None or isinstance(node, NullValueNode):
        return None
    if isinstance(node, VariableNode):
        return variables.get(node.name.value)
    if isinstance(node, IntValueNode):
        return int(node.value)
    if isinstance(node, StringValueNode | EnumValueNode | BooleanValueNode):
        return node.value
    raise Fallback("argument")


@dataclass
class Binder:
    """What one statement's text is built with: the request's context, viewer and variables,
    and the parameters bound so far. Nested parts of the statement bind their values under names
    of their own (`prefix`, numbered in the order the parts are built: the document's), so the text
    depends on the plan only. `secret` is set by a part that selects encrypted values."""

    context: Context
    viewer: Viewer
    variables: dict[str, Any]
    params: dict[str, Any] = field(default_factory=dict)
    secret: bool = False
    _names: int = 0

    def prefix(self) -> str:
        """A prefix for parameter names no other part of the statement uses."""
        self._names += 1
        return f"p{self._names}"


def global_id(selected: Selected, variables: dict[str, Any], type_name: str) -> int:
    """The key in `selected`'s `id` argument (`student(id)`, `class(id)`, `node(id)`) when it is a
    `type_name`'s. Anything else is the resolver's: `student(id)` refuses another type's id (in
    its words), `node(id)` answers it."""
    try:
        expected = None if selected.name == "node" else type_name
        kind, pk = from_global_id(argument(selected, "id", variables), expected)
    except Exception as refused:
        raise Fallback("refused") from refused
    if kind != type_name:
        raise Fallback(kind)
    return pk


async def fetch(
    context: Context, sql: str, params: dict[str, Any], *, secret: bool
) -> tuple[Any, Keyring | None]:
    """Run a statement whose one column is JSON text; its value, and the keyring when the
    columns it selected hold `secret` (encrypted) values. A value under a key the keyring does
    not have fails to decrypt, and the operation falls back: the resolvers reload the keys."""
    async with context.db() as connection:
        raw = (await connection.execute(cached_text(sql), params)).scalar_one()
        ring = await keyring(connection) if secret else None
    return orjson.loads(raw), ring


def blob(value: str | None) -> bytes | None:
    """An encrypted column's bytes from its JSON text (`\\x…`)."""
    return None if value is None else bytes.fromhex(value[2:])
