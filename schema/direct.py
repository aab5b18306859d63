"""Direct calls for the simplest resolvers.

Strawberry calls a resolver through layers that convert its arguments, build a Strawberry `Info`,
chain field extensions and look for exception handlers: several Python calls per field, paid
for every field of every row of a list (a page of 1,000 students asks 5,000 of them). Most of
our fields need none of that: a synchronous method of `self` and `info` that reads its row and
asks the context. `call_directly` hands those to graphql-core as they are, with graphql-core's
own `GraphQLResolveInfo` as `info`.

The rule this relies on: resolvers use only `info.context` and `info.path`, which both kinds of
info have (`tests/test_direct.py` checks that no code in `schema/` reaches for anything else).
Fields with arguments, async resolvers, field extensions or permission classes keep Strawberry's
path.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import strawberry
from graphql import GraphQLObjectType
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.field import StrawberryField

# The attributes of `info` that resolvers may use (both kinds of info have them).
INFO_ATTRIBUTES = frozenset({"context", "path"})


def _direct(function: Callable[..., Any], *, wants_info: bool) -> Callable[..., Any]:
    if wants_info:

        def resolve(source: Any, info: Any) -> Any:
            return function(source, info)

    else:

        def resolve(source: Any, info: Any) -> Any:
            return function(source)

    return resolve


def call_directly(schema: strawberry.Schema) -> list[str]:
    """Give the eligible fields of `schema` direct resolvers; returns their `Type.field` names."""
    done = []
    for graphql_type in schema._schema.type_map.values():
        if not isinstance(graphql_type, GraphQLObjectType) or graphql_type.name.startswith("__"):
            continue
        for name, graphql_field in graphql_type.fields.items():
            field = (graphql_field.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
            if not isinstance(field, StrawberryField) or field.base_resolver is None:
                continue  # a plain attribute: Strawberry already reads it directly
            resolver = field.base_resolver
            function = resolver.wrapped_func
            parameters = list(resolver.signature.parameters.values())
            if (
                resolver.is_async
                or isinstance(function, (staticmethod, classmethod))
                or field.arguments
                or field.extensions
                or field.permission_classes
                or not parameters
                or parameters[0] != resolver.self_parameter
                or parameters[1:] not in ([], [resolver.info_parameter])
            ):
                continue
            graphql_field.resolve = _direct(function, wants_info=len(parameters) == 2)
            done.append(f"{graphql_type.name}.{name}")
    return done
