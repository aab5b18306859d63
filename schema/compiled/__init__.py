"""Compiled execution: the read shapes frontends hit most, answered by one SQL statement per root
field, each field decided by the resolvers' own functions (docs/execution.md).

`CompiledExecution` runs after validation and the query limits. When the operation is a query
whose every selected field the compiler covers, it answers it and sets the result, so graphql-core
does not execute; the answer's redactions and disclosures go into the request's context exactly
as the resolvers' would, and `RecordAndRedact` turns them into errors and the record. Anything else
falls back, as a whole, to the resolvers, which stay the reference.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from graphql import ExecutionResult, FieldNode, GraphQLError, located_error
from strawberry.extensions import SchemaExtension
from strawberry.types import ExecutionContext
from strawberry.types.graphql import OperationType

from schema.compiled.run import answer
from schema.compiled.shape import operation_of
from schema.context import Context


class CompiledExecution(SchemaExtension):
    async def on_execute(self) -> AsyncIterator[None]:
        execution = self.execution_context
        context = execution.context
        if (
            isinstance(context, Context)
            and context.settings.compiled_execution
            and context.authorization
            and execution.operation_type is OperationType.QUERY
            and execution.graphql_document is not None
        ):
            try:
                answered = await answer(
                    context,
                    self.execution_context.schema._schema,
                    execution.query or "",
                    execution.graphql_document,
                    execution.variables or {},
                    execution.operation_name,
                )
            except Exception as error:  # outside any root's answer: the transaction is lost
                context.compiled = True
                execution.result = ExecutionResult(data=None, errors=[_at_root(execution, error)])
            else:
                if answered is not None:
                    data, errors = answered
                    context.compiled = True
                    execution.result = ExecutionResult(data=data, errors=errors or None)
        yield


def _at_root(execution: ExecutionContext, error: Exception) -> GraphQLError:
    """A failure outside the roots' answers (which locate their own, run.py) located at the
    operation's first root field besides `__typename`."""
    document = execution.graphql_document
    operation = operation_of(document, execution.operation_name) if document else None
    fields = [
        node
        for node in (operation.selection_set.selections if operation else ())
        if isinstance(node, FieldNode) and node.name.value != "__typename"
    ]
    if not fields:
        return located_error(error, None, None)
    root = fields[0]
    return located_error(error, [root], [(root.alias or root.name).value])
