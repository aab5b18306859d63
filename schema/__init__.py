"""The SchoolGraph GraphQL schema, composed from one query and mutation class per domain."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

import strawberry
from graphql import GraphQLError
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.extensions import (
    MaxTokensLimiter,
    ParserCache,
    SchemaExtension,
)
from strawberry.tools import merge_types
from strawberry.types import ExecutionContext

from app.config import Settings, get_settings
from app.policy import CompiledPolicy, load_policy
from schema.access.mutations import AccessMutation
from schema.access.queries import AccessQuery
from schema.accounts.mutations import AccountMutation
from schema.accounts.queries import AccountQuery
from schema.admin.mutations import RecordsMutation
from schema.analysis import Limits, QueryAnalysis
from schema.audit.queries import AuditQuery
from schema.auth.accounts import AccountLockMutation
from schema.auth.mutations import AuthMutation
from schema.auth.passwords import PasswordMutation
from schema.auth.second_factor import SecondFactorMutation
from schema.classes.queries import ClassQuery
from schema.compiled import CompiledExecution
from schema.context import Context
from schema.descriptions import describe_access
from schema.direct import call_directly
from schema.errors import MASKED_CODES, CodedErrors, code_of, give_codes, log_errors, unexpected
from schema.executor import Executor
from schema.people.mutations import PeopleMutation
from schema.people.queries import PeopleQuery
from schema.redactions import redaction_errors
from schema.relay import Node
from schema.reports.mutations import ReportMutation
from schema.reports.queries import ReportQuery
from schema.rights.contact import ContactMutation
from schema.rights.mutations import RightsMutation
from schema.rights.queries import RightsQuery
from schema.roster.queries import RosterQuery
from schema.schools.mutations import DistrictMutation
from schema.schools.queries import SchoolQuery
from schema.sessions.mutations import SessionMutation
from schema.sessions.queries import SessionQuery
from schema.students.mutations import StudentMutation
from schema.students.queries import StudentQuery

Query = merge_types(
    "Query",
    (
        PeopleQuery,
        StudentQuery,
        ClassQuery,
        SchoolQuery,
        AccessQuery,
        AuditQuery,
        RightsQuery,
        ReportQuery,
        RosterQuery,
        AccountQuery,
        SessionQuery,
    ),
)
Mutation = merge_types(
    "Mutation",
    (
        AuthMutation,
        PasswordMutation,
        SecondFactorMutation,
        AccountLockMutation,
        AccessMutation,
        StudentMutation,
        RightsMutation,
        ContactMutation,
        PeopleMutation,
        ReportMutation,
        DistrictMutation,
        RecordsMutation,
        AccountMutation,
        SessionMutation,
    ),
)

_SUGGESTION = re.compile(r"\s*Did you mean .*\?$")


class RecordAndRedact(SchemaExtension):
    """After the operation: append its disclosures to the record, and turn its redactions into
    errors — one per field path pattern, with a count."""

    async def on_operation(self) -> AsyncIterator[None]:
        yield
        result = self.execution_context.result
        context = self.execution_context.context
        if not isinstance(context, Context) or result is None:
            return
        if any(code_of(e) in MASKED_CODES or unexpected(e) for e in result.errors or ()):
            # A failure (a statement timed out, the database went away): the transaction is
            # lost, and the answer with it, so nothing was disclosed.
            return
        await context.flush_disclosures()
        if context.redactions:
            result.errors = [*(result.errors or []), *redaction_errors(context, result.data)]


class ProductionHardening(SchemaExtension):
    """In production, anonymous callers get no introspection and no field-name suggestions."""

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context.context
        if getattr(context, "subject", None) is None:
            rules = list(self.execution_context.validation_rules)
            rules.append(NoSchemaIntrospectionCustomRule)
            self.execution_context.validation_rules = tuple(rules)
        yield
        for error in self.execution_context.pre_execution_errors or []:
            error.message = _SUGGESTION.sub("", error.message)


class Schema(strawberry.Schema):
    """Strawberry's schema, with errors logged our way: one line per expected error, a
    traceback per unexpected one (Strawberry logs a traceback for every error)."""

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        give_codes(errors)
        context = execution_context.context if execution_context else None
        log_errors(errors, context.request_id if isinstance(context, Context) else None)


def create_schema(
    settings: Settings | None = None, *, policy: CompiledPolicy | None = None
) -> strawberry.Schema:
    """The schema, its field descriptions written from `policy` (by default, the policy files
    of `settings.policy_dir`)."""
    settings = settings or get_settings()
    limits = Limits.of(settings)
    # Factories, so that every request gets fresh extension instances (the parse and validation
    # caches behind them are shared module-level LRU caches, hit as long as the validation rules
    # are the same classes in every request: the analysis is no rule, so they are).
    extensions: list[Any] = [
        lambda: ParserCache(maxsize=256),
        lambda: MaxTokensLimiter(max_token_count=settings.max_tokens),
        RecordAndRedact,
        CodedErrors,
    ]
    # Production adds a rule for anonymous callers first; validation results are cached per
    # document, which would also cache an anonymous caller's refusal of introspection for
    # everyone, so production validates every time instead.
    if settings.production:
        extensions.append(ProductionHardening)
    extensions.append(lambda: QueryAnalysis(limits, cache=not settings.production))
    # Last: it runs once the document is valid and within the limits, and its answer goes through
    # RecordAndRedact like the resolvers' (docs/execution.md).
    extensions.append(CompiledExecution)
    schema = Schema(
        query=Query,
        mutation=Mutation,
        types=[Node],
        extensions=extensions,
        execution_context_class=Executor,
    )
    call_directly(schema)
    describe_access(schema, policy or load_policy(settings.policy_dir))
    return schema
