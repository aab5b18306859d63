"""Error responses over HTTP: statuses for the codes of `schema/errors.py`, JSON bodies, and the
last resort that turns any failure into a masked answer.

Every error response is JSON, `{"errors": [{"message", "extensions": {"code"}}], "extensions":
{"requestId"}}`, sent as the JSON media type the client accepts (app/media_types.py), and carries
no SQL, driver text or traceback. The rules are in docs/errors.md.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from graphql import GraphQLError
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.media_types import GRAPHQL_RESPONSE_JSON, JSON, media_type_of
from schema.errors import (
    BAD_REQUEST,
    INTERNAL,
    MASKED_CODES,
    QUERY_TIMEOUT,
    UNAVAILABLE,
    classify,
    code_of,
    log,
    log_refusal,
)

# How long a client should wait before trying again when the database is unavailable.
RETRY_AFTER_SECONDS = 5

# The status of a request that failed with a masked error of this code, and headers to add.
# A statement cut off by the statement timeout is 503 too, without Retry-After: the same query
# would run as long again.
FAILURE_STATUS: dict[str, int] = {INTERNAL: 500, UNAVAILABLE: 503, QUERY_TIMEOUT: 503}
FAILURE_HEADERS: dict[str, dict[str, str]] = {
    UNAVAILABLE: {"Retry-After": str(RETRY_AFTER_SECONDS)}
}

# The code of a refusal decided from the HTTP request alone.
_CODE_OF_STATUS = {
    400: BAD_REQUEST,
    401: "UNAUTHENTICATED",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    406: "NOT_ACCEPTABLE",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
}


def request_id(scope: Scope) -> str:
    """The request's id, made on first use; responses and log lines carry it."""
    state = scope.setdefault("state", {})
    value = state.get("request_id")
    if not isinstance(value, str):
        value = state["request_id"] = uuid.uuid4().hex
    return value


class RequestRefused(Exception):
    """The HTTP request itself is refused (body too large, bad header): a 4xx with a code.

    ```python
    raise RequestRefused(413, "the request body is larger than 1048576 bytes")
    ```
    """

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code or _CODE_OF_STATUS.get(status, BAD_REQUEST)
        self.headers = dict(headers or {})


def error_response(
    message: str,
    status: int,
    *,
    code: str,
    request_id: str | None = None,
    headers: Mapping[str, str] | None = None,
    media_type: str = JSON,
    extensions: Mapping[str, Any] | None = None,
) -> Response:
    """One error as a JSON answer; `extensions` adds to the error's own (`fieldClass`, ...)."""
    error = {"message": message, "extensions": {**(extensions or {}), "code": code}}
    body: dict[str, Any] = {"errors": [error]}
    if request_id is not None:
        body["extensions"] = {"requestId": request_id}
    return JSONResponse(
        body,
        status_code=status,
        headers=dict(headers or {}) or None,
        media_type=media_type,
    )


def refusal(refused: RequestRefused, scope: Scope) -> Response:
    """The answer to a refused request, logged in one line."""
    rid = request_id(scope)
    log_refusal(refused.code, refused.message, rid)
    return error_response(
        refused.message,
        refused.status,
        code=refused.code,
        request_id=rid,
        headers=refused.headers,
        media_type=media_type_of(Headers(scope=scope)),
    )


def failure(error: BaseException, scope: Scope) -> Response:
    """The masked answer to an unexpected failure; its traceback goes to the log."""
    rid = request_id(scope)
    code, message = classify(error)
    log.error(
        "unexpected error code=%s request_id=%s",
        code,
        rid,
        exc_info=error,
        extra={"code": code, "request_id": rid},
    )
    return error_response(
        message,
        FAILURE_STATUS.get(code, 500),
        code=code,
        request_id=rid,
        headers=FAILURE_HEADERS.get(code),
        media_type=media_type_of(Headers(scope=scope)),
    )


# Errors that only say "not now": alone in a response, they set its status and `Retry-After`.
TRY_LATER_STATUS = {"RATE_LIMITED": 429, "SERVER_BUSY": 503}


def try_later_status(
    data: Mapping[str, Any] | None, errors: Sequence[GraphQLError]
) -> tuple[int, dict[str, str]] | None:
    """The status and `Retry-After` when the response says nothing but "try again later": every
    error is a RATE_LIMITED or SERVER_BUSY refusal and no field has a value."""
    if not errors or (data and any(value is not None for value in data.values())):
        return None
    extensions = [e.extensions or {} for e in errors]
    codes = [x.get("code") for x in extensions]
    if not all(code in TRY_LATER_STATUS for code in codes):
        return None
    status = max(TRY_LATER_STATUS[str(code)] for code in codes)
    seconds = max(int(x.get("retryAfter", 1)) for x in extensions)
    return status, {"Retry-After": str(seconds)}


def is_request_error(data: Mapping[str, Any] | None, errors: Sequence[GraphQLError]) -> bool:
    """Did the request fail before execution began (parse, validation, variable coercion, choice
    of operation)? Then there is no data, and no error names a field: a field error always
    carries its `path`. A failure of the server (masked; one in an extension's hook has no path
    either) is not the request's error."""
    return (
        data is None
        and bool(errors)
        and all(e.path is None and code_of(e) not in MASKED_CODES for e in errors)
    )


def result_status(
    errors: Sequence[GraphQLError], *, request_error: bool, media_type: str
) -> tuple[int | None, dict[str, str]]:
    """The status of a GraphQL result (None: 200) and the headers to add.

    A masked error fails the whole request: 500, or the status of its code when every masked
    error has the same (503 with Retry-After when the database is unavailable). A request error
    is 400 for a client that reads `application/graphql-response+json`, whose statuses say
    whether anything was executed; 200 with `application/json`, whose clients read the body.
    Once execution began the answer is 200, field errors or not.
    """
    failures = {c for c in map(code_of, errors) if c in MASKED_CODES}
    if failures:
        code = failures.pop() if len(failures) == 1 else INTERNAL
        return FAILURE_STATUS.get(code, 500), FAILURE_HEADERS.get(code, {})
    if request_error:
        return request_error_status(media_type), {}
    return None, {}


def request_error_status(media_type: str) -> int | None:
    """400 for a request error answered as `application/graphql-response+json`; else None (200)."""
    return 400 if media_type == GRAPHQL_RESPONSE_JSON else None


async def http_exception(request: Request, error: Exception) -> Response:
    """Starlette's refusals (unknown path, method not allowed) as JSON with a code."""
    if not isinstance(error, HTTPException):  # registered for HTTPException only
        raise error
    refused = RequestRefused(error.status_code, error.detail, headers=error.headers)
    return refusal(refused, request.scope)


class MaskFailures:
    """The outermost middleware: a refusal or failure that nothing else answered becomes a JSON
    error (Starlette's own would be a plain-text 500, and a 500 where 503 is due)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_and_note(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        except RequestRefused as refused:
            if started:
                raise
            await refusal(refused, scope)(scope, receive, send)
        except Exception as error:
            if started:
                raise
            await failure(error, scope)(scope, receive, send)
