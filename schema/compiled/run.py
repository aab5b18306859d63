"""Answer an operation through its compiled plan, or say it must fall back (None).

Per request: the plan (cached), then each root field's answer (`roots.ROOTS`) in document order.
The answers put what they withheld and disclosed into the request's context, as the resolvers
do; when any root falls back, all of that is undone and the resolvers answer the whole
operation.
"""

from __future__ import annotations

from typing import Any

from graphql import DocumentNode, GraphQLSchema
from graphql.execution.values import get_variable_values

from app.disclosures import Batch
from app.encryption import DecryptionFailed
from schema.compiled.base import Fallback
from schema.compiled.plan import plan_for
from schema.compiled.roots import ROOTS
from schema.compiled.shape import operation_of
from schema.context import Context


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
    if plan is None or await context.viewer() is None:
        return None
    data: dict[str, Any] = {}
    try:
        for key, selected in plan.roots.items():
            if selected.name == "__typename":
                data[key] = "Query"
            else:
                data[key] = await ROOTS[selected.name](context, selected, coerced)
    except (Fallback, DecryptionFailed):
        context.redactions.clear()
        context.disclosures = Batch()
        return None
    return data
