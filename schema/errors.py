"""Errors a caller may see, the codes they carry, and the one log line each leaves.

Every error in a response has `extensions.code`. Our own refusals raise a `PublicError`; GraphQL's
own errors get the code of the phase that found them (`GRAPHQL_PARSE_FAILED`,
`GRAPHQL_VALIDATION_FAILED`, `OPERATION_RESOLUTION_FAILURE`, `BAD_USER_INPUT` for variables and
arguments); everything else is masked: the caller sees only a fixed message and a code chosen by
`UNEXPECTED` (no trace, no SQL, no driver text), and the log gets the traceback. docs/errors.md
lists the codes and the HTTP statuses.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

import strawberry
from graphql import DocumentNode, GraphQLError, GraphQLSyntaxError, OperationDefinitionNode
from graphql.validation import ValidationRule
from strawberry.extensions import MaskErrors

from app import database
from app.writes import WriteRefused

BAD_REQUEST = "BAD_REQUEST"
BAD_USER_INPUT = "BAD_USER_INPUT"
PARSE_FAILED = "GRAPHQL_PARSE_FAILED"
VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"
# The document is valid, but which of its operations to run is not clear (the name Apollo uses).
OPERATION_RESOLUTION_FAILURE = "OPERATION_RESOLUTION_FAILURE"
INTERNAL = "INTERNAL_SERVER_ERROR"
UNAVAILABLE = "SERVICE_UNAVAILABLE"

MASKED_MESSAGE = "Unexpected error."
QUERY_TIMEOUT = "QUERY_TIMEOUT"
QUERY_TIMEOUT_MESSAGE = "The query ran longer than the server allows and was stopped."

# PostgreSQL's SQLSTATE for a cancelled statement: `statement_timeout` (app.database) cancels
# with it. Matched by code, as the message text follows the server's language.
_QUERY_CANCELED = "57014"


def timed_out(error: BaseException | None) -> bool:
    """Did the database cancel one of the request's statements for taking too long?"""
    return getattr(getattr(error, "orig", None), "sqlstate", None) == _QUERY_CANCELED


# What a caller is told of an unexpected failure: the first rule that matches the exception
# names the code and the message; anything else is INTERNAL. A new kind of failure is one line
# here (and its HTTP status in app/http_errors.py).
UNEXPECTED: list[tuple[Callable[[BaseException], bool], str, str]] = [
    (
        timed_out,
        QUERY_TIMEOUT,
        QUERY_TIMEOUT_MESSAGE,
    ),
    (
        database.is_unavailable,
        UNAVAILABLE,
        "The service is unavailable for a moment; try again shortly.",
    ),
]
MASKED_CODES = frozenset({INTERNAL, *(code for _, code, _ in UNEXPECTED)})

# One line per expected error, a traceback per unexpected one; the request id links both to the
# response (`extensions.requestId`).
log = logging.getLogger("schoolgraph.errors")


class PublicError(Exception):
    """An error whose message and extensions are safe to return to the caller."""

    code = BAD_REQUEST

    def __init__(self, message: str, **extensions: Any) -> None:
        super().__init__(message)
        self.extensions = {"code": self.code, **extensions}


class Unauthenticated(PublicError):
    code = "UNAUTHENTICATED"


class Forbidden(PublicError):
    code = "FORBIDDEN"


class BadInput(PublicError):
    code = BAD_USER_INPUT


class RateLimited(PublicError):
    """Too many attempts; `retryAfter` says in how many seconds to try again (HTTP 429)."""

    code = "RATE_LIMITED"


class ServerBusy(PublicError):
    """Refused at once rather than queued; `retryAfter` seconds (HTTP 503)."""

    code = "SERVER_BUSY"


def classify(error: BaseException) -> tuple[str, str]:
    """The code and message a caller sees for an unexpected exception."""
    for matches, code, message in UNEXPECTED:
        if matches(error):
            return code, message
    return INTERNAL, MASKED_MESSAGE


def unexpected(error: GraphQLError) -> BaseException | None:
    """The exception behind an error the caller may not see as it is; None for a public error
    (its extensions are taken over) and for GraphQL's own errors about the request (syntax,
    validation, variable and argument coercion). GraphQL's own complaint about a value a
    resolver returned (null for a non-null field, a list that is not one) is the server's
    fault: it is itself the unexpected error."""
    original = error.original_error
    if original is None:
        return error if error.path is not None and code_of(error) is None else None
    if isinstance(original, GraphQLError):
        return None
    if isinstance(original, PublicError):
        error.extensions = {**(error.extensions or {}), **original.extensions}
        return None
    return original


