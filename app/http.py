"""The GraphQL endpoint: authentication, the per-request context and transaction, status codes.

One request is one transaction: the context opens it on the first statement, and `run` commits it
(after appending the request's disclosures) once the response is built. It rolls back instead
when the request answered no data, or when anything unexpected failed — then the caller gets a 500
and no data, so nothing is shown that was not recorded (a commit that fails is a 500 too).
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from cross_web import HTTPException
from graphql import GraphQLError
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLHTTPResponse
from strawberry.schema.exceptions import InvalidOperationTypeError
from strawberry.types import ExecutionResult

from app import auth, database, encoding, metrics
from app.config import Settings
from app.login_limits import LoginLimiter
from app.offload import WorkerPool
from app.policy import CASBIN_CALLS, CompiledPolicy
from schema.context import Context

MASKED_MESSAGE = "Unexpected error."
# GraphQL over HTTP: a client that accepts this media type gets it (and 4xx for invalid requests).
GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
# Errors that only say "not now": alone in a response, they set its status and `Retry-After`.
_TRY_LATER = {"RATE_LIMITED": 429, "SERVER_BUSY": 503}

_log = logging.getLogger(__name__)


class AuthenticationFailed(Exception):
    pass


def _unauthenticated(message: str) -> JSONResponse:
    return JSONResponse(
        {"errors": [{"message": message, "extensions": {"code": "UNAUTHENTICATED"}}]},
        status_code=401,
        headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
    )


class PolicyHolder:
    """The current compiled policy; replaced whole on reload, so a request sees one version."""

    def __init__(self, policy: CompiledPolicy) -> None:
        self.current = policy


class GraphQLEndpoint(GraphQL[Context, None]):
    def __init__(
        self,
        schema: Any,
        *,
        settings: Settings,
        engine: AsyncEngine,
        policy: PolicyHolder,
        login_limiter: LoginLimiter,
        hashing: WorkerPool,
        authorization: bool = True,
    ) -> None:
        # GraphiQL is served by our own page (app.graphiql); Strawberry's loads from a CDN.
        super().__init__(schema, graphql_ide=None)
        self.settings = settings
        self.engine = engine
        self.policy = policy
        self.login_limiter = login_limiter
        self.hashing = hashing
        # One thread: orjson holds the GIL, so a second one would only interleave two encodes.
        self.encodes = WorkerPool("encode", workers=1)
        self.authorization = authorization

    def encode_json(self, data: object) -> bytes:
        return orjson.dumps(data)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await json_error("only HTTP is served here", 400)(scope, receive, send)
            return
        response: Response
        try:
            response = await self.run(Request(scope, receive))
        except AuthenticationFailed as exc:
            response = _unauthenticated(str(exc))
        except HTTPException as exc:  # malformed JSON, wrong method, no query, ...
            if isinstance(exc.__cause__, InvalidOperationTypeError) and scope["method"] == "GET":
                # GraphQL over HTTP: a mutation must not run on a safe method; 405, not 400.
                response = json_error(exc.reason, 405, headers={"Allow": "POST"})
            else:
                response = json_error(exc.reason, exc.status_code)
        await response(scope, receive, send)

    async def get_context(self, request: Any, response: Any) -> Context:
        header = request.headers.get("authorization")
        subject = None
        if header is not None:
            kind, _, token = header.partition(" ")
            if kind.lower() != "bearer" or not token.strip():
                raise AuthenticationFailed("the Authorization header must be `Bearer <token>`")
            try:
                subject = auth.verify_token(token.strip(), self.settings)
            except auth.InvalidToken as exc:
                raise AuthenticationFailed(str(exc)) from exc
        context = Context(
            request=request,
            response=response,
            settings=self.settings,
            policy=self.policy.current,
            engine=self.engine,
            subject=subject,
            login_limiter=self.login_limiter,
            hashing=self.hashing,
            authorization=self.authorization,
        )
        request.state.context = context
        request.state.statements = database.start_counting()
        request.state.casbin_calls = CASBIN_CALLS.calls
        return context

    async def parse_http_body(self, request: Any) -> Any:
        data = await super().parse_http_body(request)
        for item in data if isinstance(data, list) else [data]:
            if _has_nul(item.query) or _has_nul(item.variables):
                # PostgreSQL text cannot hold NUL: refuse it here rather than fail in SQL.
                raise HTTPException(400, "text may not contain NUL characters")
        return data

    async def run(self, request: Any, context: Any = None, root_value: Any = None) -> Any:
        from strawberry.types.unset import UNSET

        try:
            response = await super().run(
                request,
                context=UNSET if context is None else context,
                root_value=UNSET if root_value is None else root_value,
            )
        except BaseException:
            await self._finish(request, commit=False)
            raise
        failed = getattr(request.state, "failed", False)
        try:
            await self._finish(request, commit=not failed)
        except Exception:
            # The answer was built but what it disclosed or wrote was not recorded: show nothing.
            _log.exception("could not end the request's transaction")
            return json_error(MASKED_MESSAGE, 500)
        if GRAPHQL_RESPONSE_JSON in request.headers.get("accept", ""):
            response.headers["content-type"] = GRAPHQL_RESPONSE_JSON + "; charset=utf-8"
        return response

    async def _finish(self, request: Request, *, commit: bool) -> None:
        context: Context | None = getattr(request.state, "context", None)
        if context is None:
            return
        await context.finish(commit=commit)
        metrics.add("schoolgraph_graphql_requests_total")
        metrics.add("schoolgraph_sql_statements_total", request.state.statements.statements)
        metrics.add(
            "schoolgraph_redacted_fields_total", sum(r.count for r in context.redactions.values())
        )

    async def process_result(
        self, request: Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        context: Context = request.state.context
        errors: list[GraphQLError] = list(result.errors or [])
        status = None
        if any((e.extensions or {}).get("code") == "QUERY_TIMEOUT" for e in errors):
            # A statement was cancelled, so the transaction is lost: nothing is kept or shown.
            request.state.failed = True
            status = 503
            result.data = None
        elif any(e.message == MASKED_MESSAGE for e in errors):
            # Something unexpected failed: roll back, answer nothing but the (masked) errors.
            request.state.failed = True
            status = 500
            result.data = None
        elif (try_later := _try_later(result.data, errors)) is not None:
            status, retry_after = try_later
            context.response.headers["Retry-After"] = str(retry_after)
            request.state.failed = result.data is None
        elif result.data is None and errors:
            # Nothing answered, so nothing is written (no disclosure of data never shown).
            request.state.failed = True
            codes = {(e.extensions or {}).get("code") for e in errors}
            status = 401 if "UNAUTHENTICATED" in codes else 400
        if status:
            context.response.status_code = status
        # Strawberry encodes the response synchronously, on the loop (`encode_json`): a large
        # `data` reaches it already encoded, off the loop.
        processed: GraphQLHTTPResponse = {
            "data": await encoding.encoded_if_large(result.data, self.encodes)
        }
        if errors:
            processed["errors"] = [e.formatted for e in errors]
        extensions: dict[str, Any] = {"requestId": context.request_id}
        if not self.settings.production:
            # Deterministic per query shape: tests and benchmarks read them.
            extensions["sqlStatements"] = request.state.statements.statements
            # Zero unless the policy was (re)compiled meanwhile: decisions come from its tables.
            extensions["casbinCalls"] = CASBIN_CALLS.calls - request.state.casbin_calls
        processed["extensions"] = extensions
        return processed


def _try_later(data: dict[str, Any] | None, errors: list[GraphQLError]) -> tuple[int, int] | None:
    """`(status, seconds)` when the response says nothing but "try again later": every error is
    a RATE_LIMITED or SERVER_BUSY refusal and no field has a value."""
    if not errors or (data and any(value is not None for value in data.values())):
        return None
    extensions = [e.extensions or {} for e in errors]
    codes = [x.get("code") for x in extensions]
    if not all(code in _TRY_LATER for code in codes):
        return None
    status = max(_TRY_LATER[str(code)] for code in codes)
    return status, max(int(x.get("retryAfter", 1)) for x in extensions)


def _has_nul(value: Any) -> bool:
    """A NUL character anywhere in the query (raw or as a GraphQL `\\u0000` escape) or in a
    variable."""
    if isinstance(value, str):
        return "\x00" in value or "\\u0000" in value.lower()
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def json_error(message: str, status: int, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse({"errors": [{"message": message}]}, status_code=status, headers=headers)
