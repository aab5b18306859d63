"""Answer an operation through its compiled plan, or say it must fall back (None).

Per request: the plan (cached), then each root field's answer (`roots.ROOTS`) in document order.
The answers put what they withheld and disclosed into the request's context, as the resolvers
do; when any root falls back, all of that is undone (the loaded viewer too) and the resolvers
answer the whole operation.

The roots run in the order the resolvers' statements would (`roots.STEP`). A root whose
statement fails is null and its error located at its path (`base.Failed`: at the field whose
statement it was), as graphql-core locates a resolver's; a non-null root's null is the whole
`data`'s, reported once the others have run. The other roots run as the resolvers' settled
siblings do (`schema/executor.py`), in the lost transaction: their statements fail too.
"""

from __future__ import annotations

from typing import Any

from graphql import DocumentNode, GraphQLError, GraphQLNonNull, GraphQLSchema, located_error
from graphql.execution.values import get_variable_values

from app.disclosures import Batch
from app.encryption import DecryptionFailed
from schema.compiled.base import Failed, Fallback
from schema.compiled.plan import plan_for
from schema.compiled.roots import ANONYMOUS, ROOTS, STEP
from schema.compiled.shape import operation_of
from schema.context import Context

Answer = tuple[dict[str, Any] | None, list[GraphQLError]]


async def answer(
    context: Context,
    schema: GraphQLSchema,
    query: str,
    document: DocumentNode,
    variables: dict[str, Any],
    operation_name: str | None,
) -> Answer | None:
    """The operation's `data` and the errors of statements that failed, with its redactions and
    disclosures added to `context`; None when the compiler does not cover the operation (the
    resolvers answer it)."""
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
    if await context.viewer() is None and any(s.name not in ANONYMOUS for s in plan.roots.values()):
        context.forget_viewer()
        return None  # the resolvers refuse the anonymous request
    # The response's keys in document order; the roots answered in the resolvers' order.
    data: dict[str, Any] = dict.fromkeys(plan.roots)
    errors: list[GraphQLError] = []
    ordered = sorted(plan.roots.items(), key=lambda root: STEP.get(root[1].name, 0))
    nulled = False
    last: list[GraphQLError] = []
    try:
        for key, selected in ordered:
            if selected.name == "__typename":
                data[key] = "Query"
                continue
            try:
                data[key] = await ROOTS[selected.name](context, selected, coerced)
            except (Fallback, DecryptionFailed):
                raise
            except Failed as failed:
                data[key] = failed.value
                found = failed.errors
            except Exception as error:
                data[key] = None
                found = [located_error(error, selected.nodes, [key])]
            else:
                continue
            # A failed non-null root nulls the data; the other roots still run, as the
            # resolvers' do (schema/executor.py), and its error is reported once they have.
            if data[key] is None and _non_null(schema, selected.name):
                nulled = True
                last += found
            else:
                errors += found
    except (Fallback, DecryptionFailed):
        context.redactions.clear()
        context.disclosures = Batch()
        context.forget_viewer()
        return None
    return (None if nulled else data), errors + last


def _non_null(schema: GraphQLSchema, root: str) -> bool:
    query = schema.query_type
    return query is not None and isinstance(query.fields[root].type, GraphQLNonNull)