def should_mask(error: GraphQLError) -> bool:
    return unexpected(error) is not None


def masked(error: GraphQLError) -> GraphQLError:
    """The error as the caller may see it: itself, or its masked stand-in."""
    original = unexpected(error)
    if original is None:
        return error
    code, message = classify(original)
    return GraphQLError(message, nodes=error.nodes, path=error.path, extensions={"code": code})


def code_of(error: GraphQLError) -> str | None:
    code = (error.extensions or {}).get("code")
    return code if isinstance(code, str) else None


def give_codes(errors: list[GraphQLError]) -> None:
    """Give GraphQL's own errors about the request the code of what they found wrong (our own
    carry one; a resolver's value GraphQL refused is masked, `unexpected`)."""
    for error in errors:
        if code_of(error) is not None or not _graphql_own(error):
            continue
        if isinstance(error, GraphQLSyntaxError):
            code = PARSE_FAILED
        elif error.path is None or error.original_error is not None:
            # Raised for no exception of ours, and not by validation (which gave its errors
            # their code): variable values that do not fit their types (before any field ran),
            # or a field's argument built from them (as the field ran).
            code = BAD_USER_INPUT
        else:
            continue
        error.extensions = {**(error.extensions or {}), "code": code}


def _graphql_own(error: GraphQLError) -> bool:
    return error.original_error is None or isinstance(error.original_error, GraphQLError)


class SingleOperation(ValidationRule):
    """Without `operationName`, the document must hold exactly one operation (GraphQL's
    GetOperation; Strawberry would run the first)."""

    def enter_document(self, node: DocumentNode, *_args: Any) -> None:
        if sum(isinstance(d, OperationDefinitionNode) for d in node.definitions) > 1:
            self.report_error(
                GraphQLError(
                    "The document has several operations: name the one to run with"
                    " `operationName`.",
                    extensions={"code": OPERATION_RESOLUTION_FAILURE},
                )
            )


class CodedErrors(MaskErrors):
    """Masks unexpected errors (message and code from `UNEXPECTED`), gives validation errors
    their code, and refuses a document of several operations without `operationName`.

    Listed before the validation cache, so that its rule is part of what is validated.
    """

    def __init__(self) -> None:
        super().__init__(should_mask_error=should_mask)

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        return masked(error)

    def on_operation(self) -> Iterator[None]:
        # GraphQL's grammar has no empty selection set (`{}`); graphql-core accepts one by
        # default, and the depth limiter then fails on it. (Strawberry's type of the options
        # names only `max_tokens`; graphql-core's `parse` takes this one too.)
        options = self.execution_context.parse_options
        options["allow_empty_selection_sets"] = False  # type: ignore[typeddict-unknown-key]
        yield from super().on_operation()

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        # Whether a name was given is private to the context (its public `operation_name`
        # falls back to the first operation's).
        if context._provided_operation_name is None:
            context.validation_rules = (*context.validation_rules, SingleOperation)
        yield
        for error in context.pre_execution_errors or ():
            if code_of(error) is None and _graphql_own(error):
                # In place: the response is built from these very objects.
                error.extensions = {**(error.extensions or {}), "code": VALIDATION_FAILED}


def log_errors(errors: list[GraphQLError], request_id: str | None) -> None:
    """One structured line per expected error; the traceback of an unexpected one."""
    for error in errors:
        original = unexpected(error)
        if original is not None:
            code, _ = classify(original)
            log.error(
                "unexpected error code=%s request_id=%s path=%s",
                code,
                request_id,
                _path(error) or "-",
                exc_info=original,
                extra={"code": code, "request_id": request_id},
            )
        else:
            log_refusal(code_of(error), error.message, request_id, path=_path(error))


def log_refusal(
    code: str | None, message: str, request_id: str | None, *, path: str | None = None
) -> None:
    """The one line an expected error leaves: code, request id, path and message."""
    where = f" path={path}" if path else ""
    log.info(
        "refused code=%s request_id=%s%s message=%r",
        code,
        request_id,
        where,
        message,
        extra={"code": code, "request_id": request_id},
    )


def _path(error: GraphQLError) -> str | None:
    return ".".join(str(p) for p in error.path) if error.path else None


@strawberry.type(description="Why a mutation's input was refused; `field` names the input path.")
class UserError:
    message: str
    code: str
    field: list[str] | None = None

    @classmethod
    def of(cls, refusal: WriteRefused) -> UserError:
        return cls(
            message=str(refusal),
            code=refusal.code,
            field=[refusal.field] if refusal.field else None,
        )
