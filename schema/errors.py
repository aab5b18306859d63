"""Errors a caller may see. Everything else is masked as "Unexpected error." (no traces, no SQL)."""

from __future__ import annotations

from typing import Any

import strawberry
from graphql import GraphQLError

from app.writes import WriteRefused


class PublicError(Exception):
    """An error whose message and extensions are safe to return to the caller."""

    code = "BAD_REQUEST"

    def __init__(self, message: str, **extensions: Any) -> None:
        super().__init__(message)
        self.extensions = {"code": self.code, **extensions}


class Unauthenticated(PublicError):
    code = "UNAUTHENTICATED"


class Forbidden(PublicError):
    code = "FORBIDDEN"


class BadInput(PublicError):
    code = "BAD_USER_INPUT"


class RateLimited(PublicError):
    """Too many attempts; `retryAfter` says in how many seconds to try again (HTTP 429)."""

    code = "RATE_LIMITED"


class ServerBusy(PublicError):
    """Refused at once rather than queued; `retryAfter` seconds (HTTP 503)."""

    code = "SERVER_BUSY"


# PostgreSQL's SQLSTATE for a cancelled statement: `statement_timeout` (app.database) cancels
# with it. Matched by code, as the message text follows the server's language.
_QUERY_CANCELED = "57014"
QUERY_TIMEOUT_MESSAGE = "The query ran longer than the server allows and was stopped."


def timed_out(error: BaseException | None) -> bool:
    """Did the database cancel one of the request's statements for taking too long?"""
    return getattr(getattr(error, "orig", None), "sqlstate", None) == _QUERY_CANCELED


def should_mask(error: GraphQLError) -> bool:
    """Mask errors raised by our code unless they are public; keep GraphQL's own errors
    (syntax, validation, variable coercion), which explain the request, not the server."""
    original = error.original_error
    if original is None or isinstance(original, GraphQLError):
        return False
    if timed_out(original):
        # Not a fault of the server's code: say what happened, without the SQL.
        error.message = QUERY_TIMEOUT_MESSAGE
        error.extensions = {"code": "QUERY_TIMEOUT"}
        return False
    if isinstance(original, PublicError):
        error.extensions = {**(error.extensions or {}), **original.extensions}
        return False
    return True


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
